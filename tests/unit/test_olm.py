"""Unit tests for plugins/module_utils/_olm.py: OperatorGroup planning, Subscription changes,
the intended CSV, the approval decision and fail-fast detection, all on plain dicts."""

import os
import sys

import pytest

_COLL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".collections")
if _COLL not in sys.path:
    sys.path.insert(0, _COLL)

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _olm as olm  # noqa: E402
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput  # noqa: E402

PM = {
    "metadata": {"name": "nfd", "namespace": "openshift-marketplace"},
    "status": {
        "packageName": "nfd",
        "catalogSource": "redhat-operators",
        "defaultChannel": "stable",
        "channels": [
            {"name": "stable", "currentCSV": "nfd.v4.17.0",
             "currentCSVDesc": {"installModes": [{"type": "OwnNamespace", "supported": True},
                                                 {"type": "SingleNamespace", "supported": True},
                                                 {"type": "AllNamespaces", "supported": False}]},
             "entries": [{"name": "nfd.v4.17.0"}, {"name": "nfd.v4.16.0"}]},
            {"name": "old", "currentCSV": "nfd.v4.15.0", "entries": [{"name": "nfd.v4.15.0"}]},
        ],
    },
}


def _og(name, targets=None, selector=None):
    spec = {}
    if targets is not None:
        spec["targetNamespaces"] = targets
    if selector:
        spec["selector"] = selector
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_catalog_info():
    cat = olm.catalog_info(PM)
    assert cat["default_channel"] == "stable"
    assert cat["channels"]["stable"]["head"] == "nfd.v4.17.0"
    assert cat["install_modes"] == ["OwnNamespace", "SingleNamespace"]
    assert olm.catalog_info(None) is None


def test_check_channel_refuses_unknown_channel_and_starting_csv():
    cat = olm.catalog_info(PM)
    olm.check_channel(cat, "nfd", "stable", "nfd.v4.16.0")
    with pytest.raises(InvalidInput) as e:
        olm.check_channel(cat, "nfd", "fast", None)
    assert "channel" in e.value.msg and "stable" in e.value.msg
    with pytest.raises(InvalidInput) as e:
        olm.check_channel(cat, "nfd", "stable", "nfd.v9.9.9")
    assert "starting_csv" in e.value.msg
    olm.check_channel(None, "nfd", "anything", "x")  # no catalog: OLM decides


def test_og_reuse_compatible():
    action, og = olm.plan_operator_group([_og("global-operators")], "openshift-operators", [], ["AllNamespaces"])
    assert action == "reuse" and og["metadata"]["name"] == "global-operators"
    # no preference, no catalog: whatever exists is reused
    action = olm.plan_operator_group([_og("x", ["ns"])], "ns", None, None)[0]
    assert action == "reuse"


def test_og_create_from_install_modes():
    action, body = olm.plan_operator_group([], "openshift-nfd", None, ["OwnNamespace", "SingleNamespace"])
    assert action == "create" and body["spec"] == {"targetNamespaces": ["openshift-nfd"]}
    assert body["metadata"]["name"] == "openshift-nfd"
    action, body = olm.plan_operator_group([], "redhat-ods-operator", None, ["AllNamespaces"], og_name="rhods-operator")
    assert body["spec"] == {} and body["metadata"]["name"] == "rhods-operator"
    action, body = olm.plan_operator_group([], "ns", ["b", "a"], None)
    assert body["spec"]["targetNamespaces"] == ["a", "b"]


def test_og_conflicts_are_refused_clearly():
    with pytest.raises(olm.OlmConflict) as e:
        olm.plan_operator_group([_og("a"), _og("b")], "ns", None, None)
    assert "2 OperatorGroups" in e.value.msg and "a, b" in e.value.msg
    with pytest.raises(olm.OlmConflict) as e:
        olm.plan_operator_group([_og("og", ["other"])], "ns", ["ns"], None)
    assert "targets namespaces other" in e.value.msg and "target_namespaces" in e.value.msg
    with pytest.raises(olm.OlmConflict) as e:  # AllNamespaces OG for an OwnNamespace-only operator
        olm.plan_operator_group([_og("global")], "ns", None, ["OwnNamespace", "SingleNamespace"])
    assert "needed" in e.value.msg
    with pytest.raises(olm.OlmConflict) as e:  # explicit request matches, but the operator cannot run that way
        olm.plan_operator_group([_og("global")], "ns", [], ["OwnNamespace"])
    assert "UnsupportedOperatorGroup" in e.value.msg


