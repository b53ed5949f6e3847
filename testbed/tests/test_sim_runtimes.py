"""The simulated OpenShift AI operator's model-serving runtime Templates and dashboard config
(serving-api.md §1.1-1.6): the shipped templates per version (2.16, an upgrade to the default
`stable` 2.19 and to `fast` 2.22), revert of edits, `opendatahub.io/managed: "false"`, removal
on upgrade and when serving leaves Managed, and the create-once `odh-dashboard-config`.

One dedicated testbed for the module; tests run in file order. No fixed sleeps: where a test
checks that the operator did NOT undo something, it first waits for a revert the operator does
in the same reconcile (a barrier), then looks.
"""

from __future__ import annotations

import copy

import pytest

from testbed.sim import dashboard_templates as DT
from test_sim_support import (
    client,
    delete,
    get,
    items,
    merge_patch,
    module_testbed,
    subscribe,
    wait_for,
    wait_installed,
)

pytestmark = [pytest.mark.integration, pytest.mark.fresh_testbed, pytest.mark.slow]

tb = module_testbed(workers=2, gpu_nodes=0)
APPS = "redhat-ods-applications"
TPL = ("template.openshift.io/v1", "Template")
ODC = ("opendatahub.io/v1alpha", "OdhDashboardConfig")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
SUB = ("operators.coreos.com/v1alpha1", "Subscription")
OOTB = "opendatahub.io/ootb=true"

# serving-api.md §1.2, written out (not derived from the simulator's own table)
NAMES_216 = {
    "vllm-runtime-template": "vllm-runtime",
    "vllm-rocm-runtime-template": "vllm-rocm-runtime",
    "vllm-gaudi-runtime-template": "vllm-gaudi-runtime",
    "vllm-multinode-runtime-template": "vllm-multinode-runtime",
    "caikit-tgis-serving-template": "caikit-tgis-runtime",
    "caikit-standalone-serving-template": "caikit-standalone-runtime",
    "tgis-grpc-serving-template": "tgis-grpc-runtime",
    "kserve-ovms": "kserve-ovms",
    "ovms": "ovms",
}
NAMES_219 = {k: v for k, v in NAMES_216.items() if k not in ("vllm-runtime-template", "tgis-grpc-serving-template")}
NAMES_219.update({"vllm-cuda-runtime-template": "vllm-cuda-runtime", "vllm-cpu-runtime-template": "vllm-cpu-runtime"})
NAMES_222 = dict(NAMES_219, **{"guardrails-detector-huggingface-serving-template": "guardrails-detector-huggingface-runtime"})


# -- pure functions (no cluster) ------------------------------------------------------------------
@pytest.mark.parametrize(
    "version,col",
    [("2.13.0", (2, 13)), ("2.16.2", (2, 16)), ("2.17.0", (2, 16)), ("2.19.1", (2, 19)), ("2.22.1", (2, 22)),
     ("2.25.0", (2, 25)), ("3.0.0", (3, 0)), ("3.3.1", (3, 0)), ("2.10.0", (2, 13))],
)
def test_version_maps_to_nearest_lower_table_column(version, col):
    assert DT.column(version) == col


def test_inventory_per_version_matches_the_reference_table():
    assert DT.shipped_runtime_names("2.16.2") == NAMES_216
    assert DT.shipped_runtime_names("2.19.1") == NAMES_219
    assert DT.shipped_runtime_names("2.22.1") == NAMES_222
    v30 = DT.shipped_runtime_names("3.0.0")
    assert not {"caikit-tgis-runtime", "caikit-standalone-runtime", "ovms"} & set(v30.values())
    assert {"vllm-spyre-x86-runtime", "vllm-spyre-s390x-runtime", "vllm-cuda-runtime"} <= set(v30.values())
    assert "vllm-spyre-runtime" in DT.shipped_runtime_names("2.25.0").values()


def test_dashboard_config_defaults_per_version():
    c216 = DT.dashboard_config("2.16.2")
    flags = c216["spec"]["dashboardConfig"]
    for k in ("disableKServe", "disableKServeAuth", "disableKServeMetrics", "disableModelMesh",
              "disableCustomServingRuntimes", "disablePerformanceMetrics", "disableModelRegistry"):
        assert flags[k] is False, k
    assert [s["name"] for s in c216["spec"]["modelServerSizes"]] == ["Small", "Medium", "Large"]
    assert c216["spec"]["modelServerSizes"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}
    assert c216["spec"]["templateOrder"] == [] and c216["spec"]["templateDisablement"] == []
    assert "annotations" not in c216["metadata"]
    assert DT.dashboard_config("2.19.1")["metadata"]["annotations"] == {"opendatahub.io/managed": "false"}


