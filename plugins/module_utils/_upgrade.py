# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of the upgrade role: the upgrade path of each operator through its channel's
upgrade graph, and the preflight refusals (catalog, platform health, models), as plain functions
of the objects read. Nothing here reads or writes the cluster.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

The upgrade graph of a channel is read from its PackageManifest: the package server lists a
channel's ``entries`` from the channel head back along the ``replaces`` chain (newest first), so
the entries read backwards are the CSVs OLM installs one after the other, one InstallPlan each.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _get(obj, path, default=None):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return default
        cur = cur.get(part)
        if cur is None:
            return default
    return cur


def _name(obj):
    return _get(obj, "metadata.name")


def _ns_name(obj):
    return "%s/%s" % (_get(obj, "metadata.namespace"), _name(obj))


def _condition(obj, ctype):
    for c in _get(obj, "status.conditions", []) or []:
        if c.get("type") == ctype:
            return c
    return None


def channel_path(pm, channel):
    """The CSVs of ``channel`` in upgrade order (oldest first) as [{name, version}], or None."""
    for ch in _get(pm, "status.channels", []) or []:
        if ch.get("name") == channel:
            entries = [{"name": e.get("name"), "version": e.get("version")} for e in ch.get("entries") or [] if e.get("name")]
            if not entries and ch.get("currentCSV"):
                entries = [{"name": ch["currentCSV"], "version": _get(ch, "currentCSVDesc.version")}]
            return list(reversed(entries))
    return None


def _channels(pm):
    return sorted(ch.get("name") for ch in _get(pm, "status.channels", []) or [] if ch.get("name"))


def _find_target(path, version):
    """The entry of ``path`` for ``version`` (a version such as 1.35.2, or a CSV name)."""
    version = str(version).strip()
    for e in path:
        if version in (e["name"], e.get("version"), "v%s" % (e.get("version") or "")):
            return e["name"]
    return None


def plan_operator(package, target, subs, pms, approval):
    """The upgrade of one package: (plan, refusals, skipped reason).

    ``target``: {channel, version} (both optional; empty = the head of the current channel)."""
    var = "upgrade_operators['%s']" % package
    target = target or {}
    mine = [s for s in subs if _get(s, "spec.name") == package]
    if not mine:
        if target.get("channel") or target.get("version"):
            return None, ["%s: no Subscription for package %s in the cluster; install it first (playbooks/install.yml)"
                          % (var, package)], None
        return None, [], "no Subscription for package %s" % package
    if len(mine) > 1:
        return None, ["%s: %d Subscriptions for package %s (%s); OLM resolves each, upgrade them one by one"
                      % (var, len(mine), package, ", ".join(sorted(_ns_name(s) for s in mine)))], None
    sub = mine[0]
    # the package as the Subscription's catalog lists it (another catalog may list a same-named package)
    pms = [p for p in pms or [] if (_get(p, "status.packageName") or _name(p)) == package]
    pm = next((p for p in pms if _get(p, "status.catalogSource") == _get(sub, "spec.source")), pms[0] if pms else None)
    where = "Subscription %s" % _ns_name(sub)
    installed = _get(sub, "status.installedCSV")
    if not installed:
        return None, ["%s: %s has no installed CSV (state %s); the operator must be installed before it is upgraded"
                      % (var, where, _get(sub, "status.state", "none"))], None
    if not pm:
        return None, ["%s: the catalog has no PackageManifest for package %s (catalog %s)"
                      % (var, package, _get(sub, "spec.source"))], None
    current_channel = _get(sub, "spec.channel") or _get(pm, "status.defaultChannel")
    channel = target.get("channel") or current_channel
    path = channel_path(pm, channel)
    if path is None:
        return None, ["%s.channel: channel %r is not a channel of package %s in catalog %s; available: %s"
                      % (var, channel, package, _get(pm, "status.catalogSource"), ", ".join(_channels(pm)))], None
    names = [e["name"] for e in path]
    head = names[-1] if names else None
    if target.get("version"):
        target_csv = _find_target(path, target["version"])
        if target_csv is None:
            return None, ["%s.version: version %s is not in channel %s of package %s; the channel has: %s"
                          % (var, target["version"], channel, package,
                             ", ".join(e.get("version") or e["name"] for e in path))], None
    else:
        target_csv = head
    refusals = []
    if installed in names:
        i, t = names.index(installed), names.index(target_csv)
        if t < i:
            refusals.append("%s.version: %s is older than the installed %s (%s); OLM does not downgrade"
                            % (var, target_csv, installed, where))
        steps = names[i + 1:t + 1]
    elif target_csv == head:
        # a channel that does not list the installed CSV: its head replaces it (skipRange)
        steps = [head]
    else:
        refusals.append("%s.version: the installed %s is not in channel %s, so OLM can only go to the channel head %s, "
                        "not %s" % (var, installed, channel, head, target_csv))
        steps = []
    if approval == "Automatic" and target_csv != head:
        refusals.append("%s.version: with upgrade_approval Automatic OLM upgrades to the channel head %s, past %s; "
                        "use upgrade_approval Manual to stop at a version" % (var, head, target_csv))
    if refusals:
        return None, refusals, None
    live_approval = _get(sub, "spec.installPlanApproval") or "Automatic"
    spec_changes = []
    if channel != _get(sub, "spec.channel"):
        spec_changes.append("channel %s -> %s" % (_get(sub, "spec.channel"), channel))
    if approval != live_approval:
        spec_changes.append("installPlanApproval %s -> %s" % (live_approval, approval))
    plan = {
        "package": package,
        "subscription": _name(sub),
        "namespace": _get(sub, "metadata.namespace"),
        "source": _get(sub, "spec.source"),
        "source_namespace": _get(sub, "spec.sourceNamespace"),
        "channel": channel,
        "channel_before": _get(sub, "spec.channel"),
        "installed": installed,
        "target": target_csv,
        "steps": steps,
        "spec_changes": spec_changes,
        # the olm_operator calls: one per step; a Subscription whose spec changes without a step
        # (already at the target) gets one call that only writes the spec
        "calls": list(steps) if steps else ([installed] if spec_changes else []),
    }
    return plan, [], None


