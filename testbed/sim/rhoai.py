"""Simulated Red Hat OpenShift AI operator (RHOAI 2.17+ behaviour): default-dsci, DSCInitialization,
DataScienceCluster with the kserve and modelregistry components, FeatureTrackers, refusals."""

from __future__ import annotations

import base64
import datetime as _dt
import logging
from typing import Optional

from . import resources as R
from .dashboard_templates import DashboardTemplatesController
from .kube import ApiError
from .mesh import operator_up, operator_version, smcp_ready
from .runtime import Controller
from .serverless import apply_crds
from .util import (cond, container, deployment, deployment_ready, dig, meta, namespace_pods_ready, owner_ref,
                   subscription_exists)

log = logging.getLogger("sim.rhoai")
PKG = "rhods-operator"
MANAGER = "rhods-operator"
RELEASE_NAME = "OpenShift AI Self-Managed"
DEFAULT_APPS_NS = "redhat-ods-applications"
FT_OWNED = "testbed.openshift-ai.io/feature"


class FeatureError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class Waiting(Exception):
    pass


def default_dsci_spec() -> dict:
    return {
        "applicationsNamespace": DEFAULT_APPS_NS,
        "monitoring": {"managementState": "Managed", "namespace": "redhat-ods-monitoring"},
        "serviceMesh": {"managementState": "Managed",
                        "controlPlane": {"name": "data-science-smcp", "namespace": "istio-system",
                                         "metricsCollection": "Istio"},
                        "auth": {"audiences": ["https://kubernetes.default.svc"]}},
        "trustedCABundle": {"managementState": "Managed", "customCABundle": ""},
    }


def complete_conds(oc, ok: bool, reason: str, message: str) -> list:
    if ok:
        return [cond(oc, "ReconcileComplete", "True", reason, message),
                cond(oc, "Available", "True", reason, message),
                cond(oc, "Progressing", "False", reason, message),
                cond(oc, "Degraded", "False", reason, message),
                cond(oc, "Upgradeable", "True", reason, message)]
    return [cond(oc, "ReconcileComplete", "False", reason, message),
            cond(oc, "Available", "False", reason, message),
            cond(oc, "Progressing", "False", reason, message),
            cond(oc, "Degraded", "True", reason, message),
            cond(oc, "Upgradeable", "True", reason, message)]


def progressing_conds(oc, message: str) -> list:
    return [cond(oc, "ReconcileComplete", "Unknown", "ReconcileInit", message),
            cond(oc, "Available", "Unknown", "ReconcileInit", message),
            cond(oc, "Progressing", "True", "ReconcileInit", message),
            cond(oc, "Degraded", "False", "ReconcileInit", message),
            cond(oc, "Upgradeable", "True", "ReconcileInit", message)]


