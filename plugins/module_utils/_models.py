# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of the model_deployment role: input checks and the objects the OpenShift AI
dashboard creates for a model on the single-model serving platform (KServe).

Facts: serving-api.md §1.4 (project ServingRuntime from a Template), §2.1 (project namespace),
§2.2 (InferenceService metadata), §2.3 (data connection), §2.4 (token objects). Nothing here talks
to a cluster; the role reads the cluster and hands plain dicts in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import hashlib
import json
import re

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._runtimes import (
    DASHBOARD_LABEL,
    DISPLAY_NAME_ANNOTATION as DISPLAY_NAME,
    FALLBACKS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SR_API_VERSION as SR_API,
    template_runtime_name,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import get_path

ISVC_API = "serving.kserve.io/v1beta1"
RBAC_API = "rbac.authorization.k8s.io/v1"
MODELMESH_LABEL = "modelmesh-enabled"
MANAGED_LABEL = "opendatahub.io/managed"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
AUTH_ANNOTATION = "security.opendatahub.io/enable-auth"
KNATIVE_VISIBILITY = "networking.knative.dev/visibility"
KSERVE_VISIBILITY = "networking.kserve.io/visibility"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
RUNTIME_HASH_ANNOTATION = "model-serving.openshift-ai.io/runtime-hash"
GPU = "nvidia.com/gpu"
MODES = ("Serverless", "RawDeployment")
STATES = ("present", "absent")
SERVERLESS_ANNOTATIONS = (
    "serving.knative.openshift.io/enablePassthrough",
    "sidecar.istio.io/inject",
    "sidecar.istio.io/rewriteAppHTTPProbers",
)
CONNECTION_KEYS = (
    ("access_key_id", "AWS_ACCESS_KEY_ID"),
    ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ("endpoint", "AWS_S3_ENDPOINT"),
    ("region", "AWS_DEFAULT_REGION"),
    ("bucket", "AWS_S3_BUCKET"),
)
DEFAULT_REGION = "us-east-1"
DEFAULT_TOKEN = "default-name"
SHM_VOLUME = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}
SHM_MOUNT = {"name": "shm", "mountPath": "/dev/shm"}
MODEL_KEYS = frozenset((
    "name", "project", "display_name", "runtime", "model_format", "model_format_version", "storage", "replicas",
    "size", "resources", "accelerators", "accelerator_name", "deployment_mode", "external_route", "token_auth",
    "tokens", "state", "args", "env", "annotations", "labels", "runtime_args", "runtime_env", "tolerations", "node_selector", "check",
))

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_URI = re.compile(r"^(s3|gs|https?|oci|pvc|hf)://\S+$")


# --------------------------------------------------------------------------------------- helpers


def k8s_name(text):
    """The dashboard's translateDisplayNameForK8s: lower case, runs of other characters -> '-'."""
    out = re.sub(r"[^a-z0-9-]+", "-", str(text).lower())
    out = re.sub(r"-+", "-", out).strip("-")
    return out


def token_secret_name(token, isvc):
    return "%s-%s-sa" % (k8s_name(token), isvc)


def _where(index, model):
    name = model.get("name") if isinstance(model, dict) else None
    project = model.get("project") if isinstance(model, dict) else None
    if name or project:
        return "model_serving_models[%d] (%s in %s)" % (index, name or "?", project or "?")
    return "model_serving_models[%d]" % index


def _b64(value):
    return base64.b64encode(str(value).encode("utf-8")).decode("ascii")


def _is_bool(value):
    return isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def replicas_of(model):
    """``(min, max)`` from ``replicas`` (an int or ``{min, max}``; default 1/1)."""
    value = model.get("replicas", 1)
    if isinstance(value, dict):
        low = value.get("min", 1)
        high = value.get("max", max(low, 1) if _is_int(low) else 1)
        return low, high
    return value, value


def normalize(model, defaults=None):
    """The model entry with the role defaults filled in (no validation)."""
    defaults = defaults or {}
    out = dict(model)
    out.setdefault("state", "present")
    out.setdefault("deployment_mode", defaults.get("deployment_mode", "Serverless"))
    out.setdefault("external_route", defaults.get("external_route", True))
    out.setdefault("token_auth", defaults.get("token_auth", False))
    if out.get("token_auth") and not out.get("tokens"):
        out["tokens"] = [DEFAULT_TOKEN]
    out.setdefault("tokens", [])
    out.setdefault("accelerators", 0)
    out.setdefault("display_name", out.get("name"))
    return out


def connection_of(model):
    """The data connection mapping of a model (None when it uses a URI or names an existing Secret)."""
    storage = model.get("storage") or {}
    conn = storage.get("connection") if isinstance(storage, dict) else None
    return conn if isinstance(conn, dict) else None


def connection_name_of(model):
    storage = model.get("storage") or {}
    conn = storage.get("connection") if isinstance(storage, dict) else None
    if isinstance(conn, dict):
        return conn.get("name")
    return conn if isinstance(conn, str) else None


# ------------------------------------------------------------------------------------ validation


