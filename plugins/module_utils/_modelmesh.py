# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of the model_mesh role (multi-model serving platform, ModelMesh, RHOAI 2.x) and
of the read-only upgrade readiness report.

Facts: serving-api.md §3 (ModelMesh objects), §1.4 (a project ServingRuntime from a Template, the
ModelMesh-only annotations ``enable-route``/``enable-auth``, ``spec.replicas`` and container
resources kept), §2.1 (project label ``modelmesh-enabled``), §2.3 (data connections), §2.4 (token
objects; ModelMesh: named after the model server, RoleBinding to ClusterRole ``view``), §5.3 (what
the next major release removes). Seed 000 §2.1.3 (model server fields), §2.1.4 (deleting a model
server deletes its models), §2.2.1 (models).

The objects the single-model platform shares (data connection Secret, ServingRuntime copied from a
Template, object references, token Secret names) come from ``_models``: one place decides them.
Nothing here talks to a cluster; the role reads the cluster and hands plain dicts in.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _models
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._runtimes import (
    DASHBOARD_LABEL,
    DISPLAY_NAME_ANNOTATION as DISPLAY_NAME,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SHIPPED,
    SR_API_VERSION as SR_API,
    SUPPORT_ANNOTATION,
    SUCCESSORS,
    dashboard_patch,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import get_path

ISVC_API = _models.ISVC_API
RBAC_API = _models.RBAC_API
MODE_ANNOTATION = _models.MODE_ANNOTATION
MODELMESH_LABEL = _models.MODELMESH_LABEL
SA_NAME_ANNOTATION = _models.SA_NAME_ANNOTATION
MODELMESH = "ModelMesh"
ROUTE_ANNOTATION = "enable-route"
AUTH_ANNOTATION = "enable-auth"
SERVICE_NAME = "modelmesh-serving"
GPU = _models.GPU
GPU_TOLERATION = {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
STATES = ("present", "absent")
DEFAULT_RUNTIME = "ovms"
NEXT_MAJOR = (3, 0)
SERVER_KEYS = frozenset((
    "name", "project", "display_name", "runtime", "replicas", "size", "resources", "accelerators",
    "accelerator_name", "external_route", "token_auth", "tokens", "state", "models",
))
MODEL_KEYS = frozenset(("name", "display_name", "model_format", "model_format_version", "storage", "state", "check"))

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


# --------------------------------------------------------------------------------------- helpers


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _where(index, server, model_index=None, model=None):
    name = server.get("name") if isinstance(server, dict) else None
    project = server.get("project") if isinstance(server, dict) else None
    out = "model_mesh_servers[%d]" % index
    if name or project:
        out += " (%s in %s)" % (name or "?", project or "?")
    if model_index is not None:
        out += ".models[%d]" % model_index
        if isinstance(model, dict) and model.get("name"):
            out += " (%s)" % model["name"]
    return out


def normalize(server, defaults=None):
    """The server entry with the role defaults filled in (no validation)."""
    defaults = defaults or {}
    out = dict(server)
    out.setdefault("state", "present")
    out.setdefault("runtime", defaults.get("runtime", DEFAULT_RUNTIME))
    out.setdefault("replicas", 1)
    out.setdefault("accelerators", 0)
    out.setdefault("external_route", defaults.get("external_route", True))
    out.setdefault("token_auth", defaults.get("token_auth", False))
    if out.get("token_auth") and not out.get("tokens"):
        out["tokens"] = [_models.DEFAULT_TOKEN]
    out.setdefault("tokens", [])
    out.setdefault("display_name", out.get("name"))
    models = []
    for model in out.get("models") or []:
        if isinstance(model, dict):
            model = dict(model)
            model.setdefault("state", "present")
            model.setdefault("display_name", model.get("name"))
            if out["state"] == "absent":
                model["state"] = "absent"
        models.append(model)
    out["models"] = models
    return out


def is_modelmesh(isvc):
    return (get_path(isvc, "metadata.annotations") or {}).get(MODE_ANNOTATION) == MODELMESH or \
        get_path(isvc, "status.deploymentMode") == MODELMESH


def live_mode(isvc):
    """The deployment mode of a live InferenceService (annotation, then status; KServe's default
    Serverless when neither tells)."""
    return (get_path(isvc, "metadata.annotations") or {}).get(MODE_ANNOTATION) or \
        get_path(isvc, "status.deploymentMode") or "Serverless"


def server_sa(server):
    return "%s-sa" % server


# ------------------------------------------------------------------------------------ validation


def _storage_errors(where, storage):
    if not isinstance(storage, dict):
        return ["%s: storage is missing (a data connection and the model's path in its bucket)" % where]
    errors = []
    unknown = sorted(set(storage) - set(["connection", "path"]))
    if unknown:
        errors.append("%s: storage has unknown keys %s (the multi-model platform loads models from a data "
                      "connection: storage.connection and storage.path)" % (where, ", ".join(unknown)))
    conn = storage.get("connection")
    if isinstance(conn, str):
        if not _DNS_1123.match(conn):
            errors.append("%s: storage.connection %r is not a valid Secret name" % (where, conn))
    elif isinstance(conn, dict):
        name = conn.get("name")
        if not isinstance(name, str) or not _DNS_1123.match(name) or len(name) > 253:
            errors.append("%s: storage.connection.name must be a Secret name (DNS-1123), got %r" % (where, name))
        for key in ("endpoint", "bucket", "access_key_id", "secret_access_key"):
            if not isinstance(conn.get(key), str) or not conn.get(key):
                errors.append("%s: storage.connection.%s is missing" % (where, key))
        known = set(pair[0] for pair in _models.CONNECTION_KEYS) | set(["name", "display_name"])
        extra = sorted(set(conn) - known)
        if extra:
            errors.append("%s: storage.connection has unknown keys: %s" % (where, ", ".join(extra)))
    else:
        errors.append("%s: storage.connection must be a mapping (name, endpoint, bucket, region, access_key_id, "
                      "secret_access_key) or the name of an existing data connection Secret" % where)
    path = storage.get("path")
    if not isinstance(path, str) or not path.strip("/"):
        errors.append("%s: storage.path (the model's folder in the bucket) is missing" % where)
    return errors


def _server_errors(where, server):
    errors = []
    if not _is_int(server.get("replicas")) or server["replicas"] < 1:
        errors.append("%s: replicas must be a number >= 1, got %r" % (where, server.get("replicas")))
    if server.get("size") is not None and server.get("resources") is not None:
        errors.append("%s: give size or resources, not both" % where)
    if server.get("size") is not None and (not isinstance(server["size"], str) or not server["size"]):
        errors.append("%s: size must be the name of a model server size (e.g. Small), got %r" % (where, server["size"]))
    res = server.get("resources")
    if res is not None and (not isinstance(res, dict) or set(res) - set(["requests", "limits"]) or
                            not all(isinstance(v, dict) for v in res.values())):
        errors.append("%s: resources must be {requests: {cpu, memory}, limits: {cpu, memory}}" % where)
    acc = server.get("accelerators")
    if not _is_int(acc) or acc < 0:
        errors.append("%s: accelerators must be a number of nvidia.com/gpu >= 0, got %r" % (where, acc))
    if server.get("accelerator_name") is not None and not isinstance(server["accelerator_name"], str):
        errors.append("%s: accelerator_name must be a string" % where)
    for key in ("external_route", "token_auth"):
        if not isinstance(server.get(key), bool):
            errors.append("%s: %s must be true or false, got %r" % (where, key, server.get(key)))
    runtime = server.get("runtime")
    if not isinstance(runtime, str) or not _DNS_1123.match(runtime):
        errors.append("%s: runtime must be the ServingRuntime name of a multi-model runtime template (ovms, or a "
                      "custom multi-model runtime), got %r" % (where, runtime))
    tokens = server.get("tokens")
    names = server.get("name")
    if not isinstance(tokens, list) or not all(isinstance(t, str) and _models.k8s_name(t) for t in tokens):
        errors.append("%s: tokens must be a list of token (service account) names, got %r" % (where, tokens))
    elif len(set(_models.k8s_name(t) for t in tokens)) != len(tokens):
        errors.append("%s: tokens has names that give the same Secret name: %s" % (where, ", ".join(tokens)))
    elif tokens and not server.get("token_auth"):
        errors.append("%s: tokens are given but token_auth is false" % where)
    elif isinstance(names, str) and any(len(_models.token_secret_name(t, names)) > 253 for t in tokens):
        errors.append("%s: a token name is too long for its Secret name" % where)
    return errors


def input_errors(servers, defaults=None, single_models=None):
    """Every input problem of ``model_mesh_servers`` that needs no cluster, each naming the entry.
    ``single_models`` (``model_serving_models``): a project may not appear on both platforms."""
    if not isinstance(servers, list):
        return ["model_mesh_servers must be a list of model server mappings, got %s" % type(servers).__name__]
    errors = []
    seen_servers = {}
    seen_models = {}
    connections = {}
    for i, raw in enumerate(servers):
        if not isinstance(raw, dict):
            errors.append("model_mesh_servers[%d] must be a mapping, got %s" % (i, type(raw).__name__))
            continue
        where = _where(i, raw)
        unknown = sorted(set(raw) - SERVER_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s (known: %s)" % (where, ", ".join(unknown), ", ".join(sorted(SERVER_KEYS))))
        if raw.get("models") is not None and not isinstance(raw.get("models"), list):
            errors.append("%s: models must be a list of model mappings" % where)
            continue
        server = normalize(raw, defaults)
        name, project = server.get("name"), server.get("project")
        if not isinstance(name, str) or not _DNS_1035.match(name) or len(name) > 63 - len("modelmesh-serving-"):
            errors.append("%s: name must be a DNS-1035 label of at most %d characters (its pods are "
                          "modelmesh-serving-<name>), got %r" % (where, 63 - len("modelmesh-serving-"), name))
        if not isinstance(project, str) or not _DNS_1123_LABEL.match(project) or len(project) > 63:
            errors.append("%s: project must be a namespace name (DNS-1123 label, at most 63 characters), got %r"
                          % (where, project))
        if isinstance(name, str) and isinstance(project, str):
            if (project, name) in seen_servers:
                errors.append("%s: the same model server as model_mesh_servers[%d]" % (where, seen_servers[(project, name)]))
            seen_servers[(project, name)] = i
        if server["state"] not in STATES:
            errors.append("%s: state must be present or absent, got %r" % (where, server["state"]))
            continue
        if server["state"] == "present":
            errors.extend(_server_errors(where, server))
        for j, model in enumerate(server["models"]):
            mwhere = _where(i, raw, j, model)
            if not isinstance(model, dict):
                errors.append("%s must be a mapping, got %s" % (mwhere, type(model).__name__))
                continue
            unknown = sorted(set(model) - MODEL_KEYS)
            if unknown:
                errors.append("%s: unknown keys %s (known: %s)" % (mwhere, ", ".join(unknown), ", ".join(sorted(MODEL_KEYS))))
            mname = model.get("name")
            if not isinstance(mname, str) or not _DNS_1035.match(mname) or len(mname) > 63:
                errors.append("%s: name must be a DNS-1035 label (at most 63 characters), got %r" % (mwhere, mname))
            elif isinstance(project, str):
                if (project, mname) in seen_models:
                    errors.append("%s: the same model name as %s in the same project" % (mwhere, seen_models[(project, mname)]))
                seen_models[(project, mname)] = mwhere
            if model.get("state") not in STATES:
                errors.append("%s: state must be present or absent, got %r" % (mwhere, model.get("state")))
                continue
            if model["state"] == "absent":
                continue
            if not isinstance(model.get("model_format"), str) or not model.get("model_format"):
                errors.append("%s: model_format (e.g. onnx, openvino_ir, tensorflow) is missing" % mwhere)
            if model.get("check") is not None and not isinstance(model["check"], dict):
                errors.append("%s: check must be a mapping" % mwhere)
            errors.extend(_storage_errors(mwhere, model.get("storage")))
            conn = _models.connection_of(model)
            if conn and isinstance(conn.get("name"), str) and isinstance(project, str):
                ckey = (project, conn["name"])
                if ckey in connections and connections[ckey][1] != conn:
                    errors.append("%s: data connection %s differs from the one of %s in the same project"
                                  % (mwhere, conn["name"], connections[ckey][0]))
                connections.setdefault(ckey, (mwhere, conn))
    single = {}
    for k, m in enumerate(single_models or []):
        if isinstance(m, dict) and m.get("state", "present") == "present" and isinstance(m.get("project"), str):
            single.setdefault(m["project"], []).append("model_serving_models[%d] (%s)" % (k, m.get("name")))
    for (project, _name), i in sorted(seen_servers.items()):
        entry = servers[i]
        if project in single and entry.get("state", "present") == "present":
            errors.append("%s: project %s cannot be both single-model and multi-model; it is on the single-model "
                          "platform in %s" % (_where(i, entry), project, ", ".join(single[project])))
    return errors


# --------------------------------------------------------------------------------- object builders


def _resources(server, sizes):
    res = None
    if server.get("resources") is not None:
        res = copy.deepcopy(server["resources"])
    elif server.get("size"):
        for size in sizes or []:
            if size.get("name") == server["size"]:
                res = copy.deepcopy(size.get("resources") or {})
                break
    if server.get("accelerators"):
        res = res or {}
        for part in ("requests", "limits"):
            res.setdefault(part, {})[GPU] = server["accelerators"]
    return res


def serving_runtime(server, template, sizes):
    """The model server: the project ServingRuntime the dashboard makes from a multi-model Template
    (serving-api.md §1.4: the shared copy of ``_models``, then the ModelMesh differences: replicas,
    container resources, ``enable-route``/``enable-auth``)."""
    base = _models.serving_runtime({"name": server["name"], "project": server["project"],
                                    "display_name": server.get("display_name") or server["name"],
                                    "accelerator_name": server.get("accelerator_name") or "",
                                    "model_format": ""}, template)
    annotations = base["metadata"]["annotations"]
    # keys set to None are removed by the merge patch (a route or auth switched off)
    annotations[ROUTE_ANNOTATION] = "true" if server["external_route"] else None
    annotations[AUTH_ANNOTATION] = "true" if server["token_auth"] else None
    spec = base["spec"]
    spec["replicas"] = server["replicas"]
    spec["multiModel"] = True
    src = (template.get("objects") or [{}])[0]
    src_containers = get_path(src, "spec.containers") or []
    res = _resources(server, sizes)
    for i, c in enumerate(spec.get("containers") or []):
        original = src_containers[i] if i < len(src_containers) else {}
        if i == 0 and res is not None:
            c["resources"] = res
        elif original.get("resources"):
            c["resources"] = copy.deepcopy(original["resources"])
    if server.get("accelerators"):
        tolerations = [t for t in spec.get("tolerations") or [] if t.get("key") != GPU]
        spec["tolerations"] = tolerations + [dict(GPU_TOLERATION)]
    return base


def inference_service(server, model, connection_name):
    """A model on the server: an InferenceService in ModelMesh mode (serving-api.md §3)."""
    spec_model = {"modelFormat": {"name": model["model_format"]}, "runtime": server["name"],
                  "storage": {"key": connection_name, "path": model["storage"]["path"]}}
    if model.get("model_format_version"):
        spec_model["modelFormat"]["version"] = str(model["model_format_version"])
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": {
            "name": model["name"], "namespace": server["project"],
            "labels": {DASHBOARD_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {DISPLAY_NAME: model.get("display_name") or model["name"], MODE_ANNOTATION: MODELMESH},
        },
        "spec": {"predictor": {"model": spec_model}},
    }


def token_objects(server):
    """ServiceAccount ``<server>-sa``, RoleBinding ``<server>-view`` to ClusterRole ``view`` and one
    token Secret per name (serving-api.md §2.4/§3: ModelMesh names them after the model server)."""
    name, ns = server["name"], server["project"]
    sa = server_sa(name)
    labels = {DASHBOARD_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY}

    def meta(obj_name, extra=None):
        out = {"name": obj_name, "namespace": ns, "labels": dict(labels)}
        if extra:
            out["annotations"] = extra
        return out

    objs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(sa)},
        {"apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": meta("%s-view" % name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]},
    ]
    for token in server["tokens"]:
        objs.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                     "metadata": meta(_models.token_secret_name(token, name), {SA_NAME_ANNOTATION: sa, DISPLAY_NAME: token})})
    return objs


