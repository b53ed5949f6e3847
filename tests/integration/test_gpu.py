"""GPU enablement (issue 7) through role gpu, on fresh testbeds.

- GPU nodes: check mode writes nothing; converge reports the GPU count per node; NFD labels and
  allocatable nvidia.com/gpu on exactly the GPU nodes; AcceleratorProfile; second run changed=0;
- no GPU node: gpu_no_gpu_nodes=fail stops before the GPU operator, =warn continues;
- an injected device plugin failure is reported with node, pod and reason, well before the timeout.
"""

import json
import time

import pytest

from k8s_util import wait_for
from role_runner import install_operators, run_role
from testbed.pytest_plugin import dynamic_client
from testbed.sim.faults import set_fault

pytestmark = pytest.mark.integration

SUB = ("operators.coreos.com/v1alpha1", "Subscription")
NFD = ("nfd.openshift.io/v1", "NodeFeatureDiscovery")
CP = ("nvidia.com/v1", "ClusterPolicy")
AP = ("dashboard.opendatahub.io/v1", "AcceleratorProfile")
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
NFD_LABEL = "feature.node.kubernetes.io/pci-10de.present"


def _list(k8s, gvk, namespace=None):
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        api = k8s.resources.get(api_version=gvk[0], kind=gvk[1])
    except ResourceNotFoundError:
        return []
    return [o.to_dict() for o in api.get(namespace=namespace).items]


def _snapshot(k8s):
    out = {}
    for gvk in [("v1", "Namespace"), ("apiextensions.k8s.io/v1", "CustomResourceDefinition")]:
        out[gvk[1]] = sorted(o["metadata"]["name"] for o in _list(k8s, gvk))
    for gvk in [SUB, ("operators.coreos.com/v1", "OperatorGroup"), NFD, CP, AP]:
        out[gvk[1]] = sorted((o["metadata"].get("namespace") or "", o["metadata"]["name"],
                              json.dumps(o.get("spec"), sort_keys=True)) for o in _list(k8s, gvk))
    out["node-labels"] = sorted((n["metadata"]["name"], json.dumps(n["metadata"].get("labels"), sort_keys=True))
                                for n in _list(k8s, ("v1", "Node")))
    return out


def test_gpu_nodes_converge_and_report_the_count(fresh_testbed):
    tb = fresh_testbed(workers=3, gpu_nodes=2, gpu_count=2, platform="AWS")
    kc = str(tb.kubeconfig)
    k8s = dynamic_client(kc)
    # The dashboard API (AcceleratorProfile) comes with the OpenShift AI operator.
    install_operators(kc, ["rhods-operator"])
    # The operator goes on creating default-dsci and its namespaces after its CSV succeeded; the
    # "nothing written" snapshot starts once that first reconcile has reported a phase.
    wait_for(lambda: [d for d in _list(k8s, DSCI) if (d.get("status") or {}).get("phase")],
             timeout=300, what="default-dsci reconciled by the OpenShift AI operator")

    before = _snapshot(k8s)
    dry = run_role("gpu", kc, check=True, fact_name="gpu_report")
    assert dry.rc == 0, dry.describe()
    assert dry.fact["pending_in_check_mode"] is True
    assert _snapshot(k8s) == before

    run = run_role("gpu", kc, fact_name="gpu_report")
    assert run.rc == 0, run.describe()
    report = run.fact
    assert report["gpu_nodes"] == 2 and report["total_gpus"] == 4, report
    assert [(n["name"], n["allocatable"], n["nfd_labelled"]) for n in report["nodes"]] == [
        ("worker-0", 2, True), ("worker-1", 2, True)]
    messages = [r.get("msg", "") for r in run.task("Report the GPU count per node")]
    assert messages and "worker-0=2" in messages[0] and "worker-1=2" in messages[0], messages

    nodes = {n["metadata"]["name"]: n for n in _list(k8s, ("v1", "Node"))}
    for name in ("worker-0", "worker-1"):
        assert nodes[name]["metadata"]["labels"].get(NFD_LABEL) == "true"
        assert nodes[name]["status"]["allocatable"].get("nvidia.com/gpu") == "2"
    assert NFD_LABEL not in nodes["worker-2"]["metadata"]["labels"]
    cps = _list(k8s, CP)
    assert [c["metadata"]["name"] for c in cps] == ["gpu-cluster-policy"]
    assert cps[0]["spec"]["operator"]["defaultRuntime"] == "crio"
    assert cps[0]["status"]["state"] == "ready"
    profiles = _list(k8s, AP, "redhat-ods-applications")
    assert [(p["metadata"]["name"], p["spec"]["identifier"], p["spec"]["enabled"]) for p in profiles] == [
        ("nvidia-gpu", "nvidia.com/gpu", True)]

    again = run_role("gpu", kc, fact_name="gpu_report")
    assert again.rc == 0 and again.changed == 0, again.describe()
    converged = _snapshot(k8s)
    dry2 = run_role("gpu", kc, check=True, fact_name="gpu_report")
    assert dry2.rc == 0 and dry2.changed == 0, dry2.describe()
    assert _snapshot(k8s) == converged

    # An override reaches the ClusterPolicy (and only then is there a change).
    over = run_role("gpu", kc, {"gpu_cluster_policy_overrides": {"mig": {"strategy": "mixed"}}}, fact_name="gpu_report")
    assert over.rc == 0 and over.changed == 1, over.describe()
    assert _list(k8s, CP)[0]["spec"]["mig"]["strategy"] == "mixed"


