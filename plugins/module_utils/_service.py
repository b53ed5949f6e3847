# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service layer: read, create and patch objects idempotently.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

The merge is computed client-side (``keyed_merge``) so that list fields keyed by a member
field (e.g. the SMCP ``extensionProviders`` keyed by ``name``) keep the entries the patch does
not mention. When the merged object equals the live one nothing is sent at all. Otherwise a JSON
merge patch carrying the live ``metadata.resourceVersion`` is sent (optimistic lock: a
concurrent writer makes the API server answer 409, and the whole read-merge-write is redone on a
fresh read). Check mode sends the same request with ``dryRun=All``, so the server predicts the
result. ``changed`` always comes from comparing the live object with the object the API returned.

Check mode also predicts what the server cannot dry-run yet: creating an object whose kind is not
served (its operator or CRD would be installed by an earlier task) or whose namespace does not
exist (an earlier task would create it) is reported as a change, the object built from the patch
as the result, and ``deferred`` naming the reason (``deferred_reason``). Roles therefore need no
probing of their own before check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import time

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    InvalidInput,
    ResourceNotFound,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import redact

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException  # noqa: F401 (re-exported)


FIELD_MANAGER = "openshift-ai-model-serving"
MERGE_PATCH = "application/merge-patch+json"
CONFLICT_RETRIES = 5

# Metadata the API server changes on every write; never a reason to report "changed".
VOLATILE_METADATA = ("resourceVersion", "generation", "managedFields", "creationTimestamp", "uid", "selfLink")
# Key field of a list of scalars merged as a set (``list_merge_keys: {"spec.names": "."}``).
SCALAR_KEY = "."


# --------------------------------------------------------------------------- pure helpers


def split_path(path):
    """``"spec.a.b"`` -> ``["spec", "a", "b"]``. A backslash escapes a dot inside a key."""
    if not path:
        return []
    parts, cur, i = [], "", 0
    while i < len(path):
        c = path[i]
        if c == "\\" and i + 1 < len(path) and path[i + 1] == ".":
            cur += "."
            i += 2
            continue
        if c == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return parts


def _norm_paths(mapping, what):
    out = {}
    for path, value in (mapping or {}).items():
        parts = split_path(path)
        if not parts or any(p == "" for p in parts):
            raise InvalidInput("%s: invalid dotted path %r" % (what, path))
        out[tuple(parts)] = value
    return out


class _ReplaceMap(object):
    """Marks a path of ``replace_maps`` among the list merge keys (a mapping there is replaced)."""


_REPLACE_MAP = _ReplaceMap()


def keyed_merge(base, patch, list_merge_keys=None, remove_entries=None, replace_maps=None):
    """Return ``base`` with ``patch`` merged in; neither argument is modified.

    - dicts merge recursively; a ``None`` value in the patch deletes the key (RFC 7386);
    - a list at a path of ``list_merge_keys`` (dotted path -> key field) is merged entry by entry:
      an entry whose key matches an existing entry is merged into it, other entries are appended,
      existing entries the patch does not mention are kept in place;
    - a list whose key field is ``SCALAR_KEY`` (``"."``) holds scalars (e.g. a list of names) and
      is merged as a set: values of the patch that are missing are appended, the others stay;
    - any other list is replaced;
    - ``remove_entries`` (dotted path -> key values) then drops entries of keyed lists (for a
      ``"."`` list: the values themselves);
    - a mapping at a path of ``replace_maps`` (dotted paths) is the patch's mapping exactly: live keys
      the patch does not have are removed (a selector the caller owns as a whole, so that changing it
      never leaves the union of the old and the new keys).
    """
    keys = _norm_paths(list_merge_keys, "list_merge_keys")
    for path in _norm_paths(dict((p, True) for p in (replace_maps or [])), "replace_maps"):
        if path in keys:
            raise InvalidInput("replace_maps: %s is also in list_merge_keys" % ".".join(path))
        keys[path] = _REPLACE_MAP
    removals = _norm_paths(remove_entries, "remove_entries")
    for path in removals:
        if path not in keys or keys[path] is _REPLACE_MAP:
            raise InvalidInput(
                "remove_entries: %s is not in list_merge_keys, so its key field is unknown" % ".".join(path)
            )
    merged = _merge(copy.deepcopy(base) if base is not None else None, patch, (), keys)
    for path, values in removals.items():
        _remove(merged, path, keys[path], values)
    return merged


