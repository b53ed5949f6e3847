"""platform_info against testbeds, run through Ansible.

The shared testbed gives the basic facts; a dedicated ROSA testbed without simulated operators
(so that no operator CRD exists at first) exercises ROSA detection, "kind not served", GPU
nodes, and the install-path decision as SMCP / KnativeServing / DSCI objects appear: one
created by the OpenShift AI operator (FeatureTracker owner) does not block, a foreign one does."""

import os
import time

import yaml
from helpers import run_module
from kubernetes import client as k8s_client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRDS = os.path.join(REPO, "testbed", "crds", "operators")


def _facts(kubeconfig, check=False):
    result = run_module("platform_info", {}, kubeconfig, check=check)
    assert not result.get("failed"), result
    assert result["changed"] is False
    return result["platform"]


def test_basic_facts_match_the_cluster(kubeconfig, k8s):
    facts = _facts(kubeconfig)
    ingress = k8s.resources.get(api_version="config.openshift.io/v1", kind="Ingress").get(name="cluster")
    infra = k8s.resources.get(api_version="config.openshift.io/v1", kind="Infrastructure").get(name="cluster").to_dict()
    cv = k8s.resources.get(api_version="config.openshift.io/v1", kind="ClusterVersion").get(name="version").to_dict()
    assert facts["ingress_domain"] == ingress.spec.domain
    assert facts["platform_type"] == infra["status"]["platformStatus"]["type"]
    tags = (infra["status"]["platformStatus"].get("aws") or {}).get("resourceTags") or []
    assert facts["is_rosa"] is any(t["key"] == "red-hat-clustertype" and t["value"] == "rosa" for t in tags)
    completed = [h["version"] for h in cv["status"]["history"] if h["state"] == "Completed"]
    assert facts["openshift_version"] == completed[0]
    assert facts["install_path"] in ("automated", "manual") and facts["install_path_reasons"]
    # read-only: check mode gives the same answer
    assert _facts(kubeconfig, check=True)["ingress_domain"] == facts["ingress_domain"]


def _apply_crd(k8s, relpath):
    with open(os.path.join(CRDS, relpath)) as f:
        body = yaml.safe_load(f)
    crds = k8s.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=body)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        obj = crds.get(name=body["metadata"]["name"]).to_dict()
        if any(c["type"] == "Established" and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or []):
            break
        time.sleep(0.3)
    group = body["spec"]["group"]
    version = [v["name"] for v in body["spec"]["versions"] if v.get("served")][0]
    kind = body["spec"]["names"]["kind"]
    deadline = time.monotonic() + 30
    while True:  # discovery catches up a moment after Established
        try:
            k8s.resources.invalidate_cache()
            return k8s.resources.get(api_version="%s/%s" % (group, version), kind=kind)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_rosa_gpu_and_install_path_on_a_fresh_cluster(fresh_testbed):
    from testbed.pytest_plugin import dynamic_client

    tb = fresh_testbed(platform="ROSA", sim=False, workers=2, gpu_nodes=0)
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)
    core = k8s_client.CoreV1Api(k8s.client)

    # 1. ROSA, no operator CRDs at all: every stack kind counts as none present
    facts = _facts(kubeconfig)
    assert facts["platform_type"] == "AWS"
    assert facts["is_rosa"] is True and any("red-hat-clustertype" in s for s in facts["rosa_signals"])
    assert facts["ingress_domain"].endswith("openshiftapps.com")
    assert facts["smcp"] == [] and facts["knative_serving"] == [] and facts["dsci"] is None and facts["dsc"] is None
    assert facts["served_kinds"]["smcp"] is False and facts["served_kinds"]["knative_serving"] is False
    assert facts["install_path"] == "automated"
    assert any("not served" in r for r in facts["install_path_reasons"])
    assert facts["gpu_nodes"] == []

    # 2. GPU node: the GPU operator's label and allocatable nvidia.com/gpu
    node = core.list_node().items[0].metadata.name
    core.patch_node(node, {"metadata": {"labels": {"nvidia.com/gpu.present": "true"}}})
    core.patch_node_status(node, {"status": {"capacity": {"nvidia.com/gpu": "2"}, "allocatable": {"nvidia.com/gpu": "2"}}})
    gpus = _facts(kubeconfig)["gpu_nodes"]
    assert [g["name"] for g in gpus] == [node] and gpus[0]["gpu_present_label"] is True
    assert gpus[0]["allocatable_gpus"] in (2, 0)  # kwok may reset node status; the label is what marks the node

    # 3. An SMCP created by the OpenShift AI operator (owned by its FeatureTracker) does not block
    smcp_res = _apply_crd(k8s, "servicemeshoperator/servicemeshcontrolplanes.maistra.io.yaml")
    ft_res = _apply_crd(k8s, "rhods-operator/featuretrackers.features.opendatahub.io.yaml")
    core.create_namespace({"metadata": {"name": "istio-system"}})
    ft = ft_res.create(body={"apiVersion": "features.opendatahub.io/v1", "kind": "FeatureTracker",
                             "metadata": {"name": "redhat-ods-applications-mesh-control-plane-creation"},
                             "spec": {"source": {"type": "DSCI", "name": "default-dsci"}, "appNamespace": "redhat-ods-applications"}})
    owner = {"apiVersion": "features.opendatahub.io/v1", "kind": "FeatureTracker", "name": ft.metadata.name,
             "uid": ft.metadata.uid, "controller": True, "blockOwnerDeletion": True}
    smcp_res.create(namespace="istio-system", body={
        "apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
        "metadata": {"name": "data-science-smcp", "namespace": "istio-system", "ownerReferences": [owner]},
        "spec": {"version": "v2.5"}})
    facts = _facts(kubeconfig)
    assert facts["smcp"][0]["name"] == "data-science-smcp" and facts["smcp"][0]["created_by_operator"] is True
    assert facts["install_path"] == "automated", facts["install_path_reasons"]
    assert any("created by the OpenShift AI operator" in r for r in facts["install_path_reasons"])

    # 4. A KnativeServing someone else created forces the manual path, and says which one
    ks_res = _apply_crd(k8s, "serverless-operator/knativeservings.operator.knative.dev.yaml")
    core.create_namespace({"metadata": {"name": "knative-serving"}})
    ks_res.create(namespace="knative-serving", body={
        "apiVersion": ks_res.group_version, "kind": "KnativeServing",
        "metadata": {"name": "knative-serving", "namespace": "knative-serving"}, "spec": {}})
    facts = _facts(kubeconfig)
    assert facts["install_path"] == "manual"
    assert any("KnativeServing knative-serving/knative-serving" in r for r in facts["install_path_reasons"])

    # 5. A foreign SMCP (the seed's `minimal`) alone is enough for the manual path
    ks_res.delete(name="knative-serving", namespace="knative-serving")
    core.create_namespace({"metadata": {"name": "mesh-two"}})
    smcp_res.create(namespace="mesh-two", body={
        "apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
        "metadata": {"name": "minimal", "namespace": "mesh-two"}, "spec": {"version": "v2.5"}})
    facts = _facts(kubeconfig)
    assert facts["install_path"] == "manual"
    assert [r for r in facts["install_path_reasons"] if "mesh-two/minimal" in r]
    assert not [r for r in facts["install_path_reasons"] if "data-science-smcp" in r and "not created" in r]
