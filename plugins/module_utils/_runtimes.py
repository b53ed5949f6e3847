# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Serving runtime templates and dashboard switches: pure decisions, no cluster access.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

Facts (shared/reference/serving-api.md §1): the OpenShift AI operator ships one
``template.openshift.io/v1`` Template per runtime in the applications namespace, labelled
``opendatahub.io/dashboard`` and ``opendatahub.io/ootb``; the dashboard identifies a runtime by
the name of the ServingRuntime in ``objects[0]`` (not by the Template name), also in the
``OdhDashboardConfig`` lists ``templateDisablement`` and ``templateOrder``. Which runtimes ship
depends on the RHOAI version (§1.2). A custom runtime is a Template the user adds, with the
ServingRuntime as ``objects[0]`` and the annotations ``opendatahub.io/modelServingSupport`` and
``opendatahub.io/apiProtocol``.

The role ``serving_runtimes`` calls :func:`plan` (through the ``serving_runtimes_plan`` filter)
with its variables and what it read from the cluster, and writes only when the plan has no
errors.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import get_path

SR_API_VERSION = "serving.kserve.io/v1alpha1"
SR_KIND = "ServingRuntime"
TEMPLATE_API_VERSION = "template.openshift.io/v1"
DASHBOARD_LABEL = "opendatahub.io/dashboard"
OOTB_LABEL = "opendatahub.io/ootb"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "openshift_ai.model_serving"
SUPPORT_ANNOTATION = "opendatahub.io/modelServingSupport"
PROTOCOL_ANNOTATION = "opendatahub.io/apiProtocol"
MODEL_TYPE_ANNOTATION = "opendatahub.io/model-type"
ACCELERATORS_ANNOTATION = "opendatahub.io/recommended-accelerators"
DISPLAY_NAME_ANNOTATION = "openshift.io/display-name"
TEMPLATE_PREFIX = "template-"
PLATFORMS = ("single", "multi")
PROTOCOLS = ("REST", "gRPC")

# ServingRuntime name -> (Template name, first RHOAI version that ships it, first version that no
# longer does or None, why it is gone). serving-api.md §1.2, read at the RHOAI release branches.
SHIPPED = {
    "vllm-runtime": ("vllm-runtime-template", (2, 13), (2, 19), "renamed vllm-cuda-runtime in 2.19"),
    "vllm-cuda-runtime": ("vllm-cuda-runtime-template", (2, 19), None, None),
    "vllm-rocm-runtime": ("vllm-rocm-runtime-template", (2, 16), None, None),
    "vllm-gaudi-runtime": ("vllm-gaudi-runtime-template", (2, 16), None, None),
    "vllm-multinode-runtime": ("vllm-multinode-runtime-template", (2, 16), None, None),
    "vllm-cpu-runtime": ("vllm-cpu-runtime-template", (2, 19), None, None),
    "vllm-spyre-runtime": ("vllm-spyre-runtime-template", (2, 25), (3, 0), "split per architecture in 3.0"),
    "vllm-spyre-x86-runtime": ("vllm-spyre-x86-runtime-template", (3, 0), None, None),
    "vllm-spyre-s390x-runtime": ("vllm-spyre-s390x-runtime-template", (3, 0), None, None),
    "caikit-tgis-runtime": ("caikit-tgis-serving-template", (2, 13), (3, 0), "Caikit was removed in 3.0"),
    "caikit-standalone-runtime": ("caikit-standalone-serving-template", (2, 13), (3, 0), "Caikit was removed in 3.0"),
    "tgis-grpc-runtime": ("tgis-grpc-serving-template", (2, 13), (2, 19), "TGIS standalone was removed in 2.19"),
    "kserve-ovms": ("kserve-ovms", (2, 13), None, None),
    "ovms": ("ovms", (2, 13), (3, 0), "the ModelMesh (multi-model) platform was removed in 3.0"),
    "guardrails-detector-huggingface-runtime": (
        "guardrails-detector-huggingface-serving-template", (2, 22), None, None),
}

# The same runtime under another name in other versions (looked up when the requested one is absent).
FALLBACKS = {
    "vllm-runtime": ("vllm-cuda-runtime",),
    "vllm-cuda-runtime": ("vllm-runtime",),
    "vllm-spyre-runtime": ("vllm-spyre-x86-runtime",),
    "vllm-spyre-x86-runtime": ("vllm-spyre-runtime",),
}

