"""olm_operator against the simulated OLM, run through Ansible.

The tests use a dedicated testbed (module scope): they inject package faults and install the same
packages the role tests install, which must not disturb the shared testbed.

Covers: Manual approval approves only the intended CSV (the upgrade InstallPlan stays
unapproved), rerun = changed false with no write, check mode writes nothing, a channel change
upgrades, OperatorGroup conflicts are refused before writing, fail fast on ResolutionFailed /
Failed InstallPlan / Failed CSV (long before the timeout), state=absent removes Subscription and CSV."""

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from helpers import run_module

pytest.importorskip("testbed.sim.olm", reason="the simulated OLM (testbed/sim) is not available")

from testbed.cluster import Testbed  # noqa: E402
from testbed.pytest_plugin import dynamic_client  # noqa: E402
from testbed.sim import faults  # noqa: E402

TIMEOUT = 240


@pytest.fixture(scope="module")
def olm_tb():
    d = Path(tempfile.mkdtemp(prefix="testbed-olm-"))
    tb = Testbed(d, workers=2, gpu_nodes=0, platform="AWS", sim=True)
    try:
        tb.up(log=lambda m: print("[testbed-olm] %s" % m))
        yield tb
    finally:
        try:
            tb.down(log=lambda m: print("[testbed-olm] %s" % m))
        finally:
            shutil.rmtree(str(d), ignore_errors=True)


@pytest.fixture(scope="module")
def kc(olm_tb):
    return str(olm_tb.kubeconfig)


@pytest.fixture(scope="module")
def k(olm_tb):
    return dynamic_client(olm_tb.kubeconfig)


def _r(k, kind, api_version="operators.coreos.com/v1alpha1"):
    return k.resources.get(api_version=api_version, kind=kind)


def _items(k, kind, ns, api_version="operators.coreos.com/v1alpha1"):
    return [i.to_dict() for i in _r(k, kind, api_version).get(namespace=ns).items]


def _get(k, kind, name, ns=None, api_version="operators.coreos.com/v1alpha1"):
    try:
        return _r(k, kind, api_version).get(name=name, namespace=ns).to_dict()
    except Exception as e:
        if getattr(e, "status", None) == 404:
            return None
        raise


def _olm(kc, check=False, diff=False, **args):
    args.setdefault("timeout", TIMEOUT)
    return run_module("olm_operator", args, kc, check=check, diff=diff)


def _ns_exists(k, name):
    return _get(k, "Namespace", name, api_version="v1") is not None


def test_manual_approval_approves_only_the_intended_csv(kc, k):
    ns = "openshift-nfd"
    older, head = "nfd.v4.16.0-202410251436", "nfd.v4.17.0-202411251033"
    res = _olm(kc, name="nfd", namespace=ns, channel="stable", approval="Manual", starting_csv=older,
               target_namespaces=[ns], source="redhat-operators")
    assert not res.get("failed"), res
    assert res["changed"] is True and res["csv"] == older and res["installed_csv"] == older
    assert res["phase"] == "Succeeded" and res["version"] == "4.16.0-202410251436"
    assert res["crds"] == ["nodefeaturediscoveries.nfd.openshift.io"]
    assert len(res["approved_install_plans"]) == 1
    approved = _get(k, "InstallPlan", res["approved_install_plans"][0], ns)
    assert approved["spec"]["clusterServiceVersionNames"] == [older] and approved["spec"]["approved"] is True
    og = _items(k, "OperatorGroup", ns, "operators.coreos.com/v1")
    assert [o["spec"].get("targetNamespaces") for o in og] == [[ns]]
    crd = _get(k, "CustomResourceDefinition", "nodefeaturediscoveries.nfd.openshift.io", api_version="apiextensions.k8s.io/v1")
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])

    # OLM now offers the upgrade to the channel head: that InstallPlan must stay unapproved
    deadline = time.monotonic() + 30
    upgrade = []
    while time.monotonic() < deadline and not upgrade:
        upgrade = [p for p in _items(k, "InstallPlan", ns) if head in p["spec"]["clusterServiceVersionNames"]]
        time.sleep(0.5)
    assert upgrade, "the simulated OLM did not offer the upgrade"
    sub_rv = _get(k, "Subscription", "nfd", ns)["metadata"]["resourceVersion"]

    again = _olm(kc, name="nfd", namespace=ns, channel="stable", approval="Manual", starting_csv=older,
                 target_namespaces=[ns], source="redhat-operators")
    assert again["changed"] is False and again["approved_install_plans"] == [] and again["changes"] == []
    assert again["install_plan"] == approved["metadata"]["name"]
    plan = _get(k, "InstallPlan", upgrade[0]["metadata"]["name"], ns)
    assert plan["spec"]["approved"] is False and plan["status"]["phase"] == "RequiresApproval"
    assert _get(k, "ClusterServiceVersion", head, ns) is None
    assert _get(k, "Subscription", "nfd", ns)["metadata"]["resourceVersion"] == sub_rv


