"""The thin modules: argument specs and how execute() wires parameters to the module utils."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput, WaitTimeout
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import Outcome
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._waiter import WaitResult
from ansible_collections.openshift_ai.model_serving.plugins.modules import pods_verify, resource_patch, resource_wait


class FakeModule(object):
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)


def defaults(argspec, **params):
    out = dict((k, v.get("default")) for k, v in argspec.items())
    out.update(params)
    return out


class RecordingWaiter(object):
    last = None

    def __init__(self, client, api_version, kind, **kw):
        self.api_version, self.kind, self.kw = api_version, kind, kw
        RecordingWaiter.last = self
        self.objects = []

    def wait(self, evaluate, timeout):
        self.evaluate, self.timeout = evaluate, timeout
        return WaitResult(self.objects, 1.23456, "ok")

    def snapshot(self, evaluate):
        self.evaluate = evaluate
        return self.objects, evaluate(self.objects)


@pytest.fixture
def fake_cluster(monkeypatch):
    for mod in (resource_wait, pods_verify):
        monkeypatch.setattr(mod, "Waiter", RecordingWaiter)
        monkeypatch.setattr(mod, "Client", lambda params: object())
    return RecordingWaiter


def crd(established):
    return {"kind": "CustomResourceDefinition", "metadata": {"name": "x.example.com"},
            "status": {"conditions": [{"type": "Established", "status": "True" if established else "False"}]}}


def test_connection_options_are_shared():
    for mod in (resource_patch, resource_wait, pods_verify):
        spec = mod.argspec()
        assert spec["api_key"]["no_log"] is True and "kubeconfig" in spec


def test_crd_wait_defaults_to_established(fake_cluster):
    params = defaults(resource_wait.argspec(), api_version="apiextensions.k8s.io/v1",
                      kind="CustomResourceDefinition", name="x.example.com")
    result = resource_wait.execute(FakeModule(params))
    assert result["elapsed"] == 1.235 and result["satisfied"] is True
    evaluate = fake_cluster.last.evaluate
    assert evaluate([crd(True)]).done and not evaluate([crd(False)]).done
    assert fake_cluster.last.timeout == 300 and fake_cluster.last.kw["name"] == "x.example.com"


def test_other_kinds_default_to_existence_and_failure_needs_a_form(fake_cluster):
    params = defaults(resource_wait.argspec(), kind="ConfigMap", name="c", namespace="n")
    resource_wait.execute(FakeModule(params))
    assert fake_cluster.last.evaluate([{"metadata": {"name": "c"}}]).done
    bad = defaults(resource_wait.argspec(), kind="ConfigMap", name="c", failure=[{"condition": None, "field": None, "jmespath": None}])
    with pytest.raises(InvalidInput, match="failure\\[0\\]"):
        resource_wait.execute(FakeModule(bad))


def test_check_mode_does_not_wait(fake_cluster):
    params = defaults(resource_wait.argspec(), kind="ConfigMap", name="c", namespace="n", field={"path": "data.a", "value": "1"})
    module = FakeModule(params, check_mode=True)
    result = resource_wait.execute(module)
    assert result["satisfied"] is False and result["elapsed"] == 0.0
    assert module.warnings and "check mode, not waiting" in module.warnings[0]
    assert not hasattr(fake_cluster.last, "timeout")


def test_pods_verify_single_group_uses_server_side_selector(fake_cluster):
    params = defaults(pods_verify.argspec(), namespace="n", transient_grace=0, groups=[
        {"name": None, "label_selector": "app=a", "name_prefix": None, "min_ready": 1, "containers": None}])
    result = pods_verify.execute(FakeModule(params))
    assert fake_cluster.last.kw["label_selector"] == "app=a" and fake_cluster.last.kind == "Pod"
    assert result["groups"][0]["name"] == "app=a" and result["pods"] == []


def test_pods_verify_timeout_carries_pod_summaries(monkeypatch):
    class TimingOut(RecordingWaiter):
        def wait(self, evaluate, timeout):
            raise WaitTimeout("Timed out", resources=[{"metadata": {"name": "a-1", "labels": {"app": "a"}}, "status": {"phase": "Pending"}}], elapsed=5.0)

    monkeypatch.setattr(pods_verify, "Waiter", TimingOut)
    monkeypatch.setattr(pods_verify, "Client", lambda params: object())
    params = defaults(pods_verify.argspec(), namespace="n", transient_grace=0, groups=[
        {"name": "a", "label_selector": "app=a", "name_prefix": None, "min_ready": 1, "containers": None}])
    with pytest.raises(WaitTimeout) as err:
        pods_verify.execute(FakeModule(params))
    assert err.value.details["pods"][0]["name"] == "a-1" and err.value.details["groups"][0]["ok"] is False
    assert "resources" not in err.value.details


def test_resource_patch_rejects_non_list_removals():
    params = defaults(resource_patch.argspec(), kind="X", name="x", remove_entries={"spec.a": "name"})
    with pytest.raises(InvalidInput, match="list of key values"):
        resource_patch.execute(FakeModule(params))


def test_outcome_shape():
    assert Outcome(True).done and not Outcome(False, "m").failed


def test_resource_wait_watches_the_pods_of_the_given_namespaces(fake_cluster, monkeypatch):
    waits = []

    class RecordingMulti(object):
        def __init__(self, waiters):
            self.waiters = waiters

        def wait(self, evaluate, timeout, describe=""):
            waits.append((self.waiters, evaluate, timeout, describe))
            return WaitResult([], 0.5, "ok")

    monkeypatch.setattr(resource_wait, "MultiWaiter", RecordingMulti)
    monkeypatch.setattr(RecordingWaiter, "describe", lambda self: "%s %s" % (self.kind, self.kw.get("name")), raising=False)
    monkeypatch.setattr(resource_wait, "recent_events", lambda client, namespace, pod: [])
    group = {"name": "istiod", "label_selector": None, "name_prefix": "istiod-minimal-", "min_ready": 1, "containers": None}
    params = defaults(resource_wait.argspec(), api_version="maistra.io/v2", kind="ServiceMeshControlPlane", name="minimal",
                      namespace="istio-system", condition={"type": "Ready", "status": "True", "reason": None},
                      pods=[{"namespace": "istio-system", "groups": [group]}], unready_timeout=20)
    assert resource_wait.execute(FakeModule(params))["satisfied"] is True
    waiters, evaluate, timeout, describe = waits[0]
    assert [w.kind for w in waiters] == ["ServiceMeshControlPlane", "Pod"] and waiters[1].kw["namespace"] == "istio-system"
    assert timeout == 300 and "ServiceMeshControlPlane minimal" in describe
    crash = {"metadata": {"name": "istiod-minimal-1", "namespace": "istio-system"}, "spec": {"containers": [{"name": "discovery"}]},
             "status": {"phase": "Running", "containerStatuses": [
                 {"name": "discovery", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    outcome = evaluate([[], [crash]])
    assert outcome.failed and "pod istiod-minimal-1 container discovery: CrashLoopBackOff" in outcome.message
    bad = dict(params, unready_timeout=-1)
    with pytest.raises(InvalidInput, match="unready_timeout"):
        resource_wait.execute(FakeModule(bad))