# What to use instead of a runtime that is gone (named in the refusal).
SUCCESSORS = {
    "tgis-grpc-runtime": "vllm-cuda-runtime",
    "caikit-tgis-runtime": "vllm-cuda-runtime",
    "caikit-standalone-runtime": "vllm-cuda-runtime",
    "ovms": "kserve-ovms (single-model platform)",
}

TGIS_RUNTIMES = ("tgis-grpc-runtime", "caikit-tgis-runtime")
# Seed 000 §3.8.1 (the seed writes ESTIMATE_MEMORY_BATCH and bare numbers; env values are strings).
TGIS_OOM_ENV = (("BATCH_SAFETY_MARGIN", "30"), ("ESTIMATE_MEMORY_BATCH_SIZE", "8"))
MAIN_CONTAINER = "kserve-container"

_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
MAX_NAME = 253 - len(TEMPLATE_PREFIX)

# OdhDashboardConfig spec.dashboardConfig keys, by role variable suffix. The variables say
# "enabled", the keys say "disable": the value written is the negation.
DASHBOARD_SWITCHES = (
    ("single_model_platform", "disableKServe"),
    ("multi_model_platform", "disableModelMesh"),
    ("custom_runtimes", "disableCustomServingRuntimes"),
    ("performance_metrics", "disablePerformanceMetrics"),
    ("kserve_metrics", "disableKServeMetrics"),
    ("kserve_token_auth", "disableKServeAuth"),
)


# --------------------------------------------------------------------------------------------- versions