def _merge(base, patch, path, keys):
    if isinstance(patch, dict) and keys.get(path) is _REPLACE_MAP:
        return dict((k, copy.deepcopy(v)) for k, v in patch.items() if v is not None)
    if isinstance(patch, dict):
        out = dict(base) if isinstance(base, dict) else {}
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(out.get(k), v, path + (k,), keys)
        return out
    if isinstance(patch, list) and path in keys and keys[path] is not _REPLACE_MAP:
        return _merge_keyed_list(base if isinstance(base, list) else [], patch, path, keys)
    return copy.deepcopy(patch)


def _key_value(entry, key):
    """The value of an entry's key field; a dotted key field names a nested one (``port.name``)."""
    cur = entry
    for part in key.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _merge_keyed_list(base, patch, path, keys):
    key = keys[path]
    out = list(base)
    if key == SCALAR_KEY:
        for item in patch:
            if isinstance(item, (dict, list)) or item is None:
                raise InvalidInput(
                    "every entry of %s must be a scalar (its key field is %r): %r" % (".".join(path), key, item)
                )
            if item not in out:
                out.append(item)
        return out
    for item in patch:
        if not isinstance(item, dict) or _key_value(item, key) is None:
            raise InvalidInput(
                "every entry of %s must be a mapping with the key field %r: %r" % (".".join(path), key, item)
            )
        for i, existing in enumerate(out):
            if isinstance(existing, dict) and _key_value(existing, key) == _key_value(item, key):
                out[i] = _merge(existing, item, path, keys)
                break
        else:
            out.append(_merge(None, item, path, keys))
    return out


def _remove(obj, path, key, values):
    cur = obj
    for part in path[:-1]:
        if not isinstance(cur, dict) or not isinstance(cur.get(part), dict):
            return
        cur = cur[part]
    if not isinstance(cur, dict) or not isinstance(cur.get(path[-1]), list):
        return
    wanted = set(str(v) for v in values)
    if key == SCALAR_KEY:
        cur[path[-1]] = [e for e in cur[path[-1]] if isinstance(e, (dict, list)) or str(e) not in wanted]
        return
    cur[path[-1]] = [e for e in cur[path[-1]] if not (isinstance(e, dict) and str(_key_value(e, key)) in wanted)]


def clean(obj):
    """Copy of an object without the volatile metadata (for comparison and diffs)."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for k in VOLATILE_METADATA:
            meta.pop(k, None)
    return out


def recursive_diff(before, after):
    """Return ``(before_part, after_part)`` holding only what differs, or ``None`` when equal."""
    if before == after:
        return None
    if isinstance(before, dict) and isinstance(after, dict):
        b, a = {}, {}
        for k in set(before) | set(after):
            if k not in after:
                b[k] = before[k]
            elif k not in before:
                a[k] = after[k]
            else:
                sub = recursive_diff(before[k], after[k])
                if sub is not None:
                    b[k], a[k] = sub
        return b, a
    return before, after


def objects_differ(live, other):
    return recursive_diff(clean(live), clean(other)) is not None


def merge_patch_between(live, desired):
    """RFC 7386 merge patch turning ``live`` into ``desired`` (lists are sent whole)."""
    patch = {}
    for k in set(live) | set(desired):
        if k not in desired:
            patch[k] = None
        elif k not in live:
            patch[k] = desired[k]
        elif live[k] != desired[k]:
            if isinstance(live[k], dict) and isinstance(desired[k], dict):
                patch[k] = merge_patch_between(live[k], desired[k])
            else:
                patch[k] = desired[k]
    return patch


def describe(kind, name, namespace=None):
    return "%s %s/%s" % (kind, namespace, name) if namespace else "%s %s" % (kind, name)


def api_error(exc, action, what):
    """Turn a kubernetes ApiException into ApiError with the server's message."""
    message = getattr(exc, "reason", None) or str(exc)
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message") or message
        except (ValueError, TypeError, AttributeError):
            message = str(body)[:500]
    return ApiError(
        "Failed to %s %s: %s (HTTP %s)" % (action, what, message, getattr(exc, "status", "?")),
        status=getattr(exc, "status", None),
        reason=getattr(exc, "reason", None),
    )


def missing_namespace(exc):
    """The namespace an API error says does not exist (a 404 naming ``namespaces``), else None."""
    if getattr(exc, "status", None) != 404:
        return None
    try:
        details = json.loads(getattr(exc, "body", None) or "{}").get("details") or {}
    except (ValueError, TypeError, AttributeError):
        return None
    if details.get("kind") == "namespaces" and details.get("name"):
        return details["name"]
    return None


