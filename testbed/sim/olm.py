"""Simulated OLM: catalog (CatalogSource + PackageManifest), Subscription -> InstallPlan -> CSV ->
CRDs + operator Deployments + OperatorCondition, OperatorGroup status, CSV copies."""

from __future__ import annotations

import copy
import logging
import re
import time
from typing import Optional

from . import admission, faults
from . import resources as R
from .catalog import CATALOG_DISPLAY, PACKAGES, Package, alm_examples, csv_spec, load_crds
from .runtime import Controller
from .util import (cond, container, deployment, deployment_ready, dig, find_cond, meta, now, owner_ref,
                   rand_suffix, service)

log = logging.getLogger("sim.olm")
MANAGER = "olm"
MARKETPLACE = "openshift-marketplace"
PKG_LABEL = "testbed.openshift-ai.io/package"


def _version_key(version: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"[0-9]+", version))


def package_of_csv(name: str) -> Optional[Package]:
    for p in PACKAGES.values():
        if name.startswith(p.name + ".v"):
            return p
    return None


# -- catalog ---------------------------------------------------------------------------------
def publish_catalog(mgr) -> None:
    """CatalogSources and PackageManifests for every package (idempotent)."""
    mgr.ensure_namespace(MARKETPLACE)
    for cat, (display, publisher) in CATALOG_DISPLAY.items():
        cs, _ = mgr.create_if_missing(R.CATALOGSOURCE, {
            "metadata": {"name": cat, "namespace": MARKETPLACE},
            "spec": {"sourceType": "grpc", "displayName": display, "publisher": publisher,
                     "image": f"registry.redhat.io/redhat/{cat}-index:v4.17", "updateStrategy": {"registryPoll": {"interval": "10m"}}},
        })
        mgr.set_status(R.CATALOGSOURCE, cs, {
            "connectionState": {"address": f"{cat}.{MARKETPLACE}.svc:50051", "lastObservedState": "READY",
                                "lastConnect": now()},
            "registryService": {"createdAt": now(), "port": "50051", "protocol": "grpc",
                                "serviceName": cat, "serviceNamespace": MARKETPLACE},
        })
    for pkg in PACKAGES.values():
        display, publisher = CATALOG_DISPLAY[pkg.catalog]
        channels = []
        for ch in pkg.channels:
            head = pkg.head(ch)
            channels.append({
                "name": ch,
                "currentCSV": head,
                "currentCSVDesc": {
                    "displayName": pkg.display_name, "version": pkg.version_of(head),
                    "provider": {"name": pkg.provider},
                    "installModes": csv_spec(pkg, head, ch)["installModes"],
                    "annotations": {"alm-examples": alm_examples(pkg),
                                    "operatorframework.io/suggested-namespace": pkg.suggested_namespace},
                },
                "entries": [{"name": n, "version": pkg.version_of(n)} for n in reversed(pkg.versions(ch))],
            })
        status = {
            "catalogSource": pkg.catalog, "catalogSourceDisplayName": display,
            "catalogSourceNamespace": MARKETPLACE, "catalogSourcePublisher": publisher,
            "provider": {"name": pkg.provider}, "packageName": pkg.name,
            "defaultChannel": pkg.default_channel, "channels": channels,
        }
        pm, _ = mgr.create_if_missing(R.PACKAGEMANIFEST, {
            "metadata": {"name": pkg.name, "namespace": MARKETPLACE,
                         "labels": {"catalog": pkg.catalog, "catalog-namespace": MARKETPLACE,
                                    "provider": pkg.provider.replace(" ", "-").replace(",", "").replace(".", ""),
                                    "operatorframework.io/arch.amd64": "supported"}},
            "status": status,
        })
        try:
            mgr.set_status(R.PACKAGEMANIFEST, pm, status)
        except Exception as e:  # noqa: BLE001
            log.warning("packagemanifest %s status: %s", pkg.name, e)


# -- helpers ---------------------------------------------------------------------------------
def install_mode_of(og: dict, ns: str) -> str:
    spec = og.get("spec") or {}
    targets = spec.get("targetNamespaces")
    if not targets and not spec.get("selector"):
        return "AllNamespaces"
    if targets == [ns]:
        return "OwnNamespace"
    if targets and len(targets) == 1:
        return "SingleNamespace"
    return "MultiNamespace"


