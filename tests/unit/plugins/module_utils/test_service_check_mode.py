"""Check mode predicts a creation the server cannot dry-run yet (kind not served, namespace missing)."""

import copy
import json

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _batch as B
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    InvalidInput,
    ModelServingError,
    ResourceNotFound,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import (
    Service,
    deferred_reason,
    missing_namespace,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException

SMCP = ("maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system")
PATCH = {"spec": {"version": "v2.6", "proxy": {"networking": {"trafficControl": {"inbound": {"excludedPorts": [1]}}}}}}


def ns_missing(name):
    exc = ApiException(status=404, reason="Not Found")
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                           "message": 'namespaces "%s" not found' % name,
                           "details": {"name": name, "kind": "namespaces"}})
    return exc


def unserved(api_version, kind):
    return ResourceNotFound("The cluster does not serve %s %s" % (api_version, kind), api_version=api_version, kind=kind)


class Instance(object):
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return copy.deepcopy(self.obj)


class Resource(object):
    """A served kind holding objects by (namespace, name); ``namespaces`` lists the namespaces that exist."""

    namespaced = True

    def __init__(self, kind, namespaces=(), objects=None, create_error=None):
        self.kind = kind
        self.namespaces = set(namespaces)
        self.objects = dict(objects or {})
        self.create_error = create_error
        self.writes = []

    def get(self, name=None, namespace=None):
        if (namespace, name) not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        return Instance(self.objects[(namespace, name)])

    def create(self, body=None, namespace=None, **kw):
        self.writes.append(("create", body["metadata"]["name"], kw.get("dry_run")))
        if self.create_error is not None:
            raise self.create_error
        if self.namespaced and namespace not in self.namespaces:
            raise ns_missing(namespace)
        new = copy.deepcopy(body)
        new["metadata"].update(resourceVersion="1", uid="uid-" + body["metadata"]["name"])
        if not kw.get("dry_run"):
            self.objects[(namespace, body["metadata"]["name"])] = new
        return Instance(new)


class Client(object):
    """Serves the kinds of ``resources``; any other kind is not served (counted discovery misses)."""

    def __init__(self, *resources):
        self.resources = dict((r.kind, r) for r in resources)
        self.misses = 0

    def resource(self, api_version, kind):
        if kind not in self.resources:
            self.misses += 1
            raise unserved(api_version, kind)
        return self.resources[kind]


def patch(client, check, create=True, name=SMCP[2], namespace=SMCP[3]):
    svc = Service(client, check_mode=check, sleep=lambda s: None)
    return svc.patch(SMCP[0], SMCP[1], name, namespace, patch=PATCH, create=create,
                     list_merge_keys={"spec.proxy.networking.trafficControl.inbound.excludedPorts": "."})


# ----------------------------------------------------------------------- the decision


def test_missing_namespace_reads_the_status_details():
    assert missing_namespace(ns_missing("istio-system")) == "istio-system"
    other = ApiException(status=404, reason="Not Found")
    other.body = json.dumps({"details": {"name": "x", "kind": "configmaps"}})
    assert missing_namespace(other) is None
    assert missing_namespace(ApiException(status=404, reason="Not Found")) is None
    forbidden = ns_missing("istio-system")
    forbidden.status = 403
    assert missing_namespace(forbidden) is None


@pytest.mark.parametrize("check_mode, create, error, expected", [
    (True, True, unserved("maistra.io/v2", "ServiceMeshControlPlane"),
     "kind maistra.io/v2 ServiceMeshControlPlane is not served yet"),
    (True, True, ApiError("no namespace", status=404, missing_namespace="istio-system"),
     "namespace istio-system does not exist yet"),
    # a real run fails as before: the server, not a prediction, decides
    (False, True, unserved("maistra.io/v2", "ServiceMeshControlPlane"), None),
    (False, True, ApiError("no namespace", status=404, missing_namespace="istio-system"), None),
    # an object that must already exist (no create) is not predicted
    (True, False, unserved("maistra.io/v2", "ServiceMeshControlPlane"), None),
    # a missing object, an ambiguous kind, any other refusal: not predicted
    (True, True, ResourceNotFound("x not found", kind="X", name="x"), None),
    (True, True, ResourceNotFound("X is ambiguous"), None),
    (True, True, ApiError("admission webhook denied", status=400), None),
    (True, True, ApiError("forbidden", status=403), None),
])
def test_deferred_reason(check_mode, create, error, expected):
    assert deferred_reason(check_mode, create, error) == expected


@pytest.mark.parametrize("check_mode, error, expected", [
    (True, unserved("apps/v1", "Deployment"), "kind apps/v1 Deployment is not served yet (the operator provides it)"),
    (True, ResourceNotFound("gone", kind="Deployment", name="authorino", namespace="redhat-ods-applications-auth-provider"),
     "Deployment redhat-ods-applications-auth-provider/authorino does not exist yet (the operator creates it)"),
    # a real run still fails on a missing object: the role waits for it first
    (False, ResourceNotFound("gone", kind="Deployment", name="authorino", namespace="ns"), None),
    # an ambiguous kind or a refusal is not predicted
    (True, ResourceNotFound("X is ambiguous"), None),
    (True, ApiError("forbidden", status=403), None),
])
def test_deferred_reason_for_an_object_someone_else_creates(check_mode, error, expected):
    assert deferred_reason(check_mode, False, error, provided_by="the operator") == expected


