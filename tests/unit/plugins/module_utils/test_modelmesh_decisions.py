"""Multi-model platform decisions (module_utils/_modelmesh.py): input checks, ModelMesh objects, the
plan (refusals, removals), and the upgrade readiness report."""

import copy

import jmespath

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _modelmesh as MM
from testbed.sim.dashboard_templates import shipped_templates

SIZES = [{"name": "Small", "resources": {"requests": {"cpu": "1", "memory": "4Gi"},
                                         "limits": {"cpu": "2", "memory": "8Gi"}}}]
CONN = {"name": "models-s3", "endpoint": "https://s3.example.com", "bucket": "models", "region": "eu-west-1",
        "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t-value"}
DEFAULTS = {"runtime": "ovms", "external_route": True, "token_auth": False}


def server(**kw):
    base = {"name": "ovms-server", "project": "fraud", "size": "Small", "token_auth": True, "tokens": ["ci-bot"],
            "models": [{"name": "mnist", "model_format": "onnx", "storage": {"connection": dict(CONN), "path": "mnist/"}},
                       {"name": "fraud", "model_format": "openvino_ir",
                        "storage": {"connection": "models-s3", "path": "fraud/"}}]}
    base.update(kw)
    return base


def cluster(**kw):
    base = {"templates": shipped_templates("2.19.1"), "sizes": SIZES, "namespaces": ["fraud"], "isvcs": [],
            "runtimes": [], "secrets": []}
    base.update(kw)
    return base


def isvc(name, ns, mode, runtime="ovms-server", key=None):
    obj = {"metadata": {"name": name, "namespace": ns, "annotations": {"serving.kserve.io/deploymentMode": mode}},
           "spec": {"predictor": {"model": {"runtime": runtime}}}}
    if key:
        obj["spec"]["predictor"]["model"]["storage"] = {"key": key, "path": "x/"}
    return obj


def by_kind(entries, kind):
    return [e for e in entries if e["kind"] == kind]


def test_input_errors_name_the_entry_and_the_variable():
    errors = MM.input_errors([server(replicas=0, size=None, resources={"cpu": 1}, accelerators=-1, tokens=["a"],
                                     token_auth=False, extra=1,
                                     models=[{"name": "Bad_Name", "storage": {"uri": "s3://x"}}])], DEFAULTS)
    text = " | ".join(errors)
    assert "model_mesh_servers[0] (ovms-server in fraud): unknown keys extra" in text
    assert "replicas must be a number >= 1" in text
    assert "resources must be {requests" in text
    assert "accelerators must be a number" in text
    assert "tokens are given but token_auth is false" in text
    assert "model_mesh_servers[0] (ovms-server in fraud).models[0] (Bad_Name): name must be a DNS-1035 label" in text
    assert "model_format" in text and "storage has unknown keys uri" in text
    assert MM.input_errors("nope") == ["model_mesh_servers must be a list of model server mappings, got str"]
    assert MM.input_errors([server()], DEFAULTS) == []


def test_the_same_project_on_both_platforms_in_one_run_is_refused():
    single = [{"name": "granite", "project": "fraud", "runtime": "vllm-cuda-runtime"}]
    errors = MM.input_errors([server()], DEFAULTS, single)
    assert errors == ["model_mesh_servers[0] (ovms-server in fraud): project fraud cannot be both single-model and "
                      "multi-model; it is on the single-model platform in model_serving_models[0] (granite)"]
    assert MM.input_errors([server(state="absent")], DEFAULTS, single) == []


