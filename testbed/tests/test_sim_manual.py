"""Seed 000 §3.3 (manual KServe installation) applied verbatim against the simulated operators,
checking what the seed's verification steps show; then the RHOAI refusals that make this path
necessary, and component faults.

The YAML documents come from tests/unit/fixtures/seed_000 (transcribed from the seed).
The tests run in file order and build on each other.
"""

from __future__ import annotations

import base64
import re

import pytest

from testbed.sim.faults import clear_faults, set_fault
from test_sim_support import (
    when,
    all_pods_ready,
    api,
    client,
    cond,
    create,
    get,
    items,
    merge_patch,
    module_testbed,
    pod_summary,
    pods,
    seed_docs,
    stays,
    subscribe,
    wait_for,
    wait_installed,
)

pytestmark = [pytest.mark.integration, pytest.mark.fresh_testbed, pytest.mark.slow]

tb = module_testbed(workers=3, gpu_nodes=0)
POD_NAME = re.compile(r"^(?P<dep>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")


@pytest.fixture(scope="module")
def k8s(tb):
    return client(tb)


@pytest.fixture(scope="module")
def seed():
    docs = {}
    for f in (
        "3.3.1.1_service_mesh.yaml.txt",
        "3.3.1.2_serverless.yaml.txt",
        "3.3.1.3_serving_gateways.yaml.txt",
        "3.3.2_kserve.yaml.txt",
        "3.3.3_authorino.yaml.txt",
    ):
        for d in seed_docs(f):
            key = (
                d.get("kind") or d["x-target"]["kind"],
                (d.get("metadata") or d["x-target"])["name"],
                "patch" if "x-target" in d else "object",
            )
            docs[key] = d
    return docs


def by_deployment(summary):
    """{deployment: [(ready, containers), ...]} from pod names like the seed's `oc get pods`."""
    out = {}
    for name, ready, containers in summary:
        m = POD_NAME.match(name)
        out.setdefault(m.group("dep") if m else name, []).append((ready, containers))
    return out


def settled(k8s, ns, expect):
    """Pods in `ns` match {deployment: (count, 'r/r')} exactly and are all Ready."""
    if not all_pods_ready(k8s, ns):
        return None
    got = by_deployment(pod_summary(k8s, ns))
    for dep, (count, ready) in expect.items():
        if len(got.get(dep, [])) != count or any(pair[0] != ready for pair in got[dep]):
            return None
    return got


def test_install_operators(k8s):
    subscribe(k8s, "servicemeshoperator")
    # serverless 1.33 still ships domain-mapping, as in the seed's sample output
    subscribe(k8s, "serverless-operator", channel="stable-1.33")
    subscribe(k8s, "authorino-operator")
    for p in ("servicemeshoperator", "serverless-operator", "authorino-operator"):
        wait_installed(k8s, p)


def test_service_mesh_instance(k8s, seed):
    create(k8s, seed[("Namespace", "istio-system", "object")])
    create(k8s, seed[("ServiceMeshControlPlane", "minimal", "object")])
    got = wait_for(
        lambda: settled(
            k8s,
            "istio-system",
            {"istio-egressgateway": (1, "1/1"), "istio-ingressgateway": (1, "1/1"), "istiod-minimal": (1, "1/1")},
        ),
        desc="istio-system pods",
    )
    assert set(got) == {"istio-egressgateway", "istio-ingressgateway", "istiod-minimal"}
    for p in pods(k8s, "istio-system", "app=istio-ingressgateway"):
        labels = p["metadata"]["labels"]
        assert labels["knative"] == "ingressgateway" and labels["istio"] == "ingressgateway"
    smcp = wait_for(
        lambda: when(
            get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "minimal", "istio-system"),
            lambda s: cond(s, "Ready") and cond(s, "Ready")["status"] == "True",
        ),
        desc="SMCP Ready",
    )
    comps = smcp["status"]["readiness"]["components"]
    assert comps["pending"] == [] and comps["unready"] == [] and "istio-discovery" in comps["ready"]
    assert smcp["status"]["annotations"]["readyComponentCount"] == f"{len(comps['ready'])}/{len(comps['ready'])}"
    assert cond(smcp, "Ready")["reason"] == "ComponentsReady"


