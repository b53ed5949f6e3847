# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OLM: install, upgrade and remove an operator through OperatorGroup, Subscription,
InstallPlan and ClusterServiceVersion.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

The decisions (which OperatorGroup, what to patch on the Subscription, which InstallPlan may be
approved, whether the install failed) are plain functions of dicts, unit-tested without a
cluster. :class:`OlmOperator` does the I/O: reads, the few writes, and the watch-based waits
(through :mod:`_waiter`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    InvalidInput,
    ModelServingError,
    ResourceNotFound,
    WaitFailed,
    WaitTimeout,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import Service, api_error
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import (
    Outcome,
    established,
    find_condition,
    get_path,
    object_evaluator,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._waiter import Deadline, Waiter
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._pods import (
    TRANSIENT_REASONS,
    diagnose,
    selector_matches,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException


# The options that name one operator (modules olm_operator and olm_operators); approval without
# a default here: olm_operators takes the task's when an entry sets none.
OPERATOR_OPTIONS = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", default="openshift-operators"),
    subscription_name=dict(type="str"),
    channel=dict(type="str"),
    source=dict(type="str"),
    source_namespace=dict(type="str", default="openshift-marketplace"),
    starting_csv=dict(type="str"),
    target_csv=dict(type="str"),
    approval=dict(type="str", choices=["Automatic", "Manual"]),
    target_namespaces=dict(type="list", elements="str"),
    operator_group_name=dict(type="str"),
    config=dict(type="dict"),
)


NS = ("v1", "Namespace")
OG = ("operators.coreos.com/v1", "OperatorGroup")
SUB = ("operators.coreos.com/v1alpha1", "Subscription")
IP = ("operators.coreos.com/v1alpha1", "InstallPlan")
CSV = ("operators.coreos.com/v1alpha1", "ClusterServiceVersion")
PM = ("packages.operators.coreos.com/v1", "PackageManifest")
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
DEPLOYMENT = ("apps/v1", "Deployment")
POD = ("v1", "Pod")

# How long a Manual subscription may show only InstallPlans for other CSVs before we give up.
FOREIGN_PLAN_GRACE = 20.0
# A CSV that OLM marked Failed because a component it had installed stopped being healthy
# (ComponentUnhealthy: its Deployment went missing or unavailable) is reinstalled by OLM on its own
# (Failed -> Pending, NeedsReinstall). The wait tolerates that state this long, unless the operator's
# pods show why they cannot run (CrashLoopBackOff, ImagePullBackOff...), which fails at once.
CSV_RECOVERY_GRACE = 60.0
RECOVERABLE_CSV_REASONS = ("ComponentUnhealthy",)
# Upper bound of one watch "doorbell"; state is re-read at least this often.
DOORBELL_SECONDS = 5


class OlmConflict(ModelServingError):
    """The namespace holds OLM objects that contradict the request (OperatorGroups, Subscriptions)."""


class CreatedConcurrently(Exception):
    """A create answered 409 AlreadyExists: another writer created the object meanwhile."""

    def __init__(self, kind, name, namespace):
        super(CreatedConcurrently, self).__init__("%s %s" % (kind, name))
        self.kind = kind
        self.name = name
        self.namespace = namespace

    def describe(self):
        return "%s %s%s" % (self.kind, ("%s/" % self.namespace) if self.namespace else "", self.name)


# Attempts of present() when another writer creates the same objects at the same time.
CONCURRENT_CREATE_ATTEMPTS = 3


def _get(obj, path, default=None):
    """Like get_path, but a null value also yields ``default``."""
    value = get_path(obj, path)
    return default if value is None else value


_cond = find_condition


def _name(obj):
    return _get(obj, "metadata.name")


# --------------------------------------------------------------------------------------------
# Catalog
# --------------------------------------------------------------------------------------------


def catalog_info(pm):
    """Facts of a PackageManifest: default channel, channel heads and entries, install modes."""
    if not pm:
        return None
    channels = {}
    modes = None
    for ch in _get(pm, "status.channels", []) or []:
        entries = [e.get("name") for e in ch.get("entries") or [] if e.get("name")]
        channels[ch.get("name")] = {"head": ch.get("currentCSV"), "entries": entries}
        desc_modes = _get(ch, "currentCSVDesc.installModes")
        if desc_modes and modes is None:
            modes = [m.get("type") for m in desc_modes if m.get("supported")]
    return {
        "package": _get(pm, "status.packageName") or _name(pm),
        "catalog": _get(pm, "status.catalogSource"),
        "catalog_namespace": _get(pm, "status.catalogSourceNamespace"),
        "default_channel": _get(pm, "status.defaultChannel"),
        "channels": channels,
        "install_modes": modes,
    }


def check_channel(catalog, package, channel, starting_csv, target_csv=None):
    """Refuse, before any write, a channel, startingCSV or target CSV the catalog does not have."""
    if not catalog or not channel:
        return
    if channel not in catalog["channels"]:
        raise InvalidInput(
            "channel %r is not a channel of package %s in catalog %s; available: %s"
            % (channel, package, catalog.get("catalog"), ", ".join(sorted(catalog["channels"]))),
            param="channel",
        )
    entries = catalog["channels"][channel]["entries"]
    if starting_csv and entries and starting_csv not in entries:
        raise InvalidInput(
            "starting_csv %r is not in channel %s of package %s; the channel has: %s"
            % (starting_csv, channel, package, ", ".join(entries)),
            param="starting_csv",
        )
    if target_csv and entries and target_csv not in entries:
        raise InvalidInput(
            "target_csv %r is not in channel %s of package %s; the channel has: %s"
            % (target_csv, channel, package, ", ".join(entries)),
            param="target_csv",
        )


# --------------------------------------------------------------------------------------------
# OperatorGroup
# --------------------------------------------------------------------------------------------


def og_targets(og):
    """Target namespaces of an OperatorGroup: sorted list, [] for AllNamespaces, None for a selector."""
    spec = og.get("spec") or {}
    if spec.get("selector"):
        return None
    return sorted(t for t in spec.get("targetNamespaces") or [] if t)


def _describe_targets(targets):
    if targets is None:
        return "a namespace selector"
    return "AllNamespaces" if not targets else "namespaces %s" % ", ".join(targets)


def wanted_targets(target_namespaces, namespace, install_modes):
    """Targets to request: explicit ones, else what the operator supports ([] = AllNamespaces)."""
    if target_namespaces is not None:
        return sorted(set(t for t in target_namespaces if t))
    if install_modes:
        if "AllNamespaces" in install_modes:
            return []
        if "OwnNamespace" in install_modes:
            return [namespace]
    return None  # no preference


def _mode_of(targets, namespace):
    if targets is None:
        return None
    if not targets:
        return "AllNamespaces"
    if targets == [namespace]:
        return "OwnNamespace"
    return "SingleNamespace" if len(targets) == 1 else "MultiNamespace"


def plan_operator_group(ogs, namespace, target_namespaces, install_modes, og_name=None):
    """Return ("reuse", og) or ("create", body); raise OlmConflict for what OLM would refuse.

    ``target_namespaces``: None means "no preference"; [] means AllNamespaces."""
    wanted = wanted_targets(target_namespaces, namespace, install_modes)
    if len(ogs) > 1:
        raise OlmConflict(
            "namespace %s has %d OperatorGroups (%s): OLM refuses to install any operator there "
            "(TooManyOperatorGroups). Delete all but one." % (namespace, len(ogs), ", ".join(sorted(_name(o) for o in ogs))),
            operator_groups=sorted(_name(o) for o in ogs),
        )
    if ogs:
        og = ogs[0]
        have = og_targets(og)
        if wanted is not None and have != wanted:
            raise OlmConflict(
                "OperatorGroup %s in namespace %s targets %s, but %s is needed%s. OLM allows one OperatorGroup "
                "per namespace: install the operator into another namespace or change target_namespaces."
                % (
                    _name(og),
                    namespace,
                    _describe_targets(have),
                    _describe_targets(wanted),
                    " (target_namespaces)" if target_namespaces is not None else " (the operator's install modes)",
                ),
                operator_group=_name(og),
            )
        mode = _mode_of(have, namespace)
        if install_modes and mode and mode not in install_modes:
            raise OlmConflict(
                "OperatorGroup %s in namespace %s uses install mode %s, which the operator does not support "
                "(supported: %s); OLM would fail the CSV with UnsupportedOperatorGroup."
                % (_name(og), namespace, mode, ", ".join(install_modes)),
                operator_group=_name(og),
            )
        return "reuse", og
    body = {
        "apiVersion": OG[0],
        "kind": OG[1],
        "metadata": {"name": og_name or namespace, "namespace": namespace},
        "spec": {},
    }
    if wanted:
        body["spec"]["targetNamespaces"] = wanted
    return "create", body


# --------------------------------------------------------------------------------------------
# Subscription
# --------------------------------------------------------------------------------------------


def desired_subscription_spec(package, channel, source, source_namespace, approval, starting_csv=None, config=None):
    spec = {"name": package, "source": source, "sourceNamespace": source_namespace, "installPlanApproval": approval}
    if channel:
        spec["channel"] = channel
    if starting_csv:
        spec["startingCSV"] = starting_csv
    if config is not None:
        spec["config"] = config
    return spec


def subscription_changes(live_spec, desired_spec):
    """Fields of the Subscription spec to change: {field: (old, new)}. Fields we do not set are left alone."""
    live_spec = live_spec or {}
    return dict((k, (live_spec.get(k), v)) for k, v in desired_spec.items() if live_spec.get(k) != v)


def conflicting_subscriptions(subs, package, sub_name):
    return sorted(_name(s) for s in subs if _get(s, "spec.name") == package and _name(s) != sub_name)


# --------------------------------------------------------------------------------------------
# Progress verdict
# --------------------------------------------------------------------------------------------


def intended_csv(approval, starting_csv, catalog, channel, sub, target_csv=None):
    """The CSV this run installs or upgrades to.

    ``target_csv`` when given (one upgrade step); Manual: startingCSV when given, else the channel
    head; Automatic: the channel head (OLM upgrades past a startingCSV on its own). Without a
    catalog, what OLM resolved (``status.currentCSV``)."""
    if target_csv:
        return target_csv
    head = None
    if catalog and channel in catalog["channels"]:
        head = catalog["channels"][channel]["head"]
    if approval == "Manual" and starting_csv:
        return starting_csv
    return head or _get(sub, "status.currentCSV")


def recoverable_failure(csv):
    """Whether ``csv`` is Failed for a reason OLM recovers from by itself (see CSV_RECOVERY_GRACE)."""
    return bool(csv) and _get(csv, "status.phase") == "Failed" and _get(csv, "status.reason") in RECOVERABLE_CSV_REASONS


def operator_pod_problems(deployments, pods):
    """Fatal problems (``_pods.diagnose``) of the pods of the CSV's ``deployments``, transient
    reasons (a first ErrImagePull, an Unschedulable pod) left out: [PodProblem]."""
    selectors = [[(key, "=", [value]) for key, value in sorted(labels.items())]
                 for labels in (_get(dep, "spec.selector.matchLabels", {}) or {} for dep in deployments) if labels]
    problems = []
    for pod in pods:
        if any(selector_matches(requirements, _get(pod, "metadata.labels", {})) for requirements in selectors):
            problems.extend(p for p in diagnose(pod) if p.reason not in TRANSIENT_REASONS)
    return problems


def csv_failure(csv):
    """What a Failed CSV reports: 'ClusterServiceVersion <name> failed (<reason>): <message>'."""
    return "ClusterServiceVersion %s failed (%s): %s" % (
        _name(csv),
        _get(csv, "status.reason") or "unknown reason",
        _get(csv, "status.message") or "no message",
    )


def failure_of(sub, plans, csv, tolerate_csv=False):
    """The reason the install cannot succeed, or None. Checked on every observation (fail fast).
    ``tolerate_csv``: a recoverable CSV failure (``recoverable_failure``) is not one yet."""
    cond = _cond(sub, "ResolutionFailed")
    if cond and cond.get("status") == "True":
        return "Subscription %s: ResolutionFailed (%s): %s" % (_name(sub), cond.get("reason"), cond.get("message"))
    for plan in plans:
        if _get(plan, "status.phase") == "Failed":
            installed = _cond(plan, "Installed") or {}
            msg = _get(plan, "status.message") or installed.get("message") or installed.get("reason") or "no message"
            return "InstallPlan %s failed (%s): %s" % (_name(plan), installed.get("reason") or "Failed", msg)
    if csv and _get(csv, "status.phase") == "Failed" and not (tolerate_csv and recoverable_failure(csv)):
        return csv_failure(csv)
    return None


def plans_for(plans, csv_name):
    return [p for p in plans if csv_name in (_get(p, "spec.clusterServiceVersionNames", []) or [])]


def _sub_plan_name(sub):
    return _get(sub, "status.installPlanRef.name") or _get(sub, "status.installplan.name")


def relevant_plans(sub, plans, intended):
    """InstallPlans that matter for failure detection: the Subscription's current one and those for the intended CSV."""
    ref = _sub_plan_name(sub)
    out = [p for p in plans if _name(p) == ref]
    for p in plans_for(plans, intended) if intended else []:
        if p not in out:
            out.append(p)
    return out


def pending_plans(plans):
    return [
        p
        for p in plans
        if not _get(p, "spec.approved", False) and _get(p, "status.phase") in ("RequiresApproval", None, "")
        and _get(p, "spec.approval", "Manual") == "Manual"
    ]


def decide(sub, plans, csv, intended, approval, tolerate_csv=False):
    """One observation -> ("failed", msg) | ("approve", plan) | ("done", msg) | ("wait", msg, kind) | ("foreign", msg).
    ``tolerate_csv`` as in ``failure_of``."""
    if sub is None:
        return ("wait", "the Subscription is not visible yet", SUB)
    failure = failure_of(sub, relevant_plans(sub, plans, intended), csv, tolerate_csv)
    if failure:
        return ("failed", failure)
    installed = _get(sub, "status.installedCSV")
    if intended and installed == intended and _get(csv, "status.phase") == "Succeeded":
        return ("done", "%s is installed and Succeeded" % intended)
    if intended and installed != intended:
        # Only a plan for the intended CSV is ever approved. With Automatic approval this only
        # happens for a plan created while the Subscription was still Manual.
        mine = [p for p in pending_plans(plans) if intended in (_get(p, "spec.clusterServiceVersionNames", []) or [])]
        if mine:
            return ("approve", mine[0])
    if approval == "Manual" and intended and installed != intended:
        foreign = [p for p in pending_plans(plans) if p not in mine and _name(p) == _sub_plan_name(sub)]
        if foreign and not plans_for(plans, intended):
            p = foreign[0]
            return (
                "foreign",
                "InstallPlan %s waits for approval but installs %s, not the intended %s; it is left unapproved"
                % (_name(p), ", ".join(_get(p, "spec.clusterServiceVersionNames", []) or []), intended),
            )
    if not intended:
        return ("wait", "OLM has not resolved a CSV for the Subscription yet (state %s)" % _get(sub, "status.state", "none"), SUB)
    if csv is None:
        return ("wait", "waiting for ClusterServiceVersion %s (Subscription state %s, installedCSV %s)"
                % (intended, _get(sub, "status.state", "none"), installed), IP)
    if recoverable_failure(csv):
        return ("wait", "ClusterServiceVersion %s is Failed (%s): %s; waiting for OLM to reinstall it" % (
            intended, _get(csv, "status.reason"), _get(csv, "status.message") or "no message"), CSV)
    return ("wait", "ClusterServiceVersion %s is %s%s" % (
        intended, _get(csv, "status.phase", "Pending"),
        (" (%s)" % _get(csv, "status.reason")) if _get(csv, "status.reason") else ""), CSV)


def owned_crds(csv):
    return sorted(set(c.get("name") for c in _get(csv, "spec.customresourcedefinitions.owned", []) or [] if c.get("name")))


# --------------------------------------------------------------------------------------------
# I/O
# --------------------------------------------------------------------------------------------


class OlmOperator(object):
    def __init__(self, client, params, check_mode=False, clock=time.monotonic):
        self.client = client
        self.params = params
        self.check_mode = check_mode
        self.svc = Service(client, check_mode=check_mode)
        self.clock = clock
        self.changes = []
        self.approved = []
        self.diff = {"before": {}, "after": {}}
        self.warnings = []

    # -- reads ---------------------------------------------------------------------------
    def _res(self, gvk):
        return self.client.resource(*gvk)

    def get(self, gvk, name, namespace=None):
        try:
            res = self._res(gvk)
        except ResourceNotFound:
            if gvk in (PM,):
                return None
            raise
        return self.svc.get(gvk[0], gvk[1], name, namespace, resource=res)

    def list(self, gvk, namespace=None, label_selector=None):
        try:
            res = self._res(gvk)
        except ResourceNotFound:
            return []
        try:
            kwargs = {"label_selector": label_selector} if label_selector else {}
            items = res.get(namespace=namespace, **kwargs).to_dict().get("items") or []
        except ApiException as e:
            raise api_error(e, "list", gvk[1])
        return items

    def catalog(self, package, source, source_namespace):
        pm = None
        try:
            pm = self.get(PM, package, source_namespace)
        except ApiError:
            pm = None
        if pm is None:
            for cand in self.list(PM):
                if _get(cand, "status.packageName", _name(cand)) == package and (
                    not source or _get(cand, "status.catalogSource") == source
                ):
                    pm = cand
                    break
        return catalog_info(pm)

    # -- writes --------------------------------------------------------------------------
    def _create(self, gvk, body, namespace=None):
        self.changes.append("create %s %s" % (gvk[1], _name(body)))
        if self.check_mode:
            return body
        try:
            return self.svc.create(self._res(gvk), body, namespace)
        except ApiException as e:
            if e.status != 409:
                raise api_error(e, "create", "%s %s" % (gvk[1], _name(body)))
            self.changes.pop()  # not created by us
            raise CreatedConcurrently(gvk[1], _name(body), namespace)

    def _patch(self, gvk, name, namespace, body, what):
        self.changes.append(what)
        if self.check_mode:
            return None
        return self.svc.merge(self._res(gvk), name, namespace, body, "%s %s/%s" % (gvk[1], namespace, name))

    def _delete(self, gvk, name, namespace):
        self.changes.append("delete %s %s/%s" % (gvk[1], namespace, name))
        if self.check_mode:
            return
        self.svc.delete(self._res(gvk), name, namespace, "%s %s/%s" % (gvk[1], namespace, name))

    # -- waiting -------------------------------------------------------------------------
    def _operator_pod_problems(self, csv, namespace):
        """Fatal problems of the pods of the Deployments the CSV installed (label olm.owner); the
        diagnosis is a best effort: a read that fails gives none."""
        try:
            deployments = self.list(DEPLOYMENT, namespace, label_selector="olm.owner=%s" % _name(csv))
            pods = self.list(POD, namespace) if deployments else []
        except ModelServingError:
            return []
        return operator_pod_problems(deployments, pods)

    def _doorbell(self, gvk, namespace, deadline):
        """Block until an object of ``gvk`` in ``namespace`` changes, at most DOORBELL_SECONDS."""
        seen = {"lists": 0}

        def changed(_objects):
            seen["lists"] += 1
            return Outcome(seen["lists"] > 1, "changed")

        seconds = max(0.5, min(DOORBELL_SECONDS, deadline.remaining()))
        try:
            Waiter(self.client, gvk[0], gvk[1], namespace=namespace).wait(changed, seconds)
        except WaitTimeout:
            pass

    # -- present -------------------------------------------------------------------------
    def present(self):
        p = self.params
        package, namespace = p["name"], p["namespace"]
        sub_name = p.get("subscription_name") or package
        source_namespace = p.get("source_namespace") or "openshift-marketplace"
        catalog = self.catalog(package, p.get("source"), source_namespace)
        if catalog and p.get("source") and catalog.get("catalog") and catalog["catalog"] != p["source"]:
            self.warnings.append(
                "package %s is listed by catalog %s, not by source=%s; OLM decides whether it resolves"
                % (package, catalog["catalog"], p["source"])
            )
            catalog = None
        source = p.get("source") or (catalog or {}).get("catalog") or "redhat-operators"
        approval = p.get("approval") or "Automatic"

        live_sub = self.get(SUB, sub_name, namespace) if self._ns_exists(namespace) else None
        channel = p.get("channel") or _get(live_sub, "spec.channel") or (catalog or {}).get("default_channel")
        check_channel(catalog, package, channel, p.get("starting_csv"), p.get("target_csv"))

        # Everything that can be refused is checked before the first write.
        ns_exists = self._ns_exists(namespace)
        ogs = self.list(OG, namespace) if ns_exists else []
        og_action, og = plan_operator_group(
            ogs, namespace, p.get("target_namespaces"), (catalog or {}).get("install_modes"), p.get("operator_group_name")
        )
        subs = self.list(SUB, namespace) if ns_exists else []
        others = conflicting_subscriptions(subs, package, sub_name)
        if others:
            raise OlmConflict(
                "namespace %s already has Subscription(s) %s for package %s; OLM would resolve both. "
                "Use subscription_name to manage the existing one." % (namespace, ", ".join(others), package),
                subscriptions=others,
            )

        if not ns_exists:
            self._create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        if og_action == "create":
            self._create(OG, og, namespace)
            self.diff["after"]["operator_group"] = {"name": _name(og), "targets": _describe_targets(og_targets(og))}
        og_name = _name(og)

        desired = desired_subscription_spec(
            package, channel, source, source_namespace, approval, p.get("starting_csv"), p.get("config")
        )
        if live_sub is None:
            body = {"apiVersion": SUB[0], "kind": SUB[1], "metadata": {"name": sub_name, "namespace": namespace}, "spec": desired}
            live_sub = self._create(SUB, body, namespace)
            self.diff["after"]["subscription"] = desired
        else:
            delta = subscription_changes(live_sub.get("spec"), desired)
            if delta:
                self.diff["before"]["subscription"] = dict((k, v[0]) for k, v in delta.items())
                self.diff["after"]["subscription"] = dict((k, v[1]) for k, v in delta.items())
                what = "update Subscription %s/%s: %s" % (
                    namespace,
                    sub_name,
                    ", ".join("%s %s -> %s" % (k, v[0], v[1]) for k, v in sorted(delta.items())),
                )
                patched = self._patch(SUB, sub_name, namespace, {"spec": dict((k, v[1]) for k, v in delta.items())}, what)
                if patched is not None:
                    live_sub = patched

        result = {"subscription": sub_name, "operator_group": og_name, "channel": channel, "source": source}
        if self.check_mode:
            return self._finish_check(result, live_sub, namespace, catalog, channel, approval)
        state = self._converge(live_sub, namespace, sub_name, catalog, channel, approval)
        result.update(state)
        return result

    def _ns_exists(self, namespace):
        if not hasattr(self, "_ns_cache"):
            self._ns_cache = {}
        if namespace not in self._ns_cache:
            self._ns_cache[namespace] = self.get(NS, namespace) is not None
        return self._ns_cache[namespace]

    def _finish_check(self, result, sub, namespace, catalog, channel, approval):
        """Check mode: report what would be approved and what is installed, without writing."""
        intended = intended_csv(approval, self.params.get("starting_csv"), catalog, channel,
                                sub if _get(sub, "metadata.uid") else None, self.params.get("target_csv"))
        plans = self.list(IP, namespace) if _get(sub, "metadata.uid") else []
        csv = self.get(CSV, intended, namespace) if intended and _get(sub, "metadata.uid") else None
        if approval == "Manual" and _get(sub, "metadata.uid"):
            verdict = decide(sub, plans, csv, intended, approval)
            if verdict[0] == "approve":
                self.changes.append("approve InstallPlan %s for %s" % (_name(verdict[1]), intended))
        installed = _get(sub, "status.installedCSV")
        if intended and installed != intended:
            self.changes.append("install %s" % intended) if not installed else self.changes.append(
                "upgrade %s -> %s" % (installed, intended)
            )
        result.update(
            {
                "csv": intended,
                "version": _get(csv, "spec.version"),
                "install_plan": _sub_plan_name(sub),
                "crds": owned_crds(csv),
                "phase": _get(csv, "status.phase"),
            }
        )
        return result

    def _converge(self, sub, namespace, sub_name, catalog, channel, approval):
        p = self.params
        deadline = Deadline(p.get("timeout") or 600, self.clock)
        wait = p.get("wait", True)
        foreign_since = None
        unhealthy_since = None
        intended = None
        last = "nothing observed"
        while True:
            sub = self.get(SUB, sub_name, namespace)
            intended = intended_csv(approval, p.get("starting_csv"), catalog, channel, sub, p.get("target_csv"))
            plans = self.list(IP, namespace)
            csv = self.get(CSV, intended, namespace) if intended else None
            tolerate = False
            if recoverable_failure(csv):
                unhealthy_since = deadline.elapsed() if unhealthy_since is None else unhealthy_since
                problems = self._operator_pod_problems(csv, namespace)
                if problems:
                    raise WaitFailed(
                        "%s; the operator's pods: %s" % (csv_failure(csv), "; ".join(str(x) for x in problems)),
                        subscription=sub_name, csv=intended, elapsed=round(deadline.elapsed(), 3),
                        pods=[x.as_dict() for x in problems])
                tolerate = deadline.elapsed() - unhealthy_since < CSV_RECOVERY_GRACE
            else:
                unhealthy_since = None
            verdict = decide(sub, plans, csv, intended, approval, tolerate_csv=tolerate)
            kind = verdict[0]
            if kind == "failed":
                message = verdict[1]
                if recoverable_failure(csv) and message == csv_failure(csv):  # the grace ran out
                    message += " (Failed for %.0fs: OLM did not reinstall it)" % (deadline.elapsed() - unhealthy_since)
                raise WaitFailed(message, subscription=sub_name, csv=intended, elapsed=round(deadline.elapsed(), 3))
            if kind == "approve":
                plan = verdict[1]
                self._patch(IP, _name(plan), namespace, {"spec": {"approved": True}},
                            "approve InstallPlan %s for %s" % (_name(plan), intended))
                self.approved.append(_name(plan))
                continue
            if kind == "done":
                break
            if kind == "foreign":
                foreign_since = foreign_since if foreign_since is not None else deadline.elapsed()
                if deadline.elapsed() - foreign_since >= FOREIGN_PLAN_GRACE:
                    raise WaitFailed(
                        verdict[1] + ". Set starting_csv or channel to what you want installed, or approve it yourself.",
                        subscription=sub_name,
                        csv=intended,
                    )
                last = verdict[1]
            else:
                foreign_since = None
                last = verdict[1]
            if not wait:
                return self._state(sub, csv, intended, plans, crds_ready=None)
            if deadline.expired():
                raise WaitTimeout(
                    "Timed out after %.0fs installing %s: %s" % (deadline.elapsed(), p["name"], last),
                    subscription=sub_name,
                    csv=intended,
                    elapsed=round(deadline.elapsed(), 3),
                )
            self._doorbell(verdict[2] if len(verdict) > 2 else CSV, namespace, deadline)

        crds = owned_crds(csv)
        if wait:
            for crd in crds:
                try:
                    Waiter(self.client, CRD[0], CRD[1], name=crd).wait(object_evaluator(established()), max(1.0, deadline.remaining()))
                except WaitTimeout as e:
                    raise WaitTimeout("%s Succeeded but its CRD %s is not Established: %s" % (intended, crd, e.msg), csv=intended)
        return self._state(sub, csv, intended, plans, crds_ready=bool(wait))

    def _state(self, sub, csv, intended, plans, crds_ready):
        """The result; ``install_plan`` is the plan that installs the intended CSV (else the Subscription's)."""
        mine = sorted(plans_for(plans, intended), key=lambda p: _get(p, "spec.generation", 0)) if intended else []
        return {
            "csv": intended,
            "installed_csv": _get(sub, "status.installedCSV"),
            "version": _get(csv, "spec.version"),
            "phase": _get(csv, "status.phase"),
            "install_plan": _name(mine[-1]) if mine else _sub_plan_name(sub),
            "crds": owned_crds(csv),
            "crds_established": crds_ready,
        }

    # -- absent --------------------------------------------------------------------------
    def absent(self):
        p = self.params
        package, namespace = p["name"], p["namespace"]
        sub_name = p.get("subscription_name") or package
        if not self._ns_exists(namespace):
            return {"subscription": sub_name, "csv": None, "removed": []}
        sub = self.get(SUB, sub_name, namespace)
        csv_names = []
        if sub is not None:
            for field in ("installedCSV", "currentCSV"):
                name = _get(sub, "status." + field)
                if name and name not in csv_names:
                    csv_names.append(name)
        for csv in self.list(CSV, namespace, label_selector="operators.coreos.com/%s.%s" % (package, namespace)):
            if _get(csv, "status.reason") != "Copied" and _name(csv) not in csv_names:
                csv_names.append(_name(csv))
        removed = []
        if sub is not None:
            self.diff["before"]["subscription"] = sub.get("spec")
            self._delete(SUB, sub_name, namespace)
            removed.append("Subscription %s" % sub_name)
        existing_csvs = [n for n in csv_names if self.get(CSV, n, namespace) is not None]
        for name in existing_csvs:
            self._delete(CSV, name, namespace)
            removed.append("ClusterServiceVersion %s" % name)
        if existing_csvs:
            self.diff["before"]["csvs"] = existing_csvs
        if existing_csvs and p.get("wait", True) and not self.check_mode:
            deadline = Deadline(p.get("timeout") or 600, self.clock)
            for name in existing_csvs:

                def gone(objects):
                    return Outcome(not objects, "waiting for the CSV to be deleted")

                Waiter(self.client, CSV[0], CSV[1], namespace=namespace, name=name).wait(gone, max(1.0, deadline.remaining()))
        return {"subscription": sub_name, "csv": existing_csvs[0] if existing_csvs else None, "removed": removed}

    def present_retrying(self):
        """present(), read again from the start when another writer created one of the objects
        (Namespace, OperatorGroup, Subscription) between our read and our create (409)."""
        for attempt in range(CONCURRENT_CREATE_ATTEMPTS):
            try:
                return self.present()
            except CreatedConcurrently as e:
                if attempt == CONCURRENT_CREATE_ATTEMPTS - 1:
                    raise OlmConflict(
                        "%s was created by another writer while this task created it (409 AlreadyExists), "
                        "%d times in a row; something else manages these objects - stop it or run the task again"
                        % (e.describe(), CONCURRENT_CREATE_ATTEMPTS),
                        conflict=e.describe(),
                    )
                self.warnings.append("%s was created by another writer meanwhile (409); read it again" % e.describe())
        return None  # pragma: no cover

    def run(self):
        if self.params.get("state", "present") == "absent":
            result = self.absent()
        else:
            result = self.present_retrying()
        result["changed"] = bool(self.changes)
        result["changes"] = list(self.changes)
        result["approved_install_plans"] = list(self.approved)
        result["diff"] = self.diff
        if self.warnings:
            result["warnings"] = self.warnings
        return result