def test_plan_builds_the_dashboard_objects():
    plan = MM.plan([server()], DEFAULTS, cluster())
    assert plan["errors"] == []
    ns = plan["namespaces"][0]
    assert ns["name"] == "fraud" and ns["patch"]["metadata"]["labels"] == {
        "opendatahub.io/dashboard": "true", "modelmesh-enabled": "true"}
    sr = plan["runtimes"][0]
    ann = sr["patch"]["metadata"]["annotations"]
    assert sr["name"] == "ovms-server" and ann["enable-route"] == "true" and ann["enable-auth"] == "true"
    assert ann["opendatahub.io/template-name"] == "ovms" and ann["opendatahub.io/apiProtocol"] == "REST"
    spec = sr["patch"]["spec"]
    assert spec["multiModel"] is True and spec["replicas"] == 1
    assert spec["containers"][0]["resources"] == SIZES[0]["resources"]
    assert len(spec["supportedModelFormats"]) == 3  # a model server serves every format of its runtime
    isvcs = dict((e["name"], e) for e in plan["isvcs"])
    assert set(isvcs) == set(["mnist", "fraud"])
    mnist = isvcs["mnist"]["patch"]
    assert mnist["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "ModelMesh"
    assert mnist["spec"]["predictor"]["model"] == {"modelFormat": {"name": "onnx"}, "runtime": "ovms-server",
                                                   "storage": {"key": "models-s3", "path": "mnist/"}}
    assert [s["name"] for s in plan["secrets"]] == ["models-s3"]
    tokens = plan["tokens"]
    assert [t["kind"] for t in tokens] == ["ServiceAccount", "RoleBinding", "Secret"]
    binding = by_kind(tokens, "RoleBinding")[0]
    assert binding["name"] == "ovms-server-view"
    assert binding["patch"]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert by_kind(tokens, "Secret")[0]["name"] == "ci-bot-ovms-server-sa"
    assert plan["pod_groups"][0]["groups"][0]["label_selector"] == "name=modelmesh-serving-ovms-server"
    assert [r["name"] for r in plan["routes"]] == ["mnist", "fraud"]
    assert plan["checks"][0]["token"] == "ci-bot-ovms-server-sa" and plan["checks"][0]["token_auth"] is True
    owned = MM.with_owners(tokens, [{"kind": "ServingRuntime", "name": "ovms-server", "namespace": "fraud",
                                     "result": {"metadata": {"uid": "u-1"}}}])
    assert all(t["patch"]["metadata"]["ownerReferences"][0]["uid"] == "u-1" for t in owned)
    assert "owner" not in owned[0]


def test_accelerator_and_switching_route_and_auth_off():
    plan = MM.plan([server(accelerators=1, external_route=False, token_auth=False, tokens=[])], DEFAULTS, cluster(
        runtimes=[{"metadata": {"name": "ovms-server", "namespace": "fraud", "annotations": {"enable-auth": "true"}},
                   "spec": {"multiModel": True}}]))
    spec = plan["runtimes"][0]["patch"]["spec"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    ann = plan["runtimes"][0]["patch"]["metadata"]["annotations"]
    assert ann["enable-route"] is None and ann["enable-auth"] is None  # removed by the merge patch
    assert plan["routes"] == [] and plan["tokens"] == []
    assert ("RoleBinding", "ovms-server-view") in [(r["kind"], r["name"]) for r in plan["delete"]]


def test_refusals_before_any_write():
    live = [isvc("granite", "fraud", "Serverless")]
    plan = MM.plan([server()], DEFAULTS, cluster(isvcs=live))
    assert plan["errors"] == ["model_mesh_servers[0] (ovms-server in fraud): project fraud cannot be both "
                              "single-model and multi-model: it serves models on the single-model platform: "
                              "InferenceServices granite (Serverless)"]
    plan = MM.plan([server(runtime="kserve-ovms")], DEFAULTS, cluster())
    assert "runtime kserve-ovms is a single-model runtime" in plan["errors"][0]
    plan = MM.plan([server(runtime="nope")], DEFAULTS, cluster())
    assert "runtime nope is not offered by the dashboard" in plan["errors"][0]
    bad_format = server()
    bad_format["models"][0]["model_format"] = "vLLM"
    plan = MM.plan([bad_format], DEFAULTS, cluster())
    assert "runtime ovms does not serve model_format vLLM" in plan["errors"][0]
    plan = MM.plan([server(size="Huge")], DEFAULTS, cluster())
    assert "size Huge is not a model server size" in plan["errors"][0]


def test_missing_template_is_decided_again_when_the_platform_is_being_enabled():
    plan = MM.plan([server()], DEFAULTS, cluster(templates=[], platform_pending=True))
    assert plan["errors"] == [] and plan["replan"] is True and plan["templates_pending"] == ["ovms"]
    assert plan["runtimes"] == [] and plan["servers"] == []


def test_deleting_a_server_deletes_its_models_first_and_names_them():
    live = [isvc("mnist", "fraud", "ModelMesh", key="models-s3"), isvc("fraud", "fraud", "ModelMesh", key="models-s3"),
            isvc("other", "fraud", "ModelMesh", runtime="other-server", key="other-s3")]
    ours = [{"name": "models-s3", "namespace": "fraud",
             "labels": {"app.kubernetes.io/managed-by": "openshift_ai.model_serving"}},
            {"name": "ci-bot-ovms-server-sa", "namespace": "fraud",
             "labels": {"app.kubernetes.io/managed-by": "openshift_ai.model_serving"},
             "annotations": {"kubernetes.io/service-account.name": "ovms-server-sa"}}]
    plan = MM.plan([server(state="absent", models=[])], DEFAULTS, cluster(isvcs=live, secrets=ours))
    assert [r["name"] for r in plan["deleted_models"]] == ["fraud", "mnist"]
    assert plan["removed"] == [{"server": "ovms-server", "project": "fraud", "models": ["fraud", "mnist"]}]
    deleted = [(r["kind"], r["name"]) for r in plan["delete"]]
    assert deleted[0] == ("ServingRuntime", "ovms-server")
    assert ("Secret", "ci-bot-ovms-server-sa") in deleted and ("ServiceAccount", "ovms-server-sa") in deleted
    assert ("Secret", "models-s3") in deleted and ("Secret", "other-s3") not in deleted
    assert plan["namespaces"] == [] and plan["runtimes"] == []

    # one model absent: the server stays
    one = server()
    one["models"][1] = dict(one["models"][1], state="absent")
    plan = MM.plan([one], DEFAULTS, cluster(isvcs=live, secrets=ours))
    assert [r["name"] for r in plan["deleted_models"]] == ["fraud"]
    assert plan["removed"] == [{"server": "ovms-server", "project": "fraud", "models": ["fraud"], "server_kept": True}]
    assert ("Secret", "models-s3") not in [(r["kind"], r["name"]) for r in plan["delete"]]


def test_check_mode_leaves_out_a_project_that_does_not_exist():
    plan = MM.plan([server(project="new")], DEFAULTS, cluster(namespaces=[]), check_mode=True)
    assert plan["runtimes"] == [] and plan["isvcs"] == [] and plan["waits"] == []
    assert "ServingRuntime new/ovms-server" in plan["pending"]


def test_readiness_expression_and_checks():
    plan = MM.plan([server()], DEFAULTS, cluster())
    wait = plan["waits"][0]
    loaded = {"metadata": {"name": "mnist"}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                                        "modelStatus": {"states": {"activeModelState": "Loaded"}}}}
    failing = {"metadata": {"name": "fraud"}, "status": {"modelStatus": {"states": {"targetModelState": "FailedToLoad"}}}}
    assert jmespath.search(wait["jmespath"], loaded)
    assert not jmespath.search(wait["jmespath"], failing)
    assert jmespath.search(wait["failure"][0]["jmespath"], failing)
    route = {"metadata": {"name": "mnist", "namespace": "fraud"}, "spec": {"host": "mnist-fraud.apps.example.com"}}
    checks = MM.checks(plan["checks"], [{"resources": [route]}])
    assert checks[0]["url"] == "https://mnist-fraud.apps.example.com" and checks[1]["url"] is None


def test_failure_report_names_server_pod_container_reason():
    lines = MM.failure_report([{"failed": True, "__model_mesh_pods": {"namespace": "fraud", "server": "s"},
                                "pods": [{"problems": [{"pod": "modelmesh-serving-s-1", "container": "ovms",
                                                        "reason": "CrashLoopBackOff", "message": "exit 1"}]}]},
                               {"failed": False}])
    assert lines == ["model server fraud/s: pod modelmesh-serving-s-1 container ovms: CrashLoopBackOff (exit 1)"]


def test_platform_patch_keeps_other_components():
    dsc = {"spec": {"components": {"kserve": {"managementState": "Managed"}}}}
    patch = MM.platform_patch(dsc)
    assert patch["dsc"] == {"spec": {"components": {"modelmeshserving": {"managementState": "Managed"}}}}
    assert patch["dashboard"]["patch"] == {"spec": {"dashboardConfig": {"disableModelMesh": False}}}
    managed = copy.deepcopy(dsc)
    managed["spec"]["components"]["modelmeshserving"] = {"managementState": "Managed"}
    assert MM.platform_patch(managed)["dsc"] is None


def test_readiness_report_lists_blockers_and_nothing_on_a_clean_cluster():
    assert MM.readiness({}) == {"blockers": [], "advisories": []}
    raw_only = {"dsc": {"metadata": {"name": "dsc"}, "spec": {"components": {
        "kserve": {"managementState": "Managed", "serving": {"managementState": "Removed"}},
        "modelmeshserving": {"managementState": "Removed"}}}},
        "dsci": {"metadata": {"name": "dsci"}, "spec": {"serviceMesh": {"managementState": "Removed"}}},
        "isvcs": [isvc("digits", "p", "RawDeployment", runtime="kserve-ovms")],
        "runtimes": [{"metadata": {"name": "kserve-ovms", "namespace": "p",
                                   "annotations": {"opendatahub.io/template-name": "kserve-ovms"}}, "spec": {}}]}
    assert MM.readiness(raw_only) == {"blockers": [], "advisories": []}
    legacy = {"dsc": {"metadata": {"name": "dsc"}, "spec": {"components": {
        "kserve": {"managementState": "Managed", "serving": {"managementState": "Managed"}},
        "modelmeshserving": {"managementState": "Managed"}}}},
        "dsci": {"metadata": {"name": "dsci"}, "spec": {"serviceMesh": {"managementState": "Managed"}}},
        "isvcs": [isvc("mnist", "fraud", "ModelMesh"), isvc("flan", "llm", "Serverless", runtime="caikit")],
        "runtimes": [{"metadata": {"name": "ovms-server", "namespace": "fraud"}, "spec": {"multiModel": True}},
                     {"metadata": {"name": "caikit", "namespace": "llm",
                                   "annotations": {"opendatahub.io/template-name": "caikit-tgis-runtime"}}, "spec": {}}],
        "subscriptions": [{"metadata": {"name": "servicemeshoperator", "namespace": "openshift-operators"},
                           "spec": {"name": "servicemeshoperator"}}]}
    report = MM.readiness(legacy)
    kinds = [(b["kind"], b["name"]) for b in report["blockers"]]
    assert kinds == [("DataScienceCluster", "dsc"), ("DataScienceCluster", "dsc"), ("DSCInitialization", "dsci"),
                     ("ServingRuntime", "ovms-server"), ("InferenceService", "mnist"), ("InferenceService", "flan"),
                     ("InferenceService", "flan")]
    assert "Caikit was removed in 3.0" in report["blockers"][-1]["why"]
    assert "vllm-cuda-runtime" in report["blockers"][-1]["action"]
    assert report["advisories"][0]["name"] == "servicemeshoperator"