def test_knative_serving_instance(k8s, seed):
    create(k8s, seed[("Namespace", "knative-serving", "object")])
    create(k8s, next(d for d in seed_docs("3.3.1.2_serverless.yaml.txt") if d.get("kind") == "ServiceMeshMember"))
    create(k8s, seed[("KnativeServing", "knative-serving", "object")])
    smmr = wait_for(
        lambda: when(
            get(k8s, "maistra.io/v1", "ServiceMeshMemberRoll", "default", "istio-system"),
            lambda s: "knative-serving" in (s or {}).get("status", {}).get("members", []),
        ),
        desc="SMMR members",
    )
    assert cond(smmr, "Ready")["reason"] == "Configured"
    expect = {
        "activator": (2, "2/2"),
        "autoscaler": (2, "2/2"),
        "autoscaler-hpa": (2, "1/1"),
        "controller": (2, "1/1"),
        "domain-mapping": (2, "1/1"),
        "domainmapping-webhook": (2, "1/1"),
        "net-istio-controller": (2, "1/1"),
        "net-istio-webhook": (2, "1/1"),
        "webhook": (2, "1/1"),
    }
    got = wait_for(lambda: settled(k8s, "knative-serving", expect), timeout=180, desc="knative-serving pods")
    assert set(got) == set(expect)
    assert all(pair[1] == ["activator", "istio-proxy"] for pair in got["activator"])
    ks = get(k8s, "operator.knative.dev/v1beta1", "KnativeServing", "knative-serving", "knative-serving")
    wait_for(
        lambda: cond(
            get(k8s, "operator.knative.dev/v1beta1", "KnativeServing", "knative-serving", "knative-serving"), "Ready"
        )["status"]
        == "True",
        desc="KnativeServing Ready",
    )
    ks = get(k8s, "operator.knative.dev/v1beta1", "KnativeServing", "knative-serving", "knative-serving")
    for t in ("DependenciesInstalled", "DeploymentsAvailable", "InstallSucceeded", "VersionMigrationEligible"):
        assert cond(ks, t)["status"] == "True"
    dep = get(k8s, "apps/v1", "Deployment", "net-istio-controller", "knative-serving")
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "ENABLE_SECRET_INFORMER_FILTERING_BY_CERT_UID", "value": "true"} in env