MODE_MSG = {
    "AllNamespaces": "AllNamespaces InstallModeType not supported, cannot configure to watch all namespaces",
    "OwnNamespace": "OwnNamespace InstallModeType not supported, cannot configure to watch own namespace",
    "SingleNamespace": "SingleNamespace InstallModeType not supported, cannot configure to watch one namespace",
    "MultiNamespace": "MultiNamespace InstallModeType not supported, cannot configure to watch multiple namespaces",
}


def _ip_ref(ip: dict) -> dict:
    md = ip["metadata"]
    return {"apiVersion": "operators.coreos.com/v1alpha1", "kind": "InstallPlan", "name": md["name"],
            "namespace": md["namespace"], "resourceVersion": md.get("resourceVersion"), "uid": md["uid"]}


# -- Subscription ----------------------------------------------------------------------------
class SubscriptionController(Controller):
    name = "subscription"
    primary = R.SUBSCRIPTION
    owns = (R.INSTALLPLAN,)
    triggers = (R.CSV,)

    def reconcile(self, ns, name):
        sub = self.mgr.get(R.SUBSCRIPTION, name, ns)
        if sub is None or sub["metadata"].get("deletionTimestamp"):
            return None
        spec = sub.get("spec") or {}
        old = sub.get("status") or {}
        oc = old.get("conditions")
        pkg_name = spec.get("name") or ""
        source = spec.get("source") or ""
        source_ns = spec.get("sourceNamespace") or ""
        label = f"operators.coreos.com/{pkg_name}.{ns}"
        if label not in (sub["metadata"].get("labels") or {}):
            sub = self.mgr.patch(R.SUBSCRIPTION, name, {"metadata": {"labels": {label: ""}}}, ns)
        conds = []
        status = {"lastUpdated": old.get("lastUpdated") or now()}
        catalogs = [c["metadata"]["name"] for c in self.mgr.informer(R.CATALOGSOURCE).items(namespace=MARKETPLACE)]
        healthy_catalog = source in catalogs and source_ns == MARKETPLACE
        status["catalogHealth"] = [
            {"catalogSourceRef": {"apiVersion": "operators.coreos.com/v1alpha1", "kind": "CatalogSource",
                                  "name": c, "namespace": MARKETPLACE}, "healthy": True, "lastUpdated": now()}
            for c in sorted(catalogs)]
        if healthy_catalog:
            conds.append(cond(oc, "CatalogSourcesUnhealthy", "False", "AllCatalogSourcesHealthy",
                              "all available catalogsources are healthy"))
        else:
            conds.append(cond(oc, "CatalogSourcesUnhealthy", "True", "UnhealthyCatalogSourceFound",
                              f"targeted catalogsource {source_ns}/{source} missing"))
        pkg = PACKAGES.get(pkg_name)
        channel = spec.get("channel") or (pkg.default_channel if pkg else "")
        err = None
        if not healthy_catalog:
            err = (f"failed to populate resolver cache from source {source}/{source_ns}: "
                   f"failed to list bundles: catalogsource {source_ns}/{source} not found")
        elif pkg is None or pkg.catalog != source:
            err = (f"constraints not satisfiable: no operators found in package {pkg_name} in the catalog "
                   f"referenced by subscription {name}, subscription {name} exists")
        elif channel not in pkg.channels:
            err = (f"constraints not satisfiable: no operators found in channel {channel} of package {pkg_name} "
                   f"in the catalog referenced by subscription {name}, subscription {name} exists")
        elif spec.get("startingCSV") and spec["startingCSV"] not in pkg.versions(channel):
            err = (f"constraints not satisfiable: no operators found with name {spec['startingCSV']} in channel "
                   f"{channel} of package {pkg_name} in the catalog referenced by subscription {name}, "
                   f"subscription {name} exists")
        if err:
            conds.append(cond(oc, "ResolutionFailed", "True", "ConstraintsNotSatisfiable", err))
            for k in ("installedCSV", "currentCSV", "installPlanRef", "installplan", "installPlanGeneration"):
                if k in old:
                    status[k] = old[k]
            status["state"] = old.get("state", "")
            status["conditions"] = conds
            self.mgr.set_status(R.SUBSCRIPTION, sub, status)
            return None

        chain = pkg.versions(channel)
        head = chain[-1]
        installed = old.get("installedCSV")
        installed_obj = self.mgr.get(R.CSV, installed, ns) if installed else None
        if installed and installed_obj is None:
            # replaced by the next CSV of the graph (deleted once that one Succeeded), else removed by hand:
            # resolve again
            successor = next((c for c in self.mgr.informer(R.CSV).items(namespace=ns)
                              if dig(c, "spec", "replaces") == installed and c["metadata"]["name"] in chain
                              and not c["metadata"].get("deletionTimestamp")), None)
            installed = successor["metadata"]["name"] if successor else None
            installed_obj = successor
        if not installed:
            target = spec.get("startingCSV") if spec.get("startingCSV") in chain else head
        elif installed == head:
            target = head
        elif installed in chain:
            # one step along the upgrade graph: the CSV whose `replaces` is the installed one, planned
            # once the installed CSV Succeeded (a Manual plan per step; never straight to the head)
            target = chain[chain.index(installed) + 1]
            planned = any(target in (dig(c, "spec", "clusterServiceVersionNames") or [])
                          for c in self.mgr.informer(R.INSTALLPLAN).items(namespace=ns)
                          if any(r.get("uid") == sub["metadata"]["uid"]
                                 for r in c["metadata"].get("ownerReferences") or []))
            if not planned and dig(installed_obj, "status", "phase") != "Succeeded":
                target = installed
        else:
            # a channel that does not hold the installed CSV: its head replaces it directly (as a
            # skipRange covering the installed version does)
            target = head
        approval = spec.get("installPlanApproval") or "Automatic"

        ips = [ip for ip in self.mgr.informer(R.INSTALLPLAN).items(namespace=ns)
               if any(r.get("uid") == sub["metadata"]["uid"] for r in ip["metadata"].get("ownerReferences") or [])]
        ip = None
        for cand in ips:
            if target in (dig(cand, "spec", "clusterServiceVersionNames") or []):
                if ip is None or cand["spec"].get("generation", 0) >= ip["spec"].get("generation", 0):
                    ip = cand
        if (ip is not None and installed is None and dig(ip, "status", "phase") == "Complete"
                and self.kube.get(R.CSV, target, ns) is None):
            # the CSV this plan installed was deleted (by hand, to retry a failed install): as OLM, a
            # Complete plan whose CSV is gone is not an install; resolve again with a new plan
            ip = None
        if installed == target and (ip is None or dig(ip, "status", "phase") == "Complete"):
            ip_done = True
        else:
            ip_done = False
        if ip is None and installed != target:
            gen = max([c["spec"].get("generation", 0) for c in ips] or [0]) + 1
            body = {
                "metadata": {"name": f"install-{rand_suffix()}", "namespace": ns,
                             "labels": {label: "", PKG_LABEL: pkg.name},
                             "annotations": {"testbed.openshift-ai.io/channel": channel,
                                             "testbed.openshift-ai.io/replaces": installed or ""},
                             "ownerReferences": [owner_ref(sub, controller=False)]},
                "spec": {"clusterServiceVersionNames": [target], "approval": approval,
                         "approved": approval == "Automatic", "generation": gen},
            }
            ip = self.kube.create(R.INSTALLPLAN, body)
            self.mgr.informer(R.INSTALLPLAN).upsert(ip)
            log.info("subscription %s/%s: created installplan %s for %s", ns, name, ip["metadata"]["name"], target)
        status["currentCSV"] = target
        if ip is not None:
            status["installPlanRef"] = _ip_ref(ip)
            status["installplan"] = {"apiVersion": "operators.coreos.com/v1alpha1", "kind": "InstallPlan",
                                     "name": ip["metadata"]["name"], "uuid": ip["metadata"]["uid"]}
            status["installPlanGeneration"] = ip["spec"].get("generation", 1)
        phase = dig(ip, "status", "phase", default="") if ip else ""
        if installed:
            status["installedCSV"] = installed
        if phase == "Complete" or ip_done:
            status["installedCSV"] = target
            status["state"] = "AtLatestKnown" if target == head else "UpgradePending"
        elif phase == "Failed":
            status["state"] = "UpgradeFailed"
            conds.append(cond(oc, "InstallPlanFailed", "True", "InstallComponentFailed",
                              dig(ip, "status", "message", default="install plan failed")))
        elif phase == "RequiresApproval":
            status["state"] = "UpgradePending"
            conds.append(cond(oc, "InstallPlanPending", "True", "RequiresApproval", ""))
        else:
            status["state"] = "UpgradePending"
            conds.append(cond(oc, "InstallPlanPending", "True", "Installing" if phase else "", ""))
        status["conditions"] = conds
        if _norm_sub(old) != _norm_sub(status):
            status["lastUpdated"] = now()
        self.mgr.set_status(R.SUBSCRIPTION, sub, status)
        if status["state"] != "AtLatestKnown" and phase not in ("Failed", "RequiresApproval"):
            return 1.0
        return None


