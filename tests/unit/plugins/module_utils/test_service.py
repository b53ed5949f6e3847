"""Keyed merge, diffs and the write decisions of the service layer (no cluster)."""

import copy
import json

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _service
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    InvalidInput,
    ResourceNotFound,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import (
    PatchResult,
    Service,
    keyed_merge,
    merge_patch_between,
    recursive_diff,
    redact,
    split_path,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException

PROVIDERS = "spec.techPreview.meshConfig.extensionProviders"
KEYS = {PROVIDERS: "name"}


def smcp(*providers, **meta):
    metadata = {"name": "data-science-smcp", "namespace": "istio-system", "resourceVersion": "10"}
    metadata.update(meta)
    return {
        "apiVersion": "maistra.io/v2",
        "kind": "ServiceMeshControlPlane",
        "metadata": metadata,
        "spec": {"version": "v2.6", "techPreview": {"meshConfig": {"extensionProviders": list(providers)}}},
    }


def provider(name, port=50051):
    return {"name": name, "envoyExtAuthzGrpc": {"service": "%s.svc" % name, "port": port}}


def providers_patch(*providers):
    return {"spec": {"techPreview": {"meshConfig": {"extensionProviders": list(providers)}}}}


def names(obj):
    return [p["name"] for p in obj["spec"]["techPreview"]["meshConfig"]["extensionProviders"]]


# --------------------------------------------------------------------------- keyed merge


def test_second_provider_keeps_first():
    live = smcp(provider("tracing"))
    merged = keyed_merge(live, providers_patch(provider("authorino")), KEYS)
    assert names(merged) == ["tracing", "authorino"]
    assert merged["spec"]["version"] == "v2.6"
    assert live == smcp(provider("tracing")), "input must not be modified"


def test_without_keys_the_list_is_replaced():
    merged = keyed_merge(smcp(provider("tracing")), providers_patch(provider("authorino")))
    assert names(merged) == ["authorino"]


def test_readding_is_no_change():
    live = smcp(provider("tracing"), provider("authorino"))
    merged = keyed_merge(live, providers_patch(provider("authorino")), KEYS)
    assert merged == live
    assert not _service.objects_differ(live, merged)


def test_matching_entry_is_merged_in_place():
    live = smcp(provider("a"), provider("b"), provider("c"))
    merged = keyed_merge(live, providers_patch(provider("b", port=9000)), KEYS)
    assert names(merged) == ["a", "b", "c"]
    assert merged["spec"]["techPreview"]["meshConfig"]["extensionProviders"][1]["envoyExtAuthzGrpc"]["port"] == 9000


def test_remove_by_key():
    live = smcp(provider("a"), provider("b"))
    merged = keyed_merge(live, {}, KEYS, {PROVIDERS: ["a", "absent"]})
    assert names(merged) == ["b"]
    assert keyed_merge(merged, {}, KEYS, {PROVIDERS: ["a"]}) == merged


def test_remove_needs_a_key_field():
    with pytest.raises(InvalidInput, match="not in list_merge_keys"):
        keyed_merge(smcp(), {}, {}, {PROVIDERS: ["a"]})


def test_keyed_entry_without_key_is_refused():
    with pytest.raises(InvalidInput, match="key field 'name'"):
        keyed_merge(smcp(), providers_patch({"envoyExtAuthzGrpc": {}}), KEYS)


def test_missing_list_and_parents_are_created():
    live = {"kind": "X", "metadata": {"name": "x"}}
    merged = keyed_merge(live, providers_patch(provider("a")), KEYS)
    assert names(merged) == ["a"]


def test_none_deletes_and_labels_are_kept():
    live = {"metadata": {"name": "x", "labels": {"mine": "1"}, "annotations": {"keep": "me"}}, "data": {"a": "1", "b": "2"}}
    merged = keyed_merge(live, {"metadata": {"labels": {"ours": "2"}}, "data": {"a": None, "c": "3"}})
    assert merged["metadata"]["labels"] == {"mine": "1", "ours": "2"}
    assert merged["metadata"]["annotations"] == {"keep": "me"}
    assert merged["data"] == {"b": "2", "c": "3"}


def test_nested_keyed_lists():
    keys = {"spec.servers": "name", "spec.servers.ports": "port"}
    live = {"spec": {"servers": [{"name": "s", "ports": [{"port": 1, "x": 1}]}]}}
    merged = keyed_merge(live, {"spec": {"servers": [{"name": "s", "ports": [{"port": 2}]}]}}, keys)
    assert merged["spec"]["servers"][0]["ports"] == [{"port": 1, "x": 1}, {"port": 2}]


def test_split_path_escapes_dots():
    assert split_path("metadata.annotations.a\\.b/c") == ["metadata", "annotations", "a.b/c"]
    with pytest.raises(InvalidInput):
        keyed_merge({}, {}, {"spec..x": "name"})


# --------------------------------------------------------------------------- diffs


def test_merge_patch_between_sends_only_changes_and_whole_lists():
    live = smcp(provider("a"))
    desired = keyed_merge(live, providers_patch(provider("b")), KEYS)
    body = merge_patch_between(live, desired)
    assert body == {"spec": {"techPreview": {"meshConfig": {"extensionProviders": [provider("a"), provider("b")]}}}}
    assert merge_patch_between({"a": 1, "b": 2}, {"a": 1}) == {"b": None}


def test_recursive_diff_is_minimal():
    assert recursive_diff({"a": 1}, {"a": 1}) is None
    before, after = recursive_diff({"a": 1, "b": {"c": 1, "d": 2}}, {"a": 1, "b": {"c": 2, "d": 2}})
    assert before == {"b": {"c": 1}} and after == {"b": {"c": 2}}


def test_volatile_metadata_is_not_a_change():
    a = smcp(provider("a"))
    b = copy.deepcopy(a)
    b["metadata"].update(resourceVersion="11", generation=3, managedFields=[{"manager": "x"}])
    assert not _service.objects_differ(a, b)


def test_redact_secret():
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"tls.key": "c2VjcmV0"}, "stringData": {"k": "v"}}
    out = redact(secret)
    assert "c2VjcmV0" not in json.dumps(out) and '"v"' not in json.dumps(out)
    assert secret["data"]["tls.key"] == "c2VjcmV0"
    diff = PatchResult(True, secret, dict(secret, data={"tls.key": "bmV3"}), "patch").diff()
    assert "bmV3" not in json.dumps(diff) and "c2VjcmV0" not in json.dumps(diff)