def test_no_gpu_nodes_fail_or_warn(fresh_testbed):
    tb = fresh_testbed(workers=2, gpu_nodes=0, platform="AWS")
    kc = str(tb.kubeconfig)
    k8s = dynamic_client(kc)

    run = run_role("gpu", kc, fact_name="gpu_report")
    assert run.rc != 0, run.describe()
    assert "found no NVIDIA GPU node" in run.failure_msg, run.failure_msg
    # Failed before the GPU operator: nothing of it was installed.
    assert not [s for s in _list(k8s, SUB) if s["spec"]["name"] == "gpu-operator-certified"]
    assert not _list(k8s, CP)

    warn = run_role("gpu", kc, {"gpu_no_gpu_nodes": "warn"}, fact_name="gpu_report")
    assert warn.rc == 0, warn.describe()
    assert warn.fact["gpu_nodes"] == 0 and warn.fact["total_gpus"] == 0
    assert [r for r in warn.task("Warn that no node has a GPU") if not r.get("skipped")]
    assert [c["metadata"]["name"] for c in _list(k8s, CP)] == ["gpu-cluster-policy"]

    again = run_role("gpu", kc, {"gpu_no_gpu_nodes": "warn"}, fact_name="gpu_report")
    assert again.rc == 0 and again.changed == 0, again.describe()


def test_device_plugin_failure_names_node_pod_and_reason(fresh_testbed):
    tb = fresh_testbed(workers=2, gpu_nodes=1, platform="AWS")
    kc = str(tb.kubeconfig)
    k8s = dynamic_client(kc)
    set_fault(k8s, "nvidia-device-plugin-daemonset.fail", "CrashLoopBackOff")

    timeout = 600
    started = time.monotonic()
    run = run_role("gpu", kc, {"gpu_timeout": timeout}, fact_name="gpu_report")
    elapsed = time.monotonic() - started
    assert run.rc != 0, run.describe()
    msg = run.failure_msg
    assert "device plugin" in msg, msg
    assert "node worker-0" in msg, msg
    assert "pod nvidia-gpu-operator/nvidia-device-plugin-daemonset-" in msg, msg
    assert "CrashLoopBackOff" in msg, msg
    assert "timed out" not in msg.lower() and "timeout" not in msg.lower(), msg
    assert elapsed < timeout / 2, elapsed
