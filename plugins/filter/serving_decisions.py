# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decision logic used by the kserve_automated and gpu roles.

Kept out of Jinja so that it can be unit tested and read in one place. Nothing here talks to a
cluster: every filter takes objects the roles already read (platform_info, k8s_info, pods_verify).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ModelServingError
from ansible.module_utils.common.text.converters import to_text

from collections.abc import Mapping, Sequence

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._platform import (
    manual_path_refusals as _manual_path_refusals,
    unreadable_refusals,
)


def _get(obj, path, default=None):
    """Dotted-path lookup in nested dicts; missing or None -> default."""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping) or cur.get(part) is None:
            return default
        cur = cur[part]
    return cur


def _is_list(value):
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _to_int(value):
    """Kubernetes quantities for extended resources are plain integers ("2"); anything else is 0."""
    if value is None:
        return 0
    try:
        return int(to_text(value).strip())
    except (TypeError, ValueError):
        try:
            return int(float(to_text(value).strip()))
        except (TypeError, ValueError):
            return 0


# ----------------------------------------------------------------------------------------------
# Automated install path (seed 000 §3.2)
# ----------------------------------------------------------------------------------------------

def _dsci_of_facts(facts):
    """The fields of a DSCInitialization the refusals read, from platform_info's ``dsci`` facts."""
    if not isinstance(facts, Mapping):
        return {}
    mesh = facts.get("service_mesh") or {}
    return {"metadata": {"name": facts.get("name")},
            "spec": {"serviceMesh": {"managementState": mesh.get("management_state"),
                                     "controlPlane": {"name": mesh.get("control_plane_name"),
                                                      "namespace": mesh.get("control_plane_namespace")}}}}


def _dsc_of_facts(facts):
    """The fields of a DataScienceCluster the refusals read, from platform_info's ``dsc`` facts."""
    if not isinstance(facts, Mapping):
        return {}
    kserve = facts.get("kserve") or {}
    return {"metadata": {"name": facts.get("name")},
            "spec": {"components": {"kserve": {"serving": {"managementState": kserve.get("serving_management_state"),
                                                           "name": facts.get("serving_name")}}}}}