def test_secure_gateways(k8s, seed):
    from testbed.sim.rhoai import selfsigned_tls

    domain = get(k8s, "config.openshift.io/v1", "Ingress", "cluster")["spec"]["domain"]
    tls = selfsigned_tls("*." + domain, "Example Inc.")
    create(
        k8s,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "wildcard-certs", "namespace": "istio-system"},
            "data": tls["data"],
        },
    )
    assert base64.b64decode(tls["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")
    for d in seed_docs("3.3.1.3_serving_gateways.yaml.txt"):
        create(k8s, d)
    gws = {
        (g["metadata"]["namespace"], g["metadata"]["name"])
        for g in items(k8s, "networking.istio.io/v1beta1", "Gateway")
    }
    assert {("knative-serving", "knative-ingress-gateway"), ("knative-serving", "knative-local-gateway")} <= gws


def test_refusal_second_control_plane(k8s):
    """RHOAI installed after `minimal` exists: its data-science-smcp is denied by the mesh webhook."""
    subscribe(k8s, "rhods-operator")
    wait_installed(k8s, "rhods-operator")

    def failed():
        d = get(k8s, *DSCI, "default-dsci")
        c = cond(d, "CapabilityServiceMesh")
        return d if c and c["status"] == "False" else None

    dsci = wait_for(failed, desc="CapabilityServiceMesh False")
    c = cond(dsci, "CapabilityServiceMesh")
    assert c["reason"] == "CapabilityFailed"
    assert "only one service mesh may be installed per project/namespace" in c["message"]
    assert cond(dsci, "ReconcileComplete")["status"] != "True"
    assert get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system") is None
    # the webhook refuses a second control plane from anyone
    from kubernetes.dynamic.exceptions import DynamicApiError

    with pytest.raises(DynamicApiError) as ei:
        create(
            k8s,
            {
                "apiVersion": "maistra.io/v2",
                "kind": "ServiceMeshControlPlane",
                "metadata": {"name": "other", "namespace": "istio-system"},
                "spec": {},
            },
        )
    assert "only one service mesh may be installed per project/namespace" in str(ei.value)


def test_refusal_unknown_control_plane_version_or_identity(k8s):
    """The mesh webhook refuses a version it does not reconcile and an unknown identity type, on
    create and on update, so a wrong spec cannot go Ready in the testbed."""
    from kubernetes.dynamic.exceptions import DynamicApiError

    smcp = api(k8s, "maistra.io/v2", "ServiceMeshControlPlane")
    version = get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "minimal", "istio-system")["spec"].get("version")
    with pytest.raises(DynamicApiError) as ei:
        create(k8s, {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
                     "metadata": {"name": "bad", "namespace": "default"}, "spec": {"version": "v2.99"}})
    assert "invalid Version specified: v2.99" in str(ei.value)
    for body in ({"spec": {"version": "v3.0"}}, {"spec": {"security": {"identity": {"type": "Vault"}}}}):
        with pytest.raises(DynamicApiError) as ei:
            smcp.patch(name="minimal", namespace="istio-system", body=body,
                       content_type="application/merge-patch+json")
        assert "Invalid" in str(ei.value) or "invalid" in str(ei.value), str(ei.value)
    assert get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "minimal", "istio-system")["spec"].get("version") == version


def test_refusal_existing_knative_serving(k8s):
    """DSC with serving Managed while a KnativeServing RHOAI did not create exists."""
    create(
        k8s,
        {
            "apiVersion": DSC[0],
            "kind": DSC[1],
            "metadata": {"name": "default-dsc"},
            "spec": {
                "components": {
                    "kserve": {
                        "managementState": "Managed",
                        "serving": {"managementState": "Managed", "name": "knative-serving"},
                    }
                }
            },
        },
    )

    def refused():
        d = get(k8s, *DSC, "default-dsc")
        c = cond(d, "KserveReady")
        return d if c and "existing KNativeServing resource was found" in (c.get("message") or "") else None

    dsc = wait_for(refused, desc="KserveReady refusal")
    assert cond(dsc, "KserveReady")["status"] == "False"
    assert dsc["status"]["phase"] == "Not Ready"
    assert cond(dsc, "Ready")["status"] == "False" and "kserve" in cond(dsc, "Ready")["message"]
    ks = get(k8s, "operator.knative.dev/v1beta1", "KnativeServing", "knative-serving", "knative-serving")
    assert not ks["metadata"].get("ownerReferences")


def test_install_kserve_unmanaged(k8s, seed):
    dsci_doc = seed[("DSCInitialization", "default-dsci", "object")]
    merge_patch(k8s, *DSCI, "default-dsci", {"spec": dsci_doc["spec"]})
    dsc_doc = seed[("DataScienceCluster", "default-dsc", "object")]
    merge_patch(k8s, *DSC, "default-dsc", {"spec": dsc_doc["spec"]})
    wait_for(
        lambda: (get(k8s, *DSCI, "default-dsci") or {}).get("status", {}).get("phase") == "Ready", desc="DSCI Ready"
    )
    dsc = wait_for(
        lambda: when(get(k8s, *DSC, "default-dsc"), lambda d: d.get("status", {}).get("phase") == "Ready"),
        desc="DSC Ready",
    )
    c = cond(dsc, "KserveReady")
    assert c["status"] == "True", c
    got = wait_for(
        lambda: settled(
            k8s,
            "redhat-ods-applications",
            {"kserve-controller-manager": (1, "1/1"), "odh-model-controller": (3, "1/1")},
        ),
        desc="redhat-ods-applications pods",
    )
    assert set(got) == {"kserve-controller-manager", "odh-model-controller"}
    assert get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system") is None