def test_subscription_changes_only_managed_fields():
    live = {"name": "nfd", "channel": "stable", "source": "redhat-operators", "sourceNamespace": "openshift-marketplace",
            "installPlanApproval": "Automatic", "config": {"env": []}}
    desired = olm.desired_subscription_spec("nfd", "stable", "redhat-operators", "openshift-marketplace", "Automatic")
    assert olm.subscription_changes(live, desired) == {}
    desired = olm.desired_subscription_spec("nfd", "old", "redhat-operators", "openshift-marketplace", "Manual", "nfd.v4.15.0")
    assert olm.subscription_changes(live, desired) == {
        "channel": ("stable", "old"), "installPlanApproval": ("Automatic", "Manual"), "startingCSV": (None, "nfd.v4.15.0")}


def test_conflicting_subscriptions():
    subs = [{"metadata": {"name": "nfd-custom"}, "spec": {"name": "nfd"}}, {"metadata": {"name": "other"}, "spec": {"name": "x"}}]
    assert olm.conflicting_subscriptions(subs, "nfd", "nfd") == ["nfd-custom"]
    assert olm.conflicting_subscriptions(subs, "nfd", "nfd-custom") == []


def test_intended_csv():
    cat = olm.catalog_info(PM)
    assert olm.intended_csv("Manual", "nfd.v4.16.0", cat, "stable", None) == "nfd.v4.16.0"
    assert olm.intended_csv("Manual", None, cat, "stable", None) == "nfd.v4.17.0"
    assert olm.intended_csv("Automatic", "nfd.v4.16.0", cat, "stable", None) == "nfd.v4.17.0"
    assert olm.intended_csv("Automatic", None, None, "stable", {"status": {"currentCSV": "nfd.v1"}}) == "nfd.v1"


def test_target_csv_is_the_one_step_approved_and_must_be_in_the_channel():
    cat = olm.catalog_info(PM)
    # an upgrade step: the target CSV wins over startingCSV and over the channel head
    assert olm.intended_csv("Manual", "nfd.v4.16.0", cat, "stable", None, "nfd.v4.17.0") == "nfd.v4.17.0"
    assert olm.intended_csv("Automatic", None, cat, "stable", None, "nfd.v4.16.0") == "nfd.v4.16.0"
    olm.check_channel(cat, "nfd", "stable", None, "nfd.v4.17.0")
    with pytest.raises(InvalidInput) as e:
        olm.check_channel(cat, "nfd", "stable", None, "nfd.v9.9.9")
    assert "target_csv" in e.value.msg and "nfd.v4.16.0" in e.value.msg


def _sub(installed=None, current=None, plan=None, conditions=None):
    st = {"conditions": conditions or []}
    if installed:
        st["installedCSV"] = installed
    if current:
        st["currentCSV"] = current
    if plan:
        st["installPlanRef"] = {"name": plan}
    return {"metadata": {"name": "nfd"}, "status": st}


def _plan(name, csvs, approved=False, phase="RequiresApproval", approval="Manual", message=None, conditions=None):
    p = {"metadata": {"name": name}, "spec": {"clusterServiceVersionNames": csvs, "approved": approved, "approval": approval},
         "status": {"phase": phase}}
    if message:
        p["status"]["message"] = message
    if conditions:
        p["status"]["conditions"] = conditions
    return p


def _csv(name, phase="Succeeded", reason="InstallSucceeded", message=""):
    return {"metadata": {"name": name}, "spec": {"version": name.split(".v", 1)[1],
                                                 "customresourcedefinitions": {"owned": [{"name": "b.x.io"}, {"name": "a.x.io"}]}},
            "status": {"phase": phase, "reason": reason, "message": message}}


def test_decide_approves_only_the_intended_plan():
    plans = [_plan("install-old", ["nfd.v4.15.0"]), _plan("install-mine", ["nfd.v4.16.0"]), _plan("install-head", ["nfd.v4.17.0"])]
    verdict = olm.decide(_sub(current="nfd.v4.16.0", plan="install-mine"), plans, None, "nfd.v4.16.0", "Manual")
    assert verdict[0] == "approve" and verdict[1]["metadata"]["name"] == "install-mine"


