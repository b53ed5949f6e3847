# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The models_apply module: read the cluster, decide (``_models.plan``), remove, write, in one process.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

One process instead of a task per list read and per write stage: the objects of 50 models (ServingRuntime
specs copied from the Templates, InferenceServices, token objects) never travel through Ansible
variables, which on a 2-CPU controller cost more than the API calls themselves. What is decided is
exactly ``_models.plan`` (unit-tested); what is written is ``_batch.patch_staged`` (resources_patch).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import time

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _models
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._batch import failure_message, patch_staged
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    InvalidInput,
    ModelServingError,
    ResourceNotFound,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import ApiException, api_error, describe

TEMPLATE_API = "template.openshift.io/v1"
DASHBOARD_API = "opendatahub.io/v1alpha"
MANAGED_SELECTOR = "%s=%s" % (_models.MANAGED_BY_LABEL, _models.MANAGED_BY)


def _list(client, api_version, kind, namespace=None, label_selector=None, name=None):
    try:
        resource = client.resource(api_version, kind)
    except ResourceNotFound:
        return []
    try:
        if name:
            try:
                return [resource.get(name=name, namespace=namespace).to_dict()]
            except ApiException as e:
                if e.status == 404:
                    return []
                raise
        return resource.get(namespace=namespace, label_selector=label_selector).to_dict().get("items") or []
    except ApiException as e:
        raise api_error(e, "list", describe(kind, name or "*", namespace))


def read_cluster(client, applications_namespace, dashboard_config_name):
    """What ``_models.plan`` needs: Templates, model server sizes, namespaces, InferenceServices and the
    metadata of the Secrets this collection created (their values are not kept)."""
    dashboards = _list(client, DASHBOARD_API, "OdhDashboardConfig", applications_namespace, name=dashboard_config_name)
    sizes = ((dashboards[0].get("spec") or {}).get("modelServerSizes") or []) if dashboards else []
    return {
        "templates": _list(client, TEMPLATE_API, "Template", applications_namespace, "%s=true" % _models.DASHBOARD_LABEL),
        "sizes": sizes or copy.deepcopy(_models.DEFAULT_SIZES),
        "namespaces": [(n.get("metadata") or {}).get("name") for n in _list(client, "v1", "Namespace")],
        "isvcs": _list(client, _models.ISVC_API, "InferenceService"),
        "secrets": [{"metadata": s.get("metadata") or {}} for s in _list(client, "v1", "Secret", label_selector=MANAGED_SELECTOR)],
    }


def _delete(client, service, ref, check_mode):
    """Delete one object; False when it did not exist."""
    resource = client.resource(ref["api_version"], ref["kind"])
    kwargs = {"dry_run": "All"} if check_mode else {}
    try:
        resource.delete(name=ref["name"], namespace=ref["namespace"] if resource.namespaced else None, **kwargs)
    except ApiException as e:
        if e.status == 404:
            return False
        raise api_error(e, "delete", describe(ref["kind"], ref["name"], ref["namespace"]))
    return True


def _finalizer_owner(finalizer):
    if "odh" in finalizer or "opendatahub" in finalizer:
        return "odh-model-controller"
    if "kserve" in finalizer or "inferenceservice" in finalizer:
        return "KServe"
    return "its controller"