def test_check_mode_install_rerun_and_channel_upgrade(kc, k):
    ns = "openshift-serverless"
    args = dict(name="serverless-operator", namespace=ns, channel="stable-1.33", target_namespaces=[], source="redhat-operators")

    check = _olm(kc, check=True, diff=True, **args)
    assert check["changed"] is True, check
    assert "create Namespace openshift-serverless" in check["changes"]
    assert "create Subscription serverless-operator" in check["changes"]
    assert check["csv"] == "serverless-operator.v1.33.2"
    assert check["diff"]["after"]["subscription"]["channel"] == "stable-1.33"
    assert not _ns_exists(k, ns), "check mode must not write"

    first = _olm(kc, **args)
    assert first["changed"] is True and first["csv"] == "serverless-operator.v1.33.2" and first["phase"] == "Succeeded"
    assert first["approved_install_plans"] == []
    sub_rv = _get(k, "Subscription", "serverless-operator", ns)["metadata"]["resourceVersion"]

    second = _olm(kc, **args)
    assert second["changed"] is False and second["changes"] == []
    assert _get(k, "Subscription", "serverless-operator", ns)["metadata"]["resourceVersion"] == sub_rv

    upgrade = dict(args)
    upgrade["channel"] = "stable-1.34"
    check = _olm(kc, check=True, diff=True, **upgrade)
    assert check["changed"] is True
    assert check["diff"]["before"]["subscription"] == {"channel": "stable-1.33"}
    assert check["diff"]["after"]["subscription"] == {"channel": "stable-1.34"}
    assert _get(k, "Subscription", "serverless-operator", ns)["spec"]["channel"] == "stable-1.33"

    up = _olm(kc, **upgrade)
    assert up["changed"] is True and up["csv"] == "serverless-operator.v1.34.1" and up["installed_csv"] == up["csv"]
    assert _get(k, "ClusterServiceVersion", "serverless-operator.v1.34.1", ns)["status"]["phase"] == "Succeeded"
    assert _olm(kc, **upgrade)["changed"] is False


def test_unknown_channel_is_refused_before_writing(kc, k):
    res = _olm(kc, name="authorino-operator", namespace="authorino-refused", channel="no-such-channel")
    assert res.get("failed") is True and "no-such-channel" in res["msg"] and "tech-preview-v1" in res["msg"]
    assert not _ns_exists(k, "authorino-refused")


def test_operator_group_conflicts_are_refused(kc, k):
    ns = "og-conflict"
    _r(k, "Namespace", "v1").create(body={"metadata": {"name": ns}})
    ogs = _r(k, "OperatorGroup", "operators.coreos.com/v1")
    ogs.create(namespace=ns, body={"apiVersion": "operators.coreos.com/v1", "kind": "OperatorGroup",
                                   "metadata": {"name": "one"}, "spec": {"targetNamespaces": ["elsewhere"]}})
    res = _olm(kc, name="authorino-operator", namespace=ns, target_namespaces=[])
    assert res.get("failed") is True
    assert "OperatorGroup one" in res["msg"] and "targets namespaces elsewhere" in res["msg"] and "AllNamespaces" in res["msg"]
    ogs.create(namespace=ns, body={"apiVersion": "operators.coreos.com/v1", "kind": "OperatorGroup",
                                   "metadata": {"name": "two"}, "spec": {}})
    res = _olm(kc, name="authorino-operator", namespace=ns)
    assert res.get("failed") is True and "2 OperatorGroups" in res["msg"] and "one, two" in res["msg"]
    assert _items(k, "Subscription", ns) == []


