# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many idempotent merge patches in one process: stages in order, the entries of a stage concurrently.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

Each entry is what resource_patch takes (``api_version``, ``kind``, ``name``, ``namespace``, ``patch``,
``list_merge_keys``, ``remove_entries``, ``replace_maps``, ``create``) plus ``stage`` (int), ``owner`` (``api_version``,
``kind``, ``name`` of an object in the same namespace that becomes the entry's ownerReference, with the
uid written by an earlier stage or read) and ``if_missing`` (``skip``: an object that does not exist yet,
and that the entry does not create, is reported ``missing`` instead of failing the entry). Used by the
resources_patch and models_apply modules.

In check mode an entry whose kind is not served or whose namespace does not exist yet is predicted by
the service layer (``deferred`` in its result); so is an entry whose owner was predicted that way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import functools
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ModelServingError,
    ResourceNotFound,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import redact

KEYS = ("api_version", "kind", "name", "namespace")
# uids of owners predicted (not dry-run) in check mode: their dependents are predicted too
_PREDICTED = "(predicted in check mode)"


def manifest_entries(manifests, list_merge_keys=None, replace_maps=None, first_stage=0, one_stage=False):
    """resources_patch entries creating or merging into ``manifests`` one after the other (entry i is stage
    ``first_stage`` + i, as a loop would write them; with ``one_stage`` all are stage ``first_stage``, written
    together). ``list_merge_keys`` and ``replace_maps`` are given by kind."""
    entries = []
    for i, manifest in enumerate(manifests or []):
        meta = manifest.get("metadata") or {}
        entry = {"api_version": manifest.get("apiVersion") or "v1", "kind": manifest.get("kind"),
                 "name": meta.get("name"), "patch": manifest, "create": True,
                 "stage": first_stage + (0 if one_stage else i),
                 "list_merge_keys": (list_merge_keys or {}).get(manifest.get("kind")) or {},
                 "replace_maps": (replace_maps or {}).get(manifest.get("kind")) or []}
        if meta.get("namespace"):
            entry["namespace"] = meta["namespace"]
        if not entry["kind"] or not entry["name"]:
            raise ModelServingError("manifest %d has no kind or no metadata.name: %r" % (i, manifest))
        entries.append(entry)
    return entries


def with_owner(service, entry, uids):
    """The entry with metadata.ownerReferences naming its owner (uid written earlier in the run, or read)."""
    owner = entry.get("owner")
    if not owner:
        return entry
    key = (owner["api_version"], owner["kind"], entry.get("namespace"), owner["name"])
    uid = uids.get(key)
    if uid == _PREDICTED:
        return dict(entry, deferred="its owner %s %s would be created first" % (owner["kind"], owner["name"]))
    if uid is None:
        live = service.get(owner["api_version"], owner["kind"], owner["name"], entry.get("namespace"))
        uid = ((live or {}).get("metadata") or {}).get("uid")
    if uid is None:
        raise ModelServingError("owner %s %s/%s does not exist" % (owner["kind"], entry.get("namespace"), owner["name"]))
    patch = copy.deepcopy(entry.get("patch") or {})
    patch.setdefault("metadata", {})["ownerReferences"] = [
        {"apiVersion": owner["api_version"], "kind": owner["kind"], "name": owner["name"], "uid": uid}]
    return dict(entry, patch=patch)


def skips_missing(entry):
    """Whether a missing object (or kind) of ``entry`` is reported instead of failing it: ``if_missing: skip``
    on an entry that does not create its object."""
    return entry.get("if_missing") == "skip" and not entry.get("create")


def patch_one(service, entry, want_diff, return_objects, uids=None):
    """One entry -> result dict (``changed``, ``method``, ``result``, ``diff``; ``failed``/``msg`` on error)."""
    out = dict((k, entry.get(k)) for k in KEYS)
    try:
        entry = with_owner(service, entry, uids or {})
        merge_args = dict(
            list_merge_keys=entry.get("list_merge_keys") or {},
            remove_entries=entry.get("remove_entries") or {},
        )
        if entry.get("replace_maps"):
            merge_args["replace_maps"] = entry["replace_maps"]
        if entry.get("provided_by") and not entry.get("deferred"):
            merge_args["provided_by"] = entry["provided_by"]
        if entry.get("deferred") and service.check_mode:
            outcome = service.predict_create(entry["api_version"], entry["kind"], entry["name"], entry.get("namespace"),
                                             entry.get("patch") or {}, entry["deferred"], **merge_args)
        else:
            outcome = service.patch(
                entry["api_version"],
                entry["kind"],
                entry["name"],
                namespace=entry.get("namespace"),
                patch=entry.get("patch") or {},
                create=entry.get("create"),
                **merge_args
            )
    except ModelServingError as e:
        if isinstance(e, ResourceNotFound) and skips_missing(entry):
            out.update(changed=False, method="none", missing=True, result=None)
        else:
            out.update(changed=False, failed=True, msg=e.msg)
        return out
    out.update(changed=outcome.changed, method=outcome.method)
    if outcome.deferred:
        out["deferred"] = outcome.deferred
    after = redact(outcome.after)
    if return_objects:
        out["result"] = after
    else:
        meta = (after or {}).get("metadata") or {}
        out["result"] = {"metadata": {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}}
    if want_diff and outcome.changed:
        out["diff"] = outcome.diff()
    return out


def patch_staged(client, service, entries, workers=8, want_diff=False, return_objects=False):
    """Every entry, stage by stage; results in the order of ``entries``. When an entry of a stage fails,
    the entries of later stages are not attempted (failed, ``msg`` says so)."""
    # discovery once per kind, before the threads share the client's cache
    skippable = set((e["api_version"], e["kind"]) for e in entries if skips_missing(e))
    for api_version, kind in sorted(set((e["api_version"], e["kind"]) for e in entries)):
        try:
            client.resource(api_version, kind)
        except ResourceNotFound:
            # check mode predicts the creations of a kind not served yet (service.patch); an entry that
            # skips a missing object reports it
            if not service.check_mode and (api_version, kind) not in skippable:
                raise
    by_index = {}
    uids = {}
    stopped = None
    for stage in sorted(set(e.get("stage") or 0 for e in entries)):
        indexed = [(i, e) for i, e in enumerate(entries) if (e.get("stage") or 0) == stage]
        if stopped is not None:
            for i, e in indexed:
                by_index[i] = dict((k, e.get(k)) for k in KEYS)
                by_index[i].update(changed=False, failed=True, msg="not attempted: an entry of stage %s failed" % stopped)
            continue
        one = functools.partial(patch_one, service, want_diff=want_diff, return_objects=return_objects, uids=uids)
        if len(indexed) <= 1 or workers == 1:
            done = [one(e) for _i, e in indexed]
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(indexed))) as pool:
                done = list(pool.map(one, [e for _i, e in indexed]))
        for (i, e), res in zip(indexed, done):
            by_index[i] = res
            uid = (((res.get("result") or {}).get("metadata")) or {}).get("uid")
            if res.get("deferred"):
                uid = _PREDICTED
            if uid:
                uids[(e["api_version"], e["kind"], e.get("namespace"), e["name"])] = uid
        if any(r.get("failed") for r in done):
            stopped = stage
    return [by_index[i] for i in range(len(entries))]


def failure_message(results):
    """``Kind ns/name: message; ...`` of the failed results (None when none failed)."""
    failed = [r for r in results if r.get("failed")]
    if not failed:
        return None
    return "; ".join("%s %s%s: %s" % (r["kind"], (r["namespace"] + "/") if r.get("namespace") else "", r["name"], r["msg"])
                     for r in failed)