def _storage_errors(where, storage):
    if not isinstance(storage, dict):
        return ["%s: storage is missing (a data connection with a path, or a uri)" % where]
    errors = []
    has_uri = storage.get("uri") is not None
    has_conn = storage.get("connection") is not None
    if has_uri == has_conn:
        return ["%s: storage needs exactly one of storage.connection (with storage.path) and storage.uri" % where]
    if has_uri:
        if not isinstance(storage["uri"], str) or not _URI.match(storage["uri"]):
            errors.append("%s: storage.uri must be a URI such as s3://bucket/path, oci://registry/image:tag or "
                          "pvc://claim/path, got %r" % (where, storage["uri"]))
        return errors
    conn = storage["connection"]
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
        unknown = sorted(set(conn) - set(pair[0] for pair in CONNECTION_KEYS) - set(["name", "display_name"]))
        if unknown:
            errors.append("%s: storage.connection has unknown keys: %s" % (where, ", ".join(unknown)))
    else:
        errors.append("%s: storage.connection must be a mapping (name, endpoint, bucket, region, access_key_id, "
                      "secret_access_key) or the name of an existing data connection Secret" % where)
    path = storage.get("path")
    if not isinstance(path, str) or not path.strip("/"):
        errors.append("%s: storage.path (the model's folder in the bucket) is missing" % where)
    return errors


def _resources_errors(where, model):
    errors = []
    if model.get("size") is not None and model.get("resources") is not None:
        errors.append("%s: give size or resources, not both" % where)
    if model.get("size") is not None and (not isinstance(model["size"], str) or not model["size"]):
        errors.append("%s: size must be the name of a model server size (e.g. Small), got %r" % (where, model["size"]))
    res = model.get("resources")
    if res is not None:
        if not isinstance(res, dict) or set(res) - set(["requests", "limits"]) or \
                not all(isinstance(v, dict) for v in res.values()):
            errors.append("%s: resources must be {requests: {...}, limits: {...}}" % where)
    acc = model.get("accelerators", 0)
    if not _is_int(acc) or acc < 0:
        errors.append("%s: accelerators must be a number of nvidia.com/gpu >= 0, got %r" % (where, acc))
    return errors


def _list_errors(where, model):
    errors = []
    for key in ("args", "runtime_args"):
        value = model.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(a, str) for a in value)):
            errors.append("%s: %s must be a list of strings" % (where, key))
    for key in ("env", "runtime_env"):
        value = model.get(key)
        if value is not None and (not isinstance(value, list) or
                                  not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in value)):
            errors.append("%s: %s must be a list of {name, value} mappings" % (where, key))
    for key in ("tolerations",):
        value = model.get(key)
        if value is not None and not isinstance(value, list):
            errors.append("%s: %s must be a list" % (where, key))
    for key in ("annotations", "labels"):
        value = model.get(key)
        if value is not None and (not isinstance(value, dict) or
                                  not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            errors.append("%s: %s must be a mapping of strings to strings" % (where, key))
    for key in ("node_selector", "check"):
        value = model.get(key)
        if value is not None and not isinstance(value, dict):
            errors.append("%s: %s must be a mapping" % (where, key))
    return errors


def input_errors(models, defaults=None):
    """Every input problem of ``model_serving_models`` that needs no cluster, each naming the entry."""
    if not isinstance(models, list):
        return ["model_serving_models must be a list of model mappings, got %s" % type(models).__name__]
    errors = []
    seen = {}
    connections = {}
    for i, raw in enumerate(models):
        if not isinstance(raw, dict):
            errors.append("model_serving_models[%d] must be a mapping, got %s" % (i, type(raw).__name__))
            continue
        where = _where(i, raw)
        unknown = sorted(set(raw) - MODEL_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s (known: %s)" % (where, ", ".join(unknown), ", ".join(sorted(MODEL_KEYS))))
        model = normalize(raw, defaults)
        name, project = model.get("name"), model.get("project")
        if not isinstance(name, str) or not _DNS_1035.match(name) or len(name) > 63:
            errors.append("%s: name must be a DNS-1035 label (lower case letters, digits and '-', starting with a "
                          "letter, at most 63 characters), got %r" % (where, name))
        if not isinstance(project, str) or not _DNS_1123_LABEL.match(project) or len(project) > 63:
            errors.append("%s: project must be a namespace name (DNS-1123 label, at most 63 characters), got %r"
                          % (where, project))
        key = (project, name)
        if isinstance(name, str) and isinstance(project, str):
            if key in seen:
                errors.append("%s: the same model as model_serving_models[%d]" % (where, seen[key]))
            seen[key] = i
        if model["state"] not in STATES:
            errors.append("%s: state must be present or absent, got %r" % (where, model["state"]))
            continue
        if model["deployment_mode"] not in MODES:
            errors.append("%s: deployment_mode must be Serverless or RawDeployment, got %r"
                          % (where, model["deployment_mode"]))
        if model["state"] == "absent":
            if model.get("storage") is not None and not isinstance(model.get("storage"), dict):
                errors.append("%s: storage must be a mapping" % where)
            continue
        runtime = model.get("runtime")
        if not isinstance(runtime, str) or not _DNS_1123.match(runtime):
            errors.append("%s: runtime must be a ServingRuntime name (e.g. vllm-cuda-runtime, kserve-ovms, or a "
                          "custom runtime), got %r" % (where, runtime))
        if not isinstance(model.get("model_format"), str) or not model.get("model_format"):
            errors.append("%s: model_format (e.g. vLLM, onnx, openvino_ir, caikit, pytorch) is missing" % where)
        errors.extend(_storage_errors(where, model.get("storage")))
        conn = connection_of(model)
        if conn and isinstance(conn.get("name"), str) and isinstance(project, str):
            ckey = (project, conn["name"])
            if ckey in connections and connections[ckey][1] != conn:
                errors.append("%s: data connection %s differs from the one of model_serving_models[%d] in the same "
                              "project" % (where, conn["name"], connections[ckey][0]))
            connections.setdefault(ckey, (i, conn))
        low, high = replicas_of(model)
        if not _is_int(low) or not _is_int(high) or low < 0 or high < 1 or low > high:
            errors.append("%s: replicas must be a number >= 1 or {min: >= 0, max: >= min and >= 1}, got %r"
                          % (where, model.get("replicas")))
        errors.extend(_resources_errors(where, model))
        for key in ("external_route", "token_auth"):
            if not _is_bool(model.get(key)):
                errors.append("%s: %s must be true or false, got %r" % (where, key, model.get(key)))
        tokens = model.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) and k8s_name(t) for t in tokens):
            errors.append("%s: tokens must be a list of token (service account) names, got %r" % (where, tokens))
        elif len(set(k8s_name(t) for t in tokens)) != len(tokens):
            errors.append("%s: tokens has names that give the same Secret name: %s" % (where, ", ".join(tokens)))
        elif tokens and not model.get("token_auth"):
            errors.append("%s: tokens are given but token_auth is false" % where)
        elif isinstance(name, str) and any(len(token_secret_name(t, name)) > 253 for t in tokens):
            errors.append("%s: a token name is too long for its Secret name" % where)
        if model["deployment_mode"] == "Serverless" and model.get("external_route") is True and \
                isinstance(name, str) and isinstance(project, str) and len(name) + len(project) + 1 > 63:
            errors.append("%s: the route host %s-%s is longer than 63 characters; shorten the name or the project"
                          % (where, name, project))
        errors.extend(_list_errors(where, model))
    return errors