def selfsigned_tls(domain: str, org: str = "opendatahub-self-signed") -> dict:
    """A kubernetes.io/tls Secret body for a self-signed wildcard certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, domain.lstrip("*."))])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain), x509.DNSName(domain.lstrip("*."))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    crt = cert.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    return {"type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(crt).decode(), "tls.key": base64.b64encode(pem).decode()}}


def ingress_domain(mgr) -> str:
    return dig(mgr.get(R.INGRESS_CONFIG, "cluster"), "spec", "domain", default="apps.testbed.example.com")


def the_dsci(mgr) -> Optional[dict]:
    items = mgr.informer(R.DSCI).items()
    return items[0] if items else None


class FeatureSet:
    """FeatureTracker bookkeeping for one reconcile."""

    def __init__(self, ctrl: Controller, owner: dict, apps_ns: str, source_type: str):
        self.ctrl = ctrl
        self.mgr = ctrl.mgr
        self.owner = owner
        self.apps_ns = apps_ns
        self.source_type = source_type
        self.results: dict = {}

    def tracker(self, feature: str) -> dict:
        name = f"{self.apps_ns}-{feature}"
        ft, _ = self.mgr.create_if_missing(R.FEATURETRACKER, {
            "metadata": {"name": name, "ownerReferences": [owner_ref(self.owner)]},
            "spec": {"source": {"type": self.source_type, "name": self.owner["metadata"]["name"]},
                     "appNamespace": self.apps_ns},
        })
        return ft

    def run(self, feature: str, fn) -> bool:
        ft = self.tracker(feature)
        oc = dig(ft, "status", "conditions")
        try:
            fn(ft)
        except Waiting as w:
            self.results[feature] = ("wait", str(w))
            self.mgr.set_status(R.FEATURETRACKER, ft, {"phase": "Progressing",
                                                       "conditions": progressing_conds(oc, str(w))})
            return False
        except FeatureError as e:
            self.results[feature] = ("error", e)
            self.mgr.set_status(R.FEATURETRACKER, ft, {"phase": "Error",
                                                       "conditions": complete_conds(oc, False, e.reason, e.message)})
            return False
        self.results[feature] = ("ok", None)
        self.mgr.set_status(R.FEATURETRACKER, ft, {"phase": "Ready",
                                                   "conditions": complete_conds(oc, True, "FeatureCreated",
                                                                                "Applied feature [" + feature + "] successfully")})
        return True

    def first_error(self) -> Optional[FeatureError]:
        for st, val in self.results.values():
            if st == "error":
                return val
        return None

    def waiting(self) -> list:
        return [f"{k}: {v[1]}" for k, v in self.results.items() if v[0] == "wait"]


def ft_meta(name, ns, ft, labels=None, annotations=None) -> dict:
    md = {"name": name, "ownerReferences": [owner_ref(ft)]}
    if ns:
        md["namespace"] = ns
    if labels:
        md["labels"] = dict(labels)
    if annotations:
        md["annotations"] = annotations
    return md


def missing_operator(pkg: str) -> FeatureError:
    return FeatureError("MissingOperator",
                        f"failed to find the pre-requisite operator subscription \"{pkg}\", please ensure operator is "
                        f"installed. missing operator \"{pkg}\"")


# -- startup: default-dsci ----------------------------------------------------------------------
class RhodsStartupController(Controller):
    """The RHOAI operator creates `default-dsci` when it starts, unless a DSCI already exists."""
    name = "rhods-startup"
    primary = R.CSV
    seen: set = set()

    def reconcile(self, ns, name):
        if not name.startswith(PKG + ".v"):
            return None
        csv = self.mgr.get(R.CSV, name, ns)
        if csv is None or "olm.copiedFrom" in (csv["metadata"].get("labels") or {}) or dig(csv, "status", "phase") != "Succeeded":
            return None
        if not operator_up(self.mgr, PKG) or csv["metadata"]["uid"] in self.seen:
            return None
        inf = self.mgr.informer(R.DSCI)
        if not inf.served:
            return 1.0
        dep = self.mgr.get(R.DEPLOYMENT, "rhods-operator", ns) or {}
        env = {e.get("name"): e.get("value") for c in dig(dep, "spec", "template", "spec", "containers", default=[])
               for e in c.get("env") or []}
        if str(env.get("DISABLE_DSC_CONFIG", "false")).lower() != "false":
            self.seen.add(csv["metadata"]["uid"])
            return None
        if not inf.items():
            try:
                self.mgr.create_if_missing(R.DSCI, {"metadata": {"name": "default-dsci"}, "spec": default_dsci_spec()})
                log.info("created default-dsci")
            except ApiError as e:
                log.warning("default-dsci: %s", e)
                return 2.0
        self.seen.add(csv["metadata"]["uid"])
        return None


# -- DSCInitialization ------------------------------------------------------------------------
class DSCIController(Controller):
    name = "dsci"
    primary = R.DSCI
    triggers = (R.SMCP, R.SUBSCRIPTION, R.CSV)

    def reconcile(self, ns, name):
        dsci = self.mgr.get(R.DSCI, name)
        if dsci is None or dsci["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, PKG):
            return None
        spec = dsci.get("spec") or {}
        old = dsci.get("status") or {}
        oc = old.get("conditions")
        apps_ns = spec.get("applicationsNamespace") or DEFAULT_APPS_NS
        self.mgr.ensure_namespace(apps_ns, {"opendatahub.io/generated-namespace": "true"})
        mon = spec.get("monitoring") or {}
        if mon.get("managementState") == "Managed":
            self.mgr.ensure_namespace(mon.get("namespace") or "redhat-ods-monitoring",
                                      {"opendatahub.io/generated-namespace": "true"})
        sm = spec.get("serviceMesh") or {}
        state = sm.get("managementState") or "Removed"
        cp_name = dig(sm, "controlPlane", "name", default="data-science-smcp")
        cp_ns = dig(sm, "controlPlane", "namespace", default="istio-system")
        auth_ns = dig(sm, "auth", "namespace") or f"{apps_ns}-auth-provider"
        audiences = dig(sm, "auth", "audiences") or ["https://kubernetes.default.svc"]
        fs = FeatureSet(self, dsci, apps_ns, "DSCI")
        caps = []
        if state == "Managed":
            def control_plane(ft):
                if not subscription_exists(self.mgr, "servicemeshoperator"):
                    raise missing_operator("servicemeshoperator")
                crd = self.mgr.get(R.CRD, "servicemeshcontrolplanes.maistra.io")
                if not crd or not any(c.get("type") == "Established" and c.get("status") == "True"
                                      for c in dig(crd, "status", "conditions", default=[])):
                    raise FeatureError("MissingOperator", "failed to find the pre-requisite Service Mesh Control Plane "
                                       "CRD, please ensure Service Mesh Operator is installed. CRD "
                                       "\"servicemeshcontrolplanes.maistra.io\" not found")
                if not self.kube.get(R.SERVICE, "istio-operator-service", "openshift-operators"):
                    raise Waiting("waiting for service openshift-operators/istio-operator-service")
                self.mgr.ensure_namespace(cp_ns)
                try:
                    self.mgr.create_if_missing(R.SMCP, {
                        "metadata": ft_meta(cp_name, cp_ns, ft, {"app.kubernetes.io/part-of": "opendatahub"}),
                        "spec": self._smcp_spec(),
                    })
                except ApiError as e:
                    raise FeatureError("CapabilityFailed", f"failed to create ServiceMeshControlPlane "
                                       f"{cp_ns}/{cp_name}: {e.message}")
                smcp = self.mgr.get(R.SMCP, cp_name, cp_ns)
                if not smcp or not smcp_ready(smcp):
                    raise Waiting(f"waiting for ServiceMeshControlPlane {cp_ns}/{cp_name} to be ready")
                ok, bad = namespace_pods_ready(self.mgr, cp_ns)
                if not ok:
                    raise Waiting(f"waiting for pods in {cp_ns} to be ready: {', '.join(bad)}")

            cp_ok = fs.run("mesh-control-plane-creation", control_plane)
            if dig(sm, "controlPlane", "metricsCollection") == "Istio" and cp_ok:
                fs.run("mesh-metrics-collection", lambda ft: None)

            def shared_cm(ft):
                self.mgr.apply(R.CONFIGMAP, {"metadata": ft_meta("service-mesh-refs", apps_ns, ft),
                                             "data": {"CONTROL_PLANE_NAME": cp_name, "MESH_NAMESPACE": cp_ns}}, MANAGER)
                self.mgr.apply(R.CONFIGMAP, {"metadata": ft_meta("auth-refs", apps_ns, ft), "data": {
                    "AUTH_AUDIENCE": ",".join(audiences), "AUTH_PROVIDER": "authorino", "AUTH_NAMESPACE": auth_ns,
                    "AUTHORINO_LABEL": "security.opendatahub.io/authorization-group=default"}}, MANAGER)

            if cp_ok:
                fs.run("mesh-shared-configmap", shared_cm)
            authz_ok = None
            if subscription_exists(self.mgr, "authorino-operator"):
                def external_authz(ft):
                    smcp = self.mgr.get(R.SMCP, cp_name, cp_ns)
                    if not smcp or not smcp_ready(smcp):
                        raise Waiting("waiting for the control plane")
                    crd = self.mgr.get(R.CRD, "authorinos.operator.authorino.kuadrant.io")
                    if not crd:
                        raise Waiting("waiting for the Authorino CRD")
                    self.mgr.ensure_namespace(auth_ns, {"opendatahub.io/generated-namespace": "true"})
                    self.mgr.create_if_missing(R.SMM, {
                        "metadata": ft_meta("default", auth_ns, ft),
                        "spec": {"controlPlaneRef": {"name": cp_name, "namespace": cp_ns}}})
                    self.mgr.create_if_missing(R.AUTHORINO, {
                        "metadata": ft_meta("authorino", auth_ns, ft),
                        "spec": {"authConfigLabelSelectors": "security.opendatahub.io/authorization-group=default",
                                 "clusterWide": True, "listener": {"tls": {"enabled": False}},
                                 "oidcServer": {"tls": {"enabled": False}}}})
                    provider = {"name": f"{apps_ns}-auth-provider", "envoyExtAuthzGrpc": {
                        "service": f"authorino-authorino-authorization.{auth_ns}.svc.cluster.local", "port": 50051}}
                    eps = list(dig(smcp, "spec", "techPreview", "meshConfig", "extensionProviders", default=[]) or [])
                    if not any(e.get("name") == provider["name"] for e in eps):
                        eps.append(provider)
                        self.mgr.patch(R.SMCP, cp_name, {"spec": {"techPreview": {"meshConfig": {
                            "extensionProviders": eps}}}}, cp_ns)
                    ok, bad = namespace_pods_ready(self.mgr, cp_ns)
                    if not ok:
                        raise Waiting(f"waiting for pods in {cp_ns} to be ready: {', '.join(bad)}")

                def proxy_injection(ft):
                    dep = self.mgr.get(R.DEPLOYMENT, "authorino", auth_ns)
                    if not dep:
                        raise Waiting("waiting for deployment authorino")
                    ok, bad = namespace_pods_ready(self.mgr, auth_ns)
                    if not ok and dig(dep, "spec", "template", "metadata", "annotations", "sidecar.istio.io/inject") != "true":
                        raise Waiting(f"waiting for pods in {auth_ns} to be ready: {', '.join(bad)}")
                    if dig(dep, "spec", "template", "metadata", "annotations", "sidecar.istio.io/inject") != "true":
                        self.mgr.patch(R.DEPLOYMENT, "authorino", {"spec": {"template": {"metadata": {"annotations": {
                            "sidecar.istio.io/inject": "true"}}}}}, auth_ns)

                authz_ok = cp_ok and fs.run("mesh-control-plane-external-authz", external_authz)
                if authz_ok:
                    authz_ok = fs.run("enable-proxy-injection-in-authorino-deployment", proxy_injection)
            err = fs.first_error()
            if err is not None:
                caps.append(cond(oc, "CapabilityServiceMesh", "False", err.reason if err.reason == "MissingOperator"
                                 else "CapabilityFailed", err.message))
            elif cp_ok:
                caps.append(cond(oc, "CapabilityServiceMesh", "True", "Configured", "Service Mesh configured"))
            if authz_ok is None:
                caps.append(cond(oc, "CapabilityServiceMeshAuthorization", "False", "MissingOperator",
                                 "Authorino operator is not installed on the cluster, skipping authorization capability"))
            elif authz_ok:
                caps.append(cond(oc, "CapabilityServiceMeshAuthorization", "True", "Configured",
                                 "Service Mesh Authorization configured"))
        elif state == "Removed":
            caps.append(cond(oc, "CapabilityServiceMesh", "False", "Removed", "Service Mesh is Removed"))
            caps.append(cond(oc, "CapabilityServiceMeshAuthorization", "False", "Removed", "Service Mesh is Removed"))

        err = fs.first_error()
        waiting = fs.waiting()
        release = {"name": RELEASE_NAME, "version": operator_version(self.mgr, PKG)}
        if err is not None:
            status = {"phase": "Error", "errorMessage": err.message,
                      "conditions": complete_conds(oc, False, err.reason if err.reason != "MissingOperator"
                                                   else "CapabilityFailed", err.message) + caps}
        elif waiting:
            status = {"phase": "Progressing", "conditions": progressing_conds(oc, "; ".join(waiting)) + caps}
        else:
            status = {"phase": "Ready",
                      "conditions": complete_conds(oc, True, "ReconcileCompleted", "Reconcile completed successfully") + caps}
        status["release"] = release
        self.mgr.set_status(R.DSCI, dsci, status)
        self.mgr.enqueue_kind(R.DSC)
        return 2.0 if (waiting or err) else None

    @staticmethod
    def _smcp_spec() -> dict:
        return {
            "tracing": {"type": "None"},
            "addons": {"grafana": {"enabled": False}, "kiali": {"name": "kiali", "enabled": False},
                       "prometheus": {"enabled": False}, "jaeger": {"name": "jaeger"}},
            "security": {"dataPlane": {"mtls": True}, "identity": {"type": "ThirdParty"}},
            "techPreview": {"meshConfig": {"defaultConfig": {"terminationDrainDuration": "35s"}}},
            "gateways": {"openshiftRoute": {"enabled": False},
                         "ingress": {"service": {"metadata": {"labels": {"knative": "ingressgateway"}}}}},
            "proxy": {"networking": {"trafficControl": {"inbound": {"excludedPorts": [8444, 8022]}}}},
        }


# -- DataScienceCluster -----------------------------------------------------------------------
KSERVE_DEPLOYMENTS = [
    ("kserve-controller-manager", 1,
     {"control-plane": "kserve-controller-manager", "controller-tools.k8s.io": "1.0",
      "app.kubernetes.io/name": "kserve-controller-manager"}, [("metrics", 8080), ("webhook-server", 9443)]),
    ("odh-model-controller", 3, {"app": "odh-model-controller", "control-plane": "odh-model-controller"},
     [("metrics", 8080), ("webhook", 9443)]),
]
KSERVE_LABELS = {"app.opendatahub.io/kserve": "true", "app.kubernetes.io/part-of": "kserve",
                 "platform.opendatahub.io/part-of": "kserve"}
MR_LABELS = {"app.opendatahub.io/model-registry-operator": "true", "platform.opendatahub.io/part-of": "modelregistry",
             "component.opendatahub.io/name": "model-registry-operator", "opendatahub.io/component": "true",
             "control-plane": "model-registry-operator"}


def operator_condition_exists(mgr, prefix: str) -> bool:
    return any(o["metadata"]["name"].startswith(prefix) for o in mgr.informer(R.OPERATORCONDITION).items())


class DSCController(Controller):
    name = "dsc"
    primary = R.DSC
    triggers = (R.DSCI, R.KNATIVESERVING)

    def reconcile(self, ns, name):
        dsc = self.mgr.get(R.DSC, name)
        if dsc is None or dsc["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, PKG):
            return None
        old = dsc.get("status") or {}
        oc = old.get("conditions")
        release = {"name": RELEASE_NAME, "version": operator_version(self.mgr, PKG)}
        dsci = the_dsci(self.mgr)
        if dsci is None:
            msg = "failed to get a valid DSCInitialization instance, please create a DSCI instance"
            self.mgr.set_status(R.DSC, dsc, {"phase": "Error", "errorMessage": msg, "release": release,
                                             "conditions": complete_conds(oc, False, "ReconcileFailed", msg)})
            return 3.0
        apps_ns = dig(dsci, "spec", "applicationsNamespace") or DEFAULT_APPS_NS
        comps = dig(dsc, "spec", "components", default={}) or {}
        comp_conds, comp_status, installed, not_ready = [], {}, {}, []
        requeue = False

        ks = comps.get("kserve") or {}
        c, st, rq = self._kserve(dsc, dsci, apps_ns, ks, oc)
        comp_conds.append(c)
        comp_status["kserve"] = st
        installed["kserve"] = ks.get("managementState") == "Managed"
        requeue |= rq
        if ks.get("managementState") == "Managed" and c["status"] != "True":
            not_ready.append("kserve")

        mr = comps.get("modelregistry") or {}
        c, st, rq = self._modelregistry(dsc, dsci, apps_ns, mr, oc)
        comp_conds.append(c)
        comp_status["modelregistry"] = st
        installed["modelregistry"] = mr.get("managementState") == "Managed"
        requeue |= rq
        if mr.get("managementState") == "Managed" and c["status"] != "True":
            not_ready.append("modelregistry")

        requeue |= self._dashboard(dsc, apps_ns, comps.get("dashboard") or {})
        if release["version"].startswith("2.16."):
            return self._legacy_status(dsc, oc, release, installed, comp_status, comp_conds, not_ready, requeue)
        if not_ready:
            ready = cond(oc, "Ready", "False", "NotReady", "Some components are not ready: " + ",".join(not_ready))
            phase = "Not Ready"
        else:
            ready = cond(oc, "Ready", "True", "Ready", "Ready")
            phase = "Ready"
        serving_cond = self._serving_condition(oc, ks)
        status = {"phase": phase, "release": release, "installedComponents": installed, "components": comp_status,
                  "conditions": complete_conds(oc, True, "ReconcileCompleted", "Reconcile completed successfully")
                  + [ready] + comp_conds + ([serving_cond] if serving_cond else [])}
        self.mgr.set_status(R.DSC, dsc, status)
        return 2.0 if (requeue or not_ready) else None

    def _legacy_status(self, dsc, oc, release, installed, comp_status, comp_conds, not_ready, requeue):
        """RHOAI 2.16: `<component>Ready` conditions, ReconcileCompleted/ReconcileFailed, and a phase that
        stays Ready even when a component failed."""
        names = {"KserveReady": "kserveReady", "ModelRegistryReady": "model-registry-operatorReady"}
        legacy_msg = {
            "ServiceMeshOperatorNotInstalled": "operator servicemeshoperator not found. Please install the operator "
                                               "before enabling kserve component",
            "ServerlessOperatorNotInstalled": "operator serverless-operator not found. Please install the operator "
                                              "before enabling kserve component",
        }
        conds = []
        for c in comp_conds:
            if c.get("reason") == "Removed":
                continue
            t = names[c["type"]]
            if c["status"] == "True":
                conds.append(cond(oc, t, "True", "ReconcileCompleted", "Component reconciled successfully"))
            elif c.get("reason") in ("DeploymentsNotReady", "Progressing"):
                conds.append(cond(oc, t, "Unknown", "ReconcileInit", "Component is being reconciled"))
            else:
                msg = legacy_msg.get(c.get("reason"), c.get("message", ""))
                conds.append(cond(oc, t, "False", "ReconcileFailed", f"Component reconciliation failed: {msg}"))
        failed = [c for c in conds if c["status"] == "False"]
        if failed:
            base = complete_conds(oc, True, "ReconcileCompletedWithComponentErrors",
                                  "DataScienceCluster resource reconciled with component errors")
        else:
            base = complete_conds(oc, True, "ReconcileCompleted", "DataScienceCluster resource reconciled successfully")
        legacy_installed = {"kserve": installed.get("kserve", False),
                            "model-registry-operator": installed.get("modelregistry", False)}
        status = {"phase": "Ready", "release": release, "installedComponents": legacy_installed,
                  "components": {"modelregistry": {"registriesNamespace":
                                                   comp_status["modelregistry"]["registriesNamespace"]}},
                  "conditions": base + conds}
        self.mgr.set_status(R.DSC, dsc, status)
        return 2.0 if (requeue or not_ready) else None

    # kserve ---------------------------------------------------------------------------------
    def _kserve(self, dsc, dsci, apps_ns, ks, oc):
        state = ks.get("managementState") or "Removed"
        serving = ks.get("serving") or {}
        sstate = serving.get("managementState") or "Managed"
        # An empty mode is Serverless with serving Managed/Unmanaged and RawDeployment with serving Removed.
        mode = ks.get("defaultDeploymentMode") or ("RawDeployment" if sstate == "Removed" else "Serverless")
        st = {"managementState": state}
        if state != "Managed":
            for dname, *_ in KSERVE_DEPLOYMENTS:
                cur = self.mgr.get(R.DEPLOYMENT, dname, apps_ns)
                if cur is not None:
                    self.mgr.delete(R.DEPLOYMENT, dname, apps_ns)
            return cond(oc, "KserveReady", "False", "Removed", "Component ManagementState is set to Removed"), st, False
        st.update({"defaultDeploymentMode": mode, "serverlessMode": sstate})
        if sstate == "Removed" and mode == "Serverless":
            return cond(oc, "KserveReady", "False", "Error",
                        "setting defaultdeploymentmode Serverless is incompatible with setting serving managementState "
                        "Removed"), st, True
        if sstate == "Managed":
            if dig(dsci, "spec", "serviceMesh", "managementState") != "Managed":
                return cond(oc, "KserveReady", "False", "ServiceMeshNotConfigured",
                            "ServiceMesh needs to be set to 'Managed' in DSCI CR"), st, True
            if not operator_condition_exists(self.mgr, "servicemeshoperator"):
                return cond(oc, "KserveReady", "False", "ServiceMeshOperatorNotInstalled",
                            "ServiceMesh operator must be installed for this component's configuration"), st, True
            if not operator_condition_exists(self.mgr, "serverless-operator"):
                return cond(oc, "KserveReady", "False", "ServerlessOperatorNotInstalled",
                            "Serverless operator must be installed for this component's configuration"), st, True
        apply_crds(self.mgr, "component-kserve", MANAGER)
        for dname, replicas, labels, ports in KSERVE_DEPLOYMENTS:
            pl = dict(labels, **KSERVE_LABELS)
            dep = deployment(self.mgr, dname, apps_ns, pl,
                             [container("manager", f"registry.redhat.io/rhoai/odh-{dname}-rhel8:v2.19", ports)],
                             replicas=replicas, owner=dsc)
            self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        domain = ingress_domain(self.mgr)
        cp_ns = dig(dsci, "spec", "serviceMesh", "controlPlane", "namespace", default="istio-system")
        cp_name = dig(dsci, "spec", "serviceMesh", "controlPlane", "name", default="data-science-smcp")
        import json as _json

        self.mgr.apply(R.CONFIGMAP, {"metadata": meta("inferenceservice-config", apps_ns,
                                                      {"app.opendatahub.io/kserve": "true"}, owner=dsc),
                                     "data": {
            "deploy": _json.dumps({"defaultDeploymentMode": mode}),
            "ingress": _json.dumps({
                "ingressGateway": "knative-serving/knative-ingress-gateway",
                "knativeLocalGatewayService": f"knative-local-gateway.{cp_ns}.svc.cluster.local",
                "ingressService": f"istio-ingressgateway.{cp_ns}.svc.cluster.local",
                "localGateway": f"{cp_ns}/kserve-local-gateway",
                "localGatewayService": f"kserve-local-gateway.{cp_ns}.svc.cluster.local",
                "ingressDomain": domain, "ingressClassName": "istio",
                "domainTemplate": "{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}", "urlScheme": "https",
                "disableIstioVirtualHost": False,
                "disableIngressCreation": True}),
            "storageInitializer": _json.dumps({"enableModelcar": True, "enableDirectPvcVolumeMount": True}),
            **self._raw_service_config(ks, mode),
        }}, MANAGER)
        fs = FeatureSet(self, dsc, apps_ns, "Component")
        if sstate == "Managed":
            self._serving_features(fs, dsc, dsci, ks, serving, cp_ns, cp_name, domain, apps_ns)
        err = fs.first_error()
        deps = self.mgr.informer(R.DEPLOYMENT).items(namespace=apps_ns, selector={"platform.opendatahub.io/part-of": "kserve"})
        n_ready = sum(1 for d in deps if deployment_ready(d))
        if err is not None:
            return cond(oc, "KserveReady", "False", "Error", err.message), st, True
        if fs.waiting():
            return cond(oc, "KserveReady", "False", "Progressing",
                        "; ".join(fs.waiting())), st, True
        if not deps or n_ready < len(deps):
            return cond(oc, "KserveReady", "False", "DeploymentsNotReady",
                        f"{n_ready}/{len(deps)} deployments ready"), st, True
        return cond(oc, "KserveReady", "True", "Ready", f"{n_ready}/{len(deps)} deployments ready"), st, False

    def _raw_service_config(self, ks, mode) -> dict:
        """RHOAI 2.19+ writes kserve.rawDeploymentServiceConfig (Headless default) into the `service` key."""
        import json as _json

        version = operator_version(self.mgr, PKG) or ""
        if mode != "RawDeployment" or version.startswith(("2.16.", "2.17.", "2.18.")):
            return {}
        headless = (ks.get("rawDeploymentServiceConfig") or "Headless") == "Headless"
        return {"service": _json.dumps({"serviceClusterIPNone": headless})}

    @staticmethod
    def _serving_condition(oc, ks) -> Optional[dict]:
        """With serving not Managed the operator skips the mesh/Serverless preconditions and says so
        (ServingAvailable False, severity Info; on the Kserve component CR in RHOAI, on the DSC here)."""
        if (ks.get("managementState") or "Removed") != "Managed":
            return None
        sstate = (ks.get("serving") or {}).get("managementState") or "Managed"
        if sstate == "Managed":
            return None
        return cond(oc, "ServingAvailable", "False", sstate,
                    f"Serving management state is set to {sstate}: Serverless (Knative Serving and Service Mesh) "
                    "is not installed by the operator", severity="Info")

    def _serving_features(self, fs, dsc, dsci, ks, serving, cp_ns, cp_name, domain, apps_ns):
        ks_name = serving.get("name") or "knative-serving"
        gw_domain = dig(serving, "ingressGateway", "domain") or f"*.{domain}"
        cert_type = dig(serving, "ingressGateway", "certificate", "type") or "OpenshiftDefaultIngress"
        secret_name = dig(serving, "ingressGateway", "certificate", "secretName") or "knative-serving-cert"

        def deployment_feature(ft):
            if not subscription_exists(self.mgr, "serverless-operator"):
                raise missing_operator("serverless-operator")
            all_ks = self.mgr.informer(R.KNATIVESERVING).items()
            foreign = [k for k in all_ks
                       if not any(r.get("kind") == "FeatureTracker" for r in k["metadata"].get("ownerReferences") or [])]
            if len(all_ks) > 1:
                raise FeatureError("PreConditions", "failed to find the pre-requisite KNative Serving Operator "
                                   "subscription: multiple KNativeServing resources found, which is an unsupported state")
            if foreign:
                raise FeatureError("PreConditions", "existing KNativeServing resource was found; integrating to an "
                                   "existing installation is not supported")
            smcp = self.mgr.get(R.SMCP, cp_name, cp_ns)
            if not smcp or not smcp_ready(smcp):
                raise Waiting(f"waiting for ServiceMeshControlPlane {cp_ns}/{cp_name} to be ready")
            self.mgr.ensure_namespace("knative-serving")
            self.mgr.create_if_missing(R.SMM, {"metadata": ft_meta("default", "knative-serving", ft),
                                               "spec": {"controlPlaneRef": {"name": cp_name, "namespace": cp_ns}}})
            self.mgr.create_if_missing(R.KNATIVESERVING, {
                "metadata": dict(ft_meta(ks_name, "knative-serving", ft),
                                 annotations={"serverless.openshift.io/default-enable-http2": "true"}),
                "spec": {
                    "workloads": [
                        {"name": "net-istio-controller", "env": [{"container": "controller", "envVars": [
                            {"name": "ENABLE_SECRET_INFORMER_FILTERING_BY_CERT_UID", "value": "true"}]}]},
                        {"name": "activator", "annotations": {"sidecar.istio.io/inject": "true",
                                                              "sidecar.istio.io/rewriteAppHTTPProbers": "true"}},
                        {"name": "autoscaler", "annotations": {"sidecar.istio.io/inject": "true",
                                                               "sidecar.istio.io/rewriteAppHTTPProbers": "true"}},
                    ],
                    "ingress": {"istio": {"enabled": True}},
                    "config": {
                        "features": {k: "enabled" for k in (
                            "kubernetes.podspec-affinity", "kubernetes.podspec-nodeselector",
                            "kubernetes.podspec-tolerations", "kubernetes.podspec-persistent-volume-write",
                            "kubernetes.podspec-persistent-volume-claim")},
                        "istio": {"local-gateway.knative-serving.knative-local-gateway":
                                  f"knative-local-gateway.{cp_ns}.svc.cluster.local"},
                    },
                },
            })
            ok, bad = namespace_pods_ready(self.mgr, "knative-serving")
            if not ok or not self.mgr.informer(R.POD).items(namespace="knative-serving"):
                raise Waiting("waiting for pods in knative-serving to be ready" + (f": {', '.join(bad)}" if bad else ""))

        def gateways_feature(ft):
            if not self.mgr.informer(R.KNATIVESERVING).items(namespace="knative-serving"):
                raise FeatureError("PreConditions", "no KNativeServing resource found in knative-serving")
            if cert_type == "SelfSigned":
                if self.kube.get(R.SECRET, secret_name, cp_ns) is None:
                    body = selfsigned_tls(gw_domain)
                    body["metadata"] = ft_meta(secret_name, cp_ns, ft)
                    self.kube.create(R.SECRET, body)
            elif cert_type == "OpenshiftDefaultIngress":
                if self.kube.get(R.SECRET, secret_name, cp_ns) is None:
                    src = self.kube.get(R.SECRET, "router-certs-default", "openshift-ingress")
                    body = {"type": "kubernetes.io/tls", "data": dict(src.get("data") or {})} if src \
                        else selfsigned_tls(gw_domain, "ingress-operator")
                    body["metadata"] = ft_meta(secret_name, cp_ns, ft)
                    self.kube.create(R.SECRET, body)
            elif self.kube.get(R.SECRET, secret_name, cp_ns) is None:
                raise Waiting(f"waiting for the provided certificate secret {cp_ns}/{secret_name}")
            gw_labels = {"app.opendatahub.io/kserve": "true"}
            self.mgr.create_if_missing(R.GATEWAY, {"metadata": ft_meta("knative-ingress-gateway", "knative-serving", ft, gw_labels),
                                                   "spec": {"selector": {"knative": "ingressgateway"}, "servers": [
                                                       {"hosts": [gw_domain], "port": {"name": "https", "number": 443, "protocol": "HTTPS"},
                                                        "tls": {"mode": "SIMPLE", "credentialName": secret_name}}]}})
            self.mgr.create_if_missing(R.GATEWAY, {"metadata": ft_meta("knative-local-gateway", "knative-serving", ft, gw_labels),
                                                   "spec": {"selector": {"knative": "ingressgateway"}, "servers": [
                                                       {"hosts": ["*.svc.cluster.local"], "port": {"name": "https", "number": 8081, "protocol": "HTTPS"},
                                                        "tls": {"mode": "ISTIO_MUTUAL"}}]}})
            self.mgr.create_if_missing(R.GATEWAY, {"metadata": ft_meta("kserve-local-gateway", cp_ns, ft, gw_labels),
                                                   "spec": {"selector": {"knative": "ingressgateway"}, "servers": [
                                                       {"hosts": ["default.host"], "port": {"name": "https", "number": 8445, "protocol": "HTTPS"},
                                                        "tls": {"mode": "ISTIO_MUTUAL"}}]}})
            for sname, port, target in (("knative-local-gateway", 80, 8081), ("kserve-local-gateway", 443, 8445)):
                self.mgr.create_if_missing(R.SERVICE, {
                    "metadata": ft_meta(sname, cp_ns, ft, {"experimental.istio.io/disable-gateway-port-translation": "true"}),
                    "spec": {"selector": {"knative": "ingressgateway"}, "type": "ClusterIP",
                             "ports": [{"name": "https" if port == 443 else "http2", "port": port,
                                        "targetPort": target, "protocol": "TCP"}]}})

        def authz_feature(ft):
            labels = {"app.opendatahub.io/kserve": "true", "app.kubernetes.io/part-of": "kserve"}
            rules = [{"to": [{"operation": {"notPaths": ["/healthz", "/debug/pprof/", "/metrics", "/wait-for-drain"]}}]}]
            for pname, sel in (("kserve-predictor", {"component": "predictor"}),
                               ("kserve-inferencegraph", {"serving.kserve.io/kind": "InferenceGraph"})):
                self.mgr.create_if_missing(R.AUTHZ_POLICY, {
                    "metadata": ft_meta(pname, cp_ns, ft, labels),
                    "spec": {"action": "CUSTOM", "provider": {"name": f"{apps_ns}-auth-provider"},
                             "rules": rules, "selector": {"matchLabels": sel}}})
            lua = ("function envoy_on_request(request_handle)\n  local headers = request_handle:headers()\n"
                   "  if not headers then\n    return\n  end\n  local original_host = headers:get(\"k-original-host\")\n"
                   "  if original_host then\n    headers:replace('host', original_host)\n  end\nend\n")
            for fname, sel, prio in (("activator-host-header", {"component": "predictor"}, 20),
                                     ("kserve-inferencegraph-host-header", {"serving.kserve.io/kind": "InferenceGraph"}, 20),
                                     ("envoy-oauth-temp-fix-before", {"istio": "ingressgateway"}, 20),
                                     ("envoy-oauth-temp-fix-after", {"istio": "ingressgateway"}, 5)):
                self.mgr.create_if_missing(R.ENVOYFILTER, {
                    "metadata": ft_meta(fname, cp_ns, ft, labels),
                    "spec": {"priority": prio, "workloadSelector": {"labels": sel}, "configPatches": [{
                        "applyTo": "HTTP_FILTER",
                        "match": {"listener": {"filterChain": {"filter": {"name": "envoy.filters.network.http_connection_manager"}}}},
                        "patch": {"operation": "INSERT_BEFORE", "value": {"name": "envoy.filters.http.lua", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", "inlineCode": lua}}}}]}})

        if fs.run("serverless-serving-deployment", deployment_feature):
            fs.run("serverless-net-istio-secret-filtering", lambda ft: None)
            fs.run("serverless-serving-gateways", gateways_feature)
            if subscription_exists(self.mgr, "authorino-operator"):
                fs.run("kserve-external-authz", authz_feature)

    # dashboard -------------------------------------------------------------------------------
    def _dashboard(self, dsc, apps_ns, dash) -> bool:
        """Deployment and Route `rhods-dashboard`; at start the dashboard creates AcceleratorProfile
        `migrated-gpu` when a node has nvidia.com/gpu, no profile exists and ConfigMap
        `migration-gpu-status` is absent (it then writes that ConfigMap)."""
        if dash.get("managementState") != "Managed":
            if self.mgr.get(R.DEPLOYMENT, "rhods-dashboard", apps_ns) is not None:
                self.mgr.delete(R.DEPLOYMENT, "rhods-dashboard", apps_ns)
                self.mgr.delete(R.ROUTE, "rhods-dashboard", apps_ns)
            return False
        pl = {"app": "rhods-dashboard", "deployment": "rhods-dashboard", "app.opendatahub.io/dashboard": "true",
              "platform.opendatahub.io/part-of": "dashboard"}
        dep = deployment(self.mgr, "rhods-dashboard", apps_ns, pl,
                         [container("rhods-dashboard", "registry.redhat.io/rhoai/odh-dashboard-rhel8:v2.19",
                                    [("http", 8080)]),
                          container("oauth-proxy", "registry.redhat.io/openshift4/ose-oauth-proxy:v4.14",
                                    [("https", 8443)])],
                         replicas=2, owner=dsc, selector={"deployment": "rhods-dashboard"})
        self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        self.mgr.apply(R.SERVICE, {"metadata": meta("rhods-dashboard", apps_ns, pl, owner=dsc),
                                   "spec": {"selector": {"deployment": "rhods-dashboard"},
                                            "ports": [{"name": "dashboard-ui", "port": 8443, "targetPort": 8443,
                                                       "protocol": "TCP"}]}}, MANAGER)
        host = f"rhods-dashboard-{apps_ns}.{ingress_domain(self.mgr)}"
        self.mgr.apply(R.ROUTE, {"metadata": meta("rhods-dashboard", apps_ns, pl, owner=dsc),
                                 "spec": {"host": host, "to": {"kind": "Service", "name": "rhods-dashboard", "weight": 100},
                                          "port": {"targetPort": "dashboard-ui"},
                                          "tls": {"termination": "reencrypt", "insecureEdgeTerminationPolicy": "Redirect"}}},
                       MANAGER)
        route = self.mgr.get(R.ROUTE, "rhods-dashboard", apps_ns)
        if route is not None and not dig(route, "status", "ingress"):
            self.mgr.set_status(R.ROUTE, route, {"ingress": [{
                "host": host, "routerName": "default", "wildcardPolicy": "None",
                "conditions": [{"type": "Admitted", "status": "True"}]}]})
        if not deployment_ready(self.mgr.get(R.DEPLOYMENT, "rhods-dashboard", apps_ns)):
            return True
        if self.mgr.get(R.CONFIGMAP, "migration-gpu-status", apps_ns) is not None or \
                self.mgr.get(R.CRD, "acceleratorprofiles.dashboard.opendatahub.io") is None:
            return False
        gpus = any(int(dig(n, "status", "allocatable", "nvidia.com/gpu", default="0") or 0) > 0
                   for n in self.mgr.informer(R.NODE).items())
        if gpus and not self.kube.list(R.ACCELERATORPROFILE, apps_ns):
            self.kube.create(R.ACCELERATORPROFILE, {"metadata": {"name": "migrated-gpu", "namespace": apps_ns},
                                                    "spec": {"displayName": "NVIDIA GPU", "enabled": True,
                                                             "identifier": "nvidia.com/gpu",
                                                             "tolerations": [{"key": "nvidia.com/gpu",
                                                                              "operator": "Exists",
                                                                              "effect": "NoSchedule"}]}})
            log.info("dashboard created AcceleratorProfile migrated-gpu")
        self.mgr.create_if_missing(R.CONFIGMAP, {"metadata": {"name": "migration-gpu-status", "namespace": apps_ns},
                                                 "data": {"migratedCompleted": "true"}})
        return False

    # model registry ---------------------------------------------------------------------------
    def _modelregistry(self, dsc, dsci, apps_ns, mr, oc):
        state = mr.get("managementState") or "Removed"
        reg_ns = mr.get("registriesNamespace") or "rhoai-model-registries"
        st = {"managementState": state, "registriesNamespace": reg_ns}
        name = "model-registry-operator-controller-manager"
        if state != "Managed":
            if self.mgr.get(R.DEPLOYMENT, name, apps_ns) is not None:
                self.mgr.delete(R.DEPLOYMENT, name, apps_ns)
            return cond(oc, "ModelRegistryReady", "False", "Removed", "Component ManagementState is set to Removed"), st, False
        if dig(dsci, "spec", "serviceMesh", "managementState") != "Managed":
            return cond(oc, "ModelRegistryReady", "False", "ServiceMeshNotConfigured",
                        "ServiceMesh needs to be set to 'Managed' in DSCI CR, it is required by Model Registry"), st, True
        cp_ns = dig(dsci, "spec", "serviceMesh", "controlPlane", "namespace", default="istio-system")
        cp_name = dig(dsci, "spec", "serviceMesh", "controlPlane", "name", default="data-science-smcp")
        self.mgr.ensure_namespace(reg_ns)
        if self.mgr.get(R.SMM, "default", reg_ns) is None and self.mgr.informer(R.SMM).served:
            self.mgr.create_if_missing(R.SMM, {"metadata": {"name": "default", "namespace": reg_ns},
                                               "spec": {"controlPlaneRef": {"name": cp_name, "namespace": cp_ns}}})
        if self.mgr.get(R.NAMESPACE, cp_ns) is not None and self.kube.get(R.SECRET, "default-modelregistry-cert", cp_ns) is None:
            body = selfsigned_tls("*." + ingress_domain(self.mgr), "ingress-operator")
            body["metadata"] = {"name": "default-modelregistry-cert", "namespace": cp_ns}
            self.kube.create(R.SECRET, body)
        apply_crds(self.mgr, "component-modelregistry", MANAGER)
        dep = deployment(self.mgr, name, apps_ns, dict(MR_LABELS),
                         [container("manager", "registry.redhat.io/rhoai/odh-model-registry-operator-rhel8:v2.19",
                                    [("metrics", 8080)],
                                    env=[{"name": "REGISTRIES_NAMESPACE", "value": reg_ns}])],
                         owner=dsc)
        self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        if deployment_ready(self.mgr.get(R.DEPLOYMENT, name, apps_ns)):
            return cond(oc, "ModelRegistryReady", "True", "Ready", "1/1 deployments ready"), st, False
        return cond(oc, "ModelRegistryReady", "False", "DeploymentsNotReady", "0/1 deployments ready"), st, True


CONTROLLERS = [RhodsStartupController, DSCIController, DSCController, DashboardTemplatesController]
