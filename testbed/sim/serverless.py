"""Simulated OpenShift Serverless (KnativeServing) and Authorino operators, and a minimal Knative
Serving controller (ksvc -> revision Deployment)."""

from __future__ import annotations

import hashlib
import json
import logging


from . import resources as R
from .catalog import PACKAGES
from .mesh import operator_up, operator_version
from .runtime import Controller
from .util import cond, container, deployment, deployment_ready, dig, meta, service

log = logging.getLogger("sim.serverless")
MANAGER = "knative-operator"
# Container waiting reasons that fail a revision (and, in the kserve sim, mark the model FailedToLoad).
# ErrImagePull is the first pull attempt failing: the kubelet retries, and a pull that keeps failing
# becomes ImagePullBackOff, which is what fails the revision.
FAILED_WAITING_REASONS = ("CrashLoopBackOff", "ImagePullBackOff")
PKG = "serverless-operator"
KNATIVE_NS = "knative-serving"

KNATIVE_VERSION = {"1.33": "1.12", "1.34": "1.14", "1.35": "1.15"}


def knative_version(so_version: str) -> str:
    return KNATIVE_VERSION.get(".".join(so_version.split(".")[:2]), "1.15") + ".0"


def _minor(v: str) -> tuple:
    try:
        return tuple(int(x) for x in v.split(".")[:2])
    except ValueError:
        return (1, 35)


def apply_crds(mgr, group_dir: str, manager: str) -> bool:
    """Apply the CRDs of a component directory; True when all are Established."""
    import copy

    from .catalog import load_crd_dir

    ok = True
    for crd in load_crd_dir(group_dir):
        mgr.apply(R.CRD, copy.deepcopy(crd), manager)
        cur = mgr.get(R.CRD, crd["metadata"]["name"])
        if not cur or not any(c.get("type") == "Established" and c.get("status") == "True"
                              for c in dig(cur, "status", "conditions", default=[])):
            ok = False
    return ok


