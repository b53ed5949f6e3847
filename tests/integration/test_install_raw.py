"""The standard platform: playbooks/install.yml with model_serving_deployment_mode RawDeployment (issue 11).

One dedicated testbed, empty at the start:

- ``--check`` writes nothing (automated and manual path);
- the install (path ``auto``, which is the automated path on an empty cluster) converges with only the
  OpenShift AI operator: DSCI serviceMesh Removed, DSC kserve Managed with serving Removed,
  defaultDeploymentMode RawDeployment and rawDeploymentServiceConfig; the operator runs KServe
  configured for raw (``inferenceservice-config``), and there is no control plane, no
  KnativeServing, no mesh, Serverless or Authorino operator;
- the second run reports ``changed=0``; ``--check --diff`` on the converged cluster changes nothing;
- the manual path (roles/kserve) on the converged raw cluster reports ``changed=0`` too;
- a Serverless request on it is refused before any write, naming the variable, by the playbook
  (both paths) and by the kserve role run alone;
- bad values of the new variables are refused by the first task, naming the variable.

The reverse (a RawDeployment request on a cluster running Serverless) is in
test_automated_path.py, on the cluster that test installs with the Serverless mode.
"""

import json

import pytest

from helpers import ansible_playbook
from role_runner import run_role
from install_support import INSTALL_TIMEOUT, PLAYBOOK, SNAPSHOT_KINDS, failure_text, snapshot, stats
from testbed.pytest_plugin import dynamic_client

pytestmark = pytest.mark.integration

RAW = {"model_serving_deployment_mode": "RawDeployment"}
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
DSC = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
SUB = ("operators.coreos.com/v1alpha1", "Subscription")
TESTBED_NS = "testbed-system"
MESH_AND_KNATIVE = (
    ("maistra.io/v2", "ServiceMeshControlPlane"),
    ("maistra.io/v1", "ServiceMeshMemberRoll"),
    ("maistra.io/v1", "ServiceMeshMember"),
    ("operator.knative.dev/v1beta1", "KnativeServing"),
    ("networking.istio.io/v1beta1", "Gateway"),
    ("operator.authorino.kuadrant.io/v1beta1", "Authorino"),
)


def _list(k8s, api_version, kind, namespace=None):
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        api = k8s.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        return []  # not served: its operator is not installed, so none exists
    return [o.to_dict() for o in api.get(namespace=namespace).items]


def _one(k8s, gvk, name, namespace=None):
    items = [o for o in _list(k8s, *gvk, namespace=namespace) if o["metadata"]["name"] == name]
    return items[0] if items else None


def _snapshot(k8s, kinds=SNAPSHOT_KINDS):
    """snapshot() without the testbed's own namespace (the simulator writes its fault and ingress
    ConfigMaps, Services and the namespace itself whenever it likes; nothing of ours goes there)."""
    return set(o for o in snapshot(k8s, kinds)
               if o[1] != TESTBED_NS and not (o[0] == "Namespace" and o[2] == TESTBED_NS))


def _specs(k8s):
    """The DSCI/DSC specs and the objects a write would add: what a refused run must leave alone."""
    return {
        "objects": _snapshot(k8s, SNAPSHOT_KINDS + (DSCI, DSC)),
        "specs": sorted(json.dumps([o["metadata"]["name"], o.get("spec")], sort_keys=True)
                        for gvk in (DSCI, DSC) for o in _list(k8s, *gvk)),
    }


def _condition(obj, typ):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == typ:
            return c
    return {}