# --------------------------------------------------------------------------- Service with a fake API


class FakeInstance(object):
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return copy.deepcopy(self.obj)


class FakeResource(object):
    """In-memory stand-in for a kubernetes.dynamic Resource holding one object."""

    namespaced = True

    def __init__(self, obj=None, conflicts=0):
        self.obj = copy.deepcopy(obj)
        self.calls = []
        self.conflicts = conflicts

    def get(self, name=None, namespace=None):
        self.calls.append(("get", name, namespace))
        if self.obj is None:
            raise ApiException(status=404, reason="Not Found")
        return FakeInstance(self.obj)

    def _apply(self, body, dry_run):
        new = keyed_merge(self.obj, body)
        new["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)
        if not dry_run:
            self.obj = new
        return FakeInstance(new)

    def patch(self, body=None, name=None, namespace=None, content_type=None, **kw):
        self.calls.append(("patch", body, kw))
        assert content_type == "application/merge-patch+json"
        if self.conflicts:
            self.conflicts -= 1
            self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)
            raise ApiException(status=409, reason="Conflict")
        assert body["metadata"]["resourceVersion"] == self.obj["metadata"]["resourceVersion"]
        return self._apply(body, kw.get("dry_run"))

    def create(self, body=None, namespace=None, **kw):
        self.calls.append(("create", body, kw))
        new = copy.deepcopy(body)
        new["metadata"]["resourceVersion"] = "1"
        if not kw.get("dry_run"):
            self.obj = new
        return FakeInstance(new)


class FakeClient(object):
    def __init__(self, resource):
        self._resource = resource

    def resource(self, api_version, kind):
        if self._resource is None:
            raise ResourceNotFound("The cluster does not serve %s %s" % (api_version, kind), kind=kind)
        return self._resource