class KnativeServingController(Controller):
    name = "knativeserving"
    primary = R.KNATIVESERVING
    owns = (R.DEPLOYMENT,)
    triggers = (R.CSV,)

    def reconcile(self, ns, name):
        ks = self.mgr.get(R.KNATIVESERVING, name, ns)
        if ks is None or ks["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, PKG):
            return None
        old = ks.get("status") or {}
        oc = old.get("conditions")
        spec = ks.get("spec") or {}
        gen = ks["metadata"].get("generation", 1)
        so_version = operator_version(self.mgr, PKG)
        kversion = knative_version(so_version)
        others = [o for o in self.mgr.informer(R.KNATIVESERVING).items(namespace=ns) if o["metadata"]["name"] != name]
        if ns != KNATIVE_NS or any(o["metadata"].get("creationTimestamp", "") < ks["metadata"].get("creationTimestamp", "")
                                   for o in others):
            msg = ("KnativeServing may only be created in the knative-serving namespace" if ns != KNATIVE_NS
                   else "Only one KnativeServing allowed per namespace")
            self.mgr.set_status(R.KNATIVESERVING, ks, {
                "observedGeneration": gen,
                "conditions": [cond(oc, "InstallSucceeded", "False", "Error", msg),
                               cond(oc, "Ready", "False", "Error", msg)]})
            return None
        crds_ok = apply_crds(self.mgr, "component-knative-serving", MANAGER)
        ha = dig(spec, "high-availability", "replicas", default=2)
        overrides = {w.get("name"): w for w in spec.get("workloads") or [] if isinstance(w, dict)}
        istio = dig(spec, "ingress", "istio", "enabled", default=False) is True
        kourier = not istio or dig(spec, "ingress", "kourier", "enabled", default=False) is True
        workloads = [
            ("activator", "activator", {"app": "activator", "role": "activator"}, [("http1", 8012), ("h2c", 8013)]),
            ("autoscaler", "autoscaler", {"app": "autoscaler"}, [("websocket", 8080)]),
            ("autoscaler-hpa", "autoscaler-hpa", {"app": "autoscaler-hpa"}, []),
            ("controller", "controller", {"app": "controller"}, []),
            ("webhook", "webhook", {"app": "webhook", "role": "webhook"}, [("https-webhook", 8443)]),
        ]
        if _minor(so_version) < (1, 34):
            workloads += [("domain-mapping", "domain-mapping", {"app": "domain-mapping"}, []),
                          ("domainmapping-webhook", "domainmapping-webhook",
                           {"app": "domainmapping-webhook", "role": "domainmapping-webhook"}, [])]
        if istio:
            workloads += [("net-istio-controller", "controller", {"app": "net-istio-controller"}, []),
                          ("net-istio-webhook", "webhook", {"app": "net-istio-webhook", "role": "net-istio-webhook"}, [])]
        deps = []
        for dname, cname, sel, ports in workloads:
            deps.append((ns, self._workload(ks, ns, dname, cname, sel, ports, ha, overrides.get(dname), kversion)))
        if kourier:
            ing_ns = "knative-serving-ingress"
            deps.append((ns, self._workload(ks, ns, "net-kourier-controller", "controller",
                                            {"app": "net-kourier-controller"}, [], ha,
                                            overrides.get("net-kourier-controller"), kversion)))
            self.mgr.ensure_namespace(ing_ns)
            # cross-namespace: owned through a label, cleaned up by the controller
            gw = self._workload(None, ing_ns, "3scale-kourier-gateway", "kourier-gateway",
                                {"app": "3scale-kourier-gateway"}, [("http2", 8080), ("https", 8443)], ha,
                                overrides.get("3scale-kourier-gateway"), kversion)
            deps.append((ing_ns, gw))
        for cm_suffix, data in (spec.get("config") or {}).items():
            if isinstance(data, dict):
                self.mgr.apply(R.CONFIGMAP, {
                    "metadata": meta(f"config-{cm_suffix}", ns,
                                     {"app.kubernetes.io/name": "knative-serving",
                                      "app.kubernetes.io/version": kversion}, owner=ks),
                    "data": {k: str(v) for k, v in data.items()}}, MANAGER)
        self.mgr.apply(R.SERVICE, service("activator-service", ns, {"app": "activator"},
                                          [("http", 80, 8012), ("http2", 81, 8013)], owner=ks,
                                          labels={"app": "activator"}), MANAGER)
        not_ready = [d for dns, d in deps if not deployment_ready(self.mgr.get(R.DEPLOYMENT, d, dns))]
        conds = [
            cond(oc, "DependenciesInstalled", "True", "", ""),
            cond(oc, "DeploymentsAvailable", "False" if not_ready else "True", "NotReady" if not_ready else "",
                 f"Waiting on deployments: {', '.join(not_ready)}" if not_ready else ""),
            cond(oc, "InstallSucceeded", "True" if crds_ok else "False", "" if crds_ok else "Installing",
                 "" if crds_ok else "Waiting for the serving CRDs"),
            cond(oc, "VersionMigrationEligible", "True", "", ""),
        ]
        bad = [c for c in conds if c["status"] != "True"]
        conds.append(cond(oc, "Ready", "False" if bad else "True", bad[0].get("reason", "") if bad else "",
                          bad[0].get("message", "") if bad else ""))
        self.mgr.set_status(R.KNATIVESERVING, ks, {
            "observedGeneration": gen, "version": kversion, "conditions": conds,
            "manifests": [f"/var/run/ko/knative-serving/{kversion}", f"/var/run/ko/ingress/{kversion}/"
                          + ("istio" if istio else "kourier")],
        })
        return 2.0 if bad else None

    def _workload(self, ks, ns, dname, cname, sel, ports, replicas, override, kversion) -> str:
        override = override or {}
        labels = dict(sel)
        labels.update({"app.kubernetes.io/component": dname, "app.kubernetes.io/name": "knative-serving",
                       "app.kubernetes.io/version": kversion})
        pod_labels = dict(labels)
        pod_labels.update(override.get("labels") or {})
        env = []
        for e in override.get("env") or []:
            if e.get("container") == cname:
                env += [{"name": v.get("name"), "value": str(v.get("value", ""))} for v in e.get("envVars") or []]
        c = container(cname, f"registry.redhat.io/openshift-serverless-1/serving-{cname}-rhel8:{kversion}", ports)
        if env:
            c["env"] = env
        dep = deployment(self.mgr, dname, ns, pod_labels, [c],
                         replicas=override.get("replicas", replicas), labels=labels, selector=sel,
                         pod_annotations=override.get("annotations") or None, owner=ks)
        if ks is None:
            dep["metadata"].setdefault("labels", {})["serving.knative.openshift.io/ownerName"] = "knative-serving"
        self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        return dname


# -- Authorino -------------------------------------------------------------------------------
class AuthorinoController(Controller):
    name = "authorino"
    primary = R.AUTHORINO
    owns = (R.DEPLOYMENT,)
    triggers = (R.CSV,)

    def reconcile(self, ns, name):
        cr = self.mgr.get(R.AUTHORINO, name, ns)
        if cr is None or cr["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, "authorino-operator"):
            return None
        spec = cr.get("spec") or {}
        old = cr.get("status") or {}
        oc = old.get("conditions")
        sa = f"{name}-authorino"
        self.mgr.apply(R.SERVICEACCOUNT, {"metadata": meta(sa, ns, {"authorino-resource": name}, owner=cr)},
                       "authorino-operator")
        tls_missing = []
        for part in ("listener", "oidcServer"):
            tls = dig(spec, part, "tls", default={}) or {}
            if tls.get("enabled", True) is not False:
                secret = dig(tls, "certSecretRef", "name")
                if not secret:
                    tls_missing.append(("TlsSecretNotProvided", f"{part} TLS enabled but no certSecretRef provided"))
                elif self.kube.get(R.SECRET, secret, ns) is None:
                    tls_missing.append(("TlsSecretNotFound", f"TLS secret {secret} not found"))
        if tls_missing:
            reason, msg = tls_missing[0]
            self.mgr.set_status(R.AUTHORINO, cr, {"conditions": [
                cond(oc, "Ready", "False", reason, msg)]})
            return 5.0
        pl = {"control-plane": "controller-manager", "authorino-resource": name}
        args = ["--allow-superseding-host-subsets", f"--auth-config-label-selector={spec.get('authConfigLabelSelectors', '')}"]
        c = container("authorino", f"registry.redhat.io/rhcl-1/authorino-rhel9:{operator_version(self.mgr, 'authorino-operator') or '1.2.1'}",
                      [("grpc", 50051), ("http", 5001), ("oidc", 8083), ("metrics", 8080), ("healthz", 8081)],
                      args=args)
        dep = deployment(self.mgr, name, ns, pl, [c], replicas=spec.get("replicas") or 1,
                         labels={"authorino-resource": name}, owner=cr, service_account=sa)
        self.mgr.apply(R.DEPLOYMENT, dep, "authorino-operator")
        self.mgr.apply(R.SERVICE, service(f"{name}-authorino-authorization", ns, pl,
                                          [("grpc", 50051), ("http", 5001)], owner=cr,
                                          labels={"authorino-resource": name}), "authorino-operator")
        self.mgr.apply(R.SERVICE, service(f"{name}-authorino-oidc", ns, pl, [("http", 8083)], owner=cr,
                                          labels={"authorino-resource": name}), "authorino-operator")
        self.mgr.apply(R.SERVICE, service(f"{name}-controller-metrics", ns, pl, [("http", 8080)], owner=cr,
                                          labels={"authorino-resource": name}), "authorino-operator")
        ready = deployment_ready(self.mgr.get(R.DEPLOYMENT, name, ns))
        c = (cond(oc, "Ready", "True", "Provisioned", "Authorino instance ready") if ready
             else cond(oc, "Ready", "False", "DeploymentNotReady", "Authorino Deployment resource not ready"))
        c["lastUpdatedTime"] = c["lastTransitionTime"]
        self.mgr.set_status(R.AUTHORINO, cr, {"conditions": [c]})
        return None if ready else 2.0


class AuthConfigController(Controller):
    """The Authorino instance watching an AuthConfig (cluster-wide or same namespace, label selector
    matching) reports it ready."""
    name = "authconfig"
    primary = R.AUTHCONFIG
    triggers = (R.AUTHORINO,)

    def reconcile(self, ns, name):
        ac = self.mgr.get(R.AUTHCONFIG, name, ns)
        if ac is None or not operator_up(self.mgr, "authorino-operator"):
            return None
        labels = ac["metadata"].get("labels") or {}
        watcher = None
        for a in self.mgr.informer(R.AUTHORINO).items():
            if not (dig(a, "spec", "clusterWide") or a["metadata"]["namespace"] == ns):
                continue
            sel = dig(a, "spec", "authConfigLabelSelectors") or ""
            pairs = [p.split("=", 1) for p in sel.split(",") if "=" in p]
            if all(labels.get(k.strip()) == v.strip() for k, v in pairs) and \
                    any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in dig(a, "status", "conditions", default=[])):
                watcher = a
                break
        if watcher is None:
            return None
        hosts = dig(ac, "spec", "hosts", default=[]) or []
        oc = dig(ac, "status", "conditions")
        self.mgr.set_status(R.AUTHCONFIG, ac, {
            "conditions": [cond(oc, "Available", "True", "HostsLinked", ""), cond(oc, "Ready", "True", "Reconciled", "")],
            "summary": {"ready": True, "hostsReady": hosts, "numHostsReady": f"{len(hosts)}/{len(hosts)}",
                        "numIdentitySources": len(dig(ac, "spec", "authentication", default={}) or {}),
                        "numAuthorizationPolicies": len(dig(ac, "spec", "authorization", default={}) or {})},
        })
        return None


# -- Knative Serving: ksvc -> revision Deployment ---------------------------------------------
QUEUE_PROXY = "queue-proxy"


def knative_ready(mgr) -> bool:
    ks = mgr.get(R.KNATIVESERVING, "knative-serving", KNATIVE_NS)
    return bool(ks) and any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in dig(ks, "status", "conditions", default=[]))