def test_fail_fast_on_resolution_installplan_and_csv_failures(kc, k):
    res = _olm(kc, name="authorino-operator", namespace="resolution-fails", source="no-such-catalog", timeout=TIMEOUT)
    assert res.get("failed") is True and "ResolutionFailed" in res["msg"], res
    assert res["_duration"] < TIMEOUT / 2

    faults.set_fault(k, "authorino-operator.installplan", "Failed")
    try:
        res = _olm(kc, name="authorino-operator", namespace="ip-fails", channel="stable", target_namespaces=[])
    finally:
        faults.clear_fault(k, "authorino-operator.installplan")
    assert res.get("failed") is True and "InstallPlan" in res["msg"] and "failed" in res["msg"], res
    assert "simulated install failure" in res["msg"]
    assert res["_duration"] < TIMEOUT / 2

    faults.set_fault(k, "gpu-operator-certified.csv", "Failed")
    try:
        res = _olm(kc, name="gpu-operator-certified", namespace="nvidia-gpu-operator", source="certified-operators",
                   target_namespaces=["nvidia-gpu-operator"])
    finally:
        faults.clear_fault(k, "gpu-operator-certified.csv")
    assert res.get("failed") is True and "InstallCheckFailed" in res["msg"], res
    assert res["_duration"] < TIMEOUT / 2


def test_state_absent_removes_subscription_and_csv(kc, k):
    ns = "rhods-operator-test"
    present = _olm(kc, name="rhods-operator", namespace=ns, channel="stable", target_namespaces=[])
    assert present["changed"] and present["phase"] == "Succeeded", present
    csv = present["csv"]

    check = _olm(kc, check=True, name="rhods-operator", namespace=ns, state="absent")
    assert check["changed"] is True and "delete ClusterServiceVersion %s/%s" % (ns, csv) in check["changes"]
    assert _get(k, "Subscription", "rhods-operator", ns) is not None

    gone = _olm(kc, name="rhods-operator", namespace=ns, state="absent")
    assert gone["changed"] is True and gone["csv"] == csv
    assert _get(k, "Subscription", "rhods-operator", ns) is None
    assert _get(k, "ClusterServiceVersion", csv, ns) is None
    assert _olm(kc, name="rhods-operator", namespace=ns, state="absent")["changed"] is False


def test_global_operator_group_reused_and_reported_by_platform_info(kc, k):
    ns = "openshift-operators"
    res = _olm(kc, name="authorino-operator", namespace=ns, channel="stable", source="redhat-operators")
    assert not res.get("failed"), res
    assert res["operator_group"] == "global-operators" and res["phase"] == "Succeeded"
    assert not [c for c in res["changes"] if "OperatorGroup" in c]
    assert [o["metadata"]["name"] for o in _items(k, "OperatorGroup", ns, "operators.coreos.com/v1")] == ["global-operators"]

    facts = run_module("platform_info", {}, kc)["platform"]
    ours = [o for o in facts["operators"] if o["name"] == res["csv"]]
    assert len(ours) == 1, "OLM's Copied CSVs must not be listed: %s" % ours
    assert ours[0]["namespace"] == ns and ours[0]["package"] == "authorino-operator"
    assert ours[0]["version"] == res["version"] and ours[0]["phase"] == "Succeeded"


