"""Simulated OpenShift Service Mesh 2 operator: SMCP, SMM, SMMR, and the sidecar injector."""

from __future__ import annotations

import copy
import logging

import yaml

from . import resources as R
from .runtime import Controller
from .util import (MEMBER_OF, cond, container, deep_merge, deployment, deployment_ready, dig, find_cond,
                   injection_applies, installed_csv, istio_proxy, meta, service)

log = logging.getLogger("sim.mesh")
MANAGER = "istio-operator"
PKG = "servicemeshoperator"


def operator_up(mgr, pkg: str) -> bool:
    """The package's CSV Succeeded and its operator Deployments are ready."""
    from .catalog import PACKAGES

    csv = installed_csv(mgr, pkg)
    if csv is None:
        return False
    ns = csv["metadata"]["namespace"]
    return all(deployment_ready(mgr.get(R.DEPLOYMENT, d.name, ns)) for d in PACKAGES[pkg].deployments)


def operator_version(mgr, pkg: str) -> str:
    csv = installed_csv(mgr, pkg)
    return dig(csv, "spec", "version", default="") if csv else ""


def render_mesh(smcp: dict) -> str:
    md = smcp["metadata"]
    name, ns = md["name"], md["namespace"]
    spec = smcp.get("spec") or {}
    base = {
        "defaultConfig": {
            "discoveryAddress": f"istiod-{name}.{ns}.svc:15012",
            "proxyMetadata": {"ISTIO_META_DNS_AUTO_ALLOCATE": "true", "ISTIO_META_DNS_CAPTURE": "true",
                              "PROXY_XDS_VIA_AGENT": "true"},
            "tracing": {},
        },
        "dnsRefreshRate": "300s",
        "enablePrometheusMerge": True,
        "ingressControllerMode": "OFF",
        "rootNamespace": ns,
        "trustDomain": None,
    }
    tracing = dig(spec, "tracing", "type", default="None")
    if tracing == "Jaeger":
        base["defaultConfig"]["tracing"] = {"zipkin": {"address": f"jaeger-collector.{ns}.svc:9411"}}
    mesh_config = dig(spec, "techPreview", "meshConfig", default={}) or {}
    return yaml.safe_dump(deep_merge(base, mesh_config), sort_keys=True, default_flow_style=False)