# --------------------------------------------------------------------------------- object builders


def _label_true(obj, key):
    return str((get_path(obj, "metadata.labels") or {}).get(key)).lower() == "true"


def runtime_templates(templates):
    """ServingRuntime name -> Template, for the dashboard's templates (label opendatahub.io/dashboard)."""
    out = {}
    for tpl in templates or []:
        if not _label_true(tpl, DASHBOARD_LABEL):
            continue
        sr = template_runtime_name(tpl)
        if sr:
            out.setdefault(sr, tpl)
    return out


def find_template(runtime, by_sr):
    """``(sr name, template)`` for a runtime name, with the renames across versions."""
    if runtime in by_sr:
        return runtime, by_sr[runtime]
    for alt in FALLBACKS.get(runtime, ()):
        if alt in by_sr:
            return alt, by_sr[alt]
    return None, None


def _support(template):
    raw = (get_path(template, "metadata.annotations") or {}).get("opendatahub.io/modelServingSupport")
    try:
        value = json.loads(raw) if raw else ["multi"]
    except ValueError:
        value = ["multi"]
    return value if isinstance(value, list) else ["multi"]


def _merge_env(env, updates):
    out = [dict(e) for e in env or []]
    for item in updates or []:
        for e in out:
            if e.get("name") == item.get("name"):
                e.clear()
                e.update(item)
                break
        else:
            out.append(dict(item))
    return out


def serving_runtime(model, template):
    """The project ServingRuntime the dashboard makes from a Template (serving-api.md §1.4)."""
    src = copy.deepcopy((template.get("objects") or [{}])[0])
    tpl_annotations = get_path(template, "metadata.annotations") or {}
    src_meta = src.get("metadata") or {}
    sr_name = src_meta.get("name")
    labels = dict(src_meta.get("labels") or {})
    labels[DASHBOARD_LABEL] = "true"
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    annotations = dict(src_meta.get("annotations") or {})
    template_display = annotations.get(DISPLAY_NAME) or tpl_annotations.get(DISPLAY_NAME) or sr_name
    annotations.update({
        DISPLAY_NAME: model.get("display_name") or model["name"],
        "opendatahub.io/template-name": sr_name,
        "opendatahub.io/template-display-name": template_display,
        "opendatahub.io/accelerator-name": model.get("accelerator_name") or "",
    })
    if tpl_annotations.get("opendatahub.io/apiProtocol"):
        annotations["opendatahub.io/apiProtocol"] = tpl_annotations["opendatahub.io/apiProtocol"]
    spec = copy.deepcopy(src.get("spec") or {})
    spec.pop("replicas", None)
    fmt = model.get("model_format", "")
    formats = spec.get("supportedModelFormats") or []
    chosen = [dict(f) for f in formats if str(f.get("name", "")).lower() == fmt.lower()]
    if chosen:
        if model.get("model_format_version"):
            exact = [f for f in chosen if str(f.get("version")) == str(model["model_format_version"])]
            chosen = exact or chosen
        chosen = [dict(chosen[0], autoSelect=True, priority=1)]
        spec["supportedModelFormats"] = chosen
    containers = spec.get("containers") or []
    for i, c in enumerate(containers):
        c.pop("resources", None)
        mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") != SHM_MOUNT["name"]]
        c["volumeMounts"] = mounts + [dict(SHM_MOUNT)]
        if i == 0:
            if model.get("runtime_args"):
                c["args"] = list(c.get("args") or []) + [a for a in model["runtime_args"] if a not in (c.get("args") or [])]
            if model.get("runtime_env"):
                c["env"] = _merge_env(c.get("env"), model["runtime_env"])
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") != SHM_VOLUME["name"]]
    spec["volumes"] = volumes + [copy.deepcopy(SHM_VOLUME)]
    return {
        "apiVersion": SR_API,
        "kind": "ServingRuntime",
        "metadata": {"name": model["name"], "namespace": model["project"], "labels": labels,
                     "annotations": annotations},
        "spec": spec,
    }