# ----------------------------------------------------------------------- Service.patch


def test_check_mode_predicts_a_kind_not_served_yet():
    client = Client()
    out = patch(client, check=True)
    assert out.changed and out.method == "create" and out.before is None
    assert out.deferred == "kind maistra.io/v2 ServiceMeshControlPlane is not served yet"
    assert out.after == {"apiVersion": SMCP[0], "kind": SMCP[1], "metadata": {"name": SMCP[2], "namespace": SMCP[3]},
                         "spec": PATCH["spec"]}
    assert out.diff() == {"before": {}, "after": out.after}


def test_without_check_mode_or_create_a_kind_not_served_still_fails():
    with pytest.raises(ResourceNotFound, match="does not serve maistra.io/v2 ServiceMeshControlPlane"):
        patch(Client(), check=False)
    with pytest.raises(ResourceNotFound, match="does not serve"):
        patch(Client(), check=True, create=False)


def test_check_mode_predicts_an_object_in_a_namespace_not_created_yet():
    res = Resource(SMCP[1])
    out = patch(Client(res), check=True)
    assert res.writes == [("create", SMCP[2], "All")], "the server is asked first"
    assert out.changed and out.method == "create" and out.deferred == "namespace istio-system does not exist yet"
    assert out.after["metadata"] == {"name": SMCP[2], "namespace": SMCP[3]} and res.objects == {}
    assert out.diff()["before"] == {}


def test_a_missing_namespace_still_fails_a_real_run_with_the_server_message():
    res = Resource(SMCP[1])
    with pytest.raises(ApiError, match='namespaces "istio-system" not found') as err:
        patch(Client(res), check=False)
    assert err.value.details["missing_namespace"] == "istio-system"
    assert res.writes == [("create", SMCP[2], None)]


def test_check_mode_in_an_existing_namespace_is_the_server_dry_run():
    res = Resource(SMCP[1], namespaces=[SMCP[3]])
    out = patch(Client(res), check=True)
    assert out.changed and out.deferred is None and out.after["metadata"]["uid"] == "uid-" + SMCP[2]
    assert res.objects == {}


def test_check_mode_still_fails_on_other_refusals():
    refused = ApiException(status=400, reason="Bad Request")
    refused.body = json.dumps({"message": "admission webhook denied the request"})
    with pytest.raises(ApiError, match="admission webhook denied"):
        patch(Client(Resource(SMCP[1], create_error=refused)), check=True)


def test_bad_merge_arguments_are_refused_before_discovery():
    client = Client()
    svc = Service(client, check_mode=True)
    with pytest.raises(InvalidInput):
        svc.patch(SMCP[0], SMCP[1], SMCP[2], SMCP[3], patch={}, create=True, remove_entries={"spec.x": ["a"]})
    assert client.misses == 0


def test_check_mode_looks_a_kind_up_once_per_run():
    client = Client()
    svc = Service(client, check_mode=True)
    for name in ("a", "b", "c"):
        assert svc.patch(SMCP[0], SMCP[1], name, SMCP[3], patch={}, create=True).deferred
    assert client.misses == 1


# ----------------------------------------------------------------------- resources_patch (_batch)


def entry(kind, name, stage, namespace="ns", **kw):
    e = {"api_version": "v1", "kind": kind, "name": name, "namespace": namespace, "patch": {"data": {"k": name}},
         "create": True, "stage": stage}
    e.update(kw)
    return e


def test_batch_check_mode_on_an_empty_cluster():
    """A namespace (dry-run), an object in it, an object of a kind not served and one it owns: all predicted."""
    namespaces = Resource("Namespace")
    namespaces.namespaced = False
    client = Client(namespaces, Resource("ConfigMap"))
    svc = Service(client, check_mode=True)
    entries = [entry("Namespace", "ns", 0, namespace=None), entry("ConfigMap", "cm", 1),
               entry("Widget", "w", 1, api_version="example.com/v1"),
               entry("ConfigMap", "owned", 2, owner={"api_version": "example.com/v1", "kind": "Widget", "name": "w"})]
    res = B.patch_staged(client, svc, entries, workers=2, want_diff=True, return_objects=True)
    assert [r.get("failed") for r in res] == [None] * 4, res
    assert [r["changed"] for r in res] == [True] * 4
    assert "deferred" not in res[0] and res[0]["result"]["metadata"]["uid"] == "uid-ns"
    assert res[1]["deferred"] == "namespace ns does not exist yet"
    assert res[2]["deferred"] == "kind example.com/v1 Widget is not served yet"
    assert res[3]["deferred"] == "its owner Widget w would be created first"
    assert res[1]["diff"] == {"before": {}, "after": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "cm"},
                                                      "metadata": {"name": "cm", "namespace": "ns"}}}
    assert namespaces.objects == {}


