"""Automated install path (issue 6; seed 000 §3.2) through role kserve_automated, on fresh testbeds.

- a fresh AWS cluster: check mode writes nothing, converge, DSCI/DSC as §3.2 says, the pods of §3.2's
  verification, second run changed=0, check mode on the converged cluster changed=0, and the manual
  path refused on it (install.yml, when present);
- a fresh ROSA cluster: ThirdParty identity on data-science-smcp, Authorino, idempotence;
- refusals, each before anything is written: foreign ServiceMeshControlPlane, foreign KnativeServing,
  a cluster set up for the manual path, a Provided certificate that does not exist.
"""

import json
import os

import pytest

from helpers import REPO, ansible_playbook
from install_support import failure_text
from role_runner import install_operators, run_role
from testbed.pytest_plugin import dynamic_client

pytestmark = pytest.mark.integration

DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
SMCP = ("maistra.io/v2", "ServiceMeshControlPlane")
KSERVING = ("operator.knative.dev/v1beta1", "KnativeServing")
SUB = ("operators.coreos.com/v1alpha1", "Subscription")

IDENTITY_TASK = "Set security.identity.type ThirdParty on the control plane"
IDENTITY_INCLUDE = "Set the third-party token identity on the control plane (ROSA)"


def _get(k8s, gvk, name, namespace=None):
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

    try:
        api = k8s.resources.get(api_version=gvk[0], kind=gvk[1])
    except ResourceNotFoundError:
        return None
    try:
        return api.get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _list(k8s, gvk, namespace=None):
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        api = k8s.resources.get(api_version=gvk[0], kind=gvk[1])
    except ResourceNotFoundError:
        return []
    return [o.to_dict() for o in api.get(namespace=namespace).items]


def _snapshot(k8s, namespaces=True):
    """What a write by the role would change: which objects exist and their spec and labels.

    Status, resourceVersion and the labels of namespaces are left out on purpose: the simulated
    operators keep updating them while the role runs. ``namespaces=False`` leaves namespaces and
    CRDs out too, for clusters where an operator is still creating its own (the role creates them
    only through Subscriptions and OperatorGroups, which are compared)."""
    import json

    out = {}
    kinds = [("v1", "Namespace"), ("apiextensions.k8s.io/v1", "CustomResourceDefinition")] if namespaces else []
    for gvk in kinds:
        out[gvk[1]] = sorted(o["metadata"]["name"] for o in _list(k8s, gvk))
    for gvk in [SUB, ("operators.coreos.com/v1", "OperatorGroup"), DSCI, DSC, SMCP, KSERVING]:
        out[gvk[1]] = sorted(
            (o["metadata"].get("namespace") or "", o["metadata"]["name"],
             json.dumps(o.get("spec"), sort_keys=True), json.dumps(o["metadata"].get("labels"), sort_keys=True))
            for o in _list(k8s, gvk)
        )
    return out