def _norm_sub(st: dict) -> tuple:
    return (st.get("state"), st.get("currentCSV"), st.get("installedCSV"), dig(st, "installplan", "name"))


# -- InstallPlan -----------------------------------------------------------------------------
class InstallPlanController(Controller):
    name = "installplan"
    primary = R.INSTALLPLAN
    triggers = (R.CRD,)

    def reconcile(self, ns, name):
        ip = self.mgr.get(R.INSTALLPLAN, name, ns)
        if ip is None:
            return None
        spec = ip.get("spec") or {}
        old = ip.get("status") or {}
        if old.get("phase") in ("Complete", "Failed"):
            return None
        csvs = spec.get("clusterServiceVersionNames") or []
        pkg = package_of_csv(csvs[0]) if csvs else None
        channel = (ip["metadata"].get("annotations") or {}).get("testbed.openshift-ai.io/channel") or \
            (pkg.default_channel if pkg else "")
        oc = old.get("conditions")
        base = {"catalogSources": [pkg.catalog] if pkg else [], "startTime": old.get("startTime") or now(),
                "bundleLookups": []}
        if pkg is None:
            self.mgr.set_status(R.INSTALLPLAN, ip, dict(base, phase="Failed", message="unknown bundle",
                                                        conditions=[cond(oc, "Installed", "False", "PlanUnknown",
                                                                         "unknown bundle")]))
            return None
        crd_objs = [copy.deepcopy(c) for c in load_crds(pkg.name)]
        plan = [{"resolving": csvs[0], "status": "Present" if self.mgr.get(R.CSV, csvs[0], ns) else "Unknown",
                 "resource": {"group": "operators.coreos.com", "version": "v1alpha1",
                              "kind": "ClusterServiceVersion", "name": csvs[0],
                              "sourceName": pkg.catalog, "sourceNamespace": MARKETPLACE}}]
        for c in crd_objs:
            plan.append({"resolving": csvs[0],
                         "status": "Present" if self.mgr.get(R.CRD, c["metadata"]["name"]) else "Unknown",
                         "resource": {"group": "apiextensions.k8s.io", "version": "v1",
                                      "kind": "CustomResourceDefinition", "name": c["metadata"]["name"],
                                      "sourceName": pkg.catalog, "sourceNamespace": MARKETPLACE}})
        base["plan"] = plan
        resolved = cond(oc, "Resolved", "True", "", "")
        if spec.get("approval") == "Manual" and not spec.get("approved"):
            self.mgr.set_status(R.INSTALLPLAN, ip, dict(base, phase="RequiresApproval", conditions=[resolved]))
            return None
        if (faults.package_fault(self.mgr, pkg.name, "installplan") or "").lower() in ("failed", "fail", "true"):
            msg = (f"error creating csv {csvs[0]}: simulated install failure "
                   f"(testbed fault {pkg.name}.installplan)")
            self.mgr.set_status(R.INSTALLPLAN, ip, dict(
                base, phase="Failed", message=msg,
                conditions=[resolved, cond(oc, "Installed", "False", "InstallComponentFailed", msg)]))
            return None
        # Installing: CRDs, then the CSV
        for c in crd_objs:
            self.mgr.apply(R.CRD, c, MANAGER)
        replaces = (ip["metadata"].get("annotations") or {}).get("testbed.openshift-ai.io/replaces") or None
        if any(dig(self.kube.get(R.CSV, n, ns), "metadata", "deletionTimestamp") for n in csvs):
            # a CSV of the same name is still being deleted: create it once it is gone
            self.mgr.set_status(R.INSTALLPLAN, ip, dict(base, phase="Installing", conditions=[resolved]))
            return 1.0
        for csv_name in csvs:
            self._ensure_csv(pkg, csv_name, channel, ns, replaces)
        established = all(_established(self.mgr.get(R.CRD, c["metadata"]["name"])) for c in crd_objs)
        if not established:
            self.mgr.set_status(R.INSTALLPLAN, ip, dict(base, phase="Installing", conditions=[resolved]))
            return 0.5
        for step in plan:
            step["status"] = "Created"
        self.mgr.set_status(R.INSTALLPLAN, ip, dict(base, phase="Complete",
                                                    conditions=[resolved, cond(oc, "Installed", "True", "", "")]))
        log.info("installplan %s/%s complete (%s)", ns, name, ",".join(csvs))
        self.mgr.enqueue_kind(R.SUBSCRIPTION)
        return None

    def _ensure_csv(self, pkg: Package, csv_name: str, channel: str, ns: str, replaces: Optional[str]):
        # a live read: the informer may still hold a CSV deleted a moment ago
        if self.kube.get(R.CSV, csv_name, ns) is not None:
            return
        ann = {"alm-examples": alm_examples(pkg), "olm.skipRange": "",
               "operatorframework.io/suggested-namespace": pkg.suggested_namespace,
               "capabilities": "Seamless Upgrades", "containerImage": f"registry.redhat.io/testbed/{pkg.name}:{pkg.version_of(csv_name)}"}
        body = {"metadata": {"name": csv_name, "namespace": ns, "annotations": ann,
                             "labels": {f"operators.coreos.com/{pkg.name}.{ns}": "", PKG_LABEL: pkg.name}},
                "spec": csv_spec(pkg, csv_name, channel)}
        body["spec"].pop("replaces", None)
        if replaces and replaces != csv_name:
            body["spec"]["replaces"] = replaces
        out, created = self.kube.create_if_missing(R.CSV, body)
        self.mgr.informer(R.CSV).upsert(out)
        if created:
            log.info("created csv %s/%s", ns, csv_name)