def remove(client, service, plan_result, timeout, check_mode, clock=time.monotonic, sleep=time.sleep):
    """The InferenceServices of removed and recreated models (waiting until they are gone: their finalizers
    belong to KServe and odh-model-controller), then what the collection created for them. Returns the
    references deleted (or that check mode would delete). Raises naming the blocking finalizers."""
    deleted = []
    isvcs = list(plan_result.get("recreate") or []) + list(plan_result.get("deleted_models") or [])
    for ref in isvcs:
        if _delete(client, service, ref, check_mode):
            deleted.append(ref)
    if not check_mode:
        deadline = clock() + timeout
        pending = list(deleted)
        while pending:
            pending = [r for r in pending if service.get(r["api_version"], r["kind"], r["name"], r["namespace"]) is not None]
            if not pending:
                break
            if clock() >= deadline:
                lines = []
                for r in pending:
                    live = service.get(r["api_version"], r["kind"], r["name"], r["namespace"]) or {}
                    finalizers = (live.get("metadata") or {}).get("finalizers") or []
                    lines.append("InferenceService %s/%s: still there after %ss, blocked by finalizer%s %s (removed by %s when "
                                 "it runs; while it is down the deletion hangs)" % (
                                     r["namespace"], r["name"], timeout, "s" if len(finalizers) != 1 else "",
                                     ", ".join(finalizers) or "none",
                                     " and ".join(sorted(set(_finalizer_owner(f) for f in finalizers))) or "its controller"))
                raise ModelServingError("model_deployment: could not delete %s" % "; ".join(lines), removed=deleted)
            sleep(0.5)
    for ref in plan_result.get("delete") or []:
        if _delete(client, service, ref, check_mode):
            deleted.append(ref)
    return deleted


def apply(client, service, params, check_mode=False, want_diff=False, clock=time.monotonic, sleep=time.sleep):
    """Read, decide, remove, write. Returns the module result; raises InvalidInput with every refusal
    before anything is written."""
    models = _models.merge_credentials(params.get("models") or [], params.get("credentials") or [])
    defaults = dict(params.get("defaults") or {})
    cluster = read_cluster(client, params["applications_namespace"], params["dashboard_config_name"])
    plan_result = _models.plan(models, defaults, cluster, check_mode, bool(params.get("allow_recreate")))
    if plan_result.get("errors"):
        raise InvalidInput("model_deployment: refused, nothing was changed: %s" % " | ".join(plan_result["errors"]),
                           notes=plan_result.get("notes") or [])
    removed = remove(client, service, plan_result, params.get("timeout") or 900, check_mode, clock, sleep)
    entries = [dict(e, stage=0) for e in plan_result["namespaces"]]
    entries += [dict(e, stage=1) for e in plan_result["secrets"]]
    entries += [dict(e, stage=e["stage"] + 1) for e in _models.writes(plan_result, with_namespaces=False)]
    results = patch_staged(client, service, entries, params.get("workers") or 8, want_diff, return_objects=False)
    for res in results:
        res.pop("result", None)
    touched = _models.touched_projects([{"results": results}])
    touched.extend(sorted(set(r["namespace"] for r in removed if r["namespace"] not in touched)))
    live = dict(((o["metadata"].get("namespace"), o["metadata"].get("name")), o) for o in cluster["isvcs"])
    for model in plan_result["models"]:
        obj = live.get((model["project"], model["name"]))
        model["url"] = _models.get_path(obj, "status.url") if obj else None
    changed_count = len([r for r in results if r.get("changed")]) + len(removed)
    result = dict(
        changed=changed_count > 0,
        changed_count=changed_count,
        results=results,
        removed=removed,
        removed_models=[r["name"] for r in plan_result.get("deleted_models") or []
                        if any(d["name"] == r["name"] and d["namespace"] == r["namespace"] and d["kind"] == r["kind"]
                               for d in removed)],
        recreated=[r["name"] for r in plan_result.get("recreate") or []],
        notes=plan_result.get("notes") or [],
        pending=plan_result.get("pending") or [],
        touched=touched,
        waits=_models.waits_needed(plan_result.get("waits"), plan_result["models"], touched),
        checks=_models.checks(plan_result["models"], touched, params.get("check_scope") or "changed"),
        models=plan_result["models"],
    )
    if want_diff:
        result["diff"] = [r["diff"] for r in results if r.get("diff")]
    message = failure_message(results)
    if message:
        raise ModelServingError("model_deployment: %s" % message, **result)
    return result