# -- on the testbed -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def k8s(tb):
    return client(tb)


def templates(k8s):
    return {t["metadata"]["name"]: t for t in items(k8s, *TPL, APPS, label_selector=OOTB)}


def wait_template_set(k8s, names, desc, also=None):
    """Wait until the ootb templates are exactly `names` (and `also(templates)` holds)."""

    def done():
        ts = templates(k8s)
        if set(ts) != set(names):
            raise AssertionError(f"missing {sorted(set(names) - set(ts))}, unexpected {sorted(set(ts) - set(names))}")
        if also is not None and not also(ts):
            raise AssertionError("the set is complete, the extra condition does not hold yet")
        return ts

    return wait_for(done, 120, desc=desc)


def shipped(version, name):
    return next(t for t in DT.shipped_templates(version, APPS) if t["metadata"]["name"] == name)


def sr_of(t):
    return t["objects"][0]


def image_of(t):
    return sr_of(t)["spec"]["containers"][0]["image"]


def set_image(k8s, name, image):
    cur = get(k8s, *TPL, name, APPS)
    objs = copy.deepcopy(cur["objects"])
    objs[0]["spec"]["containers"][0]["image"] = image
    return merge_patch(k8s, *TPL, name, {"objects": objs}, APPS)


def owned_by_dsc(t):
    return any(r.get("kind") == "DataScienceCluster" for r in t["metadata"].get("ownerReferences") or [])


def revert_barrier(k8s, name="kserve-ovms"):
    """Edit an owned template and wait until the operator reverts it: proof that it reconciled
    after everything the test did before."""
    original = image_of(get(k8s, *TPL, name, APPS))
    set_image(k8s, name, "quay.io/example/barrier:1")
    wait_for(lambda: image_of(get(k8s, *TPL, name, APPS)) == original, 60, desc=f"{name} reverted")


def wait_csv(k8s, version):
    def done():
        sub = get(k8s, *SUB, "rhods-operator", "redhat-ods-operator")
        st = (sub or {}).get("status") or {}
        return st.get("installedCSV") == f"rhods-operator.v{version}" and st.get("state") == "AtLatestKnown"
    wait_for(done, 180, desc=f"rhods-operator {version} installed")
    wait_installed(k8s, "rhods-operator")


def test_install_216_and_dsc(k8s):
    subscribe(k8s, "rhods-operator", channel="stable-2.16")
    wait_csv(k8s, "2.16.2")
    wait_for(lambda: get(k8s, "dscinitialization.opendatahub.io/v1", "DSCInitialization", "default-dsci"),
             120, desc="default-dsci")
    # no templates and no dashboard config before a DSC asks for them
    assert templates(k8s) == {}
    api = k8s.resources.get(api_version=DSC[0], kind=DSC[1])
    api.create(body={
        "apiVersion": DSC[0], "kind": DSC[1], "metadata": {"name": "default-dsc"},
        "spec": {"components": {
            "dashboard": {"managementState": "Managed"},
            "kserve": {"managementState": "Managed", "defaultDeploymentMode": "RawDeployment",
                       "serving": {"managementState": "Removed"}},
        }},
    })


