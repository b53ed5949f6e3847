"""Predicates, evaluation and the list/watch loop of the waiter (fake API, fake clock)."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _waiter
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    InvalidInput,
    WaitFailed,
    WaitTimeout,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._waiter import Waiter
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import (
    condition,
    established,
    exists,
    field,
    from_spec,
    get_path,
    jmespath_expr,
    object_evaluator,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException, api_path


def obj(name="x", conditions=None, ns="ns", rv="1", **status):
    st = dict(status)
    if conditions is not None:
        st["conditions"] = conditions
    return {"kind": "Thing", "metadata": {"name": name, "namespace": ns, "resourceVersion": rv}, "status": st}


def cond(ctype, status="True", reason=None, message=None):
    c = {"type": ctype, "status": status}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


# --------------------------------------------------------------------------- predicates


def test_condition_predicate():
    ready = condition("Ready")
    assert ready(obj(conditions=[cond("Ready")]))
    assert not ready(obj(conditions=[cond("Ready", "False")]))
    assert not ready(obj(conditions=[]))
    assert not ready(None)
    assert condition("Ready", "False", "Failed")(obj(conditions=[cond("Ready", "False", "Failed")]))
    assert not condition("Ready", "False", "Failed")(obj(conditions=[cond("Ready", "False", "Other")]))


def test_field_predicate_compares_text():
    assert field("status.phase", "Succeeded")(obj(phase="Succeeded"))
    assert not field("status.phase", "Succeeded")(obj(phase="Installing"))
    assert field("status.replicas", "3")(obj(replicas=3))
    assert field("status.ready", True)(obj(ready="true"))
    assert not field("status.missing", None)(obj())
    assert field("status.ingress.0.host", "a")(obj(ingress=[{"host": "a"}]))
    assert get_path(obj(ingress=[]), "status.ingress.5.host", "dflt") == "dflt"


def test_jmespath_predicate():
    pred = jmespath_expr("status.modelStatus.states.activeModelState == 'Loaded'")
    assert pred(obj(modelStatus={"states": {"activeModelState": "Loaded"}}))
    assert not pred(obj(modelStatus={"states": {"activeModelState": "Pending"}}))
    assert not pred(obj())
    with pytest.raises(InvalidInput):
        jmespath_expr("status.[[[")


def test_from_spec_combines_and_defaults():
    assert from_spec({}, default=exists()).description == "exists"
    both = from_spec({"condition": {"type": "Ready", "status": "True"}, "field": {"path": "status.phase", "value": "Ok"}})
    assert both(obj(conditions=[cond("Ready")], phase="Ok"))
    assert not both(obj(conditions=[cond("Ready")], phase="No"))
    assert "Ready=True" in str(both) and "status.phase" in str(both)
    assert from_spec({"jmespath": None, "condition": None, "field": None}) is None


def test_crd_established():
    crd = obj(conditions=[cond("NamesAccepted"), cond("Established")])
    assert established()(crd)
    assert not established()(obj(conditions=[cond("Established", "False")]))


def test_object_evaluator_success_failure_and_messages():
    ev = object_evaluator(condition("Ready"), [field("status.phase", "Failed")])
    assert not ev([]).done and "no matching object" in ev([]).message
    out = ev([obj(conditions=[cond("Ready", "False", "Installing", "still going")])])
    assert not out.done and not out.failed and "Installing: still going" in out.message
    out = ev([obj(phase="Failed", conditions=[cond("Ready", "False", "CSVFailed", "bad")])])
    assert out.failed and "ns/x" in out.message and "CSVFailed" in out.message
    assert ev([obj(conditions=[cond("Ready")])]).done
    # every selected object must be ready
    assert not ev([obj("a", conditions=[cond("Ready")]), obj("b", conditions=[])]).done


# --------------------------------------------------------------------------- the wait loop


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Listed(object):
    def __init__(self, items, rv):
        self.items, self.rv = items, rv

    def to_dict(self):
        return {"items": [dict(i) for i in self.items], "metadata": {"resourceVersion": self.rv}}


class FakeResource(object):
    namespaced = True

    def __init__(self, lists):
        self.lists = list(lists)
        self.list_calls = []

    def get(self, namespace=None, **kw):
        self.list_calls.append((namespace, kw))
        items, rv = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        return Listed(items, rv)


class FakeDynamic(object):
    def __init__(self, streams, clock):
        self.streams = list(streams)
        self.clock = clock
        self.watch_calls = []

    def watch(self, resource, **kw):
        self.watch_calls.append(kw)
        stream = self.streams.pop(0) if self.streams else []
        if isinstance(stream, Exception):
            raise stream  # pylint: disable=raising-bad-type
        for item in stream:
            if isinstance(item, (int, float)):
                self.clock.now += item  # time passing between events
                continue
            if isinstance(item, Exception):
                raise item
            yield item
        self.clock.now += kw["timeout"]  # the server ends the watch after timeoutSeconds


class FakeApiClient(object):
    def __init__(self, served):
        self.served = list(served)
        self.calls = 0

    def request(self, method, path, **kw):
        self.calls += 1
        ok = self.served.pop(0) if len(self.served) > 1 else self.served[0]
        if not ok:
            raise ApiException(status=404, reason="Not Found")
        return {"resources": [{"kind": "Thing", "name": "things"}, {"kind": "Thing", "name": "things/status"}]}


class FakeClient(object):
    def __init__(self, resource, streams, clock, served=(True,)):
        self._resource = resource
        self.dynamic = FakeDynamic(streams, clock)
        self.api_client = FakeApiClient(served)
        self.dynamic.request = self.api_client.request

    def resource(self, api_version, kind):
        return self._resource


def ev(etype, o):
    return {"type": etype, "raw_object": o}


def make(lists, streams, served=(True,), **kw):
    clock = Clock()
    res = FakeResource(lists)
    client = FakeClient(res, streams, clock, served)
    waiter = Waiter(client, "example.com/v1", "Thing", namespace="ns", clock=clock, sleep=clock.sleep, **kw)
    return waiter, client, res, clock


def test_wait_returns_on_the_watch_event():
    waiter, client, res, clock = make(
        [([obj(conditions=[])], "5")],
        [[2.0, ev("MODIFIED", obj(rv="6", conditions=[cond("Ready", "False")])), 1.5, ev("MODIFIED", obj(rv="7", conditions=[cond("Ready")]))]],
        name="x",
    )
    result = waiter.wait(object_evaluator(condition("Ready")), timeout=60)
    assert result.elapsed == pytest.approx(3.5)
    assert result.objects[0]["metadata"]["resourceVersion"] == "7"
    assert client.dynamic.watch_calls[0]["resource_version"] == "5"
    assert client.dynamic.watch_calls[0]["field_selector"] == "metadata.name=x"
    assert res.list_calls == [("ns", {"field_selector": "metadata.name=x"})]


def test_wait_already_true_needs_no_watch():
    waiter, client, _res, _clock = make([([obj(conditions=[cond("Ready")])], "5")], [])
    result = waiter.wait(object_evaluator(condition("Ready")), timeout=60)
    assert result.elapsed == 0 and client.dynamic.watch_calls == []


def test_wait_fails_fast_on_failure_predicate():
    waiter, _client, _res, clock = make(
        [([obj(phase="Installing")], "5")], [[1.0, ev("MODIFIED", obj(phase="Failed", conditions=[cond("Ready", "False", "Boom", "it broke")]))]]
    )
    with pytest.raises(WaitFailed) as err:
        waiter.wait(object_evaluator(field("status.phase", "Succeeded"), [field("status.phase", "Failed")]), timeout=300)
    assert "it broke" in err.value.msg and clock.now - 1000.0 == pytest.approx(1.0)
    assert err.value.details["resources"][0]["status"]["phase"] == "Failed"


def test_wait_relists_after_410_gone():
    waiter, client, res, _clock = make(
        [([obj()], "5"), ([obj(conditions=[cond("Ready")])], "9")],
        [ApiException(status=410, reason="Expired")],
    )
    result = waiter.wait(object_evaluator(condition("Ready")), timeout=60)
    assert result.objects[0]["status"]["conditions"][0]["type"] == "Ready"
    assert len(res.list_calls) == 2


def test_wait_timeout_shows_last_status():
    waiter, client, _res, clock = make(
        [([obj(conditions=[cond("Ready", "False", "Pending", "waiting for mesh")])], "5")], [[], [], []]
    )
    with pytest.raises(WaitTimeout) as err:
        waiter.wait(object_evaluator(condition("Ready")), timeout=30)
    assert "waiting for mesh" in err.value.msg and "Thing" in err.value.msg
    assert clock.now - 1000.0 == pytest.approx(30.0)
    assert err.value.details["resources"]
    assert all(c["timeout"] <= 30 for c in client.dynamic.watch_calls)


def test_deleted_objects_leave_the_state():
    waiter, _client, _res, _clock = make(
        [([obj("a", conditions=[cond("Ready")]), obj("b")], "5")], [[ev("DELETED", obj("b"))]], label_selector="app=x"
    )
    result = waiter.wait(object_evaluator(condition("Ready")), timeout=60)
    assert [o["metadata"]["name"] for o in result.objects] == ["a"]


def test_waits_for_kind_to_be_served():
    waiter, client, _res, clock = make([([obj(conditions=[cond("Ready")])], "5")], [], served=(False, False, False, True))
    result = waiter.wait(object_evaluator(condition("Ready")), timeout=60)
    assert client.api_client.calls == 4
    assert result.elapsed == pytest.approx(0.2 + 0.3 + 0.5)


def test_kind_never_served_times_out_naming_it():
    waiter, _client, _res, _clock = make([([], "1")], [], served=(False,))
    with pytest.raises(WaitTimeout, match="does not serve example.com/v1 Thing"):
        waiter.wait(object_evaluator(exists()), timeout=5)


def test_snapshot_does_not_wait():
    waiter, client, _res, _clock = make([([obj()], "5")], [])
    objects, outcome = waiter.snapshot(object_evaluator(condition("Ready")))
    assert len(objects) == 1 and not outcome.done and client.dynamic.watch_calls == []


def test_api_paths():
    """The discovery path of a group/version (the waiter's served check uses the transport's helper)."""
    assert api_path("v1") == "/api/v1"
    assert api_path("maistra.io/v2") == "/apis/maistra.io/v2"


# --------------------------------------------------------------------------- API outages, several streams (issue 17)


def test_relist_rides_over_an_api_server_restart():
    from urllib3.exceptions import MaxRetryError

    class Flaky(FakeResource):
        def __init__(self, lists, errors):
            FakeResource.__init__(self, lists)
            self.errors = list(errors)

        def get(self, namespace=None, **kw):
            if self.errors:
                raise self.errors.pop(0)  # pylint: disable=raising-bad-type
            return FakeResource.get(self, namespace, **kw)

    clock = Clock()
    res = Flaky([([obj(conditions=[cond("Ready")])], "5")],
                [MaxRetryError(None, "/", "Connection refused"), ApiException(status=503, reason="Service Unavailable")])
    waiter = Waiter(FakeClient(res, [], clock), "example.com/v1", "Thing", namespace="ns", clock=clock, sleep=clock.sleep)
    assert waiter.wait(object_evaluator(condition("Ready")), timeout=60).objects


def test_an_api_server_that_stays_down_is_named_after_the_limit():
    from urllib3.exceptions import MaxRetryError

    class Down(FakeResource):
        def get(self, namespace=None, **kw):
            raise MaxRetryError(None, "/", "Connection refused")

    clock = Clock()
    waiter = Waiter(FakeClient(Down([]), [], clock), "example.com/v1", "Thing", namespace="ns", clock=clock, sleep=clock.sleep)
    with pytest.raises(_waiter.ApiError, match="did not answer for 2[5-9]s while waiting for Thing in namespace ns"):
        waiter.wait(object_evaluator(condition("Ready")), timeout=600)
    assert clock.now - 1000.0 < 30


def test_a_forbidden_list_is_not_retried():
    class Forbidden(FakeResource):
        def get(self, namespace=None, **kw):
            raise ApiException(status=403, reason="Forbidden")

    clock = Clock()
    waiter = Waiter(FakeClient(Forbidden([]), [], clock), "example.com/v1", "Thing", namespace="ns", clock=clock, sleep=clock.sleep)
    with pytest.raises(_waiter.ApiError, match="Forbidden"):
        waiter.wait(object_evaluator(condition("Ready")), timeout=600)
    assert clock.now == 1000.0


class Streamed(object):
    """A waiter stand-in whose stream yields the given object lists, then blocks until stopped."""

    def __init__(self, lists, error=None):
        self.lists = lists
        self.error = error

    def stream(self, deadline, stop=None):
        yield from self.lists
        if self.error is not None:
            raise self.error
        stop.wait(deadline.remaining())

    def describe(self):
        return "things"


def test_multi_waiter_evaluates_the_streams_together():
    seen = []

    def evaluate(states):
        seen.append(list(states))
        if states[1] and any(o["status"].get("phase") == "Broken" for o in states[1]):
            return _waiter.Outcome(False, "pod broken", failed=True)
        return object_evaluator(condition("Ready"))(states[0] or [])

    waiter = _waiter.MultiWaiter([Streamed([[obj()]]), Streamed([[obj("p", phase="Running")], [obj("p", phase="Broken")]])])
    with pytest.raises(WaitFailed, match="pod broken") as err:
        waiter.wait(evaluate, timeout=10)
    assert err.value.details["resources"][0]["metadata"]["name"] == "x"  # the awaited objects, not the pods
    ok = _waiter.MultiWaiter([Streamed([[obj()], [obj(conditions=[cond("Ready")])]]), Streamed([])])
    assert ok.wait(lambda states: object_evaluator(condition("Ready"))(states[0] or []), timeout=10).objects


def test_multi_waiter_times_out_with_the_last_message_and_reraises_errors():
    waiter = _waiter.MultiWaiter([Streamed([[obj()]])])
    waiter.TICK = 0.05
    with pytest.raises(WaitTimeout, match="Timed out after 0s waiting for things: ns/x: not condition Ready=True"):
        waiter.wait(lambda states: object_evaluator(condition("Ready"))(states[0] or []), timeout=0.3)
    broken = _waiter.MultiWaiter([Streamed([], error=_waiter.ApiError("Failed to watch Thing: Forbidden"))])
    with pytest.raises(_waiter.ApiError, match="Forbidden"):
        broken.wait(lambda states: object_evaluator(condition("Ready"))(states[0] or []), timeout=10)


class Late(object):
    """A waiter stand-in whose first list arrives ``delay`` seconds in (a loaded API server), or never."""

    def __init__(self, objects, delay):
        self.objects = objects
        self.delay = delay

    def stream(self, deadline, stop=None):
        if stop.wait(self.delay) or self.objects is None:
            return
        yield self.objects

    def describe(self):
        return "things"


def test_a_first_list_late_past_the_deadline_decides_the_timeout_message():
    def evaluate(states):
        if states[0] is None:
            return _waiter.Outcome(False, "listing things")
        return object_evaluator(condition("Ready"))(states[0])

    waiter = _waiter.MultiWaiter([Late([obj()], delay=0.4)])
    waiter.TICK = 0.05
    with pytest.raises(WaitTimeout, match=r"Timed out after 0s waiting for things: ns/x: not condition Ready=True") as err:
        waiter.wait(evaluate, timeout=0.1)
    assert err.value.details["resources"][0]["metadata"]["name"] == "x"
    # a late list that satisfies the wait ends it well
    done = _waiter.MultiWaiter([Late([obj(conditions=[cond("Ready")])], delay=0.3)])
    assert done.wait(evaluate, timeout=0.1).objects
    # a list that never comes is awaited LIST_GRACE seconds, no longer; a stream that ended is not awaited
    never = _waiter.MultiWaiter([Late([obj()], delay=60)])
    never.TICK, never.LIST_GRACE = 0.05, 0.3
    with pytest.raises(WaitTimeout, match="listing things"):
        never.wait(evaluate, timeout=0.1)
    ended = _waiter.MultiWaiter([Late(None, delay=0)])
    ended.LIST_GRACE = 60
    with pytest.raises(WaitTimeout, match="listing things"):
        ended.wait(evaluate, timeout=0.1)