def test_batch_without_check_mode_a_kind_not_served_fails_the_module():
    client = Client(Resource("ConfigMap", namespaces=["ns"]))
    with pytest.raises(ResourceNotFound, match="Widget"):
        B.patch_staged(client, Service(client), [entry("Widget", "w", 0, api_version="example.com/v1")])


def test_batch_replace_maps_reach_the_service():
    live = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "3"},
            "spec": {"selector": {"old": "x", "app": "a"}}}
    res = Resource("Service", namespaces=["ns"], objects={("ns", "s"): live})
    sent = []
    res.patch = lambda body=None, **kw: (sent.append(body), Instance(live))[1]
    client = Client(res)
    B.patch_staged(client, Service(client, check_mode=True), [
        entry("Service", "s", 0, patch={"spec": {"selector": {"app": "a"}}}, replace_maps=["spec.selector"])])
    assert sent[0]["spec"] == {"selector": {"old": None}}


def test_manifest_entries_write_in_the_order_given_with_keys_by_kind():
    manifests = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}},
                 {"apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway", "metadata": {"name": "g", "namespace": "ns"},
                  "spec": {"servers": []}}]
    entries = B.manifest_entries(manifests, {"Gateway": {"spec.servers": "port.name"}}, {"Gateway": ["spec.selector"]})
    assert entries == [
        {"api_version": "v1", "kind": "Namespace", "name": "ns", "patch": manifests[0], "create": True, "stage": 0,
         "list_merge_keys": {}, "replace_maps": []},
        {"api_version": "networking.istio.io/v1beta1", "kind": "Gateway", "name": "g", "namespace": "ns",
         "patch": manifests[1], "create": True, "stage": 1, "list_merge_keys": {"spec.servers": "port.name"},
         "replace_maps": ["spec.selector"]}]
    with pytest.raises(ModelServingError, match="manifest 0 has no kind"):
        B.manifest_entries([{"metadata": {"name": "x"}}])


def test_provided_by_predicts_the_patch_of_an_object_not_created_yet_in_check_mode_only():
    svc = Service(Client(Resource("ServiceMeshControlPlane", namespaces=["istio-system"])), check_mode=True,
                  sleep=lambda s: None)
    out = svc.patch(SMCP[0], SMCP[1], SMCP[2], SMCP[3], patch=PATCH, provided_by="the service_mesh role")
    assert out.changed and out.method == "patch" and out.before is None
    assert out.deferred == "ServiceMeshControlPlane istio-system/data-science-smcp does not exist yet " \
                           "(the service_mesh role creates it)"
    assert out.after["spec"] == PATCH["spec"]
    unserved_kind = Service(Client(), check_mode=True, sleep=lambda s: None).patch(
        SMCP[0], SMCP[1], SMCP[2], SMCP[3], patch=PATCH, provided_by="the service_mesh role")
    assert unserved_kind.changed and unserved_kind.method == "patch"
    assert unserved_kind.deferred.startswith("kind maistra.io/v2 ServiceMeshControlPlane is not served yet")
    real = Service(Client(Resource("ServiceMeshControlPlane", namespaces=["istio-system"])), check_mode=False,
                   sleep=lambda s: None)
    with pytest.raises(ResourceNotFound, match="not found"):
        real.patch(SMCP[0], SMCP[1], SMCP[2], SMCP[3], patch=PATCH, provided_by="the service_mesh role")


@pytest.mark.parametrize("check_mode", [False, True])
def test_batch_if_missing_skip_reports_an_object_someone_else_creates(check_mode):
    """An entry with if_missing=skip whose object (or kind) does not exist writes nothing and is reported
    missing, in a real run as in check mode; the other entries are written."""
    client = Client(Resource("ConfigMap", namespaces=["ns"]), Resource("Deployment", namespaces=["ns"]))
    entries = [entry("ConfigMap", "cm", 0),
               entry("Deployment", "later", 1, create=False, if_missing="skip"),
               entry("Widget", "w", 1, api_version="example.com/v1", create=False, if_missing="skip")]
    res = B.patch_staged(client, Service(client, check_mode=check_mode), entries)
    assert [r.get("failed") for r in res] == [None] * 3, res
    assert res[0]["changed"] is True and "missing" not in res[0]
    assert [(r["changed"], r["method"], r.get("missing")) for r in res[1:]] == [(False, "none", True)] * 2
    assert client.resources["Deployment"].writes == []


def test_batch_if_missing_is_ignored_by_an_entry_that_creates_its_object():
    client = Client(Resource("ConfigMap", namespaces=["ns"]))
    res = B.patch_staged(client, Service(client), [entry("ConfigMap", "cm", 0, if_missing="skip")])
    assert res[0]["changed"] is True and res[0]["method"] == "create" and "missing" not in res[0]


def test_manifest_entries_from_a_first_stage_and_in_one_stage():
    manifests = [{"kind": "ConfigMap", "metadata": {"name": n, "namespace": "ns"}} for n in ("a", "b")]
    assert [e["stage"] for e in B.manifest_entries(manifests, first_stage=3)] == [3, 4]
    assert [e["stage"] for e in B.manifest_entries(manifests, first_stage=3, one_stage=True)] == [3, 3]