def test_olm_operators_installs_several_in_one_task(kc, k):
    """olm_operators: one process for several operators; check mode writes nothing, a rerun changes
    nothing, and a failing entry is named with the operators handled before it."""
    entries = [dict(name="servicemeshoperator", namespace="batch-mesh", channel="stable", target_namespaces=[]),
               dict(name="rhods-operator", namespace="batch-rhods", channel="stable", target_namespaces=[])]
    check = run_module("olm_operators", dict(operators=entries, timeout=TIMEOUT), kc, check=True, diff=True)
    assert check["changed"] is True and [r["name"] for r in check["results"]] == ["servicemeshoperator", "rhods-operator"]
    assert len(check["diff"]) == 2, check
    assert not _ns_exists(k, "batch-mesh") and not _ns_exists(k, "batch-rhods"), "check mode must not write"

    first = run_module("olm_operators", dict(operators=entries, timeout=TIMEOUT), kc)
    assert first["changed"] is True, first
    phases = [(r["name"], r["phase"]) for r in first["results"]]
    assert phases == [("servicemeshoperator", "Succeeded"), ("rhods-operator", "Succeeded")], first
    rvs = [_get(k, "Subscription", e["name"], e["namespace"])["metadata"]["resourceVersion"] for e in entries]

    second = run_module("olm_operators", dict(operators=entries, timeout=TIMEOUT), kc)
    assert second["changed"] is False and all(r["changes"] == [] for r in second["results"]), second
    assert [_get(k, "Subscription", e["name"], e["namespace"])["metadata"]["resourceVersion"] for e in entries] == rvs

    bad = entries[:1] + [dict(name="authorino-operator", namespace="batch-refused", channel="no-such-channel")]
    res = run_module("olm_operators", dict(operators=bad, timeout=TIMEOUT), kc)
    assert res.get("failed") is True and res["msg"].startswith("operator authorino-operator: "), res
    assert "no-such-channel" in res["msg"]
    assert [r["name"] for r in res["results"]] == ["servicemeshoperator"]
    assert not _ns_exists(k, "batch-refused")


def _wait_csv_reason(k, csv, ns, reason, timeout=90):
    deadline = time.monotonic() + timeout
    status = {}
    while time.monotonic() < deadline:
        status = (_get(k, "ClusterServiceVersion", csv, ns) or {}).get("status") or {}
        if status.get("reason") == reason:
            return status
        time.sleep(0.2)
    raise AssertionError("CSV %s/%s never reached reason %s; last status %s" % (ns, csv, reason, status))


def test_a_csv_olm_reinstalls_is_waited_for_and_a_crashing_operator_is_named(kc, k):
    """OLM marks an installed CSV Failed (ComponentUnhealthy) while its Deployment rolls or is recreated,
    then reinstalls it: the module waits for that instead of failing; when the operator's pod crashes,
    it fails at once naming the pod and its reason."""
    ns = "nfd-unhealthy"
    args = dict(name="nfd", namespace=ns, channel="stable", target_namespaces=[ns], source="redhat-operators")
    first = _olm(kc, **args)
    assert not first.get("failed") and first["phase"] == "Succeeded", first
    csv = first["csv"]
    try:
        # the operator's new pod takes 20 s to be Ready: the CSV is Failed (ComponentUnhealthy) meanwhile
        faults.set_fault(k, "nfd-controller-manager.ready-delay", "20")
        _wait_csv_reason(k, csv, ns, "ComponentUnhealthy")
        res = _olm(kc, **args)
        assert not res.get("failed"), res
        assert res["phase"] == "Succeeded" and res["changed"] is False and res["csv"] == csv, res
        assert _get(k, "ClusterServiceVersion", csv, ns)["status"]["phase"] == "Succeeded"

        faults.clear_fault(k, "nfd-controller-manager.ready-delay")
        faults.set_fault(k, "nfd-controller-manager.fail", "CrashLoopBackOff")
        _wait_csv_reason(k, csv, ns, "ComponentUnhealthy")
        res = _olm(kc, **args)
        assert res.get("failed") is True, res
        msg = res["msg"]
        assert msg.startswith("ClusterServiceVersion %s failed (ComponentUnhealthy)" % csv), msg
        assert "the operator's pods: pod nfd-controller-manager-" in msg and "CrashLoopBackOff" in msg, msg
        assert res["pods"] and res["pods"][0]["reason"] == "CrashLoopBackOff", res
        assert res["_duration"] < TIMEOUT / 2
    finally:
        faults.clear_fault(k, "nfd-controller-manager.ready-delay")
        faults.clear_fault(k, "nfd-controller-manager.fail")