def _wait_for(fn, what, timeout=120):
    """Test-side wait for a precondition the simulated operators create asynchronously."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.5)


def _kserve_pods_verified(fact):
    pods = fact["pods"]
    for ns in ("istio-system", "knative-serving", "redhat-ods-applications"):
        assert pods.get(ns), "no verified pods in %s: %s" % (ns, pods)
        assert all(p["ready"] for p in pods[ns]), pods[ns]

    def names(ns):
        return [p["name"] for p in pods[ns]]

    assert any(n.startswith("istiod-data-science-smcp-") for n in names("istio-system"))
    assert any(n.startswith("istio-ingressgateway-") for n in names("istio-system"))
    assert any(n.startswith("istio-egressgateway-") for n in names("istio-system"))
    for prefix in ("activator-", "autoscaler-", "controller-", "webhook-", "net-istio-controller-", "net-istio-webhook-"):
        assert any(n.startswith(prefix) for n in names("knative-serving")), (prefix, names("knative-serving"))
    assert any(n.startswith("kserve-controller-manager-") for n in names("redhat-ods-applications"))
    assert any(n.startswith("odh-model-controller-") for n in names("redhat-ods-applications"))


def test_automated_path_from_a_fresh_cluster(fresh_testbed):
    tb = fresh_testbed(gpu_nodes=0, platform="AWS")
    kc = str(tb.kubeconfig)
    k8s = dynamic_client(kc)

    # Check mode on a pristine cluster: nothing written, the DSCI/DSC steps reported as pending.
    before = _snapshot(k8s)
    dry = run_role("kserve_automated", kc, check=True)
    assert dry.rc == 0, dry.describe()
    assert dry.fact["pending_in_check_mode"] is True, dry.fact
    assert _snapshot(k8s) == before

    run = run_role("kserve_automated", kc)
    assert run.rc == 0, run.describe()
    assert run.changed > 0

    dsci = _get(k8s, DSCI, "default-dsci")
    mesh = dsci["spec"]["serviceMesh"]
    assert mesh["managementState"] == "Managed"
    assert mesh["controlPlane"] == {"name": "data-science-smcp", "namespace": "istio-system", "metricsCollection": "Istio"}
    dsc = _get(k8s, DSC, "default-dsc")
    kserve = dsc["spec"]["components"]["kserve"]
    assert kserve["managementState"] == "Managed"
    assert kserve["serving"]["managementState"] == "Managed"
    assert kserve["serving"]["name"] == "knative-serving"
    assert kserve["serving"]["ingressGateway"]["certificate"] == {"type": "SelfSigned", "secretName": "knative-serving-cert"}
    # The operator, not the role, created the control plane and Knative Serving.
    smcp = _get(k8s, SMCP, "data-science-smcp", "istio-system")
    assert smcp is not None
    assert any(r["kind"] == "FeatureTracker" for r in smcp["metadata"].get("ownerReferences") or [])
    assert _get(k8s, KSERVING, "knative-serving", "knative-serving") is not None
    # Not ROSA: the identity step did not run.
    includes = run.task(IDENTITY_INCLUDE)
    assert includes and all(r.get("skipped") for r in includes), includes
    assert not run.task(IDENTITY_TASK)
    assert run.fact["third_party_identity"] is False
    _kserve_pods_verified(run.fact)

    # Idempotence, and check mode on the converged cluster.
    again = run_role("kserve_automated", kc)
    assert again.rc == 0, again.describe()
    assert again.changed == 0, again.describe()
    converged = _snapshot(k8s)
    dry2 = run_role("kserve_automated", kc, check=True)
    assert dry2.rc == 0 and dry2.changed == 0, dry2.describe()
    assert dry2.fact["pending_in_check_mode"] is False
    assert _snapshot(k8s) == converged

    # Installed the automated way, asked for the manual way: refused, nothing half-migrated.
    install = os.path.join(REPO, "playbooks", "install.yml")
    if os.path.exists(install):
        # (The implicit localhost: an inventory "localhost," would make it an ssh host, unreachable.)
        manual = ansible_playbook(install, kc, {"model_serving_install_path": "manual"}, timeout=900)
        assert manual.rc != 0, manual.stats
        assert not manual.stats.get("localhost", {}).get("unreachable"), manual.stats
        assert _get(k8s, DSCI, "default-dsci")["spec"]["serviceMesh"]["managementState"] == "Managed"
        assert _get(k8s, DSC, "default-dsc")["spec"]["components"]["kserve"]["serving"]["managementState"] == "Managed"
        assert [s["metadata"]["name"] for s in _list(k8s, SMCP)] == ["data-science-smcp"]
        # The takeover the old refusal message invited: name the operator's own control plane.
        # Refused before any write, and the message does not suggest renaming into it.
        before = _snapshot(k8s, namespaces=False)
        takeover = ansible_playbook(install, kc, {"model_serving_install_path": "manual",
                                                  "service_mesh_name": "data-science-smcp"}, timeout=900)
        text = json.dumps(takeover.output) + takeover.stderr
        assert takeover.rc != 0, takeover.stats
        assert "istio-system/data-science-smcp was created by the OpenShift AI operator" in text, text[-3000:]
        assert "KnativeServing knative-serving/knative-serving was created by the OpenShift AI operator" in text
        assert "set service_mesh_name" not in text
        assert _snapshot(k8s, namespaces=False) == before

        # Installed in the Serverless mode, asked for RawDeployment (issue 11): refused before any write,
        # by the playbook and by the role run alone.
        before = _snapshot(k8s, namespaces=False)
        raw = ansible_playbook(install, kc, {"model_serving_deployment_mode": "RawDeployment"}, timeout=900)
        assert raw.rc != 0, raw.stats
        raw_text = failure_text(raw) + raw.stderr[-3000:]
        assert "model_serving_deployment_mode RawDeployment was refused" in raw_text, raw_text
        assert "istio-system/data-science-smcp is managed by the OpenShift AI operator" in raw_text, raw_text
        role_raw = run_role("kserve_automated", kc, {"kserve_automated_deployment_mode": "RawDeployment"})
        _assert_refused(role_raw, "runs KServe in the Serverless mode")
        assert _snapshot(k8s, namespaces=False) == before


def test_rosa_gets_third_party_identity_and_authorino(fresh_testbed):
    tb = fresh_testbed(gpu_nodes=0, platform="ROSA")
    kc = str(tb.kubeconfig)
    k8s = dynamic_client(kc)

    run = run_role("kserve_automated", kc, {"kserve_automated_authorino": True})
    assert run.rc == 0, run.describe()
    assert run.fact["third_party_identity"] is True
    ran = [r for r in run.task(IDENTITY_TASK) if not r.get("skipped")]
    assert ran, "the identity step did not run on ROSA"
    smcp = _get(k8s, SMCP, "data-science-smcp", "istio-system")
    assert smcp["spec"]["security"]["identity"]["type"] == "ThirdParty"
    _kserve_pods_verified(run.fact)
    assert _get(k8s, SUB, "authorino-operator", "openshift-operators") is not None
    dsci = _get(k8s, DSCI, "default-dsci")
    conds = {c["type"]: c for c in dsci["status"]["conditions"]}
    assert conds["CapabilityServiceMeshAuthorization"]["status"] == "True"

    again = run_role("kserve_automated", kc, {"kserve_automated_authorino": True})
    assert again.rc == 0 and again.changed == 0, again.describe()


def _assert_refused(run, *needles):
    assert run.rc != 0, run.describe()
    msg = run.failure_msg
    assert "refused and nothing was changed" in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_refusals(fresh_testbed):
    tb = fresh_testbed(gpu_nodes=0, platform="AWS")
    kc = str(tb.kubeconfig)
    k8s = dynamic_client(kc)
    install_operators(kc, ["servicemeshoperator", "serverless-operator"])

    # 1. A ServiceMeshControlPlane created by hand.
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    for ns in ("istio-system", "knative-serving"):
        ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    smcp_api = k8s.resources.get(api_version=SMCP[0], kind=SMCP[1])
    smcp_api.create(namespace="istio-system", body={
        "apiVersion": SMCP[0], "kind": SMCP[1], "metadata": {"name": "minimal", "namespace": "istio-system"},
        "spec": {"version": "v2.5", "tracing": {"type": "None"}}})
    before = _snapshot(k8s, namespaces=False)
    run = run_role("kserve_automated", kc)
    _assert_refused(run, "ServiceMeshControlPlane istio-system/minimal", "manual")
    assert _snapshot(k8s, namespaces=False) == before
    assert _get(k8s, SUB, "rhods-operator", "redhat-ods-operator") is None
    smcp_api.delete(name="minimal", namespace="istio-system")

    # 2. A KnativeServing created by hand.
    ks_api = k8s.resources.get(api_version=KSERVING[0], kind=KSERVING[1])
    ks_api.create(namespace="knative-serving", body={
        "apiVersion": KSERVING[0], "kind": KSERVING[1],
        "metadata": {"name": "knative-serving", "namespace": "knative-serving"}, "spec": {}})
    before = _snapshot(k8s, namespaces=False)
    run = run_role("kserve_automated", kc)
    _assert_refused(run, "KnativeServing knative-serving/knative-serving")
    assert _snapshot(k8s, namespaces=False) == before
    ks_api.delete(name="knative-serving", namespace="knative-serving")

    # 3. A cluster set up for the manual path (DSCI serviceMesh Unmanaged, DSC serving Unmanaged).
    install_operators(kc, ["rhods-operator"])
    # The operator creates default-dsci when it starts (serviceMesh Managed); a manual install then sets it Unmanaged.
    _wait_for(lambda: _get(k8s, DSCI, "default-dsci"), "default-dsci")
    # With the Service Mesh operator installed (step 1), the operator reacts to its default DSCI (serviceMesh
    # Managed) by creating its control plane; let it do so before the DSCI turns Unmanaged, so that its reaction
    # does not land between the snapshots below.
    _wait_for(lambda: _get(k8s, SMCP, "data-science-smcp", "istio-system"), "istio-system/data-science-smcp")
    dsci_api = k8s.resources.get(api_version=DSCI[0], kind=DSCI[1])
    dsci_api.patch(name="default-dsci", content_type="application/merge-patch+json",
                   body={"spec": {"serviceMesh": {"managementState": "Unmanaged"}}})
    k8s.resources.get(api_version=DSC[0], kind=DSC[1]).create(body={
        "apiVersion": DSC[0], "kind": DSC[1], "metadata": {"name": "default-dsc"},
        "spec": {"components": {"kserve": {"managementState": "Managed",
                                           "serving": {"managementState": "Unmanaged", "name": "knative-serving"}}}}})
    before = _snapshot(k8s, namespaces=False)
    run = run_role("kserve_automated", kc)
    _assert_refused(run, "serviceMesh.managementState Unmanaged", "serving.managementState Unmanaged")
    assert _snapshot(k8s, namespaces=False) == before

    # 4. A Provided certificate that does not exist (on a cluster that could otherwise proceed).
    dsci_api.patch(name="default-dsci", body={"spec": {"serviceMesh": {"managementState": "Removed"}}},
                   content_type="application/merge-patch+json")
    k8s.resources.get(api_version=DSC[0], kind=DSC[1]).delete(name="default-dsc")
    before = _snapshot(k8s, namespaces=False)
    run = run_role("kserve_automated", kc, {"kserve_automated_certificate_type": "Provided",
                                            "kserve_automated_certificate_secret_name": "my-cert"})
    _assert_refused(run, "istio-system/my-cert")
    assert _snapshot(k8s, namespaces=False) == before