def _token_refs(name, ns, secret_names):
    refs = [_models.ref("v1", "Secret", s, ns) for s in secret_names]
    refs += [_models.ref(RBAC_API, "RoleBinding", "%s-view" % name, ns),
             _models.ref("v1", "ServiceAccount", server_sa(name), ns)]
    return refs


def with_owners(items, runtime_results):
    """Token objects with the ownerReference to their model server (uid from the apply results)."""
    return _models.with_owners(items, runtime_results, owner_api=SR_API, owner_kind="ServingRuntime")


# ------------------------------------------------------------------------------------------ plan


def _ready_expression(names):
    """JMESPath over an InferenceService: not one of ``names``, or Ready and Loaded."""
    listed = json.dumps(sorted(names))
    return ("!contains(`%s`, metadata.name) || ((status.conditions[?type=='Ready'].status | [0]) == 'True' && "
            "status.modelStatus.states.activeModelState == 'Loaded')" % listed)


def _failure_expression(names):
    listed = json.dumps(sorted(names))
    return "contains(`%s`, metadata.name) && status.modelStatus.states.targetModelState == 'FailedToLoad'" % listed


def _support(template):
    """Platforms of a runtime Template (annotation opendatahub.io/modelServingSupport; the dashboard
    treats a missing or invalid one as multi-model)."""
    raw = (get_path(template, "metadata.annotations") or {}).get(SUPPORT_ANNOTATION)
    try:
        value = json.loads(raw) if raw else ["multi"]
    except ValueError:
        value = ["multi"]
    return value if isinstance(value, list) else ["multi"]


