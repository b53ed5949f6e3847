"""Pod diagnosis, label selectors and group evaluation (pure functions on pod dicts)."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._pods import (
    Group,
    PodProblem,
    TransientGrace,
    diagnose,
    evaluate_groups,
    format_events,
    is_ready,
    parse_selector,
    pods_evaluator,
    selector_matches,
    summary,
)


def pod(name="authorino-1", labels=None, containers=("authorino", "istio-proxy"), phase="Running", ready=True,
        statuses=None, conditions=None, deleting=False):
    meta = {"name": name, "namespace": "ns", "labels": labels if labels is not None else {"app": "authorino"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if statuses is None:
        statuses = [{"name": c, "ready": ready, "restartCount": 0, "state": {"running": {}}} for c in containers]
    conds = [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": c, "image": "quay.io/example/%s:1.0" % c} for c in containers], "nodeName": "worker-0"},
        "status": {"phase": phase, "conditions": conditions if conditions is not None else conds, "containerStatuses": statuses},
    }


def waiting(name, reason, message="", last=None, restarts=3):
    cs = {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason, "message": message}}}
    if last:
        cs["lastState"] = {"terminated": last}
    return cs


OK = {"name": "istio-proxy", "ready": True, "restartCount": 0, "state": {"running": {}}}


def test_a_problem_names_the_node_of_a_scheduled_pod_only():
    p = pod(ready=False, statuses=[waiting("authorino", "CrashLoopBackOff", "back-off"), OK], phase="Running")
    p["spec"]["nodeName"] = "worker-2"
    (prob,) = diagnose(p)
    assert prob.node == "worker-2" and prob.as_dict()["node"] == "worker-2"
    assert str(prob).endswith(" on node worker-2")
    del p["spec"]["nodeName"]
    (prob,) = diagnose(p)
    assert prob.node is None and "node" not in str(prob)


@pytest.mark.parametrize(
    "reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"]
)
def test_fatal_waiting_reasons(reason):
    p = pod(ready=False, statuses=[waiting("authorino", reason, "details here"), OK], phase="Pending")
    problems = diagnose(p)
    assert len(problems) == 1
    prob = problems[0]
    assert (prob.pod, prob.container, prob.reason) == ("authorino-1", "authorino", reason)
    assert "details here" in str(prob) and "authorino-1" in str(prob) and "container authorino" in str(prob)


@pytest.mark.parametrize(
    "reason, message",
    [
        # CRI-O names tag and repository apart while pulling, the kubelet names the reference in back-off
        ("ErrImagePull", "rpc error: code = Unknown desc = reading manifest 1.0 in quay.io/example/app: unknown"),
        ("ImagePullBackOff", 'Back-off pulling image "quay.io/example/app:1.0"'),
        ("InvalidImageName", ""),
    ],
)
def test_image_problems_name_the_image_of_the_pod_spec(reason, message):
    p = pod(ready=False, statuses=[waiting("authorino", reason, message), OK], phase="Pending")
    prob = diagnose(p)[0]
    assert prob.message.startswith("image quay.io/example/authorino:1.0")
    assert message in prob.message


def test_image_of_an_init_container():
    p = pod(ready=False, statuses=[waiting("init", "ErrImagePull", "manifest unknown"), OK], phase="Pending")
    p["spec"]["initContainers"] = [{"name": "init", "image": "registry.example/init@sha256:abc"}]
    assert diagnose(p)[0].message == "image registry.example/init@sha256:abc; manifest unknown"


def test_crashloop_mentions_last_exit():
    last = {"exitCode": 137, "reason": "Error"}
    p = pod(ready=False, statuses=[waiting("authorino", "CrashLoopBackOff", "back-off 40s restarting", last), OK])
    assert "last exit code 137 (Error)" in diagnose(p)[0].message


def test_oomkilled_not_ready():
    cs = {"name": "authorino", "ready": False, "restartCount": 2, "state": {"running": {}},
          "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
    assert diagnose(pod(ready=False, statuses=[cs, OK]))[0].reason == "OOMKilled"
    cs["ready"] = True  # recovered: not fatal any more
    assert diagnose(pod(statuses=[cs, OK])) == []


def test_unschedulable():
    conds = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
              "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]
    p = pod(phase="Pending", ready=False, statuses=[], conditions=conds)
    prob = diagnose(p)[0]
    assert prob.reason == "Unschedulable" and prob.container is None and "nvidia.com/gpu" in prob.message


def test_transient_states_are_not_fatal():
    assert diagnose(pod(ready=False, statuses=[waiting("authorino", "ContainerCreating"), OK])) == []
    assert diagnose(pod(ready=False, statuses=[waiting("authorino", "PodInitializing"), OK])) == []
    assert diagnose(pod()) == []


def test_init_container_failures_count():
    p = pod(ready=False, phase="Pending")
    p["status"]["initContainerStatuses"] = [waiting("init-db", "CrashLoopBackOff")]
    assert diagnose(p)[0].container == "init-db"


def test_is_ready():
    assert is_ready(pod())
    assert not is_ready(pod(ready=False))
    assert not is_ready(pod(phase="Pending"))
    assert not is_ready(pod(deleting=True))


def test_summary():
    s = summary(pod(ready=False, statuses=[waiting("authorino", "CrashLoopBackOff"), OK]))
    assert s["name"] == "authorino-1" and s["ready"] is False and s["node"] == "worker-0"
    assert s["containers"][0] == {
        "name": "authorino", "ready": False, "state": "waiting", "reason": "CrashLoopBackOff", "restarts": 3,
        "image": "quay.io/example/authorino:1.0",
    }
    assert s["problems"][0]["reason"] == "CrashLoopBackOff"


@pytest.mark.parametrize(
    "selector,labels,expected",
    [
        ("app=authorino", {"app": "authorino"}, True),
        ("app==authorino", {"app": "other"}, False),
        ("app=authorino,tier!=web", {"app": "authorino", "tier": "web"}, False),
        ("app=authorino,tier!=web", {"app": "authorino"}, True),
        ("app in (a, b),env notin (prod)", {"app": "b", "env": "dev"}, True),
        ("app in (a, b)", {"app": "c"}, False),
        ("control-plane", {"control-plane": ""}, True),
        ("!canary", {"canary": "1"}, False),
        ("", {"x": "y"}, True),
    ],
)
def test_selectors(selector, labels, expected):
    assert selector_matches(parse_selector(selector), labels) is expected


def test_bad_selector():
    with pytest.raises(InvalidInput):
        parse_selector("app=(x")
    with pytest.raises(InvalidInput, match="label_selector and/or name_prefix"):
        Group({"name": "empty"})


def test_groups_by_selector_prefix_min_ready_and_containers():
    groups = [
        Group({"name": "authorino", "label_selector": "app=authorino", "min_ready": 2, "containers": ["authorino", "istio-proxy"]}),
        Group({"name_prefix": "kserve-", "min_ready": 1}),
    ]
    pods = [
        pod("authorino-1"),
        pod("authorino-2", containers=("authorino",)),  # no sidecar: does not count
        pod("kserve-controller-1", labels={}, containers=("manager",)),
        pod("other", labels={}),
    ]
    report = evaluate_groups(groups, pods)
    assert report[0]["ready"] == 1 and not report[0]["ok"]
    assert report[0]["wrong_containers"] == {"authorino-2": ["authorino"]}
    assert report[1]["pods"] == ["kserve-controller-1"] and report[1]["ok"]
    outcome = pods_evaluator(groups)(pods)
    assert not outcome.done and not outcome.failed
    assert "1/2 ready" in outcome.message and "expected ['authorino', 'istio-proxy']" in outcome.message
    pods[1] = pod("authorino-2")
    assert pods_evaluator(groups)(pods).done


def test_prefix_and_selector_both_apply():
    g = Group({"label_selector": "app=authorino", "name_prefix": "authorino-"})
    assert g.selects(pod("authorino-1")) and not g.selects(pod("x-1")) and not g.selects(pod("authorino-1", labels={}))


def test_fail_fast_names_pod_container_reason_and_events():
    groups = [Group({"label_selector": "app=authorino"})]
    pods = [pod(ready=False, statuses=[waiting("authorino", "CrashLoopBackOff", "back-off 10s"), OK])]
    seen = []

    def events(problem):
        seen.append(problem.pod)
        return ["Warning BackOff: Back-off restarting failed container authorino"]

    outcome = pods_evaluator(groups, events=events)(pods)
    assert outcome.failed
    assert "pod authorino-1 container authorino: CrashLoopBackOff (back-off 10s)" in outcome.message
    assert "event: Warning BackOff" in outcome.message and seen == ["authorino-1"]
    slow = pods_evaluator(groups, fail_fast=False)(pods)
    assert not slow.failed and "CrashLoopBackOff" in slow.message


def test_unselected_broken_pods_are_ignored():
    groups = [Group({"label_selector": "app=authorino"})]
    pods = [pod(), pod("broken", labels={"app": "x"}, ready=False, statuses=[waiting("authorino", "ErrImagePull"), OK])]
    assert pods_evaluator(groups)(pods).done


def test_empty_group_message():
    outcome = pods_evaluator([Group({"name_prefix": "nothing-"})])([pod()])
    assert "no pod matches" in outcome.message


def test_format_events_orders_and_limits():
    events = [
        {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting", "count": 4, "lastTimestamp": "2026-01-01T00:00:09Z"},
        {"type": "Normal", "reason": "Pulled", "message": "pulled ", "lastTimestamp": "2026-01-01T00:00:01Z"},
        {"type": "Normal", "reason": "Started", "eventTime": "2026-01-01T00:00:05Z"},
    ]
    lines = format_events(events, limit=2)
    assert lines == [
        "2026-01-01T00:00:05Z Normal Started: ",
        "2026-01-01T00:00:09Z Warning BackOff: Back-off restarting (x4)",
    ]


# --------------------------------------------------------------------------- fail fast (issue 17)


class FakeClock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def unready(name="istiod-minimal-1", started="2026-01-01T00:00:00Z"):
    cs = {"name": "discovery", "ready": False, "restartCount": 0, "state": {"running": {"startedAt": started}}}
    conds = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
              "message": "containers with unready status: [discovery]"}]
    return pod(name, labels={"app": "istiod"}, containers=("discovery",), ready=False, statuses=[cs], conditions=conds)


def test_a_ready_group_is_not_failed_by_a_broken_leftover_pod():
    # finding 16: an old ReplicaSet's crashing pod while min_ready is met
    groups = [Group({"label_selector": "app=authorino"})]
    broken = pod("authorino-old", ready=False, statuses=[waiting("authorino", "CrashLoopBackOff"), OK])
    assert pods_evaluator(groups)([pod("authorino-new"), broken]).done
    failed = pods_evaluator(groups)([broken])
    assert failed.failed and "pod authorino-old container authorino: CrashLoopBackOff" in failed.message
    two = [Group({"label_selector": "app=authorino", "min_ready": 2})]
    assert pods_evaluator(two)([pod("authorino-new"), broken]).failed


def test_a_container_that_never_becomes_ready_fails_after_unready_timeout():
    clock = FakeClock()
    started = 1767225600.0  # 2026-01-01T00:00:00Z

    def wall():
        return started + 5.0 + clock.now - 100.0  # the wait starts 5 s after the container

    groups = [Group({"name": "istiod", "name_prefix": "istiod-minimal-"})]
    evaluate = pods_evaluator(groups, unready_timeout=20, clock=clock, wall=wall)
    first = evaluate([unready()])
    assert not first.failed and not first.done
    clock.now += 14
    assert not evaluate([unready()]).failed
    clock.now += 1  # 20 s since the container started
    outcome = evaluate([unready()])
    assert outcome.failed
    assert "pod istiod-minimal-1 container discovery: NotReady (running for 20s without becoming ready" in outcome.message
    assert "containers with unready status: [discovery]" in outcome.message
    # a restarted container (new start time) starts over; 0 disables the check
    assert not evaluate([unready(started="2026-01-01T00:00:15Z")]).failed
    # without a start time (or with a skewed clock) the time this wait saw it unready counts
    skewed = pods_evaluator(groups, unready_timeout=20, clock=clock, wall=lambda: 0.0)
    skewed([unready()])
    clock.now += 20
    assert skewed([unready()]).failed
    never = pods_evaluator(groups, unready_timeout=0, clock=clock)
    never([unready()])
    clock.now += 1000
    assert not never([unready()]).failed


def test_pod_watch_names_the_object_its_status_and_the_broken_pod():
    from ansible_collections.openshift_ai.model_serving.plugins.module_utils._pods import (
        pod_watch_evaluator,
        with_pod_watch,
    )
    from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import (
        condition,
        object_evaluator,
    )

    smcp = {"kind": "ServiceMeshControlPlane", "metadata": {"name": "minimal", "namespace": "istio-system"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "ComponentsNotReady",
                                       "message": "istiod not ready"}]}}
    groups = [Group({"name": "control plane", "name_prefix": "istiod-minimal-"})]
    crash = pod("istiod-minimal-1", labels={}, containers=("discovery",), ready=False,
                statuses=[waiting("discovery", "CrashLoopBackOff", "back-off 10s", last={"exitCode": 1, "reason": "Error"})])
    evaluate = with_pod_watch(object_evaluator(condition("Ready")),
                              [pod_watch_evaluator("istio-system", groups, events=lambda p: ["Warning BackOff: x"])],
                              "ServiceMeshControlPlane minimal in namespace istio-system")
    # before the pods are listed, and while they are fine, the object decides
    assert not evaluate([[smcp], None]).failed
    assert not evaluate([[smcp], [pod("istiod-minimal-1", labels={}, containers=("discovery",))]]).failed
    outcome = evaluate([[smcp], [crash]])
    assert outcome.failed
    for text in ("ServiceMeshControlPlane minimal in namespace istio-system is not ready",
                 "in namespace istio-system: pod istiod-minimal-1 container discovery: CrashLoopBackOff",
                 "last exit code 1 (Error)", "event: Warning BackOff",
                 "ServiceMeshControlPlane istio-system/minimal status: Ready=False ComponentsNotReady: istiod not ready"):
        assert text in outcome.message, outcome.message
    ready = dict(smcp, status={"conditions": [{"type": "Ready", "status": "True"}]})
    assert evaluate([[ready], [pod("istiod-minimal-1", labels={}, containers=("discovery",))]]).done


def test_transient_states_count_only_after_their_grace():
    now = [100.0]
    groups = [Group({"name_prefix": "app-"})]
    pulling = pod("app-1", ready=False, statuses=[waiting("app", "ErrImagePull", "manifest unknown")], phase="Pending")
    evaluate = pods_evaluator(groups, transient_grace=20, clock=lambda: now[0])
    assert not evaluate([pulling]).failed  # a first pull failure may be a registry hiccup
    now[0] += 19
    assert not evaluate([pulling]).failed
    now[0] += 1
    failed = evaluate([pulling])
    assert failed.failed and "ErrImagePull" in failed.message and "for 20s" in failed.message
    # a pull that keeps failing becomes ImagePullBackOff: fatal at once, whatever the grace
    backoff = pod("app-2", ready=False, statuses=[waiting("app", "ImagePullBackOff", "Back-off")], phase="Pending")
    assert pods_evaluator(groups, transient_grace=20, clock=lambda: now[0])([backoff]).failed
    # a state that clears starts over the next time
    grace = TransientGrace(20, clock=lambda: now[0])
    problem = PodProblem("app-1", None, "Unschedulable", "0/3 nodes are available", "ns")
    assert grace.filter([problem]) == []
    now[0] += 30
    assert grace.filter([]) == []
    assert grace.filter([PodProblem("app-1", None, "Unschedulable", "again", "ns")]) == []