def test_raw_install_converges_without_mesh_and_refuses_serverless(fresh_testbed):
    tb = fresh_testbed(workers=2, gpu_nodes=0, platform="AWS")
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)

    # 1. --check on the empty cluster writes nothing.
    before = _snapshot(k8s)
    dry = ansible_playbook(PLAYBOOK, kubeconfig, RAW, check=True, diff=True, timeout=INSTALL_TIMEOUT)
    assert dry.rc == 0, failure_text(dry) or dry.stderr[-3000:]
    assert _snapshot(k8s) == before, "--check wrote to the cluster: %s" % sorted(_snapshot(k8s) ^ before)
    dry_manual = ansible_playbook(PLAYBOOK, kubeconfig, dict(RAW, model_serving_install_path="manual"), check=True,
                                  diff=True, timeout=INSTALL_TIMEOUT)
    assert dry_manual.rc == 0, failure_text(dry_manual) or dry_manual.stderr[-3000:]
    assert _snapshot(k8s) == before, "--check (manual) wrote to the cluster: %s" % sorted(_snapshot(k8s) ^ before)

    # 2. The install.
    run = ansible_playbook(PLAYBOOK, kubeconfig, RAW, timeout=INSTALL_TIMEOUT)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert stats(run).get("changed", 0) > 0

    dsci = _one(k8s, DSCI, "default-dsci")
    assert dsci["spec"]["serviceMesh"]["managementState"] == "Removed"
    assert _condition(dsci, "CapabilityServiceMesh").get("reason") == "Removed"
    dsc = _one(k8s, DSC, "default-dsc")
    kserve = dsc["spec"]["components"]["kserve"]
    assert kserve["managementState"] == "Managed"
    assert kserve["serving"]["managementState"] == "Removed"
    assert kserve["defaultDeploymentMode"] == "RawDeployment"
    # The testbed's OpenShift AI is 2.19, which has rawDeploymentServiceConfig.
    assert dsc["status"]["release"]["version"].startswith("2.19.")
    assert kserve["rawDeploymentServiceConfig"] == "Headed"
    assert _condition(dsc, "KserveReady").get("status") == "True", dsc["status"]
    serving = _condition(dsc, "ServingAvailable")
    assert (serving.get("status"), serving.get("reason"), serving.get("severity")) == ("False", "Removed", "Info"), serving

    cfg = _one(k8s, ("v1", "ConfigMap"), "inferenceservice-config", "redhat-ods-applications")
    assert json.loads(cfg["data"]["deploy"]) == {"defaultDeploymentMode": "RawDeployment"}
    assert json.loads(cfg["data"]["service"]) == {"serviceClusterIPNone": False}
    pods = [p["metadata"]["name"] for p in _list(k8s, "v1", "Pod", "redhat-ods-applications")]
    assert any(n.startswith("kserve-controller-manager-") for n in pods), pods
    assert any(n.startswith("odh-model-controller-") for n in pods), pods

    # Only the OpenShift AI operator; no mesh, Knative or Authorino object, no mesh namespace.
    assert sorted(s["spec"]["name"] for s in _list(k8s, *SUB)) == ["rhods-operator"]
    for gvk in MESH_AND_KNATIVE:
        assert _list(k8s, *gvk) == [], gvk
    namespaces = [n["metadata"]["name"] for n in _list(k8s, "v1", "Namespace")]
    assert "istio-system" not in namespaces and "knative-serving" not in namespaces, namespaces

    # 3. The second run changes nothing; neither does --check --diff on the converged cluster.
    again = ansible_playbook(PLAYBOOK, kubeconfig, RAW, timeout=INSTALL_TIMEOUT)
    assert again.rc == 0, failure_text(again) or again.stderr[-3000:]
    assert stats(again).get("changed", 0) == 0, [n for n, r in again.task_results() if r.get("changed")]
    converged = _specs(k8s)
    dry2 = ansible_playbook(PLAYBOOK, kubeconfig, RAW, check=True, diff=True, timeout=INSTALL_TIMEOUT)
    assert dry2.rc == 0, failure_text(dry2) or dry2.stderr[-3000:]
    assert stats(dry2).get("changed", 0) == 0, [n for n, r in dry2.task_results() if r.get("changed")]
    assert _specs(k8s) == converged

    # 4. The manual path (roles/kserve) agrees with what the automated path wrote.
    manual = ansible_playbook(PLAYBOOK, kubeconfig, dict(RAW, model_serving_install_path="manual"),
                              timeout=INSTALL_TIMEOUT)
    assert manual.rc == 0, failure_text(manual) or manual.stderr[-3000:]
    assert stats(manual).get("changed", 0) == 0, [n for n, r in manual.task_results() if r.get("changed")]
    assert any(n.endswith("kserve : Set the DSCInitialization service mesh and the DataScienceCluster kserve component")
               or "Install KServe (§3.3.2)" in n for n, _res in manual.task_results())

    # 5. A Serverless request on the raw cluster: refused before any write, with the reason.
    for extra in ({}, {"model_serving_install_path": "manual"}):
        refused = ansible_playbook(PLAYBOOK, kubeconfig, extra, timeout=INSTALL_TIMEOUT)
        text = failure_text(refused)
        assert refused.rc != 0, "a Serverless install on a raw cluster was not refused (%s)" % extra
        assert "model_serving_deployment_mode Serverless was refused" in text, text[-3000:]
        assert "runs KServe in the RawDeployment mode" in text, text[-3000:]
        assert _specs(k8s) == converged, "the refused run (%s) wrote to the cluster" % extra

    # ... and by the kserve role run alone (it reads platform_info itself).
    role = run_role("kserve", kubeconfig, {"kserve_deployment_mode": "Serverless"})
    assert role.rc != 0, role.describe()
    assert "kserve_deployment_mode Serverless was refused and nothing was changed" in role.failure_msg, role.describe()
    assert _specs(k8s) == converged, "the refused role run wrote to the cluster"

    # 6. Bad values of the new variables: refused by the first task, naming the variable.
    for var, value in (("model_serving_deployment_mode", "Standard"), ("model_serving_raw_deployment_service_config", "Headful")):
        bad = ansible_playbook(PLAYBOOK, kubeconfig, dict(RAW, **{var: value}), timeout=INSTALL_TIMEOUT)
        assert bad.rc != 0, "%s=%s was accepted" % (var, value)
        assert var in failure_text(bad), failure_text(bad)[-3000:]
        assert _specs(k8s) == converged, "the run with %s=%s wrote to the cluster" % (var, value)