def ingress_domain(mgr) -> str:
    ing = mgr.get(R.INGRESS_CONFIG, "cluster")
    return dig(ing, "spec", "domain", default="apps.testbed.example.com")


class KsvcController(Controller):
    name = "ksvc"
    primary = R.KSVC
    owns = (R.DEPLOYMENT,)

    def reconcile(self, ns, name):
        ksvc = self.mgr.get(R.KSVC, name, ns)
        if ksvc is None or ksvc["metadata"].get("deletionTimestamp") or not knative_ready(self.mgr):
            return None
        old = ksvc.get("status") or {}
        oc = old.get("conditions")
        tmpl = dig(ksvc, "spec", "template", default={}) or {}
        tmpl_hash = hashlib.sha1(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()[:10]
        rev_no = int((ksvc["metadata"].get("annotations") or {}).get("testbed.openshift-ai.io/revision", "0") or 0)
        last_hash = (ksvc["metadata"].get("annotations") or {}).get("testbed.openshift-ai.io/template-hash")
        if last_hash != tmpl_hash:
            rev_no += 1
            ksvc = self.mgr.patch(R.KSVC, name, {"metadata": {"annotations": {
                "testbed.openshift-ai.io/revision": str(rev_no), "testbed.openshift-ai.io/template-hash": tmpl_hash}}}, ns)
        rev = f"{name}-{rev_no:05d}"
        tmd = tmpl.get("metadata") or {}
        tspec = tmpl.get("spec") or {}
        pod_labels = dict(tmd.get("labels") or {})
        pod_labels.update({"serving.knative.dev/service": name, "serving.knative.dev/configuration": name,
                           "serving.knative.dev/revision": rev, "serving.knative.dev/revisionUID": ksvc["metadata"]["uid"][:8] + f"-{rev_no:04d}",
                           "serving.knative.dev/configurationGeneration": str(rev_no),
                           "app": rev})
        containers = [dict(c) for c in tspec.get("containers") or []]
        for c in containers:
            c.setdefault("image", "registry.example.com/model-server:latest")
        containers.append(container(QUEUE_PROXY, "registry.redhat.io/openshift-serverless-1/serving-queue-rhel8:1.15",
                                    [("http-queueadm", 8022), ("http-autometric", 9090), ("http-usermetric", 9091),
                                     ("queue-port", 8012)]))
        extra = {k: v for k, v in tspec.items() if k in ("initContainers", "volumes", "nodeSelector", "tolerations",
                                                         "affinity", "serviceAccountName", "imagePullSecrets")}
        min_scale = int((tmd.get("annotations") or {}).get("autoscaling.knative.dev/min-scale", "1") or 1)
        dep = deployment(self.mgr, f"{rev}-deployment", ns, pod_labels, containers, replicas=max(min_scale, 1),
                         selector={"serving.knative.dev/revisionUID": pod_labels["serving.knative.dev/revisionUID"]},
                         pod_annotations=tmd.get("annotations") or None, owner=ksvc,
                         labels={"serving.knative.dev/service": name, "serving.knative.dev/revision": rev,
                                 "app": rev}, **extra)
        self.mgr.apply(R.DEPLOYMENT, dep, "knative-serving-controller")
        for d in self.mgr.informer(R.DEPLOYMENT).items(namespace=ns, selector={"serving.knative.dev/service": name}):
            if d["metadata"]["name"] != f"{rev}-deployment" and deployment_ready(self.mgr.get(R.DEPLOYMENT, f"{rev}-deployment", ns)):
                self.mgr.delete(R.DEPLOYMENT, d["metadata"]["name"], ns)
        ready = deployment_ready(self.mgr.get(R.DEPLOYMENT, f"{rev}-deployment", ns))
        labels = ksvc["metadata"].get("labels") or {}
        local = labels.get("networking.knative.dev/visibility") == "cluster-local"
        host = f"{name}-{ns}.{ingress_domain(self.mgr)}"
        url = f"http://{name}.{ns}.svc.cluster.local" if local else f"https://{host}"
        st = {
            "observedGeneration": ksvc["metadata"].get("generation", 1),
            "latestCreatedRevisionName": rev,
            "url": url,
            "address": {"url": f"http://{name}.{ns}.svc.cluster.local"},
            "traffic": [{"revisionName": rev, "latestRevision": True, "percent": 100}],
        }
        if ready:
            st["latestReadyRevisionName"] = rev
            st["conditions"] = [cond(oc, "ConfigurationsReady", "True"), cond(oc, "Ready", "True"),
                                cond(oc, "RoutesReady", "True")]
        else:
            pods = [p for p in self.mgr.informer(R.POD).items(namespace=ns)
                    if (p["metadata"].get("labels") or {}).get("serving.knative.dev/revision") == rev]
            reason, msg = "RevisionMissing", f"Configuration \"{name}\" is waiting for a Revision to become ready."
            for p in pods:
                for cs in dig(p, "status", "containerStatuses", default=[]) or []:
                    w = dig(cs, "state", "waiting")
                    if w and w.get("reason") in FAILED_WAITING_REASONS:
                        reason, msg = "RevisionFailed", f"Revision \"{rev}\" failed with message: {w.get('reason')}."
                for pc in dig(p, "status", "conditions", default=[]) or []:
                    if pc.get("type") == "PodScheduled" and pc.get("status") == "False":
                        reason, msg = "RevisionFailed", f"Revision \"{rev}\" failed with message: {pc.get('message', 'Unschedulable')}."
            st["conditions"] = [cond(oc, "ConfigurationsReady", "False", reason, msg), cond(oc, "Ready", "False", reason, msg),
                                cond(oc, "RoutesReady", "False", reason, msg)]
        self.mgr.set_status(R.KSVC, ksvc, st)
        return None if ready else 2.0


# -- Knative Serving: DomainMapping -> claim, certificate, ingress ------------------------------
class DomainMappingController(Controller):
    """A DomainMapping maps one domain (its name) to an addressable in its namespace. As in
    OpenShift Serverless, the domain is claimed automatically (a ClusterDomainClaim naming the
    namespace) unless another namespace claimed it first; ``spec.tls.secretName`` must be a TLS
    Secret in the same namespace."""
    name = "domainmapping"
    primary = R.DOMAINMAPPING
    triggers = (R.KSVC, R.SECRET, R.CLUSTERDOMAINCLAIM)

    def reconcile(self, ns, name):
        dm = self.mgr.get(R.DOMAINMAPPING, name, ns)
        if dm is None or dm["metadata"].get("deletionTimestamp") or not knative_ready(self.mgr):
            return None
        oc = (dm.get("status") or {}).get("conditions")
        ref = dig(dm, "spec", "ref", default={}) or {}
        conds = []
        target = None
        if ref.get("kind") == "Service" and (ref.get("apiVersion") or "").startswith("serving.knative.dev/"):
            target = self.mgr.get(R.KSVC, ref.get("name", ""), ref.get("namespace") or ns)
        if target is None:
            conds.append(cond(oc, "ReferenceResolved", "False", "ResolveFailed",
                              f"{ref.get('kind', '?')} {ref.get('name', '?')} was not found in namespace {ns}"))
        else:
            conds.append(cond(oc, "ReferenceResolved", "True"))
        claim = self.mgr.get(R.CLUSTERDOMAINCLAIM, name)
        if claim is None:
            claim, _ = self.mgr.create_if_missing(R.CLUSTERDOMAINCLAIM, {
                "apiVersion": R.CLUSTERDOMAINCLAIM.api_version, "kind": "ClusterDomainClaim",
                "metadata": {"name": name}, "spec": {"namespace": ns}})
        owner = dig(claim, "spec", "namespace")
        if owner != ns:
            conds.append(cond(oc, "DomainClaimed", "False", "DomainAlreadyClaimed",
                              f"the domain {name} is claimed by namespace {owner} (ClusterDomainClaim {name})"))
        else:
            conds.append(cond(oc, "DomainClaimed", "True"))
        secret_name = dig(dm, "spec", "tls", "secretName")
        if secret_name:
            secret = self.mgr.get(R.SECRET, secret_name, ns)
            if secret is None or not (secret.get("data") or {}).get("tls.crt"):
                conds.append(cond(oc, "CertificateProvisioned", "False", "CertificateMissing",
                                  f"TLS Secret {ns}/{secret_name} does not exist or has no tls.crt"))
            else:
                conds.append(cond(oc, "CertificateProvisioned", "True"))
        else:
            conds.append(cond(oc, "CertificateProvisioned", "True", "TLSNotEnabled", "no TLS secret is set"))
        failing = [c for c in conds if c["status"] != "True"]
        conds.append(cond(oc, "IngressReady", "True") if not failing else
                     cond(oc, "IngressReady", "Unknown", "IngressNotConfigured", "Ingress has not yet been reconciled."))
        conds.append(cond(oc, "Ready", "True") if not failing else
                     cond(oc, "Ready", "False", failing[0]["reason"], failing[0]["message"]))
        scheme = "https" if secret_name else "http"
        st = {"observedGeneration": dm["metadata"].get("generation", 1), "conditions": conds,
              "url": f"{scheme}://{name}", "address": {"url": f"{scheme}://{name}"}}
        self.mgr.set_status(R.DOMAINMAPPING, dm, st)
        return None if not failing else 2.0

    def on_deleted(self, obj):
        """The claim made for a mapping goes with it (a claim of another namespace stays)."""
        name, ns = obj["metadata"]["name"], obj["metadata"].get("namespace")
        claim = self.mgr.get(R.CLUSTERDOMAINCLAIM, name)
        if claim is not None and dig(claim, "spec", "namespace") == ns:
            self.mgr.delete(R.CLUSTERDOMAINCLAIM, name)


CONTROLLERS = [KnativeServingController, AuthorinoController, AuthConfigController, KsvcController,
               DomainMappingController]