def health_refusals(plans, platform, isvcs):
    """Why the platform or a model is not healthy enough to be upgraded (empty: go).

    ``platform``: the platform_info facts (``operators``: the CSVs with their phase, ``dsci``,
    ``dsc``, ``smcp``, ``knative_serving``)."""
    out = []
    platform = platform or {}
    by_name = dict(((o.get("namespace"), o.get("name")), o) for o in platform.get("operators") or [])
    for plan in plans:
        csv = by_name.get((plan["namespace"], plan["installed"]))
        phase = (csv or {}).get("phase")
        if phase != "Succeeded":
            out.append("platform not healthy: ClusterServiceVersion %s/%s of %s is %s%s" % (
                plan["namespace"], plan["installed"], plan["package"], phase or "missing",
                (" (%s)" % csv.get("reason")) if csv and csv.get("reason") else ""))
    for key, kind in (("dsci", "DSCInitialization"), ("dsc", "DataScienceCluster")):
        obj = platform.get(key)
        if obj and obj.get("phase") != "Ready":
            out.append("platform not healthy: %s %s is in phase %s, not Ready" % (kind, obj.get("name"), obj.get("phase")))
    for key, kind in (("smcp", "ServiceMeshControlPlane"), ("knative_serving", "KnativeServing")):
        for obj in platform.get(key) or []:
            if not obj.get("ready"):
                out.append("platform not healthy: %s %s/%s is not Ready" % (kind, obj.get("namespace"), obj.get("name")))
    for isvc in isvcs or []:
        ready = _condition(isvc, "Ready")
        if not ready or ready.get("status") != "True":
            out.append("model not Ready: InferenceService %s%s" % (
                _ns_name(isvc), (" (%s: %s)" % (ready.get("reason"), ready.get("message"))) if ready else " (no Ready condition)"))
    return out


MESH_VERSION_VARIABLE = "upgrade_service_mesh_version"