def test_decide_done_leaves_upgrade_plan_unapproved():
    plans = [_plan("install-mine", ["nfd.v4.16.0"], approved=True, phase="Complete"), _plan("install-head", ["nfd.v4.17.0"])]
    sub = _sub(installed="nfd.v4.16.0", current="nfd.v4.17.0", plan="install-head")
    verdict = olm.decide(sub, plans, _csv("nfd.v4.16.0"), "nfd.v4.16.0", "Manual")
    assert verdict[0] == "done"


def test_decide_reports_a_foreign_plan():
    plans = [_plan("install-head", ["nfd.v4.17.0"])]
    sub = _sub(installed="nfd.v4.15.0", current="nfd.v4.17.0", plan="install-head")
    verdict = olm.decide(sub, plans, None, "nfd.v4.16.0", "Manual")
    assert verdict[0] == "foreign" and "install-head" in verdict[1] and "left unapproved" in verdict[1]


def test_decide_waits_while_installing():
    sub = _sub(current="nfd.v4.17.0", plan="p")
    plans = [_plan("p", ["nfd.v4.17.0"], approved=True, phase="Installing", approval="Automatic")]
    v = olm.decide(sub, plans, None, "nfd.v4.17.0", "Automatic")
    assert v[0] == "wait" and v[2] == olm.IP
    v = olm.decide(sub, plans, _csv("nfd.v4.17.0", phase="Installing", reason="InstallWaiting"), "nfd.v4.17.0", "Automatic")
    assert v[0] == "wait" and "Installing" in v[1] and v[2] == olm.CSV
    assert olm.decide(None, [], None, None, "Automatic")[0] == "wait"


@pytest.mark.parametrize(
    "sub,plans,csv,needle",
    [
        (_sub(conditions=[{"type": "ResolutionFailed", "status": "True", "reason": "ConstraintsNotSatisfiable",
                           "message": "no operators found in channel x"}]), [], None, "ResolutionFailed"),
        (_sub(current="nfd.v4.17.0", plan="p"),
         [_plan("p", ["nfd.v4.17.0"], approved=True, phase="Failed", message="error creating csv",
                conditions=[{"type": "Installed", "status": "False", "reason": "InstallComponentFailed"}])], None,
         "InstallPlan p failed (InstallComponentFailed): error creating csv"),
        (_sub(current="nfd.v4.17.0", plan="p"), [], _csv("nfd.v4.17.0", "Failed", "InstallCheckFailed", "deployment not ready"),
         "ClusterServiceVersion nfd.v4.17.0 failed (InstallCheckFailed): deployment not ready"),
    ],
)
def test_decide_fails_fast_with_the_reason(sub, plans, csv, needle):
    verdict = olm.decide(sub, plans, csv, "nfd.v4.17.0", "Automatic")
    assert verdict[0] == "failed" and needle in verdict[1]


def test_resolution_failed_false_is_not_a_failure():
    sub = _sub(current="nfd.v4.17.0", conditions=[{"type": "ResolutionFailed", "status": "False"}])
    assert olm.decide(sub, [], None, "nfd.v4.17.0", "Automatic")[0] == "wait"


def test_old_failed_plan_for_another_csv_does_not_fail_the_run():
    sub = _sub(installed="nfd.v4.16.0", current="nfd.v4.17.0", plan="new")
    plans = [_plan("old", ["nfd.v4.15.0"], approved=True, phase="Failed"), _plan("new", ["nfd.v4.17.0"], approved=True, phase="Complete")]
    assert olm.decide(sub, plans, _csv("nfd.v4.17.0", phase="Installing"), "nfd.v4.17.0", "Automatic")[0] == "wait"


def test_owned_crds():
    assert olm.owned_crds(_csv("nfd.v1")) == ["a.x.io", "b.x.io"]
    assert olm.owned_crds(None) == []


def test_automatic_approves_a_leftover_manual_plan_for_the_intended_csv_only():
    plans = [_plan("leftover", ["nfd.v4.17.0"]), _plan("other", ["nfd.v4.16.0"])]
    verdict = olm.decide(_sub(installed="nfd.v4.15.0", current="nfd.v4.17.0", plan="leftover"), plans, None, "nfd.v4.17.0", "Automatic")
    assert verdict[0] == "approve" and verdict[1]["metadata"]["name"] == "leftover"
    verdict = olm.decide(_sub(installed="nfd.v4.15.0", current="nfd.v4.16.0", plan="other"), [plans[1]], None, "nfd.v4.17.0", "Automatic")
    assert verdict[0] == "wait"