def runtime_hash(sr):
    """Short hash of a ServingRuntime spec; on the predictor it rolls the pods when the runtime changes."""
    text = json.dumps(sr.get("spec") or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _resources(model, sizes):
    res = None
    if model.get("resources") is not None:
        res = copy.deepcopy(model["resources"])
    elif model.get("size"):
        for size in sizes or []:
            if size.get("name") == model["size"]:
                res = copy.deepcopy(size.get("resources") or {})
                break
    if model.get("accelerators"):
        res = res or {}
        for part in ("requests", "limits"):
            res.setdefault(part, {})[GPU] = model["accelerators"]
    return res


def inference_service(model, sr, sizes, connection_name=None):
    """The InferenceService as the dashboard (RHOAI 2.17+) writes it. Keys set to None are removed by
    the merge patch (labels/annotations of a former exposure, auth or mode)."""
    mode = model["deployment_mode"]
    serverless = mode == "Serverless"
    labels = {DASHBOARD_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY,
              KNATIVE_VISIBILITY: None, KSERVE_VISIBILITY: None}
    if serverless and not model["external_route"]:
        labels[KNATIVE_VISIBILITY] = "cluster-local"
    if not serverless and model["external_route"]:
        labels[KSERVE_VISIBILITY] = "exposed"
    annotations = {DISPLAY_NAME: model.get("display_name") or model["name"], MODE_ANNOTATION: mode,
                   AUTH_ANNOTATION: "true" if model["token_auth"] else None}
    for key in SERVERLESS_ANNOTATIONS:
        annotations[key] = "true" if serverless else None
    for key, value in (model.get("annotations") or {}).items():
        annotations.setdefault(key, value)
    for key, value in (model.get("labels") or {}).items():
        labels.setdefault(key, value)
    low, high = replicas_of(model)
    storage = model["storage"]
    spec_model = {"modelFormat": {"name": model["model_format"]}, "runtime": model["name"]}
    if model.get("model_format_version"):
        spec_model["modelFormat"]["version"] = str(model["model_format_version"])
    if storage.get("uri"):
        spec_model["storageUri"] = storage["uri"]
        spec_model["storage"] = None
    else:
        spec_model["storage"] = {"key": connection_name, "path": storage["path"]}
        spec_model["storageUri"] = None
    res = _resources(model, sizes)
    if res is not None:
        spec_model["resources"] = res
    for key in ("args", "env"):
        if model.get(key):
            spec_model[key] = model[key]
    predictor = {"minReplicas": low, "maxReplicas": high, "model": spec_model,
                 "annotations": {RUNTIME_HASH_ANNOTATION: runtime_hash(sr)}}
    if model.get("tolerations"):
        predictor["tolerations"] = model["tolerations"]
    if model.get("node_selector"):
        predictor["nodeSelector"] = model["node_selector"]
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": {"name": model["name"], "namespace": model["project"], "labels": labels,
                     "annotations": annotations},
        "spec": {"predictor": predictor},
    }


def data_connection(model):
    """The S3 data connection Secret (labels, annotations and keys of the dashboard's connection)."""
    conn = connection_of(model)
    values = dict(conn)
    values.setdefault("region", DEFAULT_REGION)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": conn["name"],
            "namespace": model["project"],
            "labels": {DASHBOARD_LABEL: "true", MANAGED_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {
                "opendatahub.io/connection-type": "s3",
                "opendatahub.io/connection-type-ref": "s3",
                DISPLAY_NAME: conn.get("display_name") or conn["name"],
            },
        },
        "data": dict((key, _b64(values.get(field, ""))) for field, key in CONNECTION_KEYS),
    }


def token_objects(model, owner_uid=None):
    """ServiceAccount, Role, RoleBinding and one token Secret per name (serving-api.md §2.4)."""
    name, ns = model["name"], model["project"]
    sa = "%s-sa" % name
    labels = {DASHBOARD_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY}
    owner = None
    if owner_uid:
        owner = [{"apiVersion": ISVC_API, "kind": "InferenceService", "name": name, "uid": owner_uid}]

    def meta(obj_name, extra=None):
        out = {"name": obj_name, "namespace": ns, "labels": dict(labels)}
        if extra:
            out["annotations"] = extra
        if owner:
            out["ownerReferences"] = copy.deepcopy(owner)
        return out

    objs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(sa)},
        {"apiVersion": RBAC_API, "kind": "Role", "metadata": meta("%s-view-role" % name),
         "rules": [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
                    "resourceNames": [name], "verbs": ["get"]}]},
        {"apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": meta("%s-view" % name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "%s-view-role" % name},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]},
    ]
    for token in model["tokens"]:
        objs.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                     "metadata": meta(token_secret_name(token, name), {SA_NAME_ANNOTATION: sa, DISPLAY_NAME: token})})
    return objs