def _platform_of(project, isvcs):
    """(what the project is, a sentence naming why) from the live objects."""
    single = sorted("%s (%s)" % (get_path(o, "metadata.name"), live_mode(o)) for o in isvcs
                    if get_path(o, "metadata.namespace") == project and not is_modelmesh(o))
    if single:
        return "single", "it serves models on the single-model platform: InferenceServices %s" % ", ".join(single)
    return None, None


def plan(servers, defaults, cluster, check_mode=False, single_models=None):
    """Everything the role writes, deletes and waits for, or the refusals (``errors``), before any write.

    ``cluster``: ``templates`` (Templates of the applications namespace), ``sizes`` (model server
    sizes), ``namespaces`` (names of existing namespaces), ``isvcs`` (live InferenceServices),
    ``runtimes`` (live ServingRuntimes), ``secrets`` (metadata of the Secrets this collection created)."""
    errors = input_errors(servers, defaults, single_models)
    if errors:
        return {"errors": errors}
    cluster = cluster or {}
    by_sr = _models.runtime_templates(cluster.get("templates"))
    sizes = cluster.get("sizes") or []
    namespaces = set(cluster.get("namespaces") or [])
    isvcs = cluster.get("isvcs") or []
    live = dict(((get_path(o, "metadata.namespace"), get_path(o, "metadata.name")), o) for o in isvcs)
    live_srs = dict(((get_path(o, "metadata.namespace"), get_path(o, "metadata.name")), o)
                    for o in cluster.get("runtimes") or [])
    ours = [s if "metadata" in s else {"metadata": s} for s in cluster.get("secrets") or []]
    ours = [s["metadata"] for s in ours if (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY]
    entries = [normalize(s, defaults) for s in servers]
    out = {"errors": [], "notes": [], "namespaces": [], "secrets": [], "runtimes": [], "isvcs": [], "tokens": [],
           "deleted_models": [], "delete": [], "removed": [], "waits": [], "pod_groups": [], "routes": [],
           "checks": [], "pending": [], "servers": [], "replan": False, "templates_pending": []}

    for i, server in enumerate(entries):
        where = _where(i, server)
        project = server["project"]
        if server["state"] == "present":
            kind, why = _platform_of(project, isvcs)
            if kind == "single":
                out["errors"].append("%s: project %s cannot be both single-model and multi-model: %s" % (where, project, why))
            sr_name, template = _models.find_template(server["runtime"], by_sr)
            if template is None and cluster.get("platform_pending"):
                # the shipped multi-model templates come with the modelmeshserving component: decide
                # again once the role has enabled it
                out["notes"].append("%s: runtime %s: its Template appears when the multi-model platform is enabled; "
                                    "decided again after that" % (where, server["runtime"]))
                out["replan"] = True
                if server["runtime"] in SHIPPED:
                    out["templates_pending"].append(SHIPPED[server["runtime"]][0])
                continue
            if template is None:
                out["errors"].append("%s: runtime %s is not offered by the dashboard (no Template in the applications "
                                     "namespace whose ServingRuntime is named so; the ovms template ships with the "
                                     "modelmeshserving component); available: %s"
                                     % (where, server["runtime"], ", ".join(sorted(by_sr)) or "none"))
                continue
            if "multi" not in _support(template):
                out["errors"].append("%s: runtime %s is a single-model runtime; a model server of the multi-model "
                                     "platform needs a multi-model runtime (ovms, or a custom one for the multi-model "
                                     "platform)" % (where, sr_name))
            formats = [str(f.get("name", "")) for f in get_path((template.get("objects") or [{}])[0],
                                                                "spec.supportedModelFormats") or []]
            for j, model in enumerate(server["models"]):
                if model["state"] == "present" and model["model_format"].lower() not in [f.lower() for f in formats]:
                    out["errors"].append("%s: runtime %s does not serve model_format %s (it serves: %s)"
                                         % (_where(i, server, j, model), sr_name, model["model_format"],
                                            ", ".join(formats) or "none"))
            if server.get("size") and not any(s.get("name") == server["size"] for s in sizes):
                out["errors"].append("%s: size %s is not a model server size of the dashboard configuration (sizes: %s)"
                                     % (where, server["size"], ", ".join(s.get("name", "?") for s in sizes) or "none"))
            cur_sr = live_srs.get((project, server["name"]))
            if cur_sr is not None and not get_path(cur_sr, "spec.multiModel"):
                out["errors"].append("%s: ServingRuntime %s/%s exists as a single-model runtime" % (where, project, server["name"]))
            for j, model in enumerate(server["models"]):
                cur = live.get((project, model["name"]))
                other = get_path(cur, "spec.predictor.model.runtime") if cur else None
                if cur is not None and is_modelmesh(cur) and other and other != server["name"] and \
                        not any(s["project"] == project and s["name"] == other and s["state"] == "present" and
                                any(m["name"] == model["name"] and m["state"] == "present" for m in s["models"])
                                for s in entries if s is not server):
                    out["notes"].append("%s: moves from model server %s" % (_where(i, server, j, model), other))
            server["_sr_name"] = sr_name
            server["_template"] = template
    if out["errors"]:
        return {"errors": out["errors"], "notes": out["notes"]}
    entries = [s for s in entries if s["state"] == "absent" or "_template" in s]

    def skip(obj):
        ns = get_path(obj, "metadata.namespace")
        if check_mode and ns and ns not in namespaces:
            out["pending"].append("%s %s/%s" % (obj["kind"], ns, obj["metadata"]["name"]))
            return True
        return False

    present = [s for s in entries if s["state"] == "present"]
    projects = []
    for server in present:
        if server["project"] not in projects:
            projects.append(server["project"])
    for project in projects:
        out["namespaces"].append(_models.item({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": project, "labels": {DASHBOARD_LABEL: "true", MODELMESH_LABEL: "true"}}}))

    wanted_connections = set()
    done_connections = set()
    for server in present:
        project = server["project"]
        sr = serving_runtime(server, server["_template"], sizes)
        if not skip(sr):
            out["runtimes"].append(_models.item(sr))
        if server["token_auth"]:
            for obj in token_objects(server):
                if not skip(obj):
                    entry = _models.item(obj)
                    entry["owner"] = server["name"]
                    out["tokens"].append(entry)
            wanted = set(_models.token_secret_name(t, server["name"]) for t in server["tokens"])
        else:
            wanted = set()
            cur_sr = live_srs.get((project, server["name"]))
            if cur_sr is not None and (get_path(cur_sr, "metadata.annotations") or {}).get(AUTH_ANNOTATION) == "true":
                out["delete"].extend(_token_refs(server["name"], project, []))
        for md in ours:
            if md.get("namespace") == project and \
                    (md.get("annotations") or {}).get(SA_NAME_ANNOTATION) == server_sa(server["name"]) and \
                    md.get("name") not in wanted:
                out["delete"].append(_models.ref("v1", "Secret", md["name"], project))
        models = []
        for model in server["models"]:
            if model["state"] != "present":
                continue
            conn = _models.connection_of(model)
            conn_name = _models.connection_name_of(model)
            wanted_connections.add((project, conn_name))
            if conn and (project, conn["name"]) not in done_connections:
                done_connections.add((project, conn["name"]))
                secret = _models.data_connection({"project": project, "storage": model["storage"]})
                if not skip(secret):
                    out["secrets"].append(_models.item(secret))
            isvc = inference_service(server, model, conn_name)
            if not skip(isvc):
                out["isvcs"].append(_models.item(isvc))
            check = dict(model.get("check") or {})
            models.append({"name": model["name"], "check_enabled": bool(check.pop("enabled", True)), "check": check})
        out["servers"].append({
            "name": server["name"], "project": project, "runtime": server["_sr_name"], "replicas": server["replicas"],
            "external_route": server["external_route"], "token_auth": server["token_auth"],
            "tokens": [_models.token_secret_name(t, server["name"]) for t in server["tokens"]],
            "models": [m["name"] for m in models],
        })
        if check_mode and project not in namespaces:
            continue
        names = [m["name"] for m in models]
        out["pod_groups"].append({"namespace": project, "server": server["name"], "groups": [{
            "name": server["name"], "label_selector": "name=%s-%s" % (SERVICE_NAME, server["name"]),
            "min_ready": server["replicas"]}]})
        if names:
            out["waits"].append({"namespace": project, "server": server["name"], "names": names,
                                 "jmespath": _ready_expression(names),
                                 "failure": [{"jmespath": _failure_expression(names)}]})
        for m in models:
            if server["external_route"]:
                out["routes"].append({"namespace": project, "name": m["name"], "server": server["name"]})
            if m["check_enabled"]:
                out["checks"].append({"namespace": project, "name": m["name"], "server": server["name"],
                                      "external_route": server["external_route"], "token_auth": server["token_auth"],
                                      "token": _models.token_secret_name(server["tokens"][0], server["name"])
                                      if server["token_auth"] else None, "check": m["check"]})

    # Removal: a model server's models first (seed §2.1.4), then the server and its token objects,
    # then data connections of this collection that no remaining model uses.
    removed_isvcs = set()
    for server in entries:
        project = server["project"]
        gone = []
        for model in server["models"]:
            if model["state"] == "absent" and (project, model["name"]) not in removed_isvcs and \
                    (project, model["name"]) in live:
                gone.append(model["name"])
        if server["state"] == "absent":
            for (ns, name), obj in sorted(live.items()):
                if ns == project and is_modelmesh(obj) and \
                        get_path(obj, "spec.predictor.model.runtime") == server["name"] and name not in gone:
                    gone.append(name)
        for name in gone:
            removed_isvcs.add((project, name))
            out["deleted_models"].append(_models.ref(ISVC_API, "InferenceService", name, project))
        if server["state"] == "absent":
            out["removed"].append({"server": server["name"], "project": project, "models": gone})
            out["delete"].append(_models.ref(SR_API, "ServingRuntime", server["name"], project))
            out["delete"].extend(_token_refs(server["name"], project, [
                md.get("name") for md in ours if md.get("namespace") == project and
                (md.get("annotations") or {}).get(SA_NAME_ANNOTATION) == server_sa(server["name"])]))
        elif gone:
            out["removed"].append({"server": server["name"], "project": project, "models": gone, "server_kept": True})
    still_used = set(wanted_connections)
    for (ns, name), obj in live.items():
        key = get_path(obj, "spec.predictor.model.storage.key")
        if key and (ns, name) not in removed_isvcs:
            still_used.add((ns, key))
    for (ns, name) in sorted(removed_isvcs):
        key = get_path(live.get((ns, name)), "spec.predictor.model.storage.key")
        if key and (ns, key) not in still_used and any(md.get("namespace") == ns and md.get("name") == key for md in ours):
            out["delete"].append(_models.ref("v1", "Secret", key, ns))
            still_used.add((ns, key))
    return out


def checks(plan_checks, route_results):
    """The inference checks with the URL of each model's Route (``https://<host>``)."""
    hosts = {}
    for res in route_results or []:
        for obj in res.get("resources") or []:
            md = obj.get("metadata") or {}
            host = get_path(obj, "spec.host")
            if host:
                hosts[(md.get("namespace"), md.get("name"))] = host
    out = []
    for c in plan_checks or []:
        c = dict(c)
        host = hosts.get((c["namespace"], c["name"]))
        c["url"] = "https://%s" % host if host else None
        out.append(c)
    return out


def summary(servers, removed, wait_results, route_results, check_results):
    """Per model server: name, project, runtime, replicas, route and auth, and per model whether it is
    Loaded, its inference URL and the check in short; plus what was removed."""
    isvcs = {}
    for res in wait_results or []:
        for obj in res.get("resources") or []:
            md = obj.get("metadata") or {}
            isvcs[(md.get("namespace"), md.get("name"))] = obj
    hosts = {}
    for res in route_results or []:
        for obj in res.get("resources") or []:
            md = obj.get("metadata") or {}
            hosts[(md.get("namespace"), md.get("name"))] = get_path(obj, "spec.host")
    results = {}
    for res in check_results or []:
        c = res.get("__model_mesh_check") or {}
        results[(c.get("namespace"), c.get("name"))] = res
    out = []
    for server in servers or []:
        entry = dict((k, server.get(k)) for k in ("name", "project", "runtime", "replicas", "external_route", "token_auth"))
        entry["token_secrets"] = server.get("tokens") or []
        entry["models"] = []
        for name in server.get("models") or []:
            key = (server.get("project"), name)
            obj = isvcs.get(key)
            model = {"name": name,
                     "loaded": None if obj is None else get_path(obj, "status.modelStatus.states.activeModelState") == "Loaded",
                     "url": ("https://%s/v2/models/%s/infer" % (hosts[key], name)) if hosts.get(key) else None}
            res = results.get(key)
            if res is not None:
                answered = [c for c in res.get("calls") or [] if c.get("ok") and c.get("excerpt")]
                model["check"] = {"ok": bool(res.get("ok")) and not res.get("failed"),
                                  "calls": ["%s %s" % (c.get("name"), c.get("status")) for c in res.get("calls") or []],
                                  "answer": answered[-1]["excerpt"] if answered else None, "msg": res.get("msg")}
            entry["models"].append(model)
        out.append(entry)
    return {"servers": out, "removed": removed or []}


def failure_report(results):
    """Lines naming server, pod, container and reason from failed pods_verify results."""
    lines = []
    for res in results or []:
        if not res.get("failed"):
            continue
        group = res.get("__model_mesh_pods") or {}
        where = "model server %s/%s" % (group.get("namespace"), group.get("server"))
        problems = [p for pod in res.get("pods") or [] for p in pod.get("problems") or []]
        for p in problems:
            text = "pod %s" % p.get("pod")
            if p.get("container"):
                text += " container %s" % p.get("container")
            lines.append("%s: %s: %s%s" % (where, text, p.get("reason"),
                                           (" (%s)" % p.get("message")) if p.get("message") else ""))
        if not problems:
            msg = str(res.get("msg") or "")
            lines.append("%s: %s" % (where, msg if len(msg) <= 600 else msg[:600] + "..."))
    return lines


def platform_patch(dsc, enable_dashboard_switch=True):
    """DSC merge patch turning ``modelmeshserving`` Managed (other components untouched) and the
    OdhDashboardConfig patch of the dashboard's "Multi-model serving platform" switch."""
    dsc_patch = None
    if get_path(dsc, "spec.components.modelmeshserving.managementState") != "Managed":
        dsc_patch = {"spec": {"components": {"modelmeshserving": {"managementState": "Managed"}}}}
    switch = dashboard_patch({"multi_model_platform": True}) if enable_dashboard_switch else None
    return {"dsc": dsc_patch, "dashboard": switch}


# ------------------------------------------------------------------------- upgrade readiness


def _runtime_key(sr):
    ann = get_path(sr, "metadata.annotations") or {}
    return ann.get("opendatahub.io/template-name") or get_path(sr, "metadata.name")


def readiness(cluster, next_major=NEXT_MAJOR):
    """What the next major release removes and this cluster uses (serving-api.md §5.3), read-only.

    ``cluster``: ``dsc`` (DataScienceCluster or None), ``dsci``, ``isvcs``, ``runtimes``,
    ``subscriptions`` (OLM Subscriptions). Returns ``{"blockers": [...], "advisories": [...]}``, each
    item ``{"kind", "name", "namespace", "why", "action"}``; empty lists on a cluster without any."""
    cluster = cluster or {}
    blockers, advisories = [], []
    dsc = cluster.get("dsc")
    dsci = cluster.get("dsci")
    release = "%d.%d" % next_major

    def add(where, kind, name, namespace, why, action):
        where.append({"kind": kind, "name": name, "namespace": namespace, "why": why, "action": action})

    if dsc and get_path(dsc, "spec.components.modelmeshserving.managementState") in ("Managed", "Unmanaged"):
        add(blockers, "DataScienceCluster", get_path(dsc, "metadata.name"), None,
            "component modelmeshserving (the multi-model platform, ModelMesh) is %s; %s removes ModelMesh"
            % (get_path(dsc, "spec.components.modelmeshserving.managementState"), release),
            "move the ModelMesh models to the single-model platform, then set modelmeshserving Removed")
    serving = get_path(dsc, "spec.components.kserve.serving.managementState") if dsc else None
    if dsc and get_path(dsc, "spec.components.kserve.managementState") == "Managed" and serving in ("Managed", "Unmanaged"):
        add(blockers, "DataScienceCluster", get_path(dsc, "metadata.name"), None,
            "KServe Serverless (kserve.serving) is %s; %s removes Serverless" % (serving, release),
            "recreate the Serverless models as RawDeployment, then set kserve.serving Removed")
    mesh = get_path(dsci, "spec.serviceMesh.managementState") if dsci else None
    if dsci and mesh in ("Managed", "Unmanaged"):
        add(blockers, "DSCInitialization", get_path(dsci, "metadata.name"), None,
            "the operator manages a Service Mesh (serviceMesh %s); %s no longer uses one" % (mesh, release),
            "set DSCInitialization serviceMesh.managementState Removed once nothing needs it")
    for sub in cluster.get("subscriptions") or []:
        if get_path(sub, "spec.name") == "servicemeshoperator":
            add(advisories, "Subscription", get_path(sub, "metadata.name"), get_path(sub, "metadata.namespace"),
                "OpenShift Service Mesh 2 operator installed; the next release requires it gone",
                "remove it after the managed Service Mesh is Removed")
    runtimes = dict(((get_path(o, "metadata.namespace"), get_path(o, "metadata.name")), o)
                    for o in cluster.get("runtimes") or [])
    for (ns, name), sr in sorted(runtimes.items()):
        if get_path(sr, "spec.multiModel"):
            models = sorted(get_path(o, "metadata.name") for o in cluster.get("isvcs") or []
                            if get_path(o, "metadata.namespace") == ns and
                            get_path(o, "spec.predictor.model.runtime") == name)
            add(blockers, "ServingRuntime", name, ns,
                "ModelMesh model server (multiModel) with models: %s" % (", ".join(models) or "none"),
                "deploy its models on the single-model platform (e.g. kserve-ovms), then delete the model server")
    isvcs = sorted(cluster.get("isvcs") or [],
                   key=lambda o: (get_path(o, "metadata.namespace"), get_path(o, "metadata.name")))
    for isvc in isvcs:
        ns, name = get_path(isvc, "metadata.namespace"), get_path(isvc, "metadata.name")
        mode = live_mode(isvc)
        if mode == MODELMESH:
            add(blockers, "InferenceService", name, ns,
                "ModelMesh model on model server %s" % get_path(isvc, "spec.predictor.model.runtime"),
                "recreate it on the single-model platform (RawDeployment)")
        elif mode == "Serverless":
            add(blockers, "InferenceService", name, ns, "Serverless model; the deployment mode cannot be changed "
                "in place", "delete and recreate it in RawDeployment mode")
        sr = runtimes.get((ns, get_path(isvc, "spec.predictor.model.runtime")))
        key = _runtime_key(sr) if sr else None
        shipped = SHIPPED.get(key) if key else None
        if shipped and shipped[2] is not None and shipped[2] <= next_major and mode != MODELMESH:
            add(blockers, "InferenceService", name, ns,
                "runs on runtime %s, which %s does not ship (%s)" % (key, release, shipped[3]),
                "move it to %s" % SUCCESSORS.get(key, "a runtime the release ships"))
    return {"blockers": blockers, "advisories": advisories}
