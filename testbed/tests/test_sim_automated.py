"""Seed 000 §3.2 (automated KServe installation by the RHOAI operator), then model serving,
GPU enablement and the model registry against the simulated operators. Tests run in file order."""

from __future__ import annotations

import json

import pytest
import yaml

from testbed.sim.faults import clear_faults, set_fault
from test_sim_support import (
    when,
    client,
    cond,
    create,
    get,
    items,
    merge_patch,
    module_testbed,
    pod_ready,
    pods,
    subscribe,
    wait_for,
    wait_installed,
)
from test_sim_manual import settled

pytestmark = [pytest.mark.integration, pytest.mark.fresh_testbed, pytest.mark.slow]

tb = module_testbed(workers=3, gpu_nodes=1)
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
ISVC = ("serving.kserve.io/v1beta1", "InferenceService")
NS = "models"


@pytest.fixture(scope="module")
def k8s(tb):
    return client(tb)


def ready_cond(obj, typ="Ready"):
    c = cond(obj, typ)
    return bool(c) and c["status"] == "True"


def test_install_operators(k8s):
    for p in ("servicemeshoperator", "serverless-operator", "authorino-operator", "rhods-operator"):
        subscribe(k8s, p)
    for p in ("servicemeshoperator", "serverless-operator", "authorino-operator", "rhods-operator"):
        wait_installed(k8s, p)


def test_default_dsci_sets_up_mesh_and_authorino(k8s):
    dsci = wait_for(
        lambda: when(get(k8s, *DSCI, "default-dsci"), lambda d: (d or {}).get("status", {}).get("phase") == "Ready"),
        timeout=180,
        desc="default-dsci Ready",
    )
    assert dsci["spec"]["serviceMesh"]["managementState"] == "Managed"
    assert cond(dsci, "ReconcileComplete")["reason"] == "ReconcileCompleted"
    assert cond(dsci, "CapabilityServiceMesh")["reason"] == "Configured"
    assert cond(dsci, "CapabilityServiceMeshAuthorization")["status"] == "True"
    got = wait_for(
        lambda: settled(
            k8s,
            "istio-system",
            {
                "istio-egressgateway": (1, "1/1"),
                "istio-ingressgateway": (1, "1/1"),
                "istiod-data-science-smcp": (1, "1/1"),
            },
        ),
        desc="istio-system pods",
    )
    assert set(got) == {"istio-egressgateway", "istio-ingressgateway", "istiod-data-science-smcp"}
    refs = get(k8s, "v1", "ConfigMap", "auth-refs", "redhat-ods-applications")["data"]
    assert refs["AUTH_NAMESPACE"] == "redhat-ods-applications-auth-provider"
    assert get(k8s, "v1", "ConfigMap", "service-mesh-refs", "redhat-ods-applications")["data"] == {
        "CONTROL_PLANE_NAME": "data-science-smcp",
        "MESH_NAMESPACE": "istio-system",
    }
    mesh = yaml.safe_load(get(k8s, "v1", "ConfigMap", "istio-data-science-smcp", "istio-system")["data"]["mesh"])
    assert mesh["extensionProviders"][0]["name"] == "redhat-ods-applications-auth-provider"
    fts = {f["metadata"]["name"]: f for f in items(k8s, "features.opendatahub.io/v1", "FeatureTracker")}
    assert fts["redhat-ods-applications-mesh-control-plane-creation"]["status"]["phase"] == "Ready"
    smcp = get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system")
    assert smcp["metadata"]["ownerReferences"][0]["kind"] == "FeatureTracker"
    ns = "redhat-ods-applications-auth-provider"
    p = wait_for(
        lambda: when(
            [p for p in pods(k8s, ns) if not p["metadata"].get("deletionTimestamp")],
            lambda ps: len(ps) == 1
            and [c["name"] for c in ps[0]["spec"]["containers"]] == ["authorino", "istio-proxy"]
            and pod_ready(ps[0]),
            lambda ps: ps[0],
        ),
        desc="authorino 2/2",
    )
    assert p["metadata"]["name"].startswith("authorino-")