def patch_smcp(res, check=False, **kw):
    args = dict(patch=providers_patch(provider("authorino")), list_merge_keys=KEYS)
    args.update(kw)
    svc = Service(FakeClient(res), check_mode=check, sleep=lambda s: None)
    return svc.patch("maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system", **args)


def writes(res):
    return [c for c in res.calls if c[0] in ("patch", "create")]


def test_service_adds_then_no_write_on_rerun():
    res = FakeResource(smcp(provider("tracing")))
    first = patch_smcp(res)
    assert first.changed and first.method == "patch"
    assert names(res.obj) == ["tracing", "authorino"]
    assert writes(res)[0][2]["field_manager"] == _service.FIELD_MANAGER
    res.calls = []
    second = patch_smcp(res)
    assert second.changed is False and second.method == "none"
    assert writes(res) == []


def test_service_check_mode_is_a_dry_run():
    res = FakeResource(smcp(provider("tracing")))
    out = patch_smcp(res, check=True)
    assert out.changed
    assert writes(res)[0][2]["dry_run"] == "All"
    assert names(res.obj) == ["tracing"]
    assert out.diff()["after"]["spec"]["techPreview"]["meshConfig"]["extensionProviders"][-1]["name"] == "authorino"


def test_service_retries_conflicts_on_fresh_reads():
    res = FakeResource(smcp(provider("tracing")), conflicts=2)
    out = patch_smcp(res)
    assert out.changed and names(res.obj) == ["tracing", "authorino"]
    assert len([c for c in res.calls if c[0] == "get"]) == 3


def test_service_gives_up_after_repeated_conflicts():
    res = FakeResource(smcp(provider("tracing")), conflicts=99)
    with pytest.raises(ApiError, match="still conflicting"):
        patch_smcp(res)


def test_service_missing_object_is_named():
    with pytest.raises(ResourceNotFound, match="ServiceMeshControlPlane istio-system/data-science-smcp not found"):
        patch_smcp(FakeResource(None))


def test_service_missing_kind_is_named():
    with pytest.raises(ResourceNotFound, match="ServiceMeshControlPlane"):
        patch_smcp(None)


def test_service_creates_when_asked():
    res = FakeResource(None)
    out = patch_smcp(res, create=True)
    assert out.changed and out.method == "create"
    assert res.obj["metadata"] == {"name": "data-science-smcp", "namespace": "istio-system", "resourceVersion": "1"}
    assert res.obj["kind"] == "ServiceMeshControlPlane" and names(res.obj) == ["authorino"]


def test_service_create_in_check_mode_stores_nothing():
    res = FakeResource(None)
    out = patch_smcp(res, check=True, create=True)
    assert out.changed and res.obj is None
    assert writes(res)[0][2]["dry_run"] == "All"


def test_service_refuses_bad_input_before_any_request():
    res = FakeResource(smcp())
    with pytest.raises(InvalidInput):
        patch_smcp(res, remove_entries={"spec.other": ["x"]})
    assert res.calls == []


def test_dotted_key_field_keeps_other_gateway_servers():
    live = {"spec": {"servers": [
        {"port": {"name": "https", "number": 443}, "hosts": ["*"], "tls": {"mode": "SIMPLE", "credentialName": "old"}},
        {"port": {"name": "http-redirect", "number": 80}, "hosts": ["*"]},
    ]}}
    patch = {"spec": {"servers": [{"port": {"name": "https", "number": 443}, "hosts": ["*"],
                                   "tls": {"mode": "SIMPLE", "credentialName": "wildcard-certs"}}]}}
    merged = keyed_merge(live, patch, {"spec.servers": "port.name"})
    assert [s["port"]["name"] for s in merged["spec"]["servers"]] == ["https", "http-redirect"]
    assert merged["spec"]["servers"][0]["tls"]["credentialName"] == "wildcard-certs"
    removed = keyed_merge(live, {}, {"spec.servers": "port.name"}, {"spec.servers": ["http-redirect"]})
    assert [s["port"]["name"] for s in removed["spec"]["servers"]] == ["https"]