def test_216_templates_are_shipped(k8s):
    ts = wait_template_set(k8s, NAMES_216, "the 2.16 runtime templates")
    assert {n: sr_of(t)["metadata"]["name"] for n, t in ts.items()} == NAMES_216
    for name, t in ts.items():
        md = t["metadata"]
        assert md["labels"]["app"] == "odh-dashboard", name
        assert md["labels"]["app.kubernetes.io/part-of"] == "odh-dashboard", name
        assert md["labels"]["opendatahub.io/dashboard"] == "true", name
        assert md["annotations"]["opendatahub.io/modelServingSupport"] in ('["single"]', '["multi"]'), name
        assert md["annotations"]["opendatahub.io/apiProtocol"] in ("REST", "gRPC"), name
        assert "opendatahub.io/runtime-version" not in (sr_of(t)["metadata"].get("annotations") or {}), name
        assert len(t["objects"]) == 1 and sr_of(t)["apiVersion"] == "serving.kserve.io/v1alpha1", name
        assert sr_of(t)["metadata"]["labels"]["opendatahub.io/dashboard"] == "true", name
        assert "parameters" not in t, name
        assert owned_by_dsc(t), name
    vllm = ts["vllm-runtime-template"]
    c = sr_of(vllm)["spec"]["containers"][0]
    assert c["name"] == "kserve-container"
    assert "--served-model-name={{.Name}}" in c["args"]  # Go-template placeholder kept literally
    assert c["image"].startswith("registry.redhat.io/rhoai/") and "@sha256:" in c["image"]
    assert sr_of(vllm)["spec"]["annotations"] == {"prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}
    assert sr_of(vllm)["metadata"]["annotations"]["opendatahub.io/recommended-accelerators"] == '["nvidia.com/gpu"]'
    assert sr_of(vllm)["spec"]["supportedModelFormats"] == [{"autoSelect": True, "name": "vLLM"}]
    tgis = ts["tgis-grpc-serving-template"]
    assert tgis["metadata"]["annotations"]["opendatahub.io/apiProtocol"] == "gRPC"
    assert sr_of(tgis)["spec"]["containers"][0]["ports"] == [{"containerPort": 8033, "name": "h2c", "protocol": "TCP"}]
    assert ts["ovms"]["metadata"]["annotations"]["opendatahub.io/modelServingSupport"] == '["multi"]'
    assert sr_of(ts["ovms"])["spec"]["multiModel"] is True
    assert "--model_name={{.Name}}" in sr_of(ts["kserve-ovms"])["spec"]["containers"][0]["args"]


def test_216_dashboard_config_created_once_and_user_edits_kept(k8s):
    odc = wait_for(lambda: get(k8s, *ODC, "odh-dashboard-config", APPS), 60, desc="odh-dashboard-config")
    spec = odc["spec"]
    assert spec["dashboardConfig"]["disableKServe"] is False
    assert spec["dashboardConfig"]["disableModelMesh"] is False
    assert [s["name"] for s in spec["modelServerSizes"]] == ["Small", "Medium", "Large"]
    assert spec["templateOrder"] == [] and spec["templateDisablement"] == []
    assert "opendatahub.io/managed" not in (odc["metadata"].get("annotations") or {})
    custom = {"cpu": "2", "memory": "2Gi"}
    sizes = spec["modelServerSizes"] + [{"name": "Custom", "resources": {"requests": custom, "limits": custom}}]
    merge_patch(k8s, *ODC, "odh-dashboard-config", {"spec": {
        "dashboardConfig": {"disableKServeMetrics": True, "someoneElsesFlag": True},
        "modelServerSizes": sizes, "templateDisablement": ["ovms"]}}, APPS)
    revert_barrier(k8s)
    spec = get(k8s, *ODC, "odh-dashboard-config", APPS)["spec"]
    assert spec["dashboardConfig"]["disableKServeMetrics"] is True
    assert spec["dashboardConfig"]["someoneElsesFlag"] is True
    assert [s["name"] for s in spec["modelServerSizes"]] == ["Small", "Medium", "Large", "Custom"]
    assert spec["templateDisablement"] == ["ovms"]


def test_216_reverts_edits_even_when_annotated_unmanaged(k8s):
    original = image_of(get(k8s, *TPL, "vllm-runtime-template", APPS))
    merge_patch(k8s, *TPL, "vllm-runtime-template",
                {"metadata": {"annotations": {"opendatahub.io/managed": "false"}}}, APPS)
    set_image(k8s, "vllm-runtime-template", "quay.io/example/vllm:edited")
    wait_for(lambda: image_of(get(k8s, *TPL, "vllm-runtime-template", APPS)) == original, 60,
             desc="2.16 reverts vllm-runtime-template despite managed=false")
    t = get(k8s, *TPL, "vllm-runtime-template", APPS)
    # the annotation is not the operator's: it stays, and the template stays owned
    assert t["metadata"]["annotations"]["opendatahub.io/managed"] == "false"
    assert owned_by_dsc(t)


def test_upgrade_to_219_replaces_the_inventory(k8s):
    merge_patch(k8s, *SUB, "rhods-operator", {"spec": {"channel": "stable"}}, "redhat-ods-operator")
    wait_csv(k8s, "2.19.1")
    # tgis-grpc and the owned vllm-runtime are gone ... except vllm-runtime-template, which carries
    # managed=false and is left alone (and de-owned) by a 2.17+ operator
    want = dict(NAMES_219, **{"vllm-runtime-template": "vllm-runtime"})
    ts = wait_template_set(k8s, want, "the 2.19 runtime templates",
                           also=lambda ts: not owned_by_dsc(ts["vllm-runtime-template"]))
    assert "tgis-grpc-serving-template" not in ts
    cuda = ts["vllm-cuda-runtime-template"]
    assert sr_of(cuda)["metadata"]["name"] == "vllm-cuda-runtime"
    assert "--served-model-name={{.Name}}" in sr_of(cuda)["spec"]["containers"][0]["args"]
    assert "opendatahub.io/recommended-accelerators" not in sr_of(ts["vllm-cpu-runtime-template"])["metadata"]["annotations"]
    # the image moved with the release
    assert image_of(ts["kserve-ovms"]) == image_of(shipped("2.19.1", "kserve-ovms"))
    assert image_of(ts["kserve-ovms"]) != image_of(shipped("2.16.2", "kserve-ovms"))
    # the dashboard config was not recreated: the user's edits are still there
    spec = get(k8s, *ODC, "odh-dashboard-config", APPS)["spec"]
    assert spec["dashboardConfig"]["disableKServeMetrics"] is True


def test_219_reverts_edits_unless_unmanaged(k8s):
    # an unmanaged template keeps its edit
    merge_patch(k8s, *TPL, "caikit-standalone-serving-template",
                {"metadata": {"annotations": {"opendatahub.io/managed": "false"}}}, APPS)
    set_image(k8s, "caikit-standalone-serving-template", "quay.io/example/caikit:mine")
    # an owned one is reverted, also when only a label/annotation value changed
    merge_patch(k8s, *TPL, "vllm-cuda-runtime-template",
                {"metadata": {"annotations": {"opendatahub.io/apiProtocol": "gRPC"}}}, APPS)
    wait_for(lambda: get(k8s, *TPL, "vllm-cuda-runtime-template", APPS)["metadata"]["annotations"]
             ["opendatahub.io/apiProtocol"] == "REST", 60, desc="vllm-cuda-runtime-template annotation reverted")
    revert_barrier(k8s)
    t = get(k8s, *TPL, "caikit-standalone-serving-template", APPS)
    assert image_of(t) == "quay.io/example/caikit:mine"
    assert not owned_by_dsc(t)


def test_219_deleted_template_and_dashboard_config_are_recreated(k8s):
    def recreated(kind, name):
        old = get(k8s, *kind, name, APPS)["metadata"]["uid"]
        delete(k8s, *kind, name, APPS)

        def new():
            cur = get(k8s, *kind, name, APPS)
            return cur if cur and cur["metadata"]["uid"] != old else None

        return wait_for(new, 60, desc=f"{name} recreated")

    t = recreated(TPL, "kserve-ovms")
    assert t["objects"] == shipped("2.19.1", "kserve-ovms")["objects"]
    odc = recreated(ODC, "odh-dashboard-config")
    # 2.19+: created user-owned, with the defaults again
    assert odc["metadata"]["annotations"]["opendatahub.io/managed"] == "false"
    assert odc["spec"]["dashboardConfig"]["disableKServeMetrics"] is False
    assert [s["name"] for s in odc["spec"]["modelServerSizes"]] == ["Small", "Medium", "Large"]


def test_upgrade_to_222_adds_runtime_version_and_guardrails(k8s):
    merge_patch(k8s, *SUB, "rhods-operator", {"spec": {"channel": "fast"}}, "redhat-ods-operator")
    wait_csv(k8s, "2.22.1")
    unmanaged = {"vllm-runtime-template": "vllm-runtime",
                 "caikit-standalone-serving-template": "caikit-standalone-runtime"}
    want = dict(NAMES_222, **unmanaged)

    def upgraded():
        ts = templates(k8s)
        if set(ts) != set(want):
            return None
        owned = [t for n, t in ts.items() if n not in unmanaged]
        ok = all("opendatahub.io/runtime-version" in (sr_of(t)["metadata"].get("annotations") or {}) for t in owned)
        return ts if ok else None

    ts = wait_for(upgraded, 120, desc="the 2.22 runtime templates with opendatahub.io/runtime-version")
    assert "opendatahub.io/runtime-version" not in (sr_of(ts["caikit-standalone-serving-template"])["metadata"]
                                                    .get("annotations") or {})


def test_serving_removed_deletes_owned_templates_and_modelmesh_brings_them_back(k8s):
    merge_patch(k8s, *DSC, "default-dsc", {"spec": {"components": {"kserve": {"managementState": "Removed"}}}})
    unmanaged = {"vllm-runtime-template", "caikit-standalone-serving-template"}
    wait_template_set(k8s, unmanaged, "only the unmanaged templates left")
    merge_patch(k8s, *DSC, "default-dsc", {"spec": {"components": {"modelmeshserving": {"managementState": "Managed"}}}})
    wait_template_set(k8s, set(NAMES_222) | unmanaged, "templates back with ModelMesh Managed")