def item(obj, create=True):
    """What the role hands resource_patch: api_version, kind, name, namespace, patch."""
    meta = obj.get("metadata") or {}
    patch = dict((k, v) for k, v in obj.items() if k not in ("apiVersion", "kind"))
    patch["metadata"] = dict((k, v) for k, v in meta.items() if k not in ("name", "namespace"))
    return {"api_version": obj["apiVersion"], "kind": obj["kind"], "name": meta.get("name"),
            "namespace": meta.get("namespace"), "patch": patch, "create": create}


def ref(api_version, kind, name, namespace):
    return {"api_version": api_version, "kind": kind, "name": name, "namespace": namespace}


# ------------------------------------------------------------------------------------------ plan


def _live_mode(isvc):
    return (get_path(isvc, "metadata.annotations") or {}).get(MODE_ANNOTATION) or \
        get_path(isvc, "status.deploymentMode") or None


def _ready_expression(names):
    """JMESPath over an InferenceService: not one of ``names``, or Ready and Loaded at its generation
    (when the controller reports ``status.observedGeneration``)."""
    listed = json.dumps(sorted(names))
    return ("!contains(`%s`, metadata.name) || ((status.observedGeneration || metadata.generation) == metadata.generation && "
            "(status.conditions[?type=='Ready'].status | [0]) == 'True' && "
            "status.modelStatus.states.activeModelState == 'Loaded')" % listed)


# Pod failures Knative (Serverless) reports in the revision's message, which KServe copies into the
# InferenceService conditions.
FATAL_MESSAGES = ("Unschedulable", "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled")


# A failed load KServe reports while its cache has not seen the ServingRuntime the same run has just
# written (it requeues and finds it): waited out, not failed on; a runtime that never appears ends
# in the timeout, whose message shows this reason.
TRANSIENT_LOAD_FAILURES = ("RuntimeNotRecognized",)


def _failure_expressions(names):
    listed = json.dumps(sorted(names))
    out = ["contains(`%s`, metadata.name) && status.modelStatus.states.targetModelState == 'FailedToLoad' && "
           "!contains(`%s`, status.modelStatus.lastFailureInfo.reason || '')"
           % (listed, json.dumps(list(TRANSIENT_LOAD_FAILURES)))]
    for word in FATAL_MESSAGES:
        out.append("contains(`%s`, metadata.name) && length(status.conditions[?type=='Ready' && status=='False' && "
                   "contains(message || '', '%s')] || `[]`) > `0`" % (listed, word))
    return out