def _established(crd: Optional[dict]) -> bool:
    return bool(crd) and any(c.get("type") == "Established" and c.get("status") == "True"
                             for c in dig(crd, "status", "conditions", default=[]))


# -- CSV ------------------------------------------------------------------------------------
def _csv_status(old: dict, phase: str, reason: str, message: str, **extra) -> dict:
    hist = list(old.get("conditions") or [])
    ts = now()
    if old.get("phase") != phase or old.get("reason") != reason:
        hist.append({"phase": phase, "reason": reason, "message": message,
                     "lastTransitionTime": ts, "lastUpdateTime": ts})
        hist = hist[-20:]
        lt = ts
    else:
        lt = old.get("lastTransitionTime") or ts
    st = {"phase": phase, "reason": reason, "message": message, "conditions": hist,
          "lastTransitionTime": lt, "lastUpdateTime": ts}
    st.update(extra)
    return st


class CSVController(Controller):
    name = "csv"
    primary = R.CSV
    owns = (R.DEPLOYMENT,)
    triggers = (R.OPERATORGROUP, R.CONFIGMAP, R.NAMESPACE)

    def reconcile(self, ns, name):
        csv = self.mgr.get(R.CSV, name, ns)
        if csv is None or csv["metadata"].get("deletionTimestamp"):
            return None
        old = csv.get("status") or {}
        if old.get("reason") == "Copied" or "olm.copiedFrom" in (csv["metadata"].get("labels") or {}):
            return None
        pkg = package_of_csv(name)
        if pkg is None:
            return None
        # As OLM does, a change of this CSV requeues the one it replaces: that one is deleted as soon as this
        # one has Succeeded, before a later CSV can replace this one in turn (which would orphan it).
        replaces = dig(csv, "spec", "replaces")
        same_pkg = [c for c in self.mgr.informer(R.CSV).items(namespace=ns)
                    if c["metadata"]["name"] != name and package_of_csv(c["metadata"]["name"]) is pkg
                    and not c["metadata"].get("deletionTimestamp") and dig(c, "status", "reason") != "Copied"]
        if replaces:
            self.mgr.enqueue(self.mgr.controllers.index(self), ns, replaces)
        # An older CSV whose replacement was itself replaced and deleted before this one was (an upgrade
        # through several CSVs in quick succession) is no less replaced: a newer CSV of the package has
        # Succeeded, so it goes too, instead of installing its old version again over the newer one.
        ahead = [c["metadata"]["name"] for c in same_pkg if dig(c, "status", "phase") == "Succeeded"
                 and _version_key(pkg.version_of(c["metadata"]["name"])) > _version_key(pkg.version_of(name))]
        if ahead and not any(dig(c, "spec", "replaces") == name for c in same_pkg):
            self.mgr.set_status(R.CSV, csv, _csv_status(old, "Deleting", "Replaced",
                                                        "has been replaced by a newer ClusterServiceVersion"))
            self.mgr.delete(R.CSV, name, ns)
            self._delete_copies(name)
            log.info("csv %s/%s behind %s and deleted", ns, name, ahead[0])
            return None
        # replaced by a newer CSV in the namespace?
        newer = [c for c in self.mgr.informer(R.CSV).items(namespace=ns) if dig(c, "spec", "replaces") == name]
        if newer:
            nphase = dig(newer[0], "status", "phase")
            if nphase == "Succeeded":
                self.mgr.set_status(R.CSV, csv, _csv_status(old, "Deleting", "Replaced",
                                                            "has been replaced by a newer ClusterServiceVersion"))
                self.mgr.delete(R.CSV, name, ns)
                self._delete_copies(name)
                log.info("csv %s/%s replaced by %s and deleted", ns, name, newer[0]["metadata"]["name"])
                return None
            self.mgr.set_status(R.CSV, csv, _csv_status(old, "Replacing", "BeingReplaced",
                                                        "being replaced by csv: " + newer[0]["metadata"]["name"]))
            return 1.0
        ogs = self.mgr.informer(R.OPERATORGROUP).items(namespace=ns)
        if not ogs:
            self.mgr.set_status(R.CSV, csv, _csv_status(old, "Failed", "NoOperatorGroup",
                                                        "csv in namespace with no operatorgroups"))
            return None
        if len(ogs) > 1:
            self.mgr.set_status(R.CSV, csv, _csv_status(
                old, "Failed", "TooManyOperatorGroups",
                "csv created in namespace with multiple operatorgroups, can't pick one automatically"))
            return None
        og = ogs[0]
        mode = install_mode_of(og, ns)
        if mode not in pkg.install_modes:
            self.mgr.set_status(R.CSV, csv, _csv_status(old, "Failed", "UnsupportedOperatorGroup", MODE_MSG[mode]))
            return None
        targets = ",".join((og.get("spec") or {}).get("targetNamespaces") or [])
        ann = csv["metadata"].get("annotations") or {}
        want_ann = {"olm.operatorGroup": og["metadata"]["name"], "olm.operatorNamespace": ns,
                    "olm.targetNamespaces": targets}
        if any(ann.get(k) != v for k, v in want_ann.items()):
            csv = self.mgr.patch(R.CSV, name, {"metadata": {"annotations": want_ann}}, ns)
        if not old.get("phase"):
            csv = self.mgr.set_status(R.CSV, csv, _csv_status(old, "Pending", "RequirementsUnknown",
                                                              "requirements not yet checked"))
            old = csv.get("status") or {}
            csv = self.mgr.set_status(R.CSV, csv, _csv_status(old, "InstallReady", "AllRequirementsMet",
                                                              "all requirements found, attempting install"))
            old = csv.get("status") or {}
        version = pkg.version_of(name)
        # operator workloads, owned by the CSV (ownership moves to the new CSV on upgrade)
        # Subscription spec.config (env, nodeSelector, tolerations, resources) goes into the operator pods
        sub = next((s for s in self.mgr.informer(R.SUBSCRIPTION).items(namespace=ns)
                    if dig(s, "spec", "name") == pkg.name), None)
        sub_cfg = dig(sub, "spec", "config", default={}) or {}
        pod_extra = {k: sub_cfg[k] for k in ("nodeSelector", "tolerations", "affinity") if sub_cfg.get(k)}
        for d in pkg.deployments:
            labels = dict(d.pod_labels)
            cs = [container(c, f"registry.redhat.io/testbed/{pkg.name}-{c}:{version}", d.ports) for c in d.containers]
            for c in cs:
                if sub_cfg.get("env"):
                    c["env"] = list(sub_cfg["env"])
                if sub_cfg.get("resources"):
                    c["resources"] = sub_cfg["resources"]
            dep = deployment(
                self.mgr, d.name, ns, labels, cs,
                replicas=d.replicas, owner=csv, service_account=None,
                labels=dict(labels, **{"olm.owner": name, "olm.owner.kind": "ClusterServiceVersion",
                                        "olm.owner.namespace": ns, "olm.managed": "true"}),
                pod_annotations={"olm.operatorGroup": og["metadata"]["name"], "olm.operatorNamespace": ns,
                                 "olm.targetNamespaces": targets, "olm.owner": name},
                **pod_extra,
            )
            self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        for sname, sel, ports in pkg.services:
            self.mgr.apply(R.SERVICE, service(sname, ns, sel, ports, owner=csv), MANAGER)
        self.mgr.apply(R.OPERATORCONDITION, {
            "metadata": meta(name, ns, {f"operators.coreos.com/{pkg.name}.{ns}": ""}, owner=csv),
            "spec": {"deployments": [d.name for d in pkg.deployments], "serviceAccounts": [pkg.name]},
        }, MANAGER)
        req = [{"group": "apiextensions.k8s.io", "version": "v1", "kind": "CustomResourceDefinition",
                "name": o["name"], "status": "Present", "message": "CRD is present and Established condition is true"}
               for o in dig(csv, "spec", "customresourcedefinitions", "owned", default=[])]
        if (faults.package_fault(self.mgr, pkg.name, "csv") or "").lower() in ("failed", "fail", "true"):
            d0 = pkg.deployments[0].name
            self.mgr.set_status(R.CSV, csv, _csv_status(
                old, "Failed", "InstallCheckFailed",
                f"install failed: deployment {d0} not ready before timeout: deployment \"{d0}\" exceeded its "
                f"progress deadline (testbed fault {pkg.name}.csv)", requirementStatus=req))
            return None
        not_ready = [d.name for d in pkg.deployments if not deployment_ready(self.mgr.get(R.DEPLOYMENT, d.name, ns))]
        if not_ready and old.get("phase") in ("Succeeded", "Failed") and old.get("reason") in (
                "InstallSucceeded", "ComponentUnhealthy"):
            # an installed operator whose pods stopped being ready
            self.mgr.set_status(R.CSV, csv, _csv_status(
                old, "Failed", "ComponentUnhealthy",
                f"installing: waiting for deployment {not_ready[0]} to become ready: deployment \"{not_ready[0]}\" "
                f"not available: Deployment does not have minimum availability.", requirementStatus=req))
            return 3.0
        delay = _float(faults.package_fault(self.mgr, pkg.name, "delay"))
        since = None
        for h in old.get("conditions") or []:
            if h.get("phase") == "Installing":
                since = h.get("lastTransitionTime") or since
        if old.get("phase") != "Installing":
            since = None
        started = _parse_ts(since) if since else time.time()
        waited = time.time() - started
        # the package delay holds the first install only: an installed CSV reconciled again stays Succeeded
        if old.get("phase") == "Succeeded" and old.get("reason") == "InstallSucceeded":
            waited = delay
        if not_ready or waited < delay:
            msg = (f"installing: waiting for deployment {not_ready[0]} to become ready: deployment \"{not_ready[0]}\" "
                   f"not available: Deployment does not have minimum availability." if not_ready
                   else "installing: waiting for install components to report healthy")
            self.mgr.set_status(R.CSV, csv, _csv_status(old, "Installing", "InstallWaiting", msg,
                                                        requirementStatus=req))
            return max(1.0, min(delay - waited, 5.0)) if waited < delay else 2.0
        if old.get("phase") != "Succeeded":
            log.info("csv %s/%s succeeded", ns, name)
            for other in same_pkg:  # the older ones are replaced now (see above)
                self.mgr.enqueue(self.mgr.controllers.index(self), ns, other["metadata"]["name"])
        self.mgr.set_status(R.CSV, csv, _csv_status(old, "Succeeded", "InstallSucceeded",
                                                    "install strategy completed with no errors",
                                                    requirementStatus=req))
        admission.install(self.mgr, pkg.name)
        if mode == "AllNamespaces":
            self._copy(csv)
        self.mgr.enqueue_kind(R.SUBSCRIPTION)
        return None

    def _copy(self, csv: dict):
        """OLM places a copy (reason Copied) of an AllNamespaces CSV in every other namespace."""
        ns0 = csv["metadata"]["namespace"]
        name = csv["metadata"]["name"]
        for nsobj in self.mgr.informer(R.NAMESPACE).items():
            ns = nsobj["metadata"]["name"]
            if ns == ns0 or nsobj["metadata"].get("deletionTimestamp") or dig(nsobj, "status", "phase") == "Terminating":
                continue
            cur = self.mgr.get(R.CSV, name, ns)
            if cur is None:
                body = {"metadata": {"name": name, "namespace": ns,
                                     "labels": {"olm.copiedFrom": ns0, PKG_LABEL: package_of_csv(name).name},
                                     "annotations": dict(csv["metadata"].get("annotations") or {})},
                        "spec": csv["spec"]}
                try:
                    cur, _ = self.mgr.create_if_missing(R.CSV, body)
                except Exception as e:  # noqa: BLE001 - namespace may be terminating
                    log.debug("copy csv to %s: %s", ns, e)
                    continue
            if dig(cur, "status", "reason") != "Copied":
                st = _csv_status({}, "Succeeded", "Copied", f"The operator is running in {ns0} but is managing this namespace")
                try:
                    self.mgr.set_status(R.CSV, cur, st)
                except Exception as e:  # noqa: BLE001
                    log.debug("copy status %s: %s", ns, e)

    def _delete_copies(self, name: str):
        for c in self.mgr.informer(R.CSV).items():
            if c["metadata"]["name"] == name and dig(c, "status", "reason") == "Copied":
                self.mgr.delete(R.CSV, name, c["metadata"]["namespace"])

    def on_deleted(self, obj):
        if "olm.copiedFrom" not in (obj["metadata"].get("labels") or {}):
            self._delete_copies(obj["metadata"]["name"])
            pkg = package_of_csv(obj["metadata"]["name"])
            # the original CSV is gone and no other CSV of the package remains (an upgrade replaces one)
            if pkg is not None and dig(obj, "status", "reason") != "Copied" and not any(
                    package_of_csv(c["metadata"]["name"]) == pkg and dig(c, "status", "reason") != "Copied"
                    for c in self.mgr.informer(R.CSV).items()):
                admission.uninstall(self.mgr, pkg.name)


class OperatorGroupController(Controller):
    name = "operatorgroup"
    primary = R.OPERATORGROUP

    def reconcile(self, ns, name):
        og = self.mgr.get(R.OPERATORGROUP, name, ns)
        if og is None:
            return None
        targets = (og.get("spec") or {}).get("targetNamespaces") or [""]
        old = og.get("status") or {}
        conds = []
        others = [o for o in self.mgr.informer(R.OPERATORGROUP).items(namespace=ns) if o["metadata"]["name"] != name]
        if others:
            conds.append(cond(old.get("conditions"), "MultipleOperatorGroup", "True", "MultipleOperatorGroupsFound",
                              "Multiple OperatorGroup found in the same namespace"))
        st = {"namespaces": sorted(targets), "lastUpdated": old.get("lastUpdated") or now()}
        if conds:
            st["conditions"] = conds
        self.mgr.set_status(R.OPERATORGROUP, og, st)
        return None


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _parse_ts(ts: Optional[str]) -> Optional[float]:
    if not ts:
        return None
    import calendar

    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


CONTROLLERS = [SubscriptionController, InstallPlanController, CSVController, OperatorGroupController]