def deferred_reason(check_mode, create, error, provided_by=None):
    """Why check mode predicts a write instead of failing on ``error`` (None: fail as usual).

    Only in check mode, and only for what an earlier task of the same run (or an operator it
    installs) would provide. With ``create``: a kind the cluster does not serve yet
    (``ResourceNotFound`` from discovery, with ``kind`` and no ``name`` in its details) or a
    namespace that does not exist yet (an ``ApiError`` whose details name ``missing_namespace``).
    Without ``create`` but with ``provided_by`` (who creates the object, e.g. an operator): the kind
    not served yet or the object itself missing; the patch is then predicted as the object."""
    if not check_mode:
        return None
    details = getattr(error, "details", None) or {}
    unserved = isinstance(error, ResourceNotFound) and details.get("kind") and "name" not in details
    if create:
        if unserved:
            return "kind %s %s is not served yet" % (details.get("api_version") or "", details["kind"])
        if isinstance(error, ApiError) and details.get("missing_namespace"):
            return "namespace %s does not exist yet" % details["missing_namespace"]
        return None
    if not provided_by:
        return None
    if unserved:
        return "kind %s %s is not served yet (%s provides it)" % (
            details.get("api_version") or "", details["kind"], provided_by)
    if isinstance(error, ResourceNotFound) and details.get("kind") and details.get("name"):
        return "%s does not exist yet (%s creates it)" % (
            describe(details.get("kind"), details.get("name"), details.get("namespace")), provided_by)
    return None


def would_create(api_version, kind, name, namespace, patch, list_merge_keys=None, remove_entries=None,
                 replace_maps=None):
    """The object a create from ``patch`` sends (no server defaults)."""
    body = keyed_merge({}, patch or {}, list_merge_keys, remove_entries, replace_maps)
    body["apiVersion"] = api_version
    body["kind"] = kind
    body.setdefault("metadata", {})["name"] = name
    if namespace:
        body["metadata"]["namespace"] = namespace
    return body


def _to_dict(instance):
    if instance is None:
        return None
    if isinstance(instance, dict):
        return instance
    return instance.to_dict()


# --------------------------------------------------------------------------- service


class PatchResult(object):
    """Outcome of :meth:`Service.patch`."""

    def __init__(self, changed, before, after, method, deferred=None):
        self.changed = changed
        self.before = before
        self.after = after
        self.method = method  # "none", "patch" or "create"
        # check mode only: why the creation is predicted instead of dry-run by the server
        self.deferred = deferred

    def diff(self):
        """``{"before": .., "after": ..}`` restricted to the differing fields (Secrets redacted)."""
        sub = recursive_diff(clean(redact(self.before)) or {}, clean(redact(self.after)) or {})
        before, after = sub if sub is not None else ({}, {})
        return {"before": before, "after": after}