def plan(models, defaults, cluster, check_mode=False, allow_recreate=False):
    """Everything the role writes, deletes and waits for, or the refusals (``errors``), before any write.

    ``cluster``: ``templates`` (Templates of the applications namespace), ``sizes`` (OdhDashboardConfig
    ``spec.modelServerSizes``), ``namespaces`` (names of existing namespaces), ``isvcs`` (live
    InferenceServices of the projects), ``secrets`` (metadata of the Secrets of the projects labelled
    as managed by this collection)."""
    errors = input_errors(models, defaults)
    if errors:
        return {"errors": errors}
    cluster = cluster or {}
    by_sr = runtime_templates(cluster.get("templates"))
    sizes = cluster.get("sizes") or []
    namespaces = set(cluster.get("namespaces") or [])
    live = dict(((get_path(o, "metadata.namespace"), get_path(o, "metadata.name")), o) for o in cluster.get("isvcs") or [])
    # Secrets come as objects or as their metadata only (the role never reads their values into facts).
    our_secrets = [s if "metadata" in s else {"metadata": s} for s in cluster.get("secrets") or []]
    our_secrets = [s for s in our_secrets if (get_path(s, "metadata.labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY]
    entries = [normalize(m, defaults) for m in models]
    present = [m for m in entries if m["state"] == "present"]
    absent = [m for m in entries if m["state"] == "absent"]

    out = {"errors": [], "notes": [], "namespaces": [], "secrets": [], "runtimes": [], "isvcs": [], "tokens": [],
           "recreate": [], "delete": [], "deleted_models": [], "waits": [], "checks": [], "pending": [],
           "models": []}

    for i, model in enumerate(entries):
        if model["state"] != "present":
            continue
        where = _where(i, model)
        sr_name, template = find_template(model["runtime"], by_sr)
        if template is None:
            out["errors"].append("%s: runtime %s is not offered by the dashboard (no Template in the applications "
                                 "namespace whose ServingRuntime is named so); available: %s"
                                 % (where, model["runtime"], ", ".join(sorted(by_sr)) or "none"))
            continue
        if sr_name != model["runtime"]:
            out["notes"].append("%s: runtime %s is named %s on this cluster" % (where, model["runtime"], sr_name))
        if "single" not in _support(template):
            out["errors"].append("%s: runtime %s is a multi-model (ModelMesh) runtime; this role deploys on the "
                                 "single-model platform (KServe)" % (where, sr_name))
        formats = [str(f.get("name", "")) for f in (template.get("objects") or [{}])[0].get("spec", {}).get(
            "supportedModelFormats") or []]
        if model["model_format"].lower() not in [f.lower() for f in formats]:
            out["errors"].append("%s: runtime %s does not serve model_format %s (it serves: %s)"
                                 % (where, sr_name, model["model_format"], ", ".join(formats) or "none"))
        if model.get("size") and not any(s.get("name") == model["size"] for s in sizes):
            out["errors"].append("%s: size %s is not a model server size of the dashboard configuration (sizes: %s)"
                                 % (where, model["size"], ", ".join(s.get("name", "?") for s in sizes) or "none"))
        multi = sorted(name for (ns, name), obj in live.items()
                       if ns == model["project"] and _live_mode(obj) == "ModelMesh")
        if multi:
            out["errors"].append(
                "%s: project %s is on the multi-model platform (ModelMesh InferenceServices %s), and a project "
                "cannot be both single-model and multi-model; deploy this model in another project, or remove the "
                "ModelMesh models first (playbooks/deploy_model_servers.yml)" % (where, model["project"], ", ".join(multi)))
            continue
        cur = live.get((model["project"], model["name"]))
        mode = _live_mode(cur) if cur else None
        if cur is not None and mode and mode != model["deployment_mode"]:
            if allow_recreate:
                out["recreate"].append(ref(ISVC_API, "InferenceService", model["name"], model["project"]))
                out["notes"].append("%s: deployment mode %s -> %s: the InferenceService is deleted and recreated"
                                    % (where, mode, model["deployment_mode"]))
            else:
                out["errors"].append(
                    "%s: deployment_mode %s cannot be applied: the InferenceService exists in %s mode and KServe "
                    "refuses to change the mode of an existing InferenceService; set model_deployment_allow_recreate: "
                    "true to delete and recreate it (the model is unavailable meanwhile)"
                    % (where, model["deployment_mode"], mode))
        model["_sr_name"] = sr_name
        model["_template"] = template
    if out["errors"]:
        return {"errors": out["errors"], "notes": out["notes"]}

    def skip(obj):
        """In check mode, objects in a namespace that does not exist yet cannot be dry-run created."""
        ns = get_path(obj, "metadata.namespace")
        if check_mode and ns and ns not in namespaces:
            out["pending"].append("%s %s/%s" % (obj["kind"], ns, obj["metadata"]["name"]))
            return True
        return False

    projects = []
    for model in present:
        if model["project"] not in projects:
            projects.append(model["project"])
    for project in projects:
        out["namespaces"].append(item({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": project, "labels": {DASHBOARD_LABEL: "true", MODELMESH_LABEL: "false"}}}))
    done_connections = set()
    wanted_connections = set()
    for model in present:
        sr = serving_runtime(model, model["_template"])
        conn = connection_of(model)
        conn_name = connection_name_of(model)
        if conn_name:
            wanted_connections.add((model["project"], conn_name))
        if conn and (model["project"], conn["name"]) not in done_connections:
            done_connections.add((model["project"], conn["name"]))
            secret = data_connection(model)
            if not skip(secret):
                out["secrets"].append(item(secret))
        isvc = inference_service(model, sr, sizes, conn_name)
        if not skip(sr):
            out["runtimes"].append(item(sr))
        if not skip(isvc):
            out["isvcs"].append(item(isvc))
        cur = live.get((model["project"], model["name"]))
        if model["token_auth"]:
            for obj in token_objects(model):
                if not skip(obj):
                    entry = item(obj)
                    entry["owner"] = model["name"]
                    out["tokens"].append(entry)
            wanted = set(token_secret_name(t, model["name"]) for t in model["tokens"])
        else:
            wanted = set()
            if cur is not None and (get_path(cur, "metadata.annotations") or {}).get(AUTH_ANNOTATION) == "true":
                out["delete"].extend(_token_refs(model["name"], model["project"], []))
        for s in our_secrets:
            md = s.get("metadata") or {}
            if md.get("namespace") == model["project"] and \
                    (md.get("annotations") or {}).get(SA_NAME_ANNOTATION) == "%s-sa" % model["name"] and \
                    md.get("name") not in wanted:
                out["delete"].append(ref("v1", "Secret", md["name"], model["project"]))
        out["models"].append({
            "name": model["name"], "project": model["project"], "runtime": model["_sr_name"],
            "deployment_mode": model["deployment_mode"], "token_auth": model["token_auth"],
            "tokens": [token_secret_name(t, model["name"]) for t in model["tokens"]],
            "external_route": model["external_route"], "check": model.get("check") or {},
        })

    # Removal: the InferenceService first (its finalizers), then what was created for it.
    still_used = set(wanted_connections)
    for (ns, _name), obj in live.items():
        key = get_path(obj, "spec.predictor.model.storage.key")
        if key and not any(m["project"] == ns and m["name"] == _name for m in absent):
            still_used.add((ns, key))
    for model in absent:
        name, ns = model["name"], model["project"]
        out["deleted_models"].append(ref(ISVC_API, "InferenceService", name, ns))
        out["delete"].append(ref(SR_API, "ServingRuntime", name, ns))
        out["delete"].extend(_token_refs(name, ns, [
            (s.get("metadata") or {}).get("name") for s in our_secrets
            if (s.get("metadata") or {}).get("namespace") == ns and
            ((s.get("metadata") or {}).get("annotations") or {}).get(SA_NAME_ANNOTATION) == "%s-sa" % name]))
        conn_name = connection_name_of(model)
        cur = live.get((ns, name))
        if not conn_name and cur is not None:
            conn_name = get_path(cur, "spec.predictor.model.storage.key")
        if conn_name and (ns, conn_name) not in still_used and any(
                (s.get("metadata") or {}).get("namespace") == ns and (s.get("metadata") or {}).get("name") == conn_name
                for s in our_secrets):
            out["delete"].append(ref("v1", "Secret", conn_name, ns))
            still_used.add((ns, conn_name))

    by_project = {}
    for model in present:
        by_project.setdefault(model["project"], []).append(model["name"])
    for project in projects:
        names = by_project[project]
        if check_mode and project not in namespaces:
            continue
        out["waits"].append({"namespace": project, "names": names, "jmespath": _ready_expression(names),
                             "failure": [{"jmespath": e} for e in _failure_expressions(names)],
                             "groups": [{"name": n, "label_selector": "serving.kserve.io/inferenceservice=%s" % n,
                                         "min_ready": 0} for n in names]})
    for model in out["models"]:
        model["check"] = dict(model["check"])
        model["check_enabled"] = bool(model["check"].pop("enabled", True))
        model["ready_at_read"] = _is_ready(live.get((model["project"], model["name"])))
    return out


def _is_ready(isvc):
    """Ready=True and Loaded at the current generation (the readiness the role waits for)."""
    if not isvc:
        return False
    status = isvc.get("status") or {}
    generation = get_path(isvc, "metadata.generation")
    if status.get("observedGeneration") not in (None, generation):
        return False
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return bool(ready) and ready[0].get("status") == "True" and \
        get_path(isvc, "status.modelStatus.states.activeModelState") == "Loaded"


def writes(plan_result, with_namespaces=True):
    """The one staged ``resources_patch`` list of a plan: (stage 0) the projects when ``with_namespaces``,
    (1) ServingRuntimes and InferenceServices, (2) token ServiceAccounts and Roles owned by their
    InferenceService, (3) RoleBindings (after their Role: unless the writer may ``bind``, the API server
    checks the Role it binds, which must exist) and token Secrets (after their ServiceAccount: Kubernetes
    deletes a token Secret whose ServiceAccount does not exist)."""
    out = []
    if with_namespaces:
        out.extend(dict(e, stage=0) for e in plan_result.get("namespaces") or [])
    out.extend(dict(e, stage=1) for e in (plan_result.get("runtimes") or []) + (plan_result.get("isvcs") or []))
    for entry in plan_result.get("tokens") or []:
        entry = copy.deepcopy(entry)
        owner = entry.pop("owner", None)
        if owner:
            entry["owner"] = {"api_version": ISVC_API, "kind": "InferenceService", "name": owner}
        entry["stage"] = 3 if entry["kind"] in ("Secret", "RoleBinding") else 2
        out.append(entry)
    return out


def touched_projects(written_results):
    """Projects where a write of this run changed (or in check mode would change) something: the
    namespaces of the changed entries of the registered ``resources_patch`` results (a Namespace entry
    counts for itself)."""
    out = []
    for res in written_results or []:
        for entry in (res or {}).get("results") or []:
            if entry.get("changed"):
                ns = entry.get("namespace") or (entry.get("name") if entry.get("kind") == "Namespace" else None)
                if ns and ns not in out:
                    out.append(ns)
    return out


def waits_needed(waits, models, touched):
    """The readiness waits worth a module run: a project where something was written (``touched``), or
    one of whose models was not Ready and Loaded when the role read the cluster."""
    not_ready = set(m["project"] for m in models or [] if not m.get("ready_at_read"))
    return [w for w in waits or [] if w.get("namespace") in touched or w.get("namespace") in not_ready]


def checks(models, touched=None, scope="all"):
    """The ``models`` option of one ``inference_check`` task: every model whose check is enabled (with
    ``scope`` ``changed``: only those of a project where something was written, or that were not ready
    when read), with its per-model overrides (``check``: url, payload, ca, validate_endpoint_certs,
    resolve, wait_timeout) and its first token Secret when token auth is on (the module reads the token)."""
    out = []
    touched = set(touched or [])
    for model in models or []:
        if not model.get("check_enabled", True):
            continue
        if scope == "changed" and model.get("ready_at_read") and model["project"] not in touched:
            continue
        entry = {"name": model["name"], "namespace": model["project"]}
        for key in ("url", "payload", "ca", "validate_endpoint_certs", "resolve", "wait_timeout"):
            value = (model.get("check") or {}).get(key)
            if value is not None and value != "":
                entry[key] = value
        if model.get("token_auth") and model.get("tokens"):
            entry["token_secret"] = model["tokens"][0]
        out.append(entry)
    return out


def summary(models, wait_results, check_results, live_isvcs=None):
    """Per model: name, project, runtime, mode, url, ready, and the inference check in short.

    ``check_results``: the ``checks`` of one inference_check task over many models, or loop results
    (``__model_deployment_model``); ``live_isvcs``: the InferenceServices as read before the write (used
    for a model whose project needed no wait)."""
    isvcs = {}
    for obj in live_isvcs or []:
        isvcs[(get_path(obj, "metadata.namespace"), get_path(obj, "metadata.name"))] = obj
    for res in wait_results or []:
        for obj in res.get("resources") or []:
            md = obj.get("metadata") or {}
            isvcs[(md.get("namespace"), md.get("name"))] = obj
    checks_by = {}
    for res in check_results or []:
        model = res.get("__model_deployment_model")
        if model:
            checks_by[(model.get("project"), model.get("name"))] = res
        else:
            checks_by[(res.get("namespace"), res.get("name"))] = res
    out = []
    for model in models or []:
        key = (model.get("project"), model.get("name"))
        obj = isvcs.get(key)
        entry = {
            "name": model.get("name"), "project": model.get("project"), "runtime": model.get("runtime"),
            "deployment_mode": model.get("deployment_mode"), "token_auth": model.get("token_auth"),
            "token_secrets": model.get("tokens") or [],
            "url": get_path(obj, "status.url") if obj else model.get("url"),
            "ready": (get_path(obj, "status.modelStatus.states.activeModelState") == "Loaded") if obj is not None
            else model.get("ready_at_read"),
        }
        res = checks_by.get(key)
        if res is not None:
            answered = [c for c in res.get("calls") or [] if c.get("ok") and c.get("excerpt")]
            entry["check"] = {
                "ok": bool(res.get("ok")) and not res.get("failed"),
                "runtime": res.get("runtime"),
                "url": res.get("url"),
                "calls": ["%s %s" % (c.get("name"), c.get("status")) for c in res.get("calls") or []],
                # the model's own words: the excerpt of the last call it answered (a completion, an inference)
                "answer": answered[-1]["excerpt"] if answered else None,
                "msg": res.get("msg"),
            }
            if not entry["url"]:
                entry["url"] = res.get("url")
        out.append(entry)
    return out


def _token_refs(name, ns, secret_names):
    refs = [ref("v1", "Secret", s, ns) for s in secret_names]
    refs += [ref(RBAC_API, "RoleBinding", "%s-view" % name, ns), ref(RBAC_API, "Role", "%s-view-role" % name, ns),
             ref("v1", "ServiceAccount", "%s-sa" % name, ns)]
    return refs


def with_owners(items, isvc_results, owner_api=ISVC_API, owner_kind="InferenceService"):
    """Token objects with the ownerReference to their owner (an InferenceService by default; uid from
    the apply results of the owners)."""
    uids = {}
    for res in isvc_results or []:
        if res.get("kind", owner_kind) != owner_kind:
            continue
        md = (res.get("result") or {}).get("metadata") or {}
        if md.get("uid"):
            uids[(res.get("namespace") or md.get("namespace"), res.get("name") or md.get("name"))] = md["uid"]
    out = []
    for entry in items or []:
        entry = copy.deepcopy(entry)
        uid = uids.get((entry.get("namespace"), entry.get("owner")))
        if uid:
            entry["patch"]["metadata"]["ownerReferences"] = [{
                "apiVersion": owner_api, "kind": owner_kind, "name": entry["owner"], "uid": uid}]
        entry.pop("owner", None)
        out.append(entry)
    return out


def failure_report(wait_message, pods_result, names):
    """One line per model of a failed wait: the model, its pods' problems (pod, container, reason)."""
    lines = []
    problems = {}
    for pod in (pods_result or {}).get("pods") or []:
        for problem in pod.get("problems") or []:
            labels_model = None
            for group in (pods_result or {}).get("groups") or []:
                if pod.get("name") in (group.get("pods") or []):
                    labels_model = group.get("name")
            problems.setdefault(labels_model, []).append(problem)
    for name in names:
        for p in problems.get(name, []):
            lines.append("model %s: %s" % (name, _problem(p)))
    for p in problems.get(None, []):
        lines.append(_problem(p))
    if wait_message:
        text = str(wait_message)
        lines.append(text if len(text) <= 600 else text[:600] + "...")
    return lines


def _problem(p):
    if p.get("reason") == "CrashLoopBackOff" and "(OOMKilled)" in (p.get("message") or ""):
        # the kubelet restarts an OOM-killed container with the crash-loop back-off: name the cause
        p = dict(p, reason="OOMKilled", message="killed for exceeding its memory limit; %s" % p.get("message"))
    where = "pod %s" % p.get("pod")
    if p.get("container"):
        where += " container %s" % p.get("container")
    return "%s: %s%s" % (where, p.get("reason"), (" (%s)" % p.get("message")) if p.get("message") else "")


# --------------------------------------------------------------------------- data connection keys, sizes

SECRET_FIELDS = ("access_key_id", "secret_access_key")

# The dashboard's default model server sizes (serving-api.md §1.5), used when the cluster has no
# OdhDashboardConfig (dashboard component not Managed).
DEFAULT_SIZES = [
    {"name": "Small", "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}},
    {"name": "Medium", "resources": {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"cpu": "8", "memory": "10Gi"}}},
    {"name": "Large", "resources": {"requests": {"cpu": "6", "memory": "16Gi"}, "limits": {"cpu": "10", "memory": "20Gi"}}},
]


def split_credentials(models):
    """(models without the S3 keys of their data connections, the keys per model index). The role hands
    the keys to the module in a separate no_log option, so that only they are masked in its output."""
    public, secret = [], []
    for model in models or []:
        model = copy.deepcopy(model)
        keys = {}
        conn = connection_of(model) if isinstance(model, dict) else None
        if conn is not None:
            for field in SECRET_FIELDS:
                if field in conn:
                    keys[field] = conn.pop(field)
        public.append(model)
        secret.append(keys)
    return public, secret


def merge_credentials(models, credentials):
    """The models with the S3 keys of ``credentials`` (per model index) put back."""
    out = copy.deepcopy(models or [])
    for i, keys in enumerate(credentials or []):
        if not keys or i >= len(out):
            continue
        conn = connection_of(out[i]) if isinstance(out[i], dict) else None
        if conn is None:
            raise InvalidInput("credentials[%d]: model_serving_models[%d] has no storage.connection mapping" % (i, i))
        conn.update(dict((k, v) for k, v in keys.items() if v is not None))
    return out