class SMCPController(Controller):
    name = "smcp"
    primary = R.SMCP
    owns = (R.DEPLOYMENT,)
    triggers = (R.CSV,)

    def reconcile(self, ns, name):
        smcp = self.mgr.get(R.SMCP, name, ns)
        if smcp is None or smcp["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, PKG):
            return None
        spec = smcp.get("spec") or {}
        old = smcp.get("status") or {}
        oc = old.get("conditions")
        gen = smcp["metadata"].get("generation", 1)
        version = operator_version(self.mgr, PKG)
        chart = ".".join(version.split(".")[:2])
        others = [o for o in self.mgr.informer(R.SMCP).items(namespace=ns) if o["metadata"]["name"] != name]
        first = min([smcp] + others, key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))
        if first is not smcp and first["metadata"]["name"] != name:
            msg = "only one service mesh may be installed per project/namespace"
            self.mgr.set_status(R.SMCP, smcp, {
                "observedGeneration": gen, "operatorVersion": version,
                "annotations": {"readyComponentCount": "0/0"},
                "readiness": {"components": {"ready": [], "pending": [], "unready": []}},
                "conditions": [cond(oc, "Installed", "False", "ErrMultipleSMCPs", msg),
                               cond(oc, "Reconciled", "False", "ErrMultipleSMCPs", msg),
                               cond(oc, "Ready", "False", "ErrMultipleSMCPs", msg)],
            })
            return None
        self.mgr.ensure_namespace(ns, {MEMBER_OF: ns})
        mversion = f"{version}" if version else "2.6.4"
        base_labels = {"maistra-version": mversion, "istio.io/rev": name, "maistra.io/owner": ns,
                       "maistra.io/owner-name": name, "app.kubernetes.io/managed-by": "maistra-istio-operator",
                       "app.kubernetes.io/part-of": "istio", "app.kubernetes.io/instance": ns}
        components = {}  # chart -> deployment name (None: always ready)
        # istiod
        istiod = f"istiod-{name}"
        pl = {"app": "istiod", "istio": "pilot", "istio.io/rev": name, "maistra-control-plane": ns,
              "maistra-version": mversion, "sidecar.istio.io/inject": "false"}
        dep = deployment(self.mgr, istiod, ns, pl,
                         [container("discovery", f"registry.redhat.io/openshift-service-mesh/pilot-rhel8:{mversion}",
                                    [("grpc-xds", 15010), ("https-dns", 15012), ("https-webhook", 15017),
                                     ("http-monitoring", 15014)])],
                         labels=dict(base_labels, app="istiod", istio="pilot"),
                         selector={"app": "istiod", "istio.io/rev": name}, owner=smcp,
                         service_account=None)
        self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        self.mgr.apply(R.SERVICE, service(istiod, ns, {"app": "istiod", "istio.io/rev": name},
                                          [("grpc-xds", 15010), ("https-dns", 15012), ("https-webhook", 443, 15017),
                                           ("http-monitoring", 15014)],
                                          labels=dict(base_labels, app="istiod", istio="pilot"), owner=smcp), MANAGER)
        components["istio-discovery"] = istiod
        # mesh config
        self.mgr.apply(R.CONFIGMAP, {
            "metadata": meta(f"istio-{name}", ns, dict(base_labels, release="istio", **{"istio.io/rev": name}),
                             owner=smcp),
            "data": {"mesh": render_mesh(smcp), "meshNetworks": "networks: {}"},
        }, MANAGER)
        components["mesh-config"] = None
        components["telemetry-common"] = None
        gw = spec.get("gateways") or {}
        gw_enabled = gw.get("enabled", True) is not False
        # ingress gateway
        ing = gw.get("ingress") or {}
        if gw_enabled and ing.get("enabled", True) is not False:
            svc_labels = dig(ing, "service", "metadata", "labels", default={}) or {}
            pl = dict(svc_labels)
            pl.update({"app": "istio-ingressgateway", "istio": "ingressgateway", "istio.io/rev": name,
                       "maistra-control-plane": ns, "maistra.io/gateway": f"istio-ingressgateway.{ns}",
                       "sidecar.istio.io/inject": "false"})
            replicas = dig(ing, "runtime", "deployment", "replicas", default=1)
            dep = deployment(self.mgr, "istio-ingressgateway", ns, pl,
                             [container("istio-proxy", f"registry.redhat.io/openshift-service-mesh/proxyv2-rhel8:{mversion}",
                                        [("status-port", 15021), ("http2", 8080), ("https", 8443)])],
                             replicas=replicas, labels=dict(base_labels, **{k: v for k, v in pl.items()
                                                                            if k != "sidecar.istio.io/inject"}),
                             selector={"app": "istio-ingressgateway", "istio": "ingressgateway"}, owner=smcp)
            self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
            slabels = dict(base_labels, app="istio-ingressgateway", istio="ingressgateway", **svc_labels)
            self.mgr.apply(R.SERVICE, service(
                "istio-ingressgateway", ns, {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                [("status-port", 15021), ("http2", 80, 8080), ("https", 443, 8443)], labels=slabels, owner=smcp),
                MANAGER)
            components["istio-ingress"] = "istio-ingressgateway"
        else:
            self._remove(ns, "istio-ingressgateway")
        egr = gw.get("egress") or {}
        if gw_enabled and egr.get("enabled", True) is not False:
            pl = {"app": "istio-egressgateway", "istio": "egressgateway", "istio.io/rev": name,
                  "maistra-control-plane": ns, "maistra.io/gateway": f"istio-egressgateway.{ns}",
                  "sidecar.istio.io/inject": "false"}
            dep = deployment(self.mgr, "istio-egressgateway", ns, pl,
                             [container("istio-proxy", f"registry.redhat.io/openshift-service-mesh/proxyv2-rhel8:{mversion}",
                                        [("http2", 8080), ("https", 8443)])],
                             labels=dict(base_labels, app="istio-egressgateway", istio="egressgateway"),
                             selector={"app": "istio-egressgateway", "istio": "egressgateway"}, owner=smcp)
            self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
            self.mgr.apply(R.SERVICE, service(
                "istio-egressgateway", ns, {"app": "istio-egressgateway", "istio": "egressgateway"},
                [("http2", 80, 8080), ("https", 443, 8443)],
                labels=dict(base_labels, app="istio-egressgateway", istio="egressgateway"), owner=smcp), MANAGER)
            components["istio-egress"] = "istio-egressgateway"
        else:
            self._remove(ns, "istio-egressgateway")

        ready, unready = [], []
        for chart, depname in sorted(components.items()):
            if depname is None or deployment_ready(self.mgr.get(R.DEPLOYMENT, depname, ns)):
                ready.append(chart)
            else:
                unready.append(chart)
        first_install = not find_cond(oc, "Installed") or dig(find_cond(oc, "Installed"), "status") != "True"
        rec_reason = "InstallSuccessful" if (first_install or gen == 1) else "UpdateSuccessful"
        rec_msg = "Successfully installed all mesh components" if rec_reason == "InstallSuccessful" \
            else f"Successfully updated mesh components"
        if unready:
            rcond = cond(oc, "Ready", "False", "ComponentsNotReady",
                         f"The following components are not fully available: [{' '.join(unready)}]")
        else:
            rcond = cond(oc, "Ready", "True", "ComponentsReady", "All component deployments are Available")
        applied = copy.deepcopy(spec)
        applied.setdefault("version", "v" + chart if chart else "v2.6")
        applied.setdefault("profiles", ["default"])
        status = {
            "observedGeneration": gen,
            "operatorVersion": f"{mversion}-1",
            "chartVersion": mversion,
            "annotations": {"readyComponentCount": f"{len(ready)}/{len(components)}",
                            "alwaysReadyComponents": "mesh-config,telemetry-common"},
            "readiness": {"components": {"ready": ready, "pending": [], "unready": unready}},
            "conditions": [
                cond(oc, "Installed", "True", "InstallSuccessful", "Successfully installed all mesh components"),
                cond(oc, "Reconciled", "True", rec_reason, rec_msg),
                rcond,
            ],
            "components": [{"resource": c, "conditions": [{"type": "Installed", "status": "True",
                                                            "reason": "InstallSuccessful"}]}
                           for c in sorted(components)],
            "appliedSpec": applied,
            "appliedValues": {"istio": {"revision": name}},
        }
        self.mgr.set_status(R.SMCP, smcp, status)
        # members follow the control plane
        self.mgr.enqueue_kind(R.SMMR)
        return None if not unready else 2.0

    def _remove(self, ns, depname):
        cur = self.mgr.get(R.DEPLOYMENT, depname, ns)
        if cur is not None and any(r.get("kind") == "ServiceMeshControlPlane"
                                   for r in cur["metadata"].get("ownerReferences") or []):
            self.mgr.delete(R.DEPLOYMENT, depname, ns)
            self.mgr.delete(R.SERVICE, depname, ns)


def smcp_ready(smcp: dict) -> bool:
    comps = dig(smcp, "status", "readiness", "components", default={}) or {}
    return bool(comps.get("ready")) and not comps.get("pending") and not comps.get("unready")


class SMMController(Controller):
    name = "smm"
    primary = R.SMM
    triggers = (R.SMMR, R.SMCP)

    def reconcile(self, ns, name):
        smm = self.mgr.get(R.SMM, name, ns)
        if smm is None or smm["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, PKG):
            return None
        old = smm.get("status") or {}
        oc = old.get("conditions")
        ref = dig(smm, "spec", "controlPlaneRef", default={}) or {}
        cp_name, cp_ns = ref.get("name", ""), ref.get("namespace", "")
        gen = smm["metadata"].get("generation", 1)
        st = {"observedGeneration": gen, "annotations": {"controlPlaneRef": f"{cp_ns}/{cp_name}"}}
        if name != "default":
            msg = "the ServiceMeshMember name is invalid; must be default"
            st["conditions"] = [cond(oc, "Reconciled", "False", "InvalidName", msg),
                                cond(oc, "Ready", "False", "InvalidName", msg)]
            self.mgr.set_status(R.SMM, smm, st)
            return None
        if self.mgr.get(R.NAMESPACE, cp_ns) is None:
            msg = f"the control plane namespace {cp_ns} does not exist"
            st["conditions"] = [cond(oc, "Reconciled", "False", "ErrSMCPMissing", msg),
                                cond(oc, "Ready", "False", "ErrSMCPMissing", msg)]
            self.mgr.set_status(R.SMM, smm, st)
            return 3.0
        smmr = self.mgr.get(R.SMMR, "default", cp_ns)
        if smmr is None:
            smmr, created = self.mgr.create_if_missing(R.SMMR, {
                "metadata": {"name": "default", "namespace": cp_ns,
                             "annotations": {"maistra.io/created-by": "maistra-istio-operator"}},
                "spec": {"members": []},
            })
            if created:
                log.info("created smmr %s/default for member %s", cp_ns, ns)
                self.mgr.enqueue_kind(R.SMMR)
        smcp = self.mgr.get(R.SMCP, cp_name, cp_ns)
        configured = ns in (dig(smmr, "status", "configuredMembers", default=[]) or [])
        if smcp is None:
            msg = f"ServiceMeshControlPlane {cp_ns}/{cp_name} does not exist"
            st["conditions"] = [cond(oc, "Reconciled", "False", "ErrSMCPMissing", msg),
                                cond(oc, "Ready", "False", "ErrSMCPMissing", msg)]
        elif configured:
            st["meshGeneration"] = smcp["metadata"].get("generation", 1)
            st["meshReconciledVersion"] = dig(smcp, "status", "operatorVersion", default="")
            st["conditions"] = [cond(oc, "Reconciled", "True", "ReconcileSuccessful", "The ServiceMeshMember has been reconciled"),
                                cond(oc, "Ready", "True", "Ready", "The namespace is a member of the mesh")]
        else:
            st["conditions"] = [cond(oc, "Reconciled", "True", "ReconcileSuccessful", "The ServiceMeshMember has been reconciled"),
                                cond(oc, "Ready", "False", "MemberNotConfigured",
                                     "The namespace has not been configured by the ServiceMeshMemberRoll yet")]
        self.mgr.set_status(R.SMM, smm, st)
        return None if configured else 2.0

    def on_deleted(self, obj):
        ns = obj["metadata"]["namespace"]
        self.mgr.enqueue_kind(R.SMMR)
        cur = self.mgr.get(R.NAMESPACE, ns)
        if cur and MEMBER_OF in (cur["metadata"].get("labels") or {}):
            # the roll may still list it in spec.members; SMMR reconcile re-adds the label then
            try:
                self.mgr.patch(R.NAMESPACE, ns, {"metadata": {"labels": {MEMBER_OF: None}}})
            except Exception:  # noqa: BLE001
                pass


class SMMRController(Controller):
    name = "smmr"
    primary = R.SMMR
    triggers = (R.SMM, R.NAMESPACE)

    def reconcile(self, ns, name):
        smmr = self.mgr.get(R.SMMR, name, ns)
        if smmr is None or not operator_up(self.mgr, PKG):
            return None
        old = smmr.get("status") or {}
        oc = old.get("conditions")
        gen = smmr["metadata"].get("generation", 1)
        smcps = self.mgr.informer(R.SMCP).items(namespace=ns)
        spec_members = [m for m in (dig(smmr, "spec", "members", default=[]) or [])]
        if "*" in spec_members:
            spec_members = [n["metadata"]["name"] for n in self.mgr.informer(R.NAMESPACE).items()
                            if not n["metadata"]["name"].startswith(("kube-", "openshift")) and n["metadata"]["name"] != ns]
        members = set(m for m in spec_members if m != ns)
        smm_members = set()
        for smm in self.mgr.informer(R.SMM).items():
            ref = dig(smm, "spec", "controlPlaneRef", default={}) or {}
            if smm["metadata"]["name"] == "default" and ref.get("namespace") == ns and \
                    (not smcps or ref.get("name") in [s["metadata"]["name"] for s in smcps]):
                smm_members.add(smm["metadata"]["namespace"])
        members |= smm_members
        members.discard(ns)
        st = {"observedGeneration": gen, "members": sorted(members)}
        if name != "default":
            st.update(configuredMembers=[], pendingMembers=sorted(members), terminatingMembers=[],
                      conditions=[cond(oc, "Ready", "False", "ErrInvalidName",
                                       "the ServiceMeshMemberRoll name is invalid; must be default")])
            self.mgr.set_status(R.SMMR, smmr, st)
            return None
        if not smcps:
            st.update(configuredMembers=[], pendingMembers=sorted(members), terminatingMembers=[],
                      memberStatuses=[], annotations={"configuredMemberCount": f"0/{len(members)}"},
                      conditions=[cond(oc, "Ready", "False", "ErrSMCPMissing",
                                       "No ServiceMeshControlPlane exists in the namespace")])
            self.mgr.set_status(R.SMMR, smmr, st)
            return 3.0
        smcp = smcps[0]
        configured, pending, statuses = [], [], []
        # Like the real operator, a member is configured once the control plane is ready (and stays
        # configured); until then it is listed in status.members and pendingMembers only.
        smcp_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                         for c in dig(smcp, "status", "conditions", default=[]) or [])
        was_configured = set(old.get("configuredMembers") or [])
        for m in sorted(members):
            nsobj = self.mgr.get(R.NAMESPACE, m)
            if nsobj is None or dig(nsobj, "status", "phase") == "Terminating":
                pending.append(m)
                statuses.append({"namespace": m, "conditions": [
                    cond(None, "Reconciled", "False", "NamespaceNotExists", f"namespace {m} does not exist")]})
                continue
            if (nsobj["metadata"].get("labels") or {}).get(MEMBER_OF) != ns:
                self.mgr.patch(R.NAMESPACE, m, {"metadata": {"labels": {MEMBER_OF: ns}}})
            if m in spec_members and self.mgr.get(R.SMM, "default", m) is None:
                self.mgr.create_if_missing(R.SMM, {
                    "metadata": {"name": "default", "namespace": m,
                                 "annotations": {"maistra.io/created-by": "maistra-istio-operator"}},
                    "spec": {"controlPlaneRef": {"name": smcp["metadata"]["name"], "namespace": ns}}})
            if not smcp_ready and m not in was_configured:
                pending.append(m)
                statuses.append({"namespace": m, "conditions": [
                    cond(None, "Reconciled", "False", "SMCPNotReady",
                         f"the ServiceMeshControlPlane {smcp['metadata']['name']} is not ready")]})
                continue
            configured.append(m)
            statuses.append({"namespace": m, "conditions": [
                cond(None, "Reconciled", "True", "ReconcileSuccessful", "")]})
        st.update(
            configuredMembers=configured, pendingMembers=pending, terminatingMembers=[],
            memberStatuses=statuses,
            meshGeneration=smcp["metadata"].get("generation", 1),
            meshReconciledVersion=dig(smcp, "status", "operatorVersion", default=""),
            annotations={"configuredMemberCount": f"{len(configured)}/{len(members)}"},
        )
        if pending:
            st["conditions"] = [cond(oc, "Ready", "False", "ReconcileError",
                                     f"Could not configure namespaces: {', '.join(pending)}")]
        else:
            st["conditions"] = [cond(oc, "Ready", "True", "Configured",
                                     "All namespaces have been configured successfully")]
        self.mgr.set_status(R.SMMR, smmr, st)
        return None if not pending else 3.0


# -- sidecar injection ------------------------------------------------------------------------
INJECTOR = "istio-sidecar-injector"


class InjectorController(Controller):
    """Stands in for the Maistra sidecar injector: a Deployment whose pod template asks for injection
    (label or annotation sidecar.istio.io/inject=true) in a mesh member namespace gets an
    `istio-proxy` container, added under its own field manager so the owner's fields are untouched."""
    name = "injector"
    primary = R.DEPLOYMENT
    triggers = ()

    def reconcile(self, ns, name):
        dep = self.mgr.get(R.DEPLOYMENT, name, ns)
        if dep is None or dep["metadata"].get("deletionTimestamp"):
            return None
        tmpl = dig(dep, "spec", "template", default={}) or {}
        containers = dig(tmpl, "spec", "containers", default=[]) or []
        names = [c.get("name") for c in containers]
        want = injection_applies(self.mgr, tmpl, ns) and operator_up(self.mgr, PKG)
        owned = any(f.get("manager") == INJECTOR for f in dep["metadata"].get("managedFields") or [])
        if want and "istio-proxy" not in names:
            body = {"metadata": {"name": name, "namespace": ns},
                    "spec": {"template": {"spec": {"containers": [istio_proxy()]}}}}
            self.kube.apply(R.DEPLOYMENT, body, INJECTOR)
            log.info("injected istio-proxy into %s/%s", ns, name)
        elif not want and owned and "istio-proxy" in names:
            body = {"metadata": {"name": name, "namespace": ns}}
            self.kube.apply(R.DEPLOYMENT, body, INJECTOR)
            log.info("removed istio-proxy from %s/%s", ns, name)
        return None


CONTROLLERS = [SMCPController, SMMController, SMMRController, InjectorController]