def parse_version(value):
    """``"2.19.1"`` / ``"v2.19"`` -> ``(2, 19)``; anything else -> None."""
    match = _VERSION.match(str(value or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def version_text(version):
    return "%d.%d" % version if version else "unknown"


def rhoai_version(operators):
    """The version of the installed OpenShift AI operator from ``platform_info``'s ``operators``
    (package ``rhods-operator``, CSV Succeeded; the highest when several). None when absent."""
    best = None
    for op in operators or []:
        if not isinstance(op, dict):
            continue
        name = op.get("name") or ""
        if op.get("package") != "rhods-operator" and not name.startswith("rhods-operator."):
            continue
        if op.get("phase") not in (None, "Succeeded"):
            continue
        parsed = parse_version(op.get("version"))
        if parsed and (best is None or parsed > best[0]):
            best = (parsed, str(op.get("version")))
    return best[1] if best else None


def shipped_in(version):
    """ServingRuntime names the table says ``version`` ((major, minor)) ships."""
    if not version:
        return []
    out = []
    for name, (_template, first, gone, _why) in SHIPPED.items():
        if version >= first and (gone is None or version < gone):
            out.append(name)
    return sorted(out)


# --------------------------------------------------------------------------------------------- cluster reads


def template_runtime_name(template):
    """``objects[0].metadata.name`` of a Template (what the dashboard calls the runtime)."""
    objects = get_path(template, "objects")
    if isinstance(objects, list) and objects and isinstance(objects[0], dict):
        return get_path(objects[0], "metadata.name")
    return None


def classify_templates(templates):
    """Split the Templates of the applications namespace by the dashboard's view of them.

    Returns ``{"shipped": {sr: template}, "ours": {sr: template}, "others": {sr: template}}``
    (template names): shipped = labelled ``opendatahub.io/ootb``; ours = labelled as managed by
    this collection; others = any other dashboard template (e.g. added in the dashboard)."""
    out = {"shipped": {}, "ours": {}, "others": {}}
    for tpl in templates or []:
        labels = get_path(tpl, "metadata.labels") or {}
        sr = template_runtime_name(tpl)
        name = get_path(tpl, "metadata.name")
        if not sr or not name:
            continue
        if str(labels.get(OOTB_LABEL)).lower() == "true":
            out["shipped"][sr] = name
        elif labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
            out["ours"][sr] = name
        elif str(labels.get(DASHBOARD_LABEL)).lower() == "true":
            out["others"][sr] = name
    return out


def resolve_shipped(name, version, shipped_live):
    """Resolve one requested shipped runtime. Returns ``(resolved_name, template_name, note, error)``.

    ``shipped_live``: ServingRuntime name -> Template name of the shipped templates on the
    cluster. A runtime that the cluster's version does not ship is an error naming the version,
    why it is gone and what the version ships instead."""
    if name in shipped_live:
        return name, shipped_live[name], None, None
    for alt in FALLBACKS.get(name, ()):
        if alt in shipped_live:
            return alt, shipped_live[alt], "%s is named %s in RHOAI %s" % (name, alt, version_text(version)), None
    expected = shipped_in(version)
    if name in expected:
        return name, SHIPPED[name][0], None, None
    for alt in FALLBACKS.get(name, ()):
        if alt in expected:
            return alt, SHIPPED[alt][0], "%s is named %s in RHOAI %s" % (name, alt, version_text(version)), None
    ships = sorted(set(shipped_live) | set(expected))
    why = ""
    if name in SHIPPED:
        _template, first, gone, reason = SHIPPED[name]
        if gone and version and version >= gone:
            why = " (%s)" % reason
        elif version and version < first:
            why = " (it ships from %s)" % version_text(first)
    else:
        why = " (not a runtime OpenShift AI ships)"
    instead = SUCCESSORS.get(name)
    return None, None, None, "RHOAI %s does not ship the runtime %s%s; %sthis version ships: %s" % (
        version_text(version),
        name,
        why,
        "use %s instead; " % instead if instead else "",
        ", ".join(ships) or "none",
    )


def pending_templates(requested, version, shipped_live):
    """Template names of requested shipped runtimes that the version ships but that the
    operator has not created yet (to wait for before deciding)."""
    out = []
    for name in requested or []:
        resolved, template, _note, error = resolve_shipped(name, version, shipped_live)
        if error is None and resolved not in shipped_live and template not in out:
            out.append(template)
    return out


# --------------------------------------------------------------------------------------------- validation


def image_error(image):
    """None when ``image`` names a tag (``name:tag``) or a digest (``name@sha256:<hex>``)."""
    if not isinstance(image, str) or not image.strip():
        return "no image"
    if image != image.strip() or " " in image:
        return "image %r contains blanks" % image
    if "@" in image:
        repo, digest = image.split("@", 1)
        if repo and _DIGEST.match(digest):
            return None
        return "image %r: a digest must look like name@sha256:<hex>" % image
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "image %r has no tag (use name:tag as seed 000 §2.1.2 says, or a digest)" % image
    repo, tag = last.rsplit(":", 1)
    if not repo or not _TAG.match(tag):
        return "image %r has an invalid tag %r" % (image, tag)
    return None


def validate_runtime(runtime):
    """Errors of one ServingRuntime definition (seed 000 §2.1.2)."""
    if not isinstance(runtime, dict):
        return ["the runtime must be a ServingRuntime mapping, found %s" % type(runtime).__name__]
    errors = []
    if runtime.get("kind") != SR_KIND:
        errors.append("kind must be %s, found %r" % (SR_KIND, runtime.get("kind")))
    if runtime.get("apiVersion") != SR_API_VERSION:
        errors.append("apiVersion must be %s, found %r" % (SR_API_VERSION, runtime.get("apiVersion")))
    name = get_path(runtime, "metadata.name")
    if not isinstance(name, str) or not _DNS_NAME.match(name) or len(name) > MAX_NAME:
        errors.append("metadata.name must be a lower-case DNS name of at most %d characters, found %r" % (MAX_NAME, name))
    containers = get_path(runtime, "spec.containers")
    if not isinstance(containers, list) or not containers:
        errors.append("spec.containers must list at least one container")
    else:
        for i, container in enumerate(containers):
            if not isinstance(container, dict):
                errors.append("spec.containers[%d] must be a mapping" % i)
                continue
            problem = image_error(container.get("image"))
            if problem:
                errors.append("spec.containers[%d] (%s): %s" % (i, container.get("name"), problem))
    return errors


def _platforms(entry):
    value = entry.get("platforms")
    if value is None:
        return ["single"]
    return [value] if isinstance(value, str) else list(value)


def _accelerator_error(values):
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        return "recommended_accelerators must be a list of AcceleratorProfile names or identifiers"
    return None


# --------------------------------------------------------------------------------------------- building


def merge_env(env, updates):
    """``env`` with ``updates`` merged by ``name``: a matching entry gets the new value (a
    ``valueFrom`` it had is dropped), others stay in place, new ones are appended. Values become
    strings (the API requires strings; YAML ``30`` is an int)."""
    out = [copy.deepcopy(e) for e in (env or [])]
    for update in updates or []:
        name = update["name"]
        entry = {"name": name, "value": "" if update.get("value") is None else str(update["value"])}
        if update.get("valueFrom") is not None:
            entry = {"name": name, "valueFrom": copy.deepcopy(update["valueFrom"])}
        for i, existing in enumerate(out):
            if isinstance(existing, dict) and existing.get("name") == name:
                out[i] = entry
                break
        else:
            out.append(entry)
    return out


def merge_args(args, extra):
    """``args`` kept in order, ``extra`` added: an ``--flag=value`` replaces an existing
    ``--flag=...``; an argument already present is not repeated."""
    out = list(args or [])
    for arg in extra or []:
        arg = str(arg)
        if arg in out:
            continue
        if arg.startswith("--") and "=" in arg:
            prefix = arg.split("=", 1)[0] + "="
            for i, existing in enumerate(out):
                if isinstance(existing, str) and existing.startswith(prefix):
                    out[i] = arg
                    break
            else:
                out.append(arg)
        else:
            out.append(arg)
    return out


def _main_container(containers, wanted=None):
    for i, container in enumerate(containers):
        if isinstance(container, dict) and container.get("name") == (wanted or MAIN_CONTAINER):
            return i
    return None if wanted else (0 if containers else None)


def tune_runtime(source, name, env=None, args=None, display_name=None, container=None, accelerators=None):
    """Copy of a shipped ServingRuntime under ``name`` with ``env`` merged by name and ``args``
    added to one container (``container``, else ``kserve-container``, else the first)."""
    runtime = copy.deepcopy(source)
    meta = runtime.setdefault("metadata", {})
    for volatile in ("namespace", "uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                     "ownerReferences"):
        meta.pop(volatile, None)
    meta["name"] = name
    annotations = dict(meta.get("annotations") or {})
    source_display = annotations.get(DISPLAY_NAME_ANNOTATION) or get_path(source, "metadata.name")
    annotations[DISPLAY_NAME_ANNOTATION] = display_name or "%s (%s)" % (source_display, name)
    if accelerators is not None:
        annotations[ACCELERATORS_ANNOTATION] = json.dumps(accelerators)
    meta["annotations"] = annotations
    containers = get_path(runtime, "spec.containers") or []
    index = _main_container(containers, container)
    if index is None:
        raise ValueError("the runtime %s has no container %s" % (get_path(source, "metadata.name"), container))
    target = containers[index]
    if env:
        target["env"] = merge_env(target.get("env"), env)
    if args:
        target["args"] = merge_args(target.get("args"), args)
    return runtime


def runtime_template(runtime, namespace, platforms, protocol, display_name=None, model_type=None,
                     accelerators=None, labels=None, annotations=None):
    """The Template the dashboard lists for a custom runtime (serving-api.md §1.4), named
    deterministically ``template-<runtime name>`` so that reruns update the same object."""
    runtime = copy.deepcopy(runtime)
    sr_meta = runtime.setdefault("metadata", {})
    sr_meta.pop("namespace", None)
    sr_annotations = dict(sr_meta.get("annotations") or {})
    if display_name:
        sr_annotations[DISPLAY_NAME_ANNOTATION] = display_name
    if accelerators is not None:
        sr_annotations[ACCELERATORS_ANNOTATION] = json.dumps(accelerators)
    if sr_annotations:
        sr_meta["annotations"] = sr_annotations
    tpl_labels = dict(labels or {})
    tpl_labels.pop(OOTB_LABEL, None)
    tpl_labels.update({DASHBOARD_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY})
    tpl_annotations = dict(annotations or {})
    tpl_annotations.update({SUPPORT_ANNOTATION: json.dumps(list(platforms)), PROTOCOL_ANNOTATION: protocol})
    if model_type:
        tpl_annotations[MODEL_TYPE_ANNOTATION] = json.dumps([model_type] if isinstance(model_type, str) else model_type)
    shown = sr_annotations.get(DISPLAY_NAME_ANNOTATION)
    if shown:
        tpl_annotations[DISPLAY_NAME_ANNOTATION] = shown
    return {
        "apiVersion": TEMPLATE_API_VERSION,
        "kind": "Template",
        "metadata": {
            "name": TEMPLATE_PREFIX + sr_meta["name"],
            "namespace": namespace,
            "labels": tpl_labels,
            "annotations": tpl_annotations,
        },
        "objects": [runtime],
        "parameters": [],
    }


# --------------------------------------------------------------------------------------------- dashboard


def dashboard_patch(switches=None, sizes=None, enabled=None, disabled=None, order=None):
    """Merge patch, list keys and removals for ``OdhDashboardConfig`` (only what is given).

    ``switches``: variable suffix -> bool or None (None = key untouched); ``sizes``: model server
    sizes merged by ``name``; ``enabled`` / ``disabled``: runtime names removed from / added to
    ``templateDisablement``; ``order``: ``templateOrder`` (replaced as a whole)."""
    spec = {}
    config = {}
    for suffix, key in DASHBOARD_SWITCHES:
        value = (switches or {}).get(suffix)
        if value is not None:
            config[key] = not value
    if config:
        spec["dashboardConfig"] = config
    list_keys = {}
    removals = {}
    if sizes:
        spec["modelServerSizes"] = copy.deepcopy(list(sizes))
        list_keys["spec.modelServerSizes"] = "name"
    if disabled:
        spec["templateDisablement"] = list(disabled)
    if enabled or disabled:
        list_keys["spec.templateDisablement"] = "."
    if enabled:
        removals["spec.templateDisablement"] = list(enabled)
    if order is not None:
        spec["templateOrder"] = list(order)
    return {"patch": {"spec": spec} if spec else {}, "list_merge_keys": list_keys, "remove_entries": removals}


# --------------------------------------------------------------------------------------------- the plan


def _unique(seq):
    out = []
    for item in seq:
        if item not in out:
            out.append(item)
    return out


def plan(inputs, cluster=None):
    """Everything the role writes, or the reasons to write nothing.

    ``inputs``: the role variables without the prefix: ``namespace``, ``enabled``, ``disabled``,
    ``template_order``, ``custom`` (entries with ``runtime`` already loaded; ``file`` only for
    messages), ``tuned``, ``model_server_sizes`` and the switches of ``DASHBOARD_SWITCHES``.
    ``cluster``: ``version`` (RHOAI version text or None), ``templates`` (Template objects of the
    namespace), ``accelerator_profiles`` (AcceleratorProfile objects).

    Returns ``errors`` (each naming the variable), ``notes``, ``version``, ``templates`` (bodies
    to create or update), ``shipped`` (requested shipped runtimes: name, template), ``custom_names``
    (runtimes this role publishes), ``dashboard`` (see :func:`dashboard_patch`) and
    ``expected_enabled`` / ``expected_disabled`` (for the verification).

    Without ``cluster`` only the checks that need no cluster run (the ``validate`` entry point):
    runtime definitions, names, protocols, list shapes and conflicts."""
    offline = cluster is None
    cluster = cluster or {}
    version = parse_version(cluster.get("version"))
    namespace = inputs.get("namespace") or "redhat-ods-applications"
    live = classify_templates(cluster.get("templates"))
    templates_by_name = dict((get_path(t, "metadata.name"), t) for t in cluster.get("templates") or [])
    profiles = dict(
        (get_path(p, "metadata.name"), get_path(p, "spec.identifier")) for p in cluster.get("accelerator_profiles") or []
    )
    identifiers = set(v for v in profiles.values() if v)
    errors, notes = [], []
    shipped_names = set(live["shipped"]) | set(shipped_in(version))

    def accelerators(values, where):
        """Profile names -> identifiers; identifiers (with a slash) kept."""
        if values is None:
            return None
        problem = _accelerator_error(values)
        if problem:
            errors.append("%s: %s" % (where, problem))
            return None
        if offline:
            return list(values)
        out = []
        for value in values:
            if "/" in value:
                if value not in identifiers:
                    notes.append("%s: no AcceleratorProfile has the identifier %s yet" % (where, value))
                out.append(value)
            elif value in profiles and profiles[value]:
                out.append(profiles[value])
            else:
                errors.append(
                    "%s: AcceleratorProfile %s does not exist in %s (known: %s); give a profile the gpu role created "
                    "or an identifier such as nvidia.com/gpu" % (where, value, namespace, ", ".join(sorted(profiles)) or "none")
                )
        return _unique(out)

    # -- custom runtimes
    published = []  # (name, where)
    bodies = []
    for i, entry in enumerate(inputs.get("custom") or []):
        where = "serving_runtimes_custom[%d]" % i
        if not isinstance(entry, dict):
            errors.append("%s must be a mapping with runtime or file" % where)
            continue
        if entry.get("file"):
            where += " (file %s)" % entry["file"]
        runtime = entry.get("runtime")
        problems = validate_runtime(runtime)
        name = get_path(runtime, "metadata.name") if isinstance(runtime, dict) else None
        platforms = _platforms(entry)
        protocol = entry.get("api_protocol") or "REST"
        if not platforms or any(p not in PLATFORMS for p in platforms):
            problems.append("platforms must be a non-empty list of %s, found %r" % ("/".join(PLATFORMS), platforms))
        if protocol not in PROTOCOLS:
            problems.append("api_protocol must be REST or gRPC, found %r" % protocol)
        elif protocol != "REST" and "multi" in platforms:
            problems.append("the multi-model platform supports only the REST protocol (seed 000 §2.1.2), found %s" % protocol)
        accel = accelerators(entry.get("recommended_accelerators"), where)
        if problems:
            errors.extend("%s: %s" % (where, p) for p in problems)
            continue
        published.append((name, where))
        bodies.append(runtime_template(runtime, namespace, platforms, protocol, entry.get("display_name"),
                                       entry.get("model_type"), accel))

    # -- tuned copies of shipped runtimes
    for i, entry in enumerate(inputs.get("tuned") or []):
        where = "serving_runtimes_tuned[%d]" % i
        if not isinstance(entry, dict):
            errors.append("%s must be a mapping with name and source" % where)
            continue
        name, source = entry.get("name"), entry.get("source")
        where += " (%s)" % name
        if not isinstance(name, str) or not _DNS_NAME.match(name) or len(name) > MAX_NAME:
            errors.append("%s: name must be a lower-case DNS name of at most %d characters" % (where, MAX_NAME))
            continue
        if not isinstance(source, str) or not source:
            errors.append("%s: source must be the name of a shipped runtime" % where)
            continue
        if offline:
            resolved, template_name, note, error = source, None, None, None
        else:
            resolved, template_name, note, error = resolve_shipped(source, version, live["shipped"])
        if error:
            errors.append("%s: source: %s" % (where, error))
            continue
        if note:
            notes.append("%s: %s" % (where, note))
        env = list(entry.get("env") or [])
        args = list(entry.get("args") or [])
        if any(not isinstance(e, dict) or not e.get("name") for e in env):
            errors.append("%s: env entries must be mappings with a name" % where)
            continue
        if entry.get("tgis_out_of_memory"):
            if resolved not in TGIS_RUNTIMES:
                errors.append("%s: tgis_out_of_memory applies to the TGIS runtimes (%s), not %s"
                              % (where, ", ".join(TGIS_RUNTIMES), resolved))
                continue
            env = [{"name": k, "value": v} for k, v in TGIS_OOM_ENV] + env
        if entry.get("chat_template"):
            if not resolved.startswith("vllm"):
                errors.append("%s: chat_template applies to the vLLM runtimes, not %s" % (where, resolved))
                continue
            args = args + ["--chat-template=%s" % entry["chat_template"]]
        if offline:
            accelerators(entry.get("recommended_accelerators"), where)
            published.append((name, where))
            continue
        template = templates_by_name.get(template_name)
        if template is None:
            errors.append("%s: the Template %s of %s is not on the cluster" % (where, template_name, resolved))
            continue
        accel = accelerators(entry.get("recommended_accelerators"), where)
        try:
            runtime = tune_runtime(template["objects"][0], name, env, args, entry.get("display_name"),
                                   entry.get("container"), accel)
        except ValueError as e:
            errors.append("%s: %s" % (where, e))
            continue
        published.append((name, where))
        tpl_annotations = dict(get_path(template, "metadata.annotations") or {})
        support = tpl_annotations.pop(SUPPORT_ANNOTATION, None)
        try:
            platforms = json.loads(support) if support else ["single"]
        except ValueError:
            platforms = ["single"]
        protocol = tpl_annotations.pop(PROTOCOL_ANNOTATION, None) or "REST"
        keep = dict((k, v) for k, v in tpl_annotations.items() if k == MODEL_TYPE_ANNOTATION)
        bodies.append(runtime_template(runtime, namespace, platforms, protocol,
                                       labels=get_path(template, "metadata.labels"), annotations=keep))

    # -- names: unique among the list, not a shipped runtime, not someone else's template
    seen = {}
    for name, where in published:
        if name in seen:
            errors.append("%s: the runtime name %s is used twice (also %s)" % (where, name, seen[name]))
        seen.setdefault(name, where)
        if name in shipped_names or name in SHIPPED:
            errors.append("%s: %s is the name of a runtime OpenShift AI ships; choose another metadata.name" % (where, name))
        elif (TEMPLATE_PREFIX + name) in templates_by_name and (TEMPLATE_PREFIX + name) not in live["ours"].values():
            errors.append("%s: a Template %s%s exists in %s that this collection does not manage; rename the runtime"
                          % (where, TEMPLATE_PREFIX, name, namespace))
        elif name in live["others"]:
            errors.append("%s: the runtime name %s is already used by Template %s, which this collection does not "
                          "manage (added in the dashboard?)" % (where, name, live["others"][name]))
    custom_names = [n for n, _w in published]

    # -- enable / disable
    enabled_in = list(inputs.get("enabled") or [])
    disabled_in = list(inputs.get("disabled") or [])
    known_custom = set(custom_names) | set(live["ours"]) | set(live["others"])
    shipped = []
    enabled, disabled = [], []
    for name in enabled_in:
        if name in known_custom or offline:
            enabled.append(name)
            continue
        resolved, template, note, error = resolve_shipped(name, version, live["shipped"])
        if error:
            errors.append("serving_runtimes_enabled: %s" % error)
            continue
        if note:
            notes.append("serving_runtimes_enabled: %s" % note)
        enabled.append(resolved)
        shipped.append({"name": resolved, "template": template})
    for name in disabled_in:
        if name in known_custom or offline:
            disabled.append(name)
            continue
        resolved, _template, note, error = resolve_shipped(name, version, live["shipped"])
        if error:
            notes.append("serving_runtimes_disabled: %s; nothing to disable" % error)
            continue
        if note:
            notes.append("serving_runtimes_disabled: %s" % note)
        disabled.append(resolved)
    both = sorted(set(enabled) & set(disabled))
    if both:
        errors.append("serving_runtimes_enabled and serving_runtimes_disabled both name %s" % ", ".join(both))
    clash = sorted(set(custom_names) & set(disabled))
    if clash:
        errors.append("serving_runtimes_disabled names %s, which this role publishes (and enables); remove it from "
                      "serving_runtimes_custom/serving_runtimes_tuned instead" % ", ".join(clash))

    order = inputs.get("template_order")
    if order is not None and (not isinstance(order, list) or not all(isinstance(o, str) for o in order)):
        errors.append("serving_runtimes_template_order must be a list of runtime names")
        order = None

    sizes = inputs.get("model_server_sizes")
    if sizes is not None:
        if not isinstance(sizes, list) or not all(isinstance(s, dict) and s.get("name") for s in sizes):
            errors.append("serving_runtimes_model_server_sizes must be a list of mappings with a name")
            sizes = None
        else:
            names = [s["name"] for s in sizes]
            dupes = sorted(set(n for n in names if names.count(n) > 1))
            if dupes:
                errors.append("serving_runtimes_model_server_sizes: the size %s is given twice" % ", ".join(dupes))

    switches = dict((suffix, inputs.get(suffix)) for suffix, _key in DASHBOARD_SWITCHES)
    enable_all = _unique(enabled + custom_names)
    dashboard = dashboard_patch(switches, sizes, enable_all, _unique(disabled), order)
    return {
        "errors": errors,
        "notes": notes,
        "version": cluster.get("version"),
        "templates": bodies if not errors else [],
        "shipped": shipped,
        "custom_names": custom_names,
        "dashboard": dashboard if not errors else {},
        "expected_enabled": enable_all,
        "expected_disabled": _unique(disabled),
    }