def automated_path_refusals(cluster, options=None):
    """Return the reasons why the automated KServe install must not proceed (empty list: go).

    ``cluster`` is a dict with:
      - ``platform``: the ``platform`` result of ``platform_info`` (``install_path``,
        ``install_path_reasons``);
      - ``dsci`` / ``dsc``: the existing DSCInitialization / DataScienceCluster object or None;
        without these keys, the platform facts' ``dsci`` / ``dsc`` (the cluster's singletons);
      - ``certificate_secret``: the Provided certificate secret object or None.
    ``options`` are the role inputs: ``control_plane_name``, ``control_plane_namespace``,
    ``serving_name``, ``certificate_type``, ``certificate_secret_name``, ``deployment_mode``
    (``Serverless``, the default, or ``RawDeployment``).

    The deployment-mode decision (a RawDeployment request on a Serverless cluster and the reverse)
    is platform_info's (``platform.deployment_mode.refusals_by_mode``); it is only passed on here.
    With RawDeployment the checks about the control plane, Knative Serving and the certificate do
    not apply: the operator creates none of them.

    Every reason explains what was found and what to do instead; the role fails with all of them
    before writing anything, so a refused cluster is never half-migrated.
    """
    if not isinstance(cluster, Mapping):
        raise AnsibleFilterError("automated_path_refusals expects a dict, got %s" % type(cluster).__name__)
    options = options or {}
    reasons = []
    platform = cluster.get("platform") or {}
    dsci = (cluster.get("dsci") or {}) if "dsci" in cluster else _dsci_of_facts(platform.get("dsci"))
    dsc = (cluster.get("dsc") or {}) if "dsc" in cluster else _dsc_of_facts(platform.get("dsc"))

    cp_name = options.get("control_plane_name", "data-science-smcp")
    cp_ns = options.get("control_plane_namespace", "istio-system")
    serving_name = options.get("serving_name", "knative-serving")

    mode = options.get("deployment_mode") or "Serverless"
    raw = mode == "RawDeployment"
    reasons.extend(unreadable_refusals(plain(platform), mode))
    by_mode = _get(platform, "deployment_mode.install_path_by_mode." + mode) or {}
    path = by_mode.get("path") or platform.get("install_path")
    if path and path != "automated":
        found = (by_mode.get("reasons") if by_mode else platform.get("install_path_reasons")) or []
        if not _is_list(found):
            found = [found]
        detail = "; ".join(to_text(r) for r in found) or "no reason given"
        reasons.append(
            "The cluster cannot take the automated path (platform_info chose '%s': %s). The OpenShift AI "
            "operator refuses to integrate an existing ServiceMeshControlPlane or KnativeServing (seed 000 "
            "§3.1.2); use the manual path (model_serving_install_path: manual)." % (path, detail)
        )

    mode_refusals = _get(platform, "deployment_mode.refusals_by_mode." + mode) or []
    reasons.extend(to_text(r) for r in (mode_refusals if _is_list(mode_refusals) else [mode_refusals]))
    if raw:
        # A manual install (Unmanaged) already makes the install path manual or the mode refused.
        return reasons

    # A cluster installed the manual way: the operator was told to keep its hands off the mesh or Knative.
    mesh_state = _get(dsci, "spec.serviceMesh.managementState")
    if mesh_state == "Unmanaged":
        reasons.append(
            "DSCInitialization %s has spec.serviceMesh.managementState Unmanaged: this cluster was installed with "
            "the manual path. Switching it to the automated path would hand an existing Service Mesh to the "
            "operator (a half-migration); keep the manual path." % _get(dsci, "metadata.name", "default-dsci")
        )
    serving_state = _get(dsc, "spec.components.kserve.serving.managementState")
    if serving_state == "Unmanaged":
        reasons.append(
            "DataScienceCluster %s has spec.components.kserve.serving.managementState Unmanaged: KServe's "
            "Serverless dependencies were installed by hand (manual path). Keep the manual path."
            % _get(dsc, "metadata.name", "default-dsc")
        )

    # Renaming or moving an operator-managed control plane or Knative instance is a migration too.
    if mesh_state == "Managed":
        cur_name = _get(dsci, "spec.serviceMesh.controlPlane.name")
        cur_ns = _get(dsci, "spec.serviceMesh.controlPlane.namespace")
        if (cur_name and cur_name != cp_name) or (cur_ns and cur_ns != cp_ns):
            reasons.append(
                "The operator already manages control plane %s/%s; changing it to %s/%s would leave the old one "
                "behind. Set kserve_automated_control_plane_name/namespace to the existing values."
                % (cur_ns or cp_ns, cur_name or cp_name, cp_ns, cp_name)
            )
    cur_serving = _get(dsc, "spec.components.kserve.serving.name")
    if serving_state == "Managed" and cur_serving and cur_serving != serving_name:
        reasons.append(
            "The operator already manages KnativeServing %s; renaming it to %s is not supported. Set "
            "kserve_automated_serving_name to %s." % (cur_serving, serving_name, cur_serving)
        )

    if options.get("certificate_type") == "Provided" and not cluster.get("certificate_secret"):
        reasons.append(
            "kserve_automated_certificate_type is Provided but secret %s/%s does not exist. Create the TLS secret "
            "for *.<ingress domain> first (or use SelfSigned)." % (cp_ns, options.get("certificate_secret_name"))
        )
    return reasons


def third_party_identity_wanted(mode, platform=None):
    """Decide whether ``security.identity.type: ThirdParty`` goes on the SMCP (seed 000 §3.2 step 4).

    ``mode`` is ``auto`` (only on ROSA), ``always`` or ``never``."""
    mode = to_text(mode).lower()
    if mode == "always":
        return True
    if mode == "never":
        return False
    if mode != "auto":
        raise AnsibleFilterError("third_party_identity_wanted: mode must be auto, always or never, not %r" % mode)
    platform = platform or {}
    if platform.get("is_rosa") is True:
        return True
    ptype = to_text(platform.get("platform_type") or "").upper()
    return ptype.startswith("ROSA")


# ----------------------------------------------------------------------------------------------
# GPU enablement
# ----------------------------------------------------------------------------------------------