def test_dsc_installs_kserve_and_serverless(k8s):
    # seed §3.2 step 5e
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
                        "serving": {
                            "ingressGateway": {
                                "certificate": {"secretName": "knative-serving-cert", "type": "SelfSigned"}
                            },
                            "managementState": "Managed",
                            "name": "knative-serving",
                        },
                    }
                }
            },
        },
    )
    dsc = wait_for(
        lambda: when(get(k8s, *DSC, "default-dsc"), lambda d: d.get("status", {}).get("phase") == "Ready"),
        timeout=180,
        desc="DSC Ready",
    )
    assert cond(dsc, "KserveReady")["status"] == "True"
    assert dsc["status"]["components"]["kserve"]["managementState"] == "Managed"
    expect = {
        d: (2, "1/1") for d in ("autoscaler-hpa", "controller", "net-istio-controller", "net-istio-webhook", "webhook")
    }
    expect.update({"activator": (2, "2/2"), "autoscaler": (2, "2/2")})
    got = wait_for(lambda: settled(k8s, "knative-serving", expect), timeout=180, desc="knative-serving pods")
    assert set(got) == set(expect)
    got = wait_for(
        lambda: settled(
            k8s,
            "redhat-ods-applications",
            {"kserve-controller-manager": (1, "1/1"), "odh-model-controller": (3, "1/1")},
        ),
        desc="redhat-ods-applications pods",
    )
    secret = get(k8s, "v1", "Secret", "knative-serving-cert", "istio-system")
    assert secret["type"] == "kubernetes.io/tls"
    gw = get(k8s, "networking.istio.io/v1beta1", "Gateway", "knative-ingress-gateway", "knative-serving")
    assert gw["spec"]["servers"][0]["tls"]["credentialName"] == "knative-serving-cert"
    assert gw["spec"]["servers"][0]["hosts"] == [
        "*." + get(k8s, "config.openshift.io/v1", "Ingress", "cluster")["spec"]["domain"]
    ]
    ap = get(k8s, "security.istio.io/v1beta1", "AuthorizationPolicy", "kserve-predictor", "istio-system")
    assert ap["spec"]["action"] == "CUSTOM" and ap["spec"]["selector"]["matchLabels"] == {"component": "predictor"}
    smmr = get(k8s, "maistra.io/v1", "ServiceMeshMemberRoll", "default", "istio-system")
    assert "knative-serving" in smmr["status"]["members"]


SR = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "ServingRuntime",
    "metadata": {
        "name": "vllm-runtime",
        "namespace": NS,
        "labels": {"opendatahub.io/dashboard": "true"},
        "annotations": {"opendatahub.io/recommended-accelerators": '["nvidia.com/gpu"]'},
    },
    "spec": {
        "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
        "multiModel": False,
        "annotations": {"prometheus.io/port": "8080", "prometheus.io/path": "/metrics"},
        "containers": [
            {
                "name": "kserve-container",
                "image": "quay.io/modh/vllm:rhoai-2.19",
                "args": ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            }
        ],
    },
}


def isvc(name, runtime="vllm-runtime", gpus=0):
    res = {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}
    if gpus:
        res["requests"]["nvidia.com/gpu"] = str(gpus)
        res["limits"]["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": ISVC[0],
        "kind": ISVC[1],
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"opendatahub.io/dashboard": "true"},
            "annotations": {
                "serving.knative.openshift.io/enablePassthrough": "true",
                "sidecar.istio.io/inject": "true",
                "sidecar.istio.io/rewriteAppHTTPProbers": "true",
                "security.opendatahub.io/enable-auth": "true",
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 1,
                "model": {
                    "modelFormat": {"name": "vLLM"},
                    "runtime": runtime,
                    "storageUri": "oci://quay.io/x/granite:1",
                    "resources": res,
                },
            }
        },
    }