def _minor(version):
    """(major, minor) of a control plane or operator version: v2.6, 2.6.4, servicemeshoperator.v2.6.4; None if none."""
    text = str(version or "")
    if "." in text and text.split(".", 1)[0].isalpha():  # a CSV name: <package>.v<x.y.z>
        text = text.split(".", 1)[1]
    text = text.lstrip("v")
    parts = text.split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def control_plane_versions(target, platform, plans):
    """The control planes to raise to ``target`` (``v2.<n>``; empty: none) and the refusals.

    Refused: a target that is not ``v2.<n>``, a target above what the Service Mesh operator runs
    after this upgrade (its last planned CSV, else the installed one), and a control plane already
    above the target (Service Mesh has no downgrade). Returns (changes, refusals); a change is
    ``{namespace, name, from, to}``."""
    if not target:
        return [], []
    wanted = _minor(target)
    if not str(target).startswith("v") or wanted is None or str(target).count(".") != 1:
        return [], ["%s must look like v2.6 (the ServiceMeshControlPlane spec.version), got %r"
                    % (MESH_VERSION_VARIABLE, target)]
    platform = platform or {}
    operator_csv = None
    for plan in plans or []:
        if plan.get("package") == "servicemeshoperator":
            operator_csv = (plan.get("steps") or [plan.get("installed")])[-1]
    if operator_csv is None:
        for op in platform.get("operators") or []:
            if op.get("package") == "servicemeshoperator" and op.get("phase") == "Succeeded":
                operator_csv = op.get("name")
    refusals = []
    supported = _minor(operator_csv)
    if supported is None:
        refusals.append("%s=%s: no Service Mesh operator is installed to run that control plane version"
                        % (MESH_VERSION_VARIABLE, target))
    elif wanted > supported:
        refusals.append("%s=%s: the Service Mesh operator runs %s after this upgrade, which supports control planes "
                        "up to v%d.%d; upgrade the operator further (upgrade_operators) or ask for a lower version"
                        % (MESH_VERSION_VARIABLE, target, operator_csv, supported[0], supported[1]))
    changes = []
    for smcp in platform.get("smcp") or []:
        current = _minor(smcp.get("version"))
        where = "%s/%s" % (smcp.get("namespace"), smcp.get("name"))
        if current is not None and current > wanted:
            refusals.append("%s=%s: ServiceMeshControlPlane %s runs v%d.%d and Service Mesh cannot lower a control "
                            "plane's version" % (MESH_VERSION_VARIABLE, target, where, current[0], current[1]))
        elif current != wanted:
            changes.append({"namespace": smcp.get("namespace"), "name": smcp.get("name"),
                            "from": smcp.get("version"), "to": target})
    return changes, refusals


def upgrade_plan(targets, subs, pms, approval, platform=None, isvcs=None, mesh_version=None):
    """Plans of the listed packages (in the order given), the packages skipped, the control planes
    whose version is raised (``mesh_version``) and every refusal."""
    plans, refusals, skipped = [], [], []
    for package, target in (targets or {}).items():
        plan, refused, skip = plan_operator(package, target, subs or [], pms, approval)
        refusals.extend(refused)
        if plan:
            plans.append(plan)
        if skip:
            skipped.append({"package": package, "reason": skip})
    control_planes, mesh_refusals = control_plane_versions(mesh_version, platform, plans)
    refusals.extend(mesh_refusals)
    refusals.extend(health_refusals(plans, platform, isvcs))
    return {"operators": plans, "skipped": skipped, "control_planes": control_planes, "refusals": refusals}


def model_checks(isvcs, secrets):
    """The ``models`` option of inference_check for every InferenceService: with token auth, its first
    token Secret (a service account token Secret of the model's ``<model>-sa`` service account)."""
    out = []
    for isvc in isvcs or []:
        ns, name = _get(isvc, "metadata.namespace"), _name(isvc)
        entry = {"name": name, "namespace": ns}
        annotations = _get(isvc, "metadata.annotations", {}) or {}
        if str(annotations.get("security.opendatahub.io/enable-auth", "")).lower() == "true":
            tokens = sorted(
                _name(s) for s in secrets or []
                if _get(s, "metadata.namespace") == ns and s.get("type") == "kubernetes.io/service-account-token"
                and (_get(s, "metadata.annotations", {}) or {}).get("kubernetes.io/service-account.name") == "%s-sa" % name)
            if tokens:
                entry["token_secret"] = tokens[0]
        out.append(entry)
    return out


# Annotations the wildcard_certificate module puts on the certificate Secrets it writes (_certs.py).
CERT_SOURCE_ANNOTATION = "model-serving.openshift-ai.io/certificate-source"
CERT_DOMAIN_ANNOTATION = "model-serving.openshift-ai.io/certificate-domain"


def certificates_to_check(secrets):
    """The certificate Secrets this collection generated (``certificate-source: generated``), as
    ``{name, namespace, domain}``: the upgrade hands each to wildcard_certificate, which renews the
    ones within ``renew_before`` days of expiry and keeps the others. Provided certificates (or ones
    made elsewhere) are never touched."""
    out = []
    for secret in secrets or []:
        annotations = _get(secret, "metadata.annotations") or {}
        if annotations.get(CERT_SOURCE_ANNOTATION) != "generated" or not annotations.get(CERT_DOMAIN_ANNOTATION):
            continue
        out.append({"name": _get(secret, "metadata.name"), "namespace": _get(secret, "metadata.namespace"),
                    "domain": annotations[CERT_DOMAIN_ANNOTATION]})
    return sorted(out, key=lambda c: (c["namespace"] or "", c["name"] or ""))