def test_authorino_instance(k8s, seed):
    create(k8s, seed[("Namespace", "redhat-ods-applications-auth-provider", "object")])
    smm = next(d for d in seed_docs("3.3.3_authorino.yaml.txt") if d.get("kind") == "ServiceMeshMember")
    create(k8s, smm)
    create(k8s, seed[("Authorino", "authorino", "object")])
    ns = "redhat-ods-applications-auth-provider"
    wait_for(lambda: get(k8s, "apps/v1", "Deployment", "authorino", ns), desc="authorino Deployment")
    patch = seed[("Deployment", "authorino", "patch")]
    merge_patch(k8s, "apps/v1", "Deployment", "authorino", {"spec": patch["spec"]}, ns)

    def two_containers():
        ps = [p for p in pods(k8s, ns) if not p["metadata"].get("deletionTimestamp")]
        if len(ps) != 1 or (ps[0].get("status") or {}).get("phase") != "Running":
            return None
        return ps[0] if [c["name"] for c in ps[0]["spec"]["containers"]] == ["authorino", "istio-proxy"] else None

    p = wait_for(two_containers, desc="authorino pod with istio-proxy")
    assert p["metadata"]["name"].startswith("authorino-")
    # the operator keeps reconciling but leaves the user's label alone
    stays(
        lambda: get(k8s, "apps/v1", "Deployment", "authorino", ns)["spec"]["template"]["metadata"]["labels"].get(
            "sidecar.istio.io/inject"
        )
        == "true",
        5,
        desc="user label",
    )
    cr = wait_for(
        lambda: when(
            get(k8s, "operator.authorino.kuadrant.io/v1beta1", "Authorino", "authorino", ns),
            lambda a: cond(a, "Ready") and cond(a, "Ready")["status"] == "True",
        ),
        desc="Authorino Ready",
    )
    assert cond(cr, "Ready")["reason"] == "Provisioned"
    svc = get(k8s, "v1", "Service", "authorino-authorino-authorization", ns)
    assert {p["port"] for p in svc["spec"]["ports"]} == {50051, 5001}


def test_mesh_uses_authorino(k8s, seed):
    patch = seed[("ServiceMeshControlPlane", "minimal", "patch")]
    merge_patch(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "minimal", {"spec": patch["spec"]}, "istio-system")

    def mesh():
        cm = get(k8s, "v1", "ConfigMap", "istio-minimal", "istio-system")
        m = (cm or {}).get("data", {}).get("mesh", "")
        return m if "redhat-ods-applications-auth-provider" in m else None

    import yaml

    m = yaml.safe_load(wait_for(mesh, desc="extension provider in mesh config"))
    ep = m["extensionProviders"][0]
    assert ep["name"] == "redhat-ods-applications-auth-provider"
    assert ep["envoyExtAuthzGrpc"] == {
        "service": "authorino-authorino-authorization.redhat-ods-applications-auth-provider.svc.cluster.local",
        "port": 50051,
    }
    assert m["defaultConfig"]["discoveryAddress"] == "istiod-minimal.istio-system.svc:15012"
    assert m["defaultConfig"]["terminationDrainDuration"] == "35s"


def test_kserve_authorization(k8s):
    for d in seed_docs("3.3.3_authorino.yaml.txt"):
        if d.get("kind") in ("AuthorizationPolicy", "EnvoyFilter"):
            d = dict(d, metadata=dict(d["metadata"], namespace="istio-system"))
            create(k8s, d)
    assert [
        a["metadata"]["name"] for a in items(k8s, "security.istio.io/v1beta1", "AuthorizationPolicy", "istio-system")
    ] == ["kserve-predictor"]
    assert [
        e["metadata"]["name"] for e in items(k8s, "networking.istio.io/v1alpha3", "EnvoyFilter", "istio-system")
    ] == ["activator-host-header"]


