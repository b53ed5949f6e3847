# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deletion of what the collection created, with watched finalizer waits (module resources_delete).

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

Which objects are the collection's: every write of the collection goes through ``_service`` with
the field manager ``openshift-ai-model-serving``, so an object the collection wrote carries a
``metadata.managedFields`` entry of that manager; the objects built from plans also carry the
label ``app.kubernetes.io/managed-by=openshift_ai.model_serving``. A selector entry with
``ownership: collection`` only deletes objects with one of the two marks; ``ownership: any``
deletes what the selector names (objects the operators generated for the collection's install,
for example namespaces labelled ``opendatahub.io/generated-namespace=true``).

The decisions (``owned``, ``selected``, ``blocked_message``, ``list_without``, ``still_present``,
``deletion_outcome``) are pure functions
on plain dicts, unit-tested without a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    InvalidInput,
    ResourceNotFound,
    WaitTimeout,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import (
    FIELD_MANAGER,
    ApiException,
    MERGE_PATCH,
    api_error,
    describe,
    split_path,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import Outcome
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._waiter import Deadline, MultiWaiter, Waiter


MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "openshift_ai.model_serving"
CSV_KIND = ("operators.coreos.com/v1alpha1", "ClusterServiceVersion")
CRD_KIND = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")


# --------------------------------------------------------------------------- pure decisions


def owned(obj, field_manager=FIELD_MANAGER):
    """Why ``obj`` counts as written by the collection ("label" or "field manager"), or None."""
    meta = obj.get("metadata") or {}
    if (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY:
        return "label %s=%s" % (MANAGED_BY_LABEL, MANAGED_BY)
    for entry in meta.get("managedFields") or []:
        if isinstance(entry, dict) and entry.get("manager") == field_manager and not entry.get("subresource"):
            return "field manager %s" % field_manager
    return None


def selected(obj, entry):
    """(delete?, reason kept) for one listed object and its selector entry."""
    meta = obj.get("metadata") or {}
    suffixes = entry.get("name_suffixes")
    if suffixes and not any((meta.get("name") or "").endswith(x) for x in suffixes):
        return False, "name does not end with %s" % " or ".join(suffixes)
    annotations = meta.get("annotations") or {}
    for key, value in sorted((entry.get("annotations") or {}).items()):
        if annotations.get(key) != value:
            return False, "annotation %s is %r, not %r" % (key, annotations.get(key), value)
    for key in entry.get("keep_annotations") or []:
        if key in annotations:
            return False, "it carries the annotation %s (%s)" % (key, annotations[key])
    if entry.get("ownership", "collection") == "collection" and not owned(obj):
        return False, "not written by this collection (no %s=%s label, no %s field manager)" % (
            MANAGED_BY_LABEL, MANAGED_BY, FIELD_MANAGER)
    return True, None


def key_of(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


def ref(obj):
    meta = obj.get("metadata") or {}
    out = dict(api_version=obj.get("apiVersion"), kind=obj.get("kind"), name=meta.get("name"))
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    return out


def text(obj):
    meta = obj.get("metadata") or {}
    return describe(obj.get("kind"), meta.get("name"), meta.get("namespace"))


FOREGROUND = "foregroundDeletion"


def blocked_message(obj, now_text=None):
    """Why ``obj`` is still there: its finalizers (the usual cause) or that deletion did not start."""
    meta = obj.get("metadata") or {}
    finalizers = meta.get("finalizers") or []
    if obj.get("kind") == "Namespace" and not finalizers:
        finalizers = (obj.get("spec") or {}).get("finalizers") or []
        conds = [c.get("message") for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("status") == "True" and c.get("message")]
        if conds:
            return "%s is being deleted: %s" % (text(obj), "; ".join(conds))
    if finalizers:
        return "%s is held by finalizer(s) %s%s" % (
            text(obj), ", ".join(f + (" (the objects it owns are still being deleted)" if f == FOREGROUND else "")
                                 for f in finalizers),
            " (deletion requested at %s)" % meta["deletionTimestamp"] if meta.get("deletionTimestamp") else "")
    if not meta.get("deletionTimestamp"):
        return "%s was not deleted (no deletionTimestamp)" % text(obj)
    return "%s is being deleted (deletionTimestamp %s, no finalizer left)" % (text(obj), meta["deletionTimestamp"])


def list_without(items, key, values):
    """``items`` without the entries whose ``key`` field is in ``values``; (kept, removed names)."""
    kept, removed = [], []
    for item in items or []:
        if isinstance(item, dict) and item.get(key) in values:
            removed.append(item.get(key))
        else:
            kept.append(item)
    return kept, removed


def still_present(kinds, groups, states):
    """Which deleted objects the listed ``states`` (one per kind, None before its first list) still
    hold: ({key: object}, [kinds not listed yet])."""
    left, unlisted = {}, []
    for (api_version, kind), state in zip(kinds, states):
        if state is None:
            unlisted.append((api_version, kind))
            continue
        for obj in state:
            meta = obj.get("metadata") or {}
            if ((meta.get("namespace") or ""), meta.get("name")) in groups[(api_version, kind)]:
                left[key_of(obj)] = obj
    return left, unlisted


def deletion_outcome(left, unlisted, total):
    """The wait's verdict: done when every kind is listed and nothing deleted is left."""
    reasons = [blocked_message(o) for o in sorted(left.values(), key=key_of)]
    if unlisted:
        reasons.append("listing %s" % ", ".join(kind for _api_version, kind in unlisted))
    if reasons:
        return Outcome(False, "; ".join(reasons))
    return Outcome(True, "%d object(s) deleted" % total)


def nested(path, value):
    """``{"a": {"b": value}}`` for path ``a.b``."""
    out = value
    for part in reversed(split_path(path)):
        out = {part: out}
    return out


def get_path(obj, path):
    cur = obj
    for part in split_path(path):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


# --------------------------------------------------------------------------- cluster side


class Deleter(object):
    """Find, delete and wait. ``check_mode`` lists and sends deletes as server dry runs."""

    def __init__(self, client, check_mode=False, clock=time.monotonic):
        self.client = client
        self.check_mode = check_mode
        self.clock = clock
        self.kept = []

    def _resource(self, api_version, kind):
        try:
            return self.client.resource(api_version, kind)
        except ResourceNotFound:
            return None  # kind not served: its CRD is gone, so none of its objects exist

    def _read(self, resource, api_version, kind, name=None, namespace=None, label_selector=None):
        namespace = namespace if resource.namespaced else None
        try:
            if name:
                items = [resource.get(name=name, namespace=namespace).to_dict()]
            else:
                kwargs = {"label_selector": label_selector} if label_selector else {}
                items = resource.get(namespace=namespace, **kwargs).to_dict().get("items") or []
        except ApiException as e:
            if e.status == 404:
                return []
            raise api_error(e, "read", describe(kind, name or label_selector or "(all)", namespace))
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def find(self, entries):
        """(object, entry) the entries select, in entry order, without duplicates."""
        found, seen = [], set()
        for entry in entries:
            api_version, kind = entry["api_version"], entry["kind"]
            if not (entry.get("name") or entry.get("label_selector") or entry.get("namespace") or entry.get("name_suffixes")):
                raise InvalidInput("resources: %s needs a name, a label_selector, a namespace or name_suffixes" % kind)
            resource = self._resource(api_version, kind)
            if resource is None:
                continue
            for obj in self._read(resource, api_version, kind, entry.get("name"), entry.get("namespace"),
                                  entry.get("label_selector")):
                ok, why = selected(obj, entry)
                if ok and entry.get("unless_holding") and kind == "Namespace":
                    why = self.holding(obj["metadata"]["name"], entry["unless_holding"])
                    ok = why is None
                if not ok:
                    if entry.get("name") or entry.get("label_selector"):  # a namespace-wide scan reports no noise
                        self.kept.append(dict(ref(obj), reason=why))
                    continue
                if key_of(obj) not in seen:
                    seen.add(key_of(obj))
                    found.append((obj, entry))
        return found

    def holding(self, namespace, kinds):
        """Why the namespace must stay (it holds objects of ``kinds``, user data), or None."""
        for spec in kinds:
            api_version, kind = spec.rsplit("/", 1) if "/" in spec else ("v1", spec)
            resource = self._resource(api_version, kind)
            if resource is None:
                continue
            items = self._read(resource, api_version, kind, namespace=namespace)
            if items:
                return "it holds %s %s (user data)" % (kind, ", ".join(sorted(i["metadata"]["name"] for i in items)))
        return None

    def patch(self, obj, patch):
        """Merge patch sent before the delete (for example DSC components set to Removed)."""
        resource = self._resource(obj["apiVersion"], obj["kind"])
        params = {"field_manager": FIELD_MANAGER, "content_type": MERGE_PATCH}
        if self.check_mode:
            params["dry_run"] = "All"
        meta = obj["metadata"]
        try:
            resource.patch(body=patch, name=meta["name"], namespace=meta.get("namespace") if resource.namespaced else None,
                           **params)
        except ApiException as e:
            if e.status != 404:
                raise api_error(e, "patch", text(obj))

    def delete(self, obj, propagation="Background"):
        meta = obj["metadata"]
        resource = self._resource(obj["apiVersion"], obj["kind"])
        if resource is None:
            return False
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if self.check_mode:
            body["dryRun"] = ["All"]
        try:
            resource.delete(name=meta["name"], namespace=meta.get("namespace") if resource.namespaced else None,
                            body=body)
        except ApiException as e:
            if e.status == 404:
                return False
            raise api_error(e, "delete", text(obj))
        return True

    def wait_gone(self, objects, timeout):
        """Watch until none of ``objects`` exists; on timeout name each one left and what holds it.

        A kind whose list had not arrived by the deadline (a slow API server) is settled by reading
        its objects one by one: the ones found are reported with what holds them, and when none is
        left the deletion is done after all."""
        if not objects or self.check_mode:
            return 0.0
        groups = {}
        for obj in objects:
            groups.setdefault((obj["apiVersion"], obj["kind"]), set()).add(key_of(obj)[2:])
        kinds = sorted(groups)
        multi = MultiWaiter([Waiter(self.client, api_version, kind, clock=self.clock) for api_version, kind in kinds],
                            clock=self.clock)

        def evaluate(states):
            left, unlisted = still_present(kinds, groups, states)
            return deletion_outcome(left, unlisted, len(objects))

        deadline = Deadline(timeout, self.clock)
        try:
            multi.wait(evaluate, timeout, describe="the deletion")
        except WaitTimeout:
            # The last word is a fresh read of each object not seen gone: the ones still listed and
            # every one of a kind whose list never came.
            listed_left, unlisted = still_present(kinds, groups, multi.states)
            suspects = sorted(set(listed_left)
                              | set((a, k) + rest for a, k in unlisted for rest in groups[(a, k)]))
            left = {}
            for api_version, kind, namespace, name in suspects:
                resource = self._resource(api_version, kind)
                for obj in (self._read(resource, api_version, kind, name, namespace or None) if resource else []):
                    left[key_of(obj)] = obj
            if not left:
                return deadline.elapsed()
            blocked = [dict(ref(o), finalizers=(o.get("metadata") or {}).get("finalizers") or [],
                            message=blocked_message(o)) for o in sorted(left.values(), key=key_of)]
            raise WaitTimeout(
                "Timed out after %ds waiting for the deletion of %d object(s): %s"
                % (timeout, len(blocked), "; ".join(b["message"] for b in blocked)),
                elapsed=round(deadline.elapsed(), 3), blocked=blocked, kept=self.kept)
        return deadline.elapsed()

    def remove_entries(self, spec):
        """Remove the ``values`` entries (by ``key``) from the list at ``path`` of one object; the
        other entries stay. A merge patch with the read resourceVersion (409 -> read again)."""
        resource = self._resource(spec["api_version"], spec["kind"])
        if resource is None:
            return None
        for _attempt in range(5):
            objs = self._read(resource, spec["api_version"], spec["kind"], spec["name"], spec.get("namespace"))
            if not objs:
                return None
            obj = objs[0]
            kept, removed = list_without(get_path(obj, spec["path"]), spec.get("key") or "name", spec["values"])
            if not removed:
                return None
            patch = nested(spec["path"], kept)
            patch["metadata"] = {"resourceVersion": obj["metadata"]["resourceVersion"]}
            params = {"field_manager": FIELD_MANAGER, "content_type": MERGE_PATCH}
            if self.check_mode:
                params["dry_run"] = "All"
            try:
                resource.patch(body=patch, name=spec["name"],
                               namespace=spec.get("namespace") if resource.namespaced else None, **params)
            except ApiException as e:
                if e.status == 409:
                    continue
                if e.status == 404:
                    return None
                raise api_error(e, "patch", text(obj))
            return dict(ref(obj), path=spec["path"], removed=removed)
        raise ApiError("%s kept changing (409 five times)" % describe(spec["kind"], spec["name"], spec.get("namespace")))


def installed_csvs(subscriptions):
    """(namespace, name) of the CSV each Subscription's status.installedCSV names (the one OLM
    installed in the Subscription's namespace; never a Copied CSV in another namespace)."""
    out = []
    for sub in subscriptions:
        if sub.get("kind") != "Subscription":
            continue
        name = (sub.get("status") or {}).get("installedCSV")
        if name:
            out.append((sub["metadata"]["namespace"], name))
    return out


def owned_crds(csvs):
    """Names of the CRDs the CSVs own (spec.customresourcedefinitions.owned)."""
    names = []
    for csv in csvs:
        for crd in ((csv.get("spec") or {}).get("customresourcedefinitions") or {}).get("owned") or []:
            if crd.get("name") and crd["name"] not in names:
                names.append(crd["name"])
    return names


def steps_of(params):
    """[(step, entries, remove_entries)] in ascending step order."""
    steps = sorted(set([e.get("step") or 0 for e in params.get("resources") or []]
                       + [e.get("step") or 0 for e in params.get("remove_entries") or []]))
    return [(n, [e for e in params.get("resources") or [] if (e.get("step") or 0) == n],
             [e for e in params.get("remove_entries") or [] if (e.get("step") or 0) == n]) for n in steps]


def run(client, params, check_mode):
    """The resources_delete module: result dict. Steps run in ascending order; within a step the
    list entries are removed, the objects patched (patch_before) and deleted together, then watched
    until gone; the CSVs their Subscriptions installed follow, then (owned_crds) the CSVs' CRDs."""
    deleter = Deleter(client, check_mode=check_mode)
    started = deleter.clock()
    timeout = params["timeout"]
    removed_entries, everything, steps = [], [], []
    for number, entries, removals in steps_of(params):
        step_started = deleter.clock()
        for spec in removals:
            result = deleter.remove_entries(spec)
            if result:
                removed_entries.append(result)
        targets = deleter.find(entries)
        deleted = []
        for obj, entry in targets:
            if entry.get("patch_before"):
                deleter.patch(obj, entry["patch_before"])
            if deleter.delete(obj, entry.get("propagation_policy") or params["propagation_policy"]):
                deleted.append(obj)
        if params["wait"]:
            deleter.wait_gone(deleted, timeout)

        # Operators: the CSV the Subscription installed, after the Subscription (else OLM reinstalls it).
        csvs = []
        if params["installed_csv"]:
            csv_res = deleter._resource(*CSV_KIND)
            for namespace, name in installed_csvs(deleted):
                found = deleter._read(csv_res, CSV_KIND[0], CSV_KIND[1], name, namespace) if csv_res else []
                for csv in found:
                    if ((csv.get("status") or {}).get("reason")) == "Copied":
                        continue  # a copy OLM put there; deleting the original removes the copies
                    if deleter.delete(csv, params["propagation_policy"]):
                        csvs.append(csv)
            if params["wait"]:
                deleter.wait_gone(csvs, timeout)
        crds = []
        if params["owned_crds"]:
            crd_res = deleter._resource(*CRD_KIND)
            for name in owned_crds(csvs):
                for crd in deleter._read(crd_res, CRD_KIND[0], CRD_KIND[1], name):
                    if deleter.delete(crd, params["propagation_policy"]):
                        crds.append(crd)
            if params["wait"]:
                deleter.wait_gone(crds, timeout)
        done = deleted + csvs + crds
        everything.extend(done)
        steps.append(dict(step=number, deleted=[text(o) for o in done],
                          elapsed=round(deleter.clock() - step_started, 3)))

    return dict(
        changed=bool(everything or removed_entries),
        deleted=[ref(o) for o in everything],
        steps=steps,
        entries_removed=removed_entries,
        kept=deleter.kept,
        elapsed=round(deleter.clock() - started, 3),
        message=("would delete %d object(s)" if check_mode else "deleted %d object(s)") % len(everything)
        + ((": " + ", ".join(text(o) for o in everything)) if everything else ""),
    )