def gpu_node_report(nodes, gpu_labels=None, resource="nvidia.com/gpu"):
    """Summarise nodes for GPU enablement.

    Returns one entry per node that NFD labelled as carrying an NVIDIA PCI device or that advertises
    ``resource``: ``{name, nfd_labelled, allocatable, capacity, product}``, sorted by name."""
    gpu_labels = list(gpu_labels or ["feature.node.kubernetes.io/pci-10de.present"])
    out = []
    for node in nodes or []:
        labels = _get(node, "metadata.labels", {}) or {}
        labelled = any(to_text(labels.get(lbl, "")).lower() == "true" for lbl in gpu_labels)
        alloc = _to_int((_get(node, "status.allocatable", {}) or {}).get(resource))
        cap = _to_int((_get(node, "status.capacity", {}) or {}).get(resource))
        if not labelled and alloc == 0 and cap == 0:
            continue
        out.append(
            {
                "name": _get(node, "metadata.name", ""),
                "nfd_labelled": labelled,
                "allocatable": alloc,
                "capacity": cap,
                "product": labels.get("nvidia.com/gpu.product"),
            }
        )
    return sorted(out, key=lambda n: n["name"])


def _pod_field(pod, *names):
    for name in names:
        value = _get(pod, name)
        if value not in (None, "", []):
            return value
    return None


def pod_failure_lines(result, default_namespace=None):
    """Turn a pods_verify result (or failure) into ``node <n>: pod <ns>/<p>: <reason>`` lines.

    Uses the per-pod summaries in ``pods`` (``name``, ``node``, ``ready``, ``phase``, ``containers``,
    ``problems``): one line per fatal problem, else one line per pod that is not ready, with the
    waiting/terminated reason of its first unready container. A dict name -> summary is accepted too."""
    if not isinstance(result, Mapping):
        return []
    pods = result.get("pods") or []
    if isinstance(pods, Mapping):
        pods = [dict(v, name=v.get("name", k)) if isinstance(v, Mapping) else {"name": k} for k, v in pods.items()]
    lines = []
    for pod in pods:
        if not isinstance(pod, Mapping):
            continue
        name = _pod_field(pod, "name", "pod", "metadata.name") or "?"
        ns = _pod_field(pod, "namespace", "metadata.namespace") or default_namespace
        node = _pod_field(pod, "node", "node_name", "nodeName", "spec.nodeName") or "<unscheduled>"
        where = "pod %s%s" % (("%s/" % ns) if ns else "", name)
        prefix = "node %s: %s" % (node, where)
        problems = [p for p in (pod.get("problems") or []) if isinstance(p, Mapping)]
        if not problems and pod.get("reason"):
            problems = [pod]
        for problem in problems:
            # a problem names its own node (pods_verify's PodProblem); the pod summary's is the fallback
            line = "node %s: %s: %s" % (problem.get("node") or node, where, problem.get("reason") or "failed")
            if problem.get("container"):
                line += " (container %s)" % problem["container"]
            if problem.get("message"):
                line += " - %s" % to_text(problem["message"])
            lines.append(line)
        if problems or pod.get("ready") is True:
            continue
        reason = None
        for cont in pod.get("containers") or []:
            if isinstance(cont, Mapping) and not cont.get("ready") and cont.get("reason"):
                reason = "%s (container %s)" % (cont["reason"], cont.get("name"))
                break
        lines.append("%s: %s" % (prefix, reason or ("not ready, phase %s" % pod.get("phase") if pod.get("phase") else "not ready")))
    return lines


def manual_path_refusals(platform, options=None):
    """Why the manual path must not run on this cluster (the decision is module_utils/_platform's)."""
    if not isinstance(platform, Mapping):
        raise AnsibleFilterError("manual_path_refusals expects the platform_info result, got %s" % type(platform).__name__)
    try:
        return _manual_path_refusals(plain(platform), plain(options or {}))
    except ModelServingError as e:
        raise AnsibleFilterError(e.msg)


class FilterModule(object):
    def filters(self):
        return {
            "automated_path_refusals": automated_path_refusals,
            "manual_path_refusals": manual_path_refusals,
            "third_party_identity_wanted": third_party_identity_wanted,
            "gpu_node_report": gpu_node_report,
            "pod_failure_lines": pod_failure_lines,
        }
