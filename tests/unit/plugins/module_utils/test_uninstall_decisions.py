"""Pure decisions of the uninstall (module resources_delete): ownership, selection, steps, blocking finalizers."""

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _uninstall as U


def obj(kind="Secret", name="s", ns="p", labels=None, annotations=None, managers=(), finalizers=None, deleting=False,
        status=None, spec=None):
    md = {"name": name, "labels": labels or {}, "annotations": annotations or {},
          "managedFields": [{"manager": m, "operation": "Update"} for m in managers]}
    if ns:
        md["namespace"] = ns
    if finalizers:
        md["finalizers"] = list(finalizers)
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    out = {"apiVersion": "v1", "kind": kind, "metadata": md}
    if status is not None:
        out["status"] = status
    if spec is not None:
        out["spec"] = spec
    return out


def test_owned_by_label_or_field_manager_only():
    assert U.owned(obj(labels={U.MANAGED_BY_LABEL: U.MANAGED_BY})).startswith("label")
    assert U.owned(obj(managers=["kubectl", "openshift-ai-model-serving"])).startswith("field manager")
    assert U.owned(obj(managers=["kubectl"])) is None
    # a status-subresource entry of our manager does not make the object ours
    o = obj()
    o["metadata"]["managedFields"] = [{"manager": "openshift-ai-model-serving", "subresource": "status"}]
    assert U.owned(o) is None


def test_selected_keeps_user_objects_provided_certificates_and_data_connections():
    ours = dict(managers=["openshift-ai-model-serving"])
    assert U.selected(obj(**ours), {}) == (True, None)
    ok, why = U.selected(obj(managers=["kubectl"]), {})
    assert not ok and "not written by this collection" in why
    assert U.selected(obj(managers=["kubectl"]), {"ownership": "any"}) == (True, None)
    src = "model-serving.openshift-ai.io/certificate-source"
    ok, why = U.selected(obj(annotations={src: "provided"}, **ours), {"annotations": {src: "generated"}})
    assert not ok and "provided" in why
    assert U.selected(obj(annotations={src: "generated"}, **ours), {"annotations": {src: "generated"}})[0]
    ok, why = U.selected(obj(annotations={"opendatahub.io/connection-type": "s3"}, **ours),
                         {"keep_annotations": ["opendatahub.io/connection-type"]})
    assert not ok and "connection-type" in why


def test_blocked_message_names_the_finalizers():
    msg = U.blocked_message(obj(kind="InferenceService", name="m", finalizers=["a.io/x", "b.io/y"], deleting=True))
    assert msg.startswith("InferenceService p/m is held by finalizer(s) a.io/x, b.io/y")
    assert "was not deleted" in U.blocked_message(obj())
    ns = obj(kind="Namespace", name="n", ns=None, deleting=True, spec={"finalizers": ["kubernetes"]},
             status={"conditions": [{"type": "NamespaceFinalizersRemaining", "status": "True",
                                     "message": "Some content in the namespace has finalizers remaining"}]})
    assert "Namespace n is being deleted: Some content" in U.blocked_message(ns)


def test_list_without_keeps_the_other_entries():
    kept, removed = U.list_without([{"name": "a"}, {"name": "ours"}, {"name": "b"}], "name", ["ours"])
    assert kept == [{"name": "a"}, {"name": "b"}] and removed == ["ours"]
    assert U.nested("spec.meshConfig.extensionProviders", []) == {"spec": {"meshConfig": {"extensionProviders": []}}}


def test_installed_csvs_come_from_subscription_status_only():
    subs = [obj(kind="Subscription", name="rhods-operator", ns="redhat-ods-operator",
                status={"installedCSV": "rhods-operator.v2.19.1", "currentCSV": "rhods-operator.v2.20.0"}),
            obj(kind="Subscription", name="pending", ns="x", status={}),
            obj(kind="Namespace", name="n", ns=None)]
    assert U.installed_csvs(subs) == [("redhat-ods-operator", "rhods-operator.v2.19.1")]
    csv = {"spec": {"customresourcedefinitions": {"owned": [{"name": "a.x.io"}, {"name": "b.x.io"}]}}}
    assert U.owned_crds([csv, csv]) == ["a.x.io", "b.x.io"]


def test_steps_run_in_ascending_order_with_their_entry_removals():
    params = {"resources": [{"kind": "B", "step": 2}, {"kind": "A", "step": 1}, {"kind": "C"}],
              "remove_entries": [{"kind": "S", "step": 2}]}
    steps = U.steps_of(params)
    assert [n for n, _e, _r in steps] == [0, 1, 2]
    assert [e["kind"] for e in steps[2][1]] == ["B"] and [r["kind"] for r in steps[2][2]] == ["S"]


def test_name_suffixes_select_the_crds_of_a_group():
    crd = obj(kind="CustomResourceDefinition", name="inferenceservices.serving.kserve.io", ns=None)
    assert U.selected(crd, {"ownership": "any", "name_suffixes": [".serving.kserve.io"]}) == (True, None)
    ok, why = U.selected(crd, {"ownership": "any", "name_suffixes": [".serving.knative.dev"]})
    assert not ok and "name does not end with" in why


def test_blocked_message_explains_a_foreground_deletion():
    msg = U.blocked_message(obj(kind="InferenceService", name="m", finalizers=["foregroundDeletion"], deleting=True))
    assert "foregroundDeletion (the objects it owns are still being deleted)" in msg, msg


def test_a_kind_not_listed_yet_keeps_the_deletion_open_and_is_named():
    kinds = [("v1", "Secret"), ("v1", "ServiceAccount")]
    groups = {("v1", "Secret"): {("p", "s")}, ("v1", "ServiceAccount"): {("p", "sa")}}
    held = obj(name="s", finalizers=["example.com/hold"], deleting=True)
    # the Secret's list came (it is still there), the ServiceAccount's did not
    left, unlisted = U.still_present(kinds, groups, [[held, obj(name="other")], None])
    assert list(left) == [U.key_of(held)] and unlisted == [("v1", "ServiceAccount")]
    outcome = U.deletion_outcome(left, unlisted, 2)
    assert not outcome.done and not outcome.failed
    assert outcome.message == "Secret p/s is held by finalizer(s) example.com/hold (deletion requested at " \
        "2026-01-01T00:00:00Z); listing ServiceAccount"
    # every list in and nothing deleted left: done, whatever else the namespace holds
    left, unlisted = U.still_present(kinds, groups, [[obj(name="other")], []])
    assert (left, unlisted) == ({}, [])
    assert U.deletion_outcome(left, unlisted, 2).done