class Service(object):
    """CRUD on top of :class:`_client.Client`; ``check_mode`` turns every write into a server dry run."""

    def __init__(self, client, check_mode=False, sleep=time.sleep):
        self.client = client
        self.check_mode = check_mode
        self._sleep = sleep
        # check mode: kinds found unserved after a fresh discovery (nothing this run does serves them)
        self._unserved = {}

    def _write_params(self):
        params = {"field_manager": FIELD_MANAGER}
        if self.check_mode:
            params["dry_run"] = "All"
        return params

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key in self._unserved:
            raise ResourceNotFound(self._unserved[key], api_version=api_version, kind=kind)
        try:
            return self.client.resource(api_version, kind)
        except ResourceNotFound as e:
            if self.check_mode and (e.details or {}).get("kind"):
                self._unserved[key] = e.msg
            raise

    def get(self, api_version, kind, name, namespace=None, resource=None):
        """The object as a dict, or None when absent. Raises ResourceNotFound if the kind is unknown."""
        resource = resource or self.resource(api_version, kind)
        try:
            return _to_dict(resource.get(name=name, namespace=namespace if resource.namespaced else None))
        except ApiException as e:
            if e.status == 404:
                return None
            raise api_error(e, "read", describe(kind, name, namespace))

    def create(self, resource, body, namespace=None):
        try:
            return _to_dict(
                resource.create(body=body, namespace=namespace if resource.namespaced else None, **self._write_params())
            )
        except ApiException as e:
            if e.status == 409:
                raise
            meta = body.get("metadata", {})
            error = api_error(e, "create", describe(body.get("kind"), meta.get("name"), namespace))
            absent = missing_namespace(e)
            if absent:
                error.details["missing_namespace"] = absent
            raise error

    def merge(self, resource, name, namespace, body, what, resource_version=None, action="patch"):
        """One JSON merge patch with the field manager (a dry run in check mode); with
        ``resource_version`` the server refuses it (409) if the object changed since it was read."""
        if resource_version:
            body = dict(body, metadata=dict(body.get("metadata") or {}, resourceVersion=resource_version))
        try:
            return _to_dict(resource.patch(body=body, name=name, namespace=namespace if resource.namespaced else None,
                                           content_type=MERGE_PATCH, **self._write_params()))
        except ApiException as e:
            raise api_error(e, action, what)

    def delete(self, resource, name, namespace, what, missing_ok=True):
        """Delete one object (a dry run in check mode); an object already gone is fine unless not ``missing_ok``."""
        params = {"dry_run": "All"} if self.check_mode else {}
        try:
            resource.delete(name=name, namespace=namespace if resource.namespaced else None, **params)
        except ApiException as e:
            if e.status == 404 and missing_ok:
                return
            raise api_error(e, "delete", what)

    def predict_create(self, api_version, kind, name, namespace, patch, reason, list_merge_keys=None,
                       remove_entries=None, replace_maps=None, method="create"):
        """Check mode: the write the server cannot dry-run yet (see ``deferred_reason``)."""
        body = would_create(api_version, kind, name, namespace, patch, list_merge_keys, remove_entries, replace_maps)
        return PatchResult(True, None, body, method, deferred=reason)

    def patch(
        self, api_version, kind, name, namespace=None, patch=None, list_merge_keys=None, remove_entries=None, create=False,
        replace_maps=None, provided_by=None,
    ):
        """Merge ``patch`` into the object idempotently; see the module docstring. Returns PatchResult."""
        patch = patch or {}
        if not isinstance(patch, dict):
            raise InvalidInput("patch must be a mapping, got %s" % type(patch).__name__)
        # Validate the merge arguments before any request.
        keyed_merge({}, patch, list_merge_keys, remove_entries, replace_maps)
        merge_args = dict(list_merge_keys=list_merge_keys, remove_entries=remove_entries, replace_maps=replace_maps,
                          method="create" if create else "patch")
        try:
            resource = self.resource(api_version, kind)
        except ResourceNotFound as e:
            reason = deferred_reason(self.check_mode, create, e, provided_by)
            if reason is None:
                raise
            return self.predict_create(api_version, kind, name, namespace, patch, reason, **merge_args)
        if resource.namespaced and not namespace:
            raise InvalidInput("%s is namespaced: namespace is required" % kind)
        namespace = namespace if resource.namespaced else None
        what = describe(kind, name, namespace)

        last_conflict = None
        for attempt in range(CONFLICT_RETRIES):
            if attempt:
                self._sleep(min(0.1 * (2 ** attempt), 1.0))
            live = self.get(api_version, kind, name, namespace, resource=resource)
            if live is None:
                if not create:
                    missing = ResourceNotFound(
                        "%s not found (set create=true to create it from the patch)" % what,
                        api_version=api_version,
                        kind=kind,
                        name=name,
                        namespace=namespace,
                    )
                    reason = deferred_reason(self.check_mode, create, missing, provided_by)
                    if reason is None:
                        raise missing
                    return self.predict_create(api_version, kind, name, namespace, patch, reason, **merge_args)
                body = would_create(api_version, kind, name, namespace, patch, list_merge_keys, remove_entries,
                                    replace_maps)
                try:
                    after = self.create(resource, body, namespace)
                except ApiException as e:  # 409: created concurrently, patch it instead
                    last_conflict = e
                    continue
                except ApiError as e:
                    reason = deferred_reason(self.check_mode, create, e)
                    if reason is None:
                        raise
                    return self.predict_create(api_version, kind, name, namespace, patch, reason, **merge_args)
                return PatchResult(True, None, after, "create")

            desired = keyed_merge(live, patch, list_merge_keys, remove_entries, replace_maps)
            if not objects_differ(live, desired):
                return PatchResult(False, live, live, "none")
            body = merge_patch_between(live, desired)
            body.setdefault("metadata", {})["resourceVersion"] = live["metadata"]["resourceVersion"]
            try:
                after = _to_dict(
                    resource.patch(
                        body=body, name=name, namespace=namespace, content_type=MERGE_PATCH, **self._write_params()
                    )
                )
            except ApiException as e:
                if e.status == 409:
                    last_conflict = e
                    continue
                if e.status == 404:
                    raise ResourceNotFound("%s disappeared while being patched" % what, kind=kind, name=name)
                raise api_error(e, "patch", what)
            return PatchResult(objects_differ(live, after), live, after, "patch")
        raise api_error(last_conflict, "patch (still conflicting after %d fresh reads)" % CONFLICT_RETRIES, what)