def test_inference_service(k8s):
    create(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    create(k8s, SR)
    create(k8s, isvc("granite"))
    obj = wait_for(lambda: when(get(k8s, *ISVC, "granite", NS), ready_cond), timeout=120, desc="ISVC Ready")
    domain = get(k8s, "config.openshift.io/v1", "Ingress", "cluster")["spec"]["domain"]
    st = obj["status"]
    assert st["url"] == f"https://granite-{NS}.{domain}"
    assert st["modelStatus"]["states"]["activeModelState"] == "Loaded"
    assert st["modelStatus"]["transitionStatus"] == "UpToDate" and st["deploymentMode"] == "Serverless"
    for t in ("PredictorReady", "IngressReady"):
        assert ready_cond(obj, t)
    ps = wait_for(
        lambda: when(
            pods(k8s, NS, "serving.kserve.io/inferenceservice=granite,component=predictor"),
            lambda ps: ps and all(pod_ready(p) for p in ps),
        ),
        desc="predictor pods",
    )
    p = ps[0]
    assert p["metadata"]["name"].startswith("granite-predictor-00001-deployment-")
    assert [c["name"] for c in p["spec"]["containers"]] == ["kserve-container", "queue-proxy", "istio-proxy"]
    assert "--served-model-name=granite" in p["spec"]["containers"][0]["args"]
    assert p["metadata"]["labels"]["serving.knative.dev/revision"] == "granite-predictor-00001"
    route = get(k8s, "route.openshift.io/v1", "Route", f"granite-{NS}", "istio-system")
    assert route["spec"]["host"] == f"granite-{NS}.{domain}"
    assert (
        route["spec"]["to"]["name"] == "istio-ingressgateway" and route["spec"]["tls"]["termination"] == "passthrough"
    )
    wait_for(lambda: get(k8s, "authorino.kuadrant.io/v1beta2", "AuthConfig", "granite", NS), desc="AuthConfig")
    assert get(k8s, "v1", "ConfigMap", "granite-metrics-dashboard", NS)["data"]["supported"] == "true"
    assert get(k8s, "maistra.io/v1", "ServiceMeshMember", "default", NS)


def test_inference_service_unknown_runtime(k8s):
    create(k8s, isvc("broken", runtime="no-such-runtime"))
    obj = wait_for(lambda: when(get(k8s, *ISVC, "broken", NS), lambda o: cond(o, "Ready")), desc="ISVC status")
    assert cond(obj, "Ready")["status"] == "False"
    assert obj["status"]["modelStatus"]["transitionStatus"] == "InvalidSpec"
    assert "no-such-runtime" in cond(obj, "Ready")["message"]


def test_fault_predictor_crash(k8s):
    set_fault(k8s, "granite-predictor.fail", "CrashLoopBackOff")
    try:

        def blocked():
            o = get(k8s, *ISVC, "granite", NS)
            return o if o["status"].get("modelStatus", {}).get("transitionStatus") == "BlockedByFailedLoad" else None

        o = wait_for(blocked, desc="BlockedByFailedLoad")
        assert cond(o, "Ready")["status"] == "False"
        assert o["status"]["modelStatus"]["lastFailureInfo"]["reason"] == "ModelLoadFailed"
    finally:
        clear_faults(k8s)
    wait_for(lambda: ready_cond(get(k8s, *ISVC, "granite", NS)), desc="ISVC recovers")


def test_gpu_inference_service_waits_for_gpu_stack(k8s):
    create(k8s, isvc("granite-gpu", gpus=1))

    def unschedulable():
        for p in pods(k8s, NS, "serving.kserve.io/inferenceservice=granite-gpu"):
            for c in (p.get("status") or {}).get("conditions") or []:
                if c.get("type") == "PodScheduled" and c.get("status") == "False":
                    return p
        return None

    wait_for(unschedulable, desc="GPU pod Pending")
    assert not ready_cond(get(k8s, *ISVC, "granite-gpu", NS))
    subscribe(k8s, "nfd")
    subscribe(k8s, "gpu-operator-certified")
    gpu_csv = wait_installed(k8s, "gpu-operator-certified")[1]
    nfd_csv = wait_installed(k8s, "nfd")[1]
    create(k8s, json.loads(gpu_csv["metadata"]["annotations"]["alm-examples"])[0])
    cp = wait_for(
        lambda: when(
            get(k8s, "nvidia.com/v1", "ClusterPolicy", "gpu-cluster-policy"),
            lambda c: (c or {}).get("status", {}).get("state") == "ready",
        ),
        desc="ClusterPolicy ready",
    )
    assert cond(cp, "Ready")["reason"] == "NFDLabelsMissing"
    create(k8s, json.loads(nfd_csv["metadata"]["annotations"]["alm-examples"])[0])

    def gpu_node():
        for n in items(k8s, "v1", "Node"):
            labels = n["metadata"]["labels"]
            if (
                labels.get("feature.node.kubernetes.io/pci-10de.present") == "true"
                and labels.get("nvidia.com/gpu.present") == "true"
                and n["status"].get("allocatable", {}).get("nvidia.com/gpu")
                == n["metadata"]["annotations"].get("testbed.openshift-ai.io/gpu-count", "1")
            ):
                return n
        return None

    node = wait_for(gpu_node, timeout=120, desc="GPU node labelled and advertising nvidia.com/gpu")
    assert node["metadata"]["labels"]["testbed.openshift-ai.io/gpu"] == "true"
    cp = wait_for(
        lambda: when(
            get(k8s, "nvidia.com/v1", "ClusterPolicy", "gpu-cluster-policy"),
            lambda c: cond(c, "Ready")["reason"] == "Reconciled",
        ),
        desc="ClusterPolicy reconciled",
    )
    assert cp["status"]["state"] == "ready"
    ds = items(k8s, "apps/v1", "DaemonSet", "nvidia-gpu-operator")
    assert "nvidia-device-plugin-daemonset" in {d["metadata"]["name"] for d in ds}
    obj = wait_for(lambda: when(get(k8s, *ISVC, "granite-gpu", NS), ready_cond), timeout=120, desc="GPU ISVC Ready")
    p = [p for p in pods(k8s, NS, "serving.kserve.io/inferenceservice=granite-gpu") if pod_ready(p)][0]
    assert p["spec"]["nodeName"] == node["metadata"]["name"]
    assert obj["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded"


def test_model_registry(k8s):
    merge_patch(
        k8s,
        *DSC,
        "default-dsc",
        {
            "spec": {
                "components": {
                    "modelregistry": {"managementState": "Managed", "registriesNamespace": "rhoai-model-registries"}
                }
            }
        },
    )
    dsc = wait_for(
        lambda: when(get(k8s, *DSC, "default-dsc"), lambda d: ready_cond(d, "ModelRegistryReady")),
        timeout=120,
        desc="ModelRegistryReady",
    )
    assert dsc["status"]["components"]["modelregistry"]["registriesNamespace"] == "rhoai-model-registries"
    assert get(k8s, "maistra.io/v1", "ServiceMeshMember", "default", "rhoai-model-registries")
    assert get(k8s, "v1", "Secret", "default-modelregistry-cert", "istio-system")
    ns = "rhoai-model-registries"
    create(
        k8s,
        {
            "apiVersion": "modelregistry.opendatahub.io/v1alpha1",
            "kind": "ModelRegistry",
            "metadata": {"name": "registry", "namespace": ns},
            "spec": {
                "grpc": {},
                "rest": {},
                "istio": {"gateway": {"grpc": {"tls": {}}, "rest": {"tls": {}}}},
                # no spec.mysql: the simulated operator connects to a configured database for real
                # (testbed/sim/model_registry.py; tests/integration/test_model_registry.py)
            },
        },
    )
    mr = wait_for(
        lambda: when(
            get(k8s, "modelregistry.opendatahub.io/v1alpha1", "ModelRegistry", "registry", ns),
            lambda m: ready_cond(m, "Available"),
        ),
        timeout=120,
        desc="ModelRegistry Available",
    )
    assert cond(mr, "Available")["reason"] == "DeploymentAvailable"
    ps = [p for p in pods(k8s, ns, "app=registry") if pod_ready(p)]
    assert [c["name"] for c in ps[0]["spec"]["containers"]] == ["grpc-container", "rest-container", "istio-proxy"]
    assert get(k8s, "rbac.authorization.k8s.io/v1", "Role", "registry-user-registry", ns)
    rb = get(k8s, "rbac.authorization.k8s.io/v1", "RoleBinding", "registry-users", ns)
    assert rb["subjects"][0] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "registry-users"}
    assert get(k8s, "user.openshift.io/v1", "Group", "registry-users")


def test_dashboard_migrates_gpu_accelerator_profile(k8s):
    merge_patch(k8s, *DSC, "default-dsc", {"spec": {"components": {"dashboard": {"managementState": "Managed"}}}})
    apps = "redhat-ods-applications"
    route = wait_for(
        lambda: when(
            get(k8s, "route.openshift.io/v1", "Route", "rhods-dashboard", apps),
            lambda r: (r or {}).get("status", {}).get("ingress"),
        ),
        desc="dashboard Route admitted",
    )
    assert route["status"]["ingress"][0]["host"].startswith("rhods-dashboard-")
    wait_for(
        lambda: len([p for p in pods(k8s, apps, "deployment=rhods-dashboard") if pod_ready(p)]) == 2,
        desc="dashboard pods",
    )
    # a GPU node exists (test above), so the dashboard's start-up migration creates migrated-gpu
    prof = wait_for(
        lambda: get(k8s, "dashboard.opendatahub.io/v1", "AcceleratorProfile", "migrated-gpu", apps),
        desc="AcceleratorProfile migrated-gpu",
    )
    assert prof["spec"]["identifier"] == "nvidia.com/gpu" and prof["spec"]["enabled"] is True
    wait_for(lambda: get(k8s, "v1", "ConfigMap", "migration-gpu-status", apps), desc="migration-gpu-status")
