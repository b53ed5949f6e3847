"""models_apply (module_utils/_models_apply.py, _batch.py): credentials split, removal, staged writes."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _batch as B
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _models as M
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _models_apply as A
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput, ModelServingError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import PatchResult

CONN = {"name": "s3", "endpoint": "https://s3", "bucket": "b", "access_key_id": "AKIAX", "secret_access_key": "s3cr3t"}


def test_split_and_merge_credentials_round_trip():
    models = [{"name": "a", "storage": {"connection": dict(CONN), "path": "a/"}},
              {"name": "b", "storage": {"uri": "oci://x"}}, {"name": "c", "storage": {"connection": "s3"}}]
    public, secret = M.split_credentials(models)
    assert "AKIAX" not in str(public) and "s3cr3t" not in str(public)
    assert secret == [{"access_key_id": "AKIAX", "secret_access_key": "s3cr3t"}, {}, {}]
    assert M.merge_credentials(public, secret) == models
    with pytest.raises(InvalidInput):
        M.merge_credentials(public, [{}, {"access_key_id": "x"}])


class FakeService(object):
    """Objects by (kind, namespace, name); patch() as Service.patch (create or merge)."""

    def __init__(self, objects=None):
        self.objects = dict(objects or {})
        self.calls = []

    def get(self, api_version, kind, name, namespace=None, resource=None):
        return self.objects.get((kind, namespace, name))

    def patch(self, api_version, kind, name, namespace=None, patch=None, list_merge_keys=None, remove_entries=None,
              create=False):
        self.calls.append((kind, name))
        key = (kind, namespace, name)
        before = self.objects.get(key)
        after = dict(before or {}, **patch)
        after["metadata"] = dict((before or {}).get("metadata") or {}, **(patch.get("metadata") or {}))
        after["metadata"].setdefault("uid", "uid-" + name)
        self.objects[key] = after
        return PatchResult(before != after, before, after, "create" if before is None else "patch")


class FakeClient(object):
    def resource(self, api_version, kind):
        return None


def entry(kind, name, stage, **kw):
    e = {"api_version": "v1", "kind": kind, "name": name, "namespace": "ns", "patch": {"metadata": {}}, "create": True,
         "stage": stage}
    e.update(kw)
    return e


def test_stages_run_in_order_and_owners_get_the_uid_written_before():
    svc = FakeService()
    entries = [entry("Secret", "tok", 2, owner={"api_version": "v1", "kind": "InferenceService", "name": "m"}),
               entry("InferenceService", "m", 1), entry("Namespace", "ns", 0, namespace=None)]
    res = B.patch_staged(FakeClient(), svc, entries, workers=2)
    assert [c[0] for c in svc.calls] == ["Namespace", "InferenceService", "Secret"]
    assert [r["kind"] for r in res] == ["Secret", "InferenceService", "Namespace"]
    assert svc.objects[("Secret", "ns", "tok")]["metadata"]["ownerReferences"][0]["uid"] == "uid-m"


def test_a_failed_stage_stops_the_later_ones_and_is_named():
    svc = FakeService()
    entries = [entry("Secret", "tok", 1, owner={"api_version": "v1", "kind": "InferenceService", "name": "gone"}),
               entry("ConfigMap", "late", 2)]
    res = B.patch_staged(FakeClient(), svc, entries)
    assert res[0]["failed"] and "owner InferenceService ns/gone does not exist" in res[0]["msg"]
    assert res[1]["failed"] and "not attempted" in res[1]["msg"] and ("ConfigMap", "late") not in svc.calls
    assert B.failure_message(res).startswith("Secret ns/tok: owner InferenceService ns/gone")


class DeletingClient(object):
    """resource(...).delete() records the deletions; the objects stay (a finalizer blocks) unless `gone`."""

    def __init__(self, svc, gone=()):
        self.svc, self.gone, self.deleted = svc, set(gone), []

    def resource(self, api_version, kind):
        outer = self

        class R(object):
            namespaced = True

            def delete(self, name, namespace=None, **kw):
                outer.deleted.append((kind, name, kw.get("dry_run")))
                if kind in outer.gone:
                    outer.svc.objects.pop((kind, namespace, name), None)

        return R()


def ref(kind, name):
    return {"api_version": "v1", "kind": kind, "name": name, "namespace": "ns"}


def test_remove_waits_for_the_inference_service_then_deletes_the_rest():
    svc = FakeService({("InferenceService", "ns", "m"): {"metadata": {}}, ("ServingRuntime", "ns", "m"): {}})
    client = DeletingClient(svc, gone=("InferenceService", "ServingRuntime"))
    plan = {"deleted_models": [ref("InferenceService", "m")], "delete": [ref("ServingRuntime", "m")]}
    removed = A.remove(client, svc, plan, timeout=5, check_mode=False)
    assert [r["kind"] for r in removed] == ["InferenceService", "ServingRuntime"]


def test_remove_names_the_finalizer_that_blocks():
    svc = FakeService({("InferenceService", "ns", "m"): {"metadata": {"finalizers": ["odh.inferenceservice.finalizers"]}}})
    client = DeletingClient(svc)
    now = [0.0]

    def clock():
        return now[0]

    def sleep(s):
        now[0] += s

    with pytest.raises(ModelServingError) as e:
        A.remove(client, svc, {"deleted_models": [ref("InferenceService", "m")]}, timeout=3, check_mode=False,
                 clock=clock, sleep=sleep)
    assert "InferenceService ns/m: still there after 3s, blocked by finalizer odh.inferenceservice.finalizers " \
           "(removed by odh-model-controller" in e.value.msg


def test_remove_in_check_mode_is_a_dry_run_and_does_not_wait():
    svc = FakeService({("InferenceService", "ns", "m"): {"metadata": {"finalizers": ["x"]}}})
    client = DeletingClient(svc)
    removed = A.remove(client, svc, {"deleted_models": [ref("InferenceService", "m")]}, timeout=1, check_mode=True)
    assert removed == [ref("InferenceService", "m")] and client.deleted == [("InferenceService", "m", "All")]