def test_fault_image_pull(k8s):
    set_fault(k8s, "istio-egressgateway.fail", "ImagePullBackOff")
    try:

        def unready():
            s = get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "minimal", "istio-system")
            comps = s["status"]["readiness"]["components"]
            return s if "istio-egress" in comps["unready"] else None

        smcp = wait_for(unready, desc="istio-egress unready")
        assert cond(smcp, "Ready")["status"] == "False" and cond(smcp, "Ready")["reason"] == "ComponentsNotReady"

        def pulling():
            for p in pods(k8s, "istio-system", "app=istio-egressgateway"):
                for cs in (p.get("status") or {}).get("containerStatuses") or []:
                    if ((cs.get("state") or {}).get("waiting") or {}).get("reason") in (
                        "ImagePullBackOff",
                        "ErrImagePull",
                    ):
                        return p
            return None

        wait_for(pulling, desc="pod in ImagePullBackOff")
    finally:
        clear_faults(k8s)
    wait_for(
        lambda: cond(get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "minimal", "istio-system"), "Ready")["status"]
        == "True",
        desc="SMCP recovers",
    )


def test_fault_crash(k8s):
    set_fault(k8s, "kserve-controller-manager.fail", "CrashLoopBackOff")
    try:

        def crashing():
            d = get(k8s, *DSC, "default-dsc")
            c = cond(d, "KserveReady")
            return d if c["status"] == "False" and c["reason"] == "DeploymentsNotReady" else None

        wait_for(crashing, desc="KserveReady False")

        def crash_pod():
            for p in pods(k8s, "redhat-ods-applications", "control-plane=kserve-controller-manager"):
                for cs in (p.get("status") or {}).get("containerStatuses") or []:
                    if ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff" or cs.get(
                        "restartCount", 0
                    ) > 0:
                        return p
            return None

        wait_for(crash_pod, desc="pod crashing")
    finally:
        clear_faults(k8s)
    wait_for(lambda: cond(get(k8s, *DSC, "default-dsc"), "KserveReady")["status"] == "True", desc="kserve recovers")


def test_fault_ready_delay(k8s):
    import time

    set_fault(k8s, "autoscaler-hpa.ready-delay", "12")
    t0 = time.monotonic()
    try:

        def not_available():
            ks = get(k8s, "operator.knative.dev/v1beta1", "KnativeServing", "knative-serving", "knative-serving")
            c = cond(ks, "DeploymentsAvailable")
            return ks if c["status"] == "False" and "autoscaler-hpa" in c["message"] else None

        wait_for(not_available, desc="DeploymentsAvailable False")
        wait_for(
            lambda: cond(
                get(k8s, "operator.knative.dev/v1beta1", "KnativeServing", "knative-serving", "knative-serving"),
                "Ready",
            )["status"]
            == "True",
            timeout=120,
            desc="KnativeServing Ready again",
        )
        assert time.monotonic() - t0 >= 10
        dep = get(k8s, "apps/v1", "Deployment", "autoscaler-hpa", "knative-serving")
        assert dep["spec"]["template"]["metadata"]["annotations"]["testbed.openshift-ai.io/ready-delay"] == "12"
    finally:
        clear_faults(k8s)


def test_cluster_policy_ready_without_gpu_nodes(k8s):
    subscribe(k8s, "gpu-operator-certified")
    sub, csv = wait_installed(k8s, "gpu-operator-certified")
    import json

    cp = json.loads(csv["metadata"]["annotations"]["alm-examples"])[0]
    create(k8s, cp)

    def ready():
        c = get(k8s, "nvidia.com/v1", "ClusterPolicy", "gpu-cluster-policy")
        return c if (c or {}).get("status", {}).get("state") == "ready" else None

    c = wait_for(ready, desc="ClusterPolicy ready")
    assert cond(c, "Ready")["reason"] in ("NoGPUNodes", "NFDLabelsMissing")
    assert all("nvidia.com/gpu" not in (n.get("status") or {}).get("allocatable", {}) for n in items(k8s, "v1", "Node"))