# --------------------------------------------------------------------------- 409 on create (issue 17, finding 15)


class _ConflictingService(object):
    def __init__(self, conflicts):
        self.conflicts = conflicts
        self.created = []

    def create(self, resource, body, namespace=None):
        from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException

        if self.conflicts:
            self.conflicts -= 1
            raise ApiException(status=409, reason="AlreadyExists")
        self.created.append(body["metadata"]["name"])
        return body


def _olm_with(conflicts, monkeypatch):
    from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _olm

    op = _olm.OlmOperator(object(), {"name": "nfd", "namespace": "openshift-nfd"})
    op.svc = _ConflictingService(conflicts)
    monkeypatch.setattr(op, "_res", lambda gvk: gvk)
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "openshift-nfd"}}

    def present():
        op._create(_olm.NS, body)  # pylint: disable=protected-access
        return {"created": True}

    monkeypatch.setattr(op, "present", present)
    return _olm, op


def test_a_concurrent_create_is_read_again(monkeypatch):
    _olm, op = _olm_with(1, monkeypatch)
    result = op.run()
    assert result["changes"] == ["create Namespace openshift-nfd"]  # the 409 attempt is not reported as ours
    assert "created by another writer meanwhile (409)" in result["warnings"][0]


def test_a_create_that_keeps_conflicting_fails_with_a_clear_message(monkeypatch):
    _olm, op = _olm_with(5, monkeypatch)
    with pytest.raises(_olm.OlmConflict, match="Namespace openshift-nfd was created by another writer .*409 AlreadyExists.*3 times"):
        op.run()


def test_a_component_unhealthy_csv_is_waited_for_only_while_tolerated():
    sub = _sub(installed="nfd.v4.17.0", current="nfd.v4.17.0")
    unhealthy = _csv("nfd.v4.17.0", phase="Failed", reason="ComponentUnhealthy",
                     message='installing: waiting for deployment nfd-controller-manager to become ready')
    assert olm.recoverable_failure(unhealthy)
    verdict = olm.decide(sub, [], unhealthy, "nfd.v4.17.0", "Automatic", tolerate_csv=True)
    assert verdict[0] == "wait"
    assert verdict[1] == ("ClusterServiceVersion nfd.v4.17.0 is Failed (ComponentUnhealthy): installing: waiting for "
                          "deployment nfd-controller-manager to become ready; waiting for OLM to reinstall it")
    verdict = olm.decide(sub, [], unhealthy, "nfd.v4.17.0", "Automatic")
    assert verdict[0] == "failed" and "ComponentUnhealthy" in verdict[1]
    # a failure OLM does not recover from alone fails at once, tolerated or not
    check_failed = _csv("nfd.v4.17.0", phase="Failed", reason="InstallCheckFailed", message="deadline exceeded")
    assert not olm.recoverable_failure(check_failed)
    assert olm.decide(sub, [], check_failed, "nfd.v4.17.0", "Automatic", tolerate_csv=True)[0] == "failed"


def test_operator_pod_problems_come_from_the_csv_deployments_pods_only():
    dep = {"metadata": {"name": "op"}, "spec": {"selector": {"matchLabels": {"app": "op"}}}}

    def pod(name, labels, reason):
        return {"metadata": {"name": name, "namespace": "ns", "labels": labels}, "spec": {"nodeName": "n1"},
                "status": {"containerStatuses": [{"name": "manager", "ready": False,
                                                  "state": {"waiting": {"reason": reason, "message": "m"}}}]}}

    pods = [pod("op-1", {"app": "op", "pod-template-hash": "x"}, "CrashLoopBackOff"),
            pod("op-2", {"app": "op"}, "ErrImagePull"),  # transient: the kubelet retries
            pod("other", {"app": "other"}, "CrashLoopBackOff")]
    problems = olm.operator_pod_problems([dep], pods)
    assert [str(p) for p in problems] == ["pod op-1 container manager: CrashLoopBackOff (m) on node n1"]
    assert olm.operator_pod_problems([{"metadata": {"name": "noselector"}, "spec": {}}], pods) == []
