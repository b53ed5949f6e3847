# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only cluster facts for the model-serving install: platform, versions, operators,
the existing serving stack, GPU nodes, and which install path the cluster allows.

Two layers: :func:`gather` reads raw objects (a kind that is not served counts as "none
present", never as an error), :func:`analyze` turns raw dicts into facts. ``analyze`` is pure,
so the decision rules are unit-tested on plain dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import quantity
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ApiError, InvalidInput, ResourceNotFound
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import find_condition, get_path

# (key, candidate api versions, kind, namespaced). The first served version wins.
KINDS = {
    "ingress": (("config.openshift.io/v1",), "Ingress"),
    "infrastructure": (("config.openshift.io/v1",), "Infrastructure"),
    "clusterversion": (("config.openshift.io/v1",), "ClusterVersion"),
    "csv": (("operators.coreos.com/v1alpha1",), "ClusterServiceVersion"),
    "subscription": (("operators.coreos.com/v1alpha1",), "Subscription"),
    "smcp": (("maistra.io/v2", "maistra.io/v1"), "ServiceMeshControlPlane"),
    "knative_serving": (("operator.knative.dev/v1beta1", "operator.knative.dev/v1alpha1"), "KnativeServing"),
    "dsci": (("dscinitialization.opendatahub.io/v1",), "DSCInitialization"),
    "dsc": (("datasciencecluster.opendatahub.io/v1",), "DataScienceCluster"),
    "node": (("v1",), "Node"),
}

FEATURE_TRACKER_GROUP = "features.opendatahub.io"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
NFD_NVIDIA_LABELS = (
    "feature.node.kubernetes.io/pci-10de.present",
    "feature.node.kubernetes.io/pci-0302_10de.present",
    "feature.node.kubernetes.io/pci-0300_10de.present",
)
GPU_RESOURCE = "nvidia.com/gpu"
ROSA_TAGS = {"red-hat-clustertype": "rosa"}
# KServe deployment modes (platforms): Serverless = Service Mesh + Knative Serving; RawDeployment =
# the standard platform, plain Deployments, no mesh (serving-api.md §5.1).
SERVERLESS = "Serverless"
RAW = "RawDeployment"
DEPLOYMENT_MODES = (SERVERLESS, RAW)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _list(client, key, name=None):
    """Return (served, [objects as dicts]) for a kind; (False, []) when the cluster does not serve it."""
    versions, kind = KINDS[key]
    res = None
    for api_version in versions:
        try:
            res = client.resource(api_version, kind)
            break
        except ResourceNotFound:
            continue
    if res is None:
        return False, []
    try:
        if name is not None:
            return True, [res.get(name=name).to_dict()]
        return True, list(res.get().to_dict().get("items") or [])
    except Exception as e:
        if getattr(e, "status", None) == 404:
            return True, []
        if getattr(e, "status", None) == 403:
            return None, []  # served, but these credentials may not read it
        raise ApiError("Could not read %s %s: %s" % (versions[0], kind, getattr(e, "summary", lambda: e)()), kind=kind)


def gather(client):
    """Raw objects per key, plus ``served``: which kinds the cluster serves. The kinds are read at the
    same time (one thread each, one client: its discovery is locked), each a request or two."""
    raw = {"served": {}, "forbidden": []}
    singletons = {"ingress": "cluster", "infrastructure": "cluster", "clusterversion": "version"}
    keys = list(KINDS)
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        answers = list(pool.map(lambda key: _list(client, key, singletons.get(key)), keys))
    for key, (served, items) in zip(keys, answers):
        if served is None:
            raw["forbidden"].append(KINDS[key][1])
            served = True
        raw["served"][key] = served
        raw[key] = items
    return raw


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------


def _get(obj, path, default=None):
    """Like get_path, but a null value also yields ``default``."""
    value = get_path(obj, path)
    return default if value is None else value


_condition = find_condition


def _ref(obj):
    meta = obj.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name")) if meta.get("namespace") else meta.get("name")


def detect_platform(infrastructure):
    """Return (platform_type, is_rosa, signals).

    ROSA reports platform type ``AWS``; what marks it is the cluster's AWS resource tag
    ``red-hat-clustertype: rosa`` (``status.platformStatus.aws.resourceTags``). Hosted ROSA
    (HCP) also has ``status.controlPlaneTopology: External``. A literal ``ROSA`` type is accepted
    too, for environments that set it directly."""
    if not infrastructure:
        return None, False, []
    status = infrastructure.get("status") or {}
    ptype = _get(status, "platformStatus.type") or status.get("platform")
    signals = []
    if ptype and ptype.upper() in ("ROSA", "ROSA_HCP"):
        signals.append("Infrastructure status.platformStatus.type is %s" % ptype)
    tags = _get(status, "platformStatus.aws.resourceTags", []) or []
    tag_map = dict((t.get("key"), t.get("value")) for t in tags if isinstance(t, dict))
    for key, value in ROSA_TAGS.items():
        if (tag_map.get(key) or "").lower() == value:
            signals.append("AWS resource tag %s=%s" % (key, tag_map[key]))
    if ptype == "AWS" and status.get("controlPlaneTopology") == "External" and tag_map.get("red-hat-managed") == "true":
        signals.append("hosted control plane (controlPlaneTopology External) on a Red Hat managed AWS cluster")
    return ptype, bool(signals), signals


def openshift_version(clusterversion):
    if not clusterversion:
        return None
    for entry in _get(clusterversion, "status.history", []) or []:
        if entry.get("state") == "Completed" and entry.get("version"):
            return entry["version"]
    return _get(clusterversion, "status.desired.version")


def created_by_operator(obj):
    """True when the RHOAI operator created this object itself.

    The operator's feature engine owns everything it creates through an ownerReference to a
    FeatureTracker (``features.opendatahub.io``); RHOAI's own "is this KnativeServing foreign"
    check looks for exactly that owner. Returns the owner's name, or None."""
    for ref in _get(obj, "metadata.ownerReferences", []) or []:
        if ref.get("kind") == "FeatureTracker" and (ref.get("apiVersion") or "").split("/")[0] == FEATURE_TRACKER_GROUP:
            return ref.get("name") or "FeatureTracker"
    return None


def _stack_object(obj):
    owner = created_by_operator(obj)
    ready = _condition(obj, "Ready")
    return {
        "name": _get(obj, "metadata.name"),
        "namespace": _get(obj, "metadata.namespace"),
        "version": _get(obj, "spec.version") or _get(obj, "status.chartVersion") or _get(obj, "status.version"),
        "ready": bool(ready and ready.get("status") == "True"),
        "created_by_operator": bool(owner),
        "owner": owner,
    }


def _csv_package(csv):
    for label in (_get(csv, "metadata.labels", {}) or {}):
        if label.startswith("operators.coreos.com/"):
            rest = label[len("operators.coreos.com/"):]
            ns = _get(csv, "metadata.namespace")
            if ns and rest.endswith("." + ns):
                return rest[: -len(ns) - 1]
            return rest
    return None


def operators(csvs, subscriptions):
    by_csv = {}
    for sub in subscriptions:
        for field in ("installedCSV", "currentCSV"):
            name = _get(sub, "status." + field)
            if name:
                by_csv.setdefault((_get(sub, "metadata.namespace"), name), sub)
    out = []
    for csv in csvs:
        if _get(csv, "status.reason") == "Copied":
            continue  # OLM's copy in every target namespace of an AllNamespaces operator
        ns, name = _get(csv, "metadata.namespace"), _get(csv, "metadata.name")
        sub = by_csv.get((ns, name))
        out.append(
            {
                "name": name,
                "namespace": ns,
                "package": _get(sub, "spec.name") if sub else _csv_package(csv),
                "subscription": _get(sub, "metadata.name") if sub else None,
                "channel": _get(sub, "spec.channel") if sub else None,
                "version": _get(csv, "spec.version"),
                "display_name": _get(csv, "spec.displayName"),
                "phase": _get(csv, "status.phase"),
                "reason": _get(csv, "status.reason"),
            }
        )
    return sorted(out, key=lambda o: (o["namespace"] or "", o["name"] or ""))


def dsci_facts(items):
    if not items:
        return None
    obj = items[0]
    return {
        "name": _get(obj, "metadata.name"),
        "applications_namespace": _get(obj, "spec.applicationsNamespace"),
        "service_mesh": {
            "management_state": _get(obj, "spec.serviceMesh.managementState"),
            "control_plane_name": _get(obj, "spec.serviceMesh.controlPlane.name"),
            "control_plane_namespace": _get(obj, "spec.serviceMesh.controlPlane.namespace"),
        },
        "phase": _get(obj, "status.phase"),
        "count": len(items),
    }


def dsc_facts(items):
    if not items:
        return None
    obj = items[0]
    kserve = _get(obj, "spec.components.kserve", {}) or {}
    return {
        "name": _get(obj, "metadata.name"),
        "kserve": {
            "management_state": kserve.get("managementState"),
            "serving_management_state": _get(kserve, "serving.managementState"),
            "default_deployment_mode": kserve.get("defaultDeploymentMode"),
            "raw_deployment_service_config": kserve.get("rawDeploymentServiceConfig"),
            "certificate_type": _get(kserve, "serving.ingressGateway.certificate.type"),
            "certificate_secret": _get(kserve, "serving.ingressGateway.certificate.secretName"),
        },
        "serving_name": _get(kserve, "serving.name"),
        "modelregistry": {"management_state": _get(obj, "spec.components.modelregistry.managementState")},
        "phase": _get(obj, "status.phase"),
        "count": len(items),
    }


def _truthy(value):
    return str(value).lower() == "true"


def gpu_nodes(nodes):
    out = []
    for node in nodes:
        labels = _get(node, "metadata.labels", {}) or {}
        present = _truthy(labels.get(GPU_PRESENT_LABEL))
        nfd = [lbl for lbl in NFD_NVIDIA_LABELS if _truthy(labels.get(lbl))]
        if not (present or nfd):
            continue
        alloc = _get(node, "status.allocatable", {}) or {}
        try:
            gpus = int(alloc.get(GPU_RESOURCE, 0))
        except (TypeError, ValueError):
            gpus = 0
        out.append(
            {
                "name": _get(node, "metadata.name"),
                "allocatable_gpus": gpus,
                "gpu_present_label": present,
                "nfd_nvidia_pci": bool(nfd),
                "product": labels.get("nvidia.com/gpu.product"),
            }
        )
    return sorted(out, key=lambda n: n["name"])


def _node_schedulable(node):
    if _get(node, "spec.unschedulable"):
        return False
    for taint in _get(node, "spec.taints", []) or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and taint.get("key") != GPU_RESOURCE:
            return False
    return True


def node_capacity(nodes, minimum=None):
    """Allocatable CPU and memory per schedulable node against a minimum (seed 000 §3.2/§3.3
    prerequisites: at least one node with 4 CPUs and 16 GB). ``minimum`` is {cpu, memory} as
    quantities; without it only the nodes are reported. Nodes are listed largest first."""
    listed = []
    for node in nodes:
        alloc = _get(node, "status.allocatable", {}) or {}
        try:
            cpu = quantity(alloc.get("cpu", 0))
            memory = quantity(alloc.get("memory", 0))
        except ValueError:
            cpu, memory = 0.0, 0.0
        listed.append({
            "name": _get(node, "metadata.name"),
            "cpu": round(cpu, 3),
            "memory_gib": round(memory / 2 ** 30, 2),
            "memory_bytes": int(memory),
            "schedulable": _node_schedulable(node),
        })
    listed.sort(key=lambda n: (-n["cpu"], -n["memory_bytes"], n["name"] or ""))
    result = {"nodes": listed, "minimum": None, "fitting": [], "ok": None, "message": ""}
    if not minimum:
        return result
    min_cpu, min_mem = quantity(minimum["cpu"]), quantity(minimum["memory"])
    fitting = [n["name"] for n in listed if n["schedulable"] and n["cpu"] >= min_cpu and n["memory_bytes"] >= min_mem]
    result.update(minimum={"cpu": str(minimum["cpu"]), "memory": str(minimum["memory"])}, fitting=fitting, ok=bool(fitting))
    largest = ", ".join(
        "%s (%s CPU, %s GiB%s)" % (n["name"], _fmt_number(n["cpu"]), _fmt_number(n["memory_gib"]),
                                   "" if n["schedulable"] else ", not schedulable")
        for n in listed[:3]) or "none"
    if fitting:
        result["message"] = "%d node(s) have at least %s CPU and %s memory allocatable: %s" % (
            len(fitting), minimum["cpu"], minimum["memory"], ", ".join(fitting[:5]))
    else:
        result["message"] = (
            "no schedulable node has at least %s CPU and %s memory allocatable (seed 000 §3.2/§3.3 prerequisite); "
            "the largest nodes found: %s" % (minimum["cpu"], minimum["memory"], largest))
    return result


def _fmt_number(value):
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def install_path(smcps, knative_servings, dsci, dsc, served, mode=SERVERLESS):
    """Decide automated|manual with reasons (seed 000 §3.1.2, §3.2; operator-api.md §6.7).

    The RHOAI operator refuses to install KServe's dependencies when a ServiceMeshControlPlane
    or a KnativeServing exists that it did not create itself. The ones it created carry an
    ownerReference to one of its FeatureTrackers and do not block. A cluster already configured
    for the manual path (DSCI serviceMesh or DSC kserve.serving Unmanaged) stays manual.

    For ``mode`` RawDeployment the operator installs no dependency at all (with kserve.serving
    Removed it skips every mesh and Serverless precondition), so an existing control plane or
    KnativeServing does not matter: it is left alone."""
    manual, automated = [], []
    if mode == RAW:
        automated.append(
            "RawDeployment needs no Service Mesh and no Knative Serving: with kserve.serving Removed the "
            "operator skips their preconditions%s"
            % ("; the existing %s %s are left alone" % (
                "/".join(k for k, items in (("ServiceMeshControlPlane", smcps), ("KnativeServing", knative_servings)) if items),
                ", ".join("%s/%s" % (o["namespace"], o["name"]) for o in list(smcps) + list(knative_servings)))
               if (smcps or knative_servings) else "")
        )
    checked = () if mode == RAW else (("ServiceMeshControlPlane", smcps, "smcp"), ("KnativeServing", knative_servings, "knative_serving"))
    for kind, items, key in checked:
        foreign = [o for o in items if not o["created_by_operator"]]
        own = [o for o in items if o["created_by_operator"]]
        for o in foreign:
            manual.append(
                "%s %s/%s exists and was not created by the OpenShift AI operator: the operator cannot install "
                "KServe's dependencies, so KServe must be installed manually" % (kind, o["namespace"], o["name"])
            )
        if own and not foreign:
            automated.append(
                "%s %s was created by the OpenShift AI operator (FeatureTracker %s)"
                % (kind, ", ".join("%s/%s" % (o["namespace"], o["name"]) for o in own), ", ".join(o["owner"] for o in own))
            )
        elif not items:
            automated.append(
                "no %s exists%s" % (kind, "" if served.get(key) else " (the kind is not served: its operator is not installed)")
            )
    if len(knative_servings) > 1 and mode != RAW:
        manual.append("%d KnativeServing resources exist, which the OpenShift AI operator treats as unsupported" % len(knative_servings))
    if dsci and dsci["service_mesh"]["management_state"] == "Unmanaged":
        manual.append("DSCInitialization %s has serviceMesh.managementState Unmanaged: the cluster is set up for the manual path" % dsci["name"])
    if dsc and dsc["kserve"]["serving_management_state"] == "Unmanaged":
        manual.append("DataScienceCluster %s has kserve.serving.managementState Unmanaged: the cluster is set up for the manual path" % dsc["name"])
    if manual:
        return "manual", manual
    return "automated", automated


def _dsc_kserve_mode(dsc):
    """The deployment mode a DataScienceCluster asks of the operator, as the operator reads it.

    Returns (mode, serving_state) for a kserve component that is Managed, else (None, None).
    An empty defaultDeploymentMode means Serverless when serving is Managed/Unmanaged and
    RawDeployment when serving is Removed (serving-api.md §5.1); an absent serving state is the
    CRD default, Managed."""
    kserve = (dsc or {}).get("kserve") or {}
    if kserve.get("management_state") != "Managed":
        return None, None
    serving = kserve.get("serving_management_state") or "Managed"
    mode = kserve.get("default_deployment_mode") or (RAW if serving == "Removed" else SERVERLESS)
    return mode, serving


def deployment_mode(smcps, knative_servings, dsci, dsc, served, requested=None):
    """Which KServe deployment mode (platform) the cluster runs, and which request it refuses.

    This is the one place that decides the deployment mode; the playbook and the roles only read
    the result. A request for one mode on a cluster that runs the other is refused with the
    reasons, before anything is written, because switching would leave a half-state: the
    operator-managed mesh and Knative Serving of a Serverless install do not go away when the DSC
    says RawDeployment, and a raw install does not become Serverless by flipping the DSCI.

    - Serverless runs when the OpenShift AI operator manages a ServiceMeshControlPlane or a
      KnativeServing (ownerReference to its FeatureTracker), or when the DSC has kserve Managed
      with serving Managed/Unmanaged (the automated and the manual Serverless install).
    - RawDeployment runs when the DSC has kserve Managed, serving Removed and the deployment mode
      RawDeployment (explicit, or empty, which the operator reads as RawDeployment).

    A control plane or KnativeServing the operator did not create (someone else's) is not a
    Serverless install of KServe and refuses nothing here. ``requested`` (Serverless,
    RawDeployment or None) only selects ``allowed``/``refusals``; ``refusals_by_mode`` has both."""
    serverless, raw = [], []
    for kind, items in (("ServiceMeshControlPlane", smcps), ("KnativeServing", knative_servings)):
        for o in items:
            if o["created_by_operator"]:
                serverless.append(
                    "%s %s/%s is managed by the OpenShift AI operator (FeatureTracker %s)"
                    % (kind, o["namespace"], o["name"], o["owner"])
                )
    mode, serving = _dsc_kserve_mode(dsc)
    dsc_name = (dsc or {}).get("name")
    set_mode = ((dsc or {}).get("kserve") or {}).get("default_deployment_mode")
    mode_text = "defaultDeploymentMode %s" % set_mode if set_mode else "no defaultDeploymentMode (%s)" % mode
    if serving in ("Managed", "Unmanaged"):
        serverless.append(
            "DataScienceCluster %s has kserve Managed with serving.managementState %s and %s"
            % (dsc_name, serving, mode_text)
        )
    elif serving == "Removed" and mode == RAW:
        mesh = ((dsci or {}).get("service_mesh") or {}).get("management_state")
        raw.append(
            "DataScienceCluster %s has kserve Managed with serving.managementState Removed and %s%s"
            % (dsc_name, mode_text,
               " (DSCInitialization %s serviceMesh.managementState %s)" % (dsci["name"], mesh) if dsci and mesh else "")
        )
    if serverless and raw:
        current = "mixed"
    elif serverless:
        current = SERVERLESS
    elif raw:
        current = RAW
    else:
        current = None
    refusals = {
        RAW: [
            "RawDeployment was requested but this cluster runs KServe in the Serverless mode: %s. Installing "
            "RawDeployment over it would leave the Service Mesh and Knative Serving of that install half-removed; "
            "keep the Serverless mode, or remove the Serverless install first (DSC kserve.serving Removed, "
            "DSCI serviceMesh Removed, then the control plane and the KnativeServing)."
            % "; ".join(serverless)
        ] if serverless else [],
        SERVERLESS: [
            "Serverless was requested but this cluster runs KServe in the RawDeployment mode (the standard "
            "platform, without Service Mesh and Serverless): %s. Switching it to Serverless would bring in a mesh "
            "and Knative Serving under models deployed raw; keep the RawDeployment mode."
            % "; ".join(raw)
        ] if raw else [],
    }
    return {
        "current": current,
        "current_reasons": serverless + raw,
        "requested": requested,
        "allowed": (not refusals[requested]) if requested in refusals else None,
        "refusals": refusals[requested] if requested in refusals else [],
        "refusals_by_mode": refusals,
        "install_path_by_mode": dict(
            (m, dict(zip(("path", "reasons"), install_path(smcps, knative_servings, dsci, dsc, served, m))))
            for m in DEPLOYMENT_MODES
        ),
    }


# Kinds the install path is decided from; reading "none" when the list was forbidden (HTTP 403)
# would send a limited account down the wrong path.
DECISION_KINDS = {
    "ServiceMeshControlPlane": "servicemeshcontrolplanes.maistra.io",
    "KnativeServing": "knativeservings.operator.knative.dev",
    "DSCInitialization": "dscinitializations.dscinitialization.opendatahub.io",
    "DataScienceCluster": "datascienceclusters.datasciencecluster.opendatahub.io",
}


def unreadable_refusals(platform, mode=SERVERLESS):
    """Refusals for kinds the install path depends on that these credentials may not list."""
    needed = ("DSCInitialization", "DataScienceCluster") if mode == RAW else tuple(DECISION_KINDS)
    missing = [k for k in needed if k in (platform.get("unreadable_kinds") or [])]
    if not missing:
        return []
    return [
        "these credentials may not list %s (HTTP 403 on verb list): which install path this cluster allows cannot be "
        "decided without them, and reading them as absent could install over an existing mesh. Grant get/list/watch on "
        "them (the ClusterRole in docs/rbac.md lists every permission the playbooks use) and run again."
        % ", ".join("%s (%s)" % (k, DECISION_KINDS[k]) for k in missing)
    ]


def manual_path_refusals(platform, options=None):
    """Why the manual path (seed 000 §3.3) must not run on this cluster; empty: go.

    ``options``: ``mesh_namespace``, ``mesh_name``, ``serving_namespace``, ``serving_name`` (the
    names the manual roles will create or configure), ``deployment_mode`` and ``kinds`` (the
    refusals about these kinds only: the service_mesh role asks for ServiceMeshControlPlane, the
    serverless role for KnativeServing; default both). Refused:
      - a control plane or KnativeServing the OpenShift AI operator created (it carries an
        ownerReference to a FeatureTracker), whatever its name: configuring it by hand, then
        switching the DSCI/DSC to Unmanaged, is a half-migration that a later operator clean-up
        garbage-collects; such a cluster stays on the automated path;
      - a second control plane in the mesh namespace, or a second KnativeServing (each admits one);
        one the user created may be configured by naming it;
      - a DSCInitialization with serviceMesh Managed while the mesh namespace has no control plane
        yet: installing the Service Mesh operator would let the OpenShift AI operator create its
        own control plane beside the one the manual path creates;
      - kinds the decision needs that cannot be listed (HTTP 403)."""
    options = options or {}
    mode = options.get("deployment_mode") or SERVERLESS
    reasons = list(unreadable_refusals(platform, mode))
    if mode == RAW:
        return reasons
    mesh_ns = options.get("mesh_namespace") or "istio-system"
    mesh_name = options.get("mesh_name") or "minimal"
    serving_ns = options.get("serving_namespace") or "knative-serving"
    serving_name = options.get("serving_name") or "knative-serving"
    kinds = options.get("kinds") or ("ServiceMeshControlPlane", "KnativeServing")
    unknown = [k for k in kinds if k not in ("ServiceMeshControlPlane", "KnativeServing")]
    if unknown:
        raise InvalidInput("manual_path_refusals: kinds must be ServiceMeshControlPlane and/or KnativeServing, got %s"
                           % ", ".join(map(str, unknown)))
    smcps = platform.get("smcp") or []
    kss = platform.get("knative_serving") or []
    mesh_refusals = "ServiceMeshControlPlane" in kinds
    serving_refusals = "KnativeServing" in kinds
    for kind, items in (("ServiceMeshControlPlane", smcps if mesh_refusals else []),
                        ("KnativeServing", kss if serving_refusals else [])):
        for obj in items:
            if obj.get("created_by_operator"):
                reasons.append(
                    "%s %s/%s was created by the OpenShift AI operator (owner %s): this cluster runs the automated "
                    "install, and the manual path would configure the operator's object by hand and set the "
                    "DSCInitialization/DataScienceCluster to Unmanaged, a half-migration that a later operator "
                    "clean-up would garbage-collect. Keep the automated path (model_serving_install_path: auto or "
                    "automated); nothing was changed."
                    % (kind, obj.get("namespace"), obj.get("name"), obj.get("owner") or "a FeatureTracker"))
    foreign_smcps = [o for o in smcps if mesh_refusals and not o.get("created_by_operator")
                     and o.get("namespace") == mesh_ns and o.get("name") != mesh_name]
    if foreign_smcps:
        reasons.append(
            "ServiceMeshControlPlane %s already exists in %s, and Service Mesh admits one control plane per namespace, "
            "so %s/%s cannot be created beside it. If that control plane is yours and meant for OpenShift AI, set "
            "service_mesh_name: %s to configure it; otherwise use another service_mesh_namespace."
            % (", ".join(o["name"] for o in foreign_smcps), mesh_ns, mesh_ns, mesh_name, foreign_smcps[0]["name"]))
    foreign_ks = [o for o in kss if serving_refusals and not o.get("created_by_operator")
                  and (o.get("name"), o.get("namespace")) != (serving_name, serving_ns)]
    if foreign_ks:
        reasons.append(
            "KnativeServing %s already exists, and OpenShift Serverless admits one KnativeServing, so %s/%s cannot be "
            "created. If it is yours and meant for OpenShift AI, set serverless_name and serverless_namespace to it."
            % (", ".join("%s/%s" % (o.get("namespace"), o.get("name")) for o in foreign_ks), serving_ns, serving_name))
    dsci = platform.get("dsci") or {}
    mesh_state = _get(dsci, "service_mesh.management_state")
    if mesh_refusals and mesh_state == "Managed" and not [o for o in smcps if o.get("namespace") == mesh_ns]:
        reasons.append(
            "DSCInitialization %s has serviceMesh.managementState Managed and %s has no control plane yet: installing "
            "the Service Mesh operator now lets the OpenShift AI operator create its own control plane (%s) beside "
            "the manual path's %s, and a namespace admits one. Use the automated path (model_serving_install_path: "
            "auto), or set the DSCInitialization's spec.serviceMesh.managementState to Unmanaged first (seed 000 §3.3)."
            % (dsci.get("name") or "default-dsci", mesh_ns,
               _get(dsci, "service_mesh.control_plane_name") or "data-science-smcp", mesh_name))
    return reasons


def analyze(raw, requested_mode=None, node_minimum=None):
    served = raw.get("served", {})
    ingress = (raw.get("ingress") or [None])[0]
    ptype, is_rosa, signals = detect_platform((raw.get("infrastructure") or [None])[0])
    smcps = sorted((dict(_stack_object(o), identity_type=_get(o, "spec.security.identity.type")) for o in raw.get("smcp", [])),
                   key=lambda o: (o["namespace"] or "", o["name"]))
    kss = sorted((_stack_object(o) for o in raw.get("knative_serving", [])), key=lambda o: (o["namespace"] or "", o["name"]))
    dsci = dsci_facts(raw.get("dsci", []))
    dsc = dsc_facts(raw.get("dsc", []))
    modes = deployment_mode(smcps, kss, dsci, dsc, served, requested_mode)
    chosen = modes["install_path_by_mode"][requested_mode or SERVERLESS]
    path, reasons = chosen["path"], chosen["reasons"]
    return {
        "ingress_domain": _get(ingress, "spec.domain") if ingress else None,
        "platform_type": ptype,
        "is_rosa": is_rosa,
        "rosa_signals": signals,
        "openshift_version": openshift_version((raw.get("clusterversion") or [None])[0]),
        "operators": operators(raw.get("csv", []), raw.get("subscription", [])),
        "smcp": smcps,
        "knative_serving": kss,
        "dsci": dsci,
        "dsc": dsc,
        "gpu_nodes": gpu_nodes(raw.get("node", [])),
        "node_capacity": node_capacity(raw.get("node", []), node_minimum),
        "install_path": path,
        "install_path_reasons": reasons,
        "deployment_mode": modes,
        "served_kinds": dict((k, bool(v)) for k, v in served.items()),
        "unreadable_kinds": sorted(raw.get("forbidden") or []),
    }


def platform_facts(client, requested_mode=None, node_minimum=None):
    return analyze(gather(client), requested_mode, node_minimum)
