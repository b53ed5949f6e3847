"""Simulated ModelMesh (multi-model serving, RHOAI 2.x): modelmesh-controller and the ModelMesh side
of odh-model-controller.

Facts: shared/reference/serving-api.md §3 (and §2.3 storage-config, §2.4 token objects). Written for
this project.

* DSC ``spec.components.modelmeshserving.managementState: Managed`` -> in the applications namespace
  Deployments ``modelmesh-controller`` (3 replicas, pods ``control-plane=modelmesh-controller``) and
  ``etcd`` (pods ``component=model-mesh-etcd``); the KServe CRDs (ServingRuntime, InferenceService)
  are applied as the kserve component does. Any other state removes both Deployments.
* Per project labelled ``modelmesh-enabled: "true"`` and per ServingRuntime with ``multiModel: true``
  (while modelmesh-controller is ready): Service ``modelmesh-serving`` (8033 grpc, 8008 http, 2112
  metrics; selector ``modelmesh-service=modelmesh-serving``), ServiceAccount ``modelmesh-serving-sa``,
  Deployment ``modelmesh-serving-<runtime>`` (``spec.replicas`` of the runtime; containers
  ``rest-proxy``, ``oauth-proxy`` (when the runtime is annotated ``enable-auth: "true"``), the
  runtime's containers, ``<server type>-adapter``, ``mm``) owned by the runtime. Testbed faults apply
  to that Deployment name (``modelmesh-serving-<runtime>.fail: CrashLoopBackOff``).
* ``storage-config`` Secret per such project from the Secrets labelled ``opendatahub.io/managed=true``
  and ``opendatahub.io/dashboard=true`` (one JSON key per Secret); deleted when none remain.
* InferenceServices annotated ``serving.kserve.io/deploymentMode: ModelMesh``: status from the pods of
  their runtime's Deployment (Loaded once one pod is Ready; FailedToLoad naming pod, container and
  reason when a container crashes or cannot pull); ``status.url`` ``grpc://modelmesh-serving.<ns>:8033``;
  Route ``<isvc>`` (label ``inferenceservice-name``) to Service ``modelmesh-serving`` with
  ``path: /v2/models/<isvc>``, port 8008 ``edge`` (8443 ``reencrypt`` with ``enable-auth``) while the
  runtime is annotated ``enable-route: "true"``; host ``<isvc>-<ns>.<ingress domain>``.
  The KServe controller of :mod:`testbed.sim.kserve` leaves these InferenceServices alone (as the
  real one does): see ``_leave_modelmesh_to_modelmesh`` below.

The HTTPS ingress (:mod:`testbed.sim.ingress`) routes the Route's host to the model-server
simulator and, for a runtime with ``enable-auth``, checks the bearer token the way the runtime's
oauth-proxy does (:func:`oauth_sar`).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from typing import Optional

from . import kserve
from . import resources as R
from .rhoai import ingress_domain
from .runtime import Controller
from .serverless import apply_crds
from .util import cond, container, deployment, deployment_ready, dig, meta, pod_ready, service

log = logging.getLogger("sim.modelmesh")

MANAGER = "modelmesh-controller"
OMC = "odh-model-controller"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
MODELMESH = "ModelMesh"
SERVICE_NAME = "modelmesh-serving"
SERVICE_ACCOUNT = "modelmesh-serving-sa"
NS_LABEL = "modelmesh-enabled"
ROUTE_ANNOTATION = "enable-route"
AUTH_ANNOTATION = "enable-auth"
STORAGE_CONFIG = "storage-config"
POD_LABEL = {"modelmesh-service": SERVICE_NAME}
CONTROLLER_DEPLOYMENTS = (
    ("modelmesh-controller", 3, {"control-plane": "modelmesh-controller", "app.kubernetes.io/name": "modelmesh-controller"},
     [("metrics", 8080)]),
    ("etcd", 1, {"component": "model-mesh-etcd", "app.kubernetes.io/name": "model-mesh-etcd"}, [("etcd", 2379)]),
)
PLATFORM_LABELS = {"app.opendatahub.io/modelmeshserving": "true", "platform.opendatahub.io/part-of": "modelmeshserving"}
FAILURES = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "RunContainerError")


def is_modelmesh(isvc: Optional[dict]) -> bool:
    return ((dig(isvc, "metadata", "annotations") or {}).get(MODE_ANNOTATION) == MODELMESH) if isvc else False


def _true(obj: Optional[dict], key: str) -> bool:
    return str((dig(obj, "metadata", "annotations") or {}).get(key, "")).lower() == "true"


def _project(mgr, ns: str) -> bool:
    nsobj = mgr.get(R.NAMESPACE, ns)
    return str((dig(nsobj, "metadata", "labels") or {}).get(NS_LABEL, "")).lower() == "true"


def _apps_ns(mgr) -> str:
    return kserve.apps_ns(mgr)


def controller_ready(mgr) -> bool:
    return deployment_ready(mgr.get(R.DEPLOYMENT, "modelmesh-controller", _apps_ns(mgr)))


def runtime_deployment(sr_name: str) -> str:
    return f"{SERVICE_NAME}-{sr_name}"


def oauth_sar(isvc: dict) -> dict:
    """The SubjectAccessReview resource attributes the runtime's oauth-proxy checks (``get`` on the
    project's Services: what ClusterRole ``view`` grants the token's service account)."""
    return {"verb": "get", "group": "", "resource": "services", "namespace": isvc["metadata"]["namespace"]}


def auth_required(mgr, isvc: dict) -> bool:
    """A ModelMesh model behind a runtime annotated ``enable-auth: "true"``."""
    if not is_modelmesh(isvc):
        return False
    sr, _ = kserve.resolve_runtime(mgr, isvc)
    return _true(sr, AUTH_ANNOTATION)


# -- the KServe controller leaves ModelMesh InferenceServices alone ----------------------------
def _leave_modelmesh_to_modelmesh(reconcile):
    """The real KServe controller skips InferenceServices in ModelMesh mode (modelmesh-controller
    reconciles them). The simulated one in kserve.py does not know the mode; this wrapper, installed
    when this module is imported, gives it that behaviour without editing it."""
    if getattr(reconcile, "_skips_modelmesh", False):
        return reconcile

    @functools.wraps(reconcile)
    def wrapper(self, ns, name):
        if is_modelmesh(self.mgr.get(R.ISVC, name, ns)):
            return None
        return reconcile(self, ns, name)

    wrapper._skips_modelmesh = True
    return wrapper


kserve.ISVCController.reconcile = _leave_modelmesh_to_modelmesh(kserve.ISVCController.reconcile)


# -- DSC component -----------------------------------------------------------------------------
class ModelMeshComponentController(Controller):
    """modelmesh-controller and etcd while DSC modelmeshserving is Managed."""
    name = "modelmesh-component"
    primary = R.DSC

    def reconcile(self, ns, name):
        dsc = self.mgr.get(R.DSC, name)
        if dsc is None or dsc["metadata"].get("deletionTimestamp"):
            return None
        apps_ns = _apps_ns(self.mgr)
        state = dig(dsc, "spec", "components", "modelmeshserving", "managementState") or "Removed"
        if state != "Managed":
            for dname, *_ in CONTROLLER_DEPLOYMENTS:
                if self.mgr.get(R.DEPLOYMENT, dname, apps_ns) is not None:
                    self.mgr.delete(R.DEPLOYMENT, dname, apps_ns)
            return None
        if self.mgr.get(R.NAMESPACE, apps_ns) is None:
            return 3.0
        apply_crds(self.mgr, "component-kserve", MANAGER)
        for dname, replicas, labels, ports in CONTROLLER_DEPLOYMENTS:
            pod_labels = dict(labels, **PLATFORM_LABELS)
            dep = deployment(self.mgr, dname, apps_ns, pod_labels,
                             [container("manager", f"registry.redhat.io/rhoai/odh-{dname}-rhel8:v2.19", ports)],
                             replicas=replicas, owner=dsc)
            self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        return None if controller_ready(self.mgr) else 3.0


# -- per runtime -------------------------------------------------------------------------------
class ModelMeshRuntimeController(Controller):
    """Deployment modelmesh-serving-<runtime>, Service modelmesh-serving, storage-config."""
    name = "modelmesh-runtime"
    primary = R.SERVINGRUNTIME
    owns = (R.DEPLOYMENT,)

    def reconcile(self, ns, name):
        sr = self.mgr.get(R.SERVINGRUNTIME, name, ns)
        if sr is None or sr["metadata"].get("deletionTimestamp") or not dig(sr, "spec", "multiModel"):
            return None
        if not _project(self.mgr, ns) or not controller_ready(self.mgr):
            return 5.0
        self.mgr.apply(R.SERVICE, service(SERVICE_NAME, ns, POD_LABEL,
                                          [("grpc", 8033), ("http", 8008), ("prometheus", 2112)],
                                          labels={"modelmesh-service": SERVICE_NAME,
                                                  "app.kubernetes.io/managed-by": MANAGER}), MANAGER)
        self.mgr.apply(R.SERVICEACCOUNT, {"metadata": meta(SERVICE_ACCOUNT, ns, {
            "app.kubernetes.io/managed-by": OMC})}, OMC)
        self._storage_config(ns)
        dname = runtime_deployment(name)
        pod_labels = dict(POD_LABEL, name=dname, **{"app.kubernetes.io/instance": "modelmesh-controller",
                                                     "app.kubernetes.io/managed-by": "modelmesh-controller",
                                                     "modelmesh-runtime": name})
        server_type = dig(sr, "spec", "builtInAdapter", "serverType") or "custom"
        containers = [container("rest-proxy", "quay.io/opendatahub/rest-proxy:v0.12", [("http", 8008)])]
        if _true(sr, AUTH_ANNOTATION):
            containers.append(container("oauth-proxy", "registry.redhat.io/openshift4/ose-oauth-proxy:v4.14",
                                        [("https", 8443)]))
        for c in dig(sr, "spec", "containers", default=[]) or []:
            c = json.loads(json.dumps(c))
            c.setdefault("image", "registry.example.com/model-server:latest")
            containers.append(c)
        containers.append(container(f"{server_type}-adapter", "quay.io/opendatahub/modelmesh-runtime-adapter:v0.12"))
        containers.append(container("mm", "quay.io/opendatahub/modelmesh:v0.12", [("grpc", 8033), ("prometheus", 2112)]))
        replicas = dig(sr, "spec", "replicas")
        extra = {}
        for key in ("tolerations", "nodeSelector", "affinity", "volumes"):
            if dig(sr, "spec", key):
                extra[key] = dig(sr, "spec", key)
        dep = deployment(self.mgr, dname, ns, pod_labels, containers, replicas=1 if replicas is None else int(replicas),
                         labels=dict(pod_labels), selector={"modelmesh-service": SERVICE_NAME, "name": dname},
                         owner=sr, service_account=SERVICE_ACCOUNT, **extra)
        self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
        return None

    def _storage_config(self, ns):
        secrets = self.mgr.informer(R.SECRET)
        data = {}
        for s in secrets.items(namespace=ns) if secrets.served else []:
            labels = s["metadata"].get("labels") or {}
            if labels.get("opendatahub.io/managed") != "true" or labels.get("opendatahub.io/dashboard") != "true":
                continue
            raw = s.get("data") or {}

            def val(key, raw=raw):
                v = raw.get(key)
                return base64.b64decode(v).decode() if v else ""

            entry = {"type": "s3", "access_key_id": val("AWS_ACCESS_KEY_ID"),
                     "secret_access_key": val("AWS_SECRET_ACCESS_KEY"), "endpoint_url": val("AWS_S3_ENDPOINT"),
                     "bucket": val("AWS_S3_BUCKET"), "default_bucket": val("AWS_S3_BUCKET"),
                     "region": val("AWS_DEFAULT_REGION")}
            data[s["metadata"]["name"]] = base64.b64encode(json.dumps(entry).encode()).decode()
        cur = secrets.get(STORAGE_CONFIG, ns) if secrets.served else None
        if not data:
            if cur is not None:
                self.mgr.delete(R.SECRET, STORAGE_CONFIG, ns)
            return
        if cur is None or (cur.get("data") or {}) != data:
            self.mgr.apply(R.SECRET, {"metadata": meta(STORAGE_CONFIG, ns, {
                "opendatahub.io/managed": "true", "app.kubernetes.io/managed-by": OMC}),
                "type": "Opaque", "data": data}, OMC)


# -- per model ---------------------------------------------------------------------------------
def _pod_failure(pod: dict) -> Optional[tuple]:
    for cs in (dig(pod, "status", "containerStatuses", default=[]) or []) + \
            (dig(pod, "status", "initContainerStatuses", default=[]) or []):
        w = dig(cs, "state", "waiting") or {}
        if w.get("reason") in FAILURES:
            return w["reason"], cs.get("name") or "", w.get("message") or ""
    for pc in dig(pod, "status", "conditions", default=[]) or []:
        if pc.get("type") == "PodScheduled" and pc.get("status") == "False":
            return "Unschedulable", "", pc.get("message") or ""
    return None


class ModelMeshISVCController(Controller):
    """Status of ModelMesh InferenceServices and their Route (odh-model-controller)."""
    name = "modelmesh-isvc"
    primary = R.ISVC
    triggers = (R.SERVINGRUNTIME,)

    def reconcile(self, ns, name):
        isvc = self.mgr.get(R.ISVC, name, ns)
        if isvc is None or isvc["metadata"].get("deletionTimestamp") or not is_modelmesh(isvc):
            return None
        oc = dig(isvc, "status", "conditions")
        gen = isvc["metadata"].get("generation", 1)
        base = {"observedGeneration": gen, "deploymentMode": MODELMESH}
        if not controller_ready(self.mgr):
            msg = "modelmesh-controller is not running (DataScienceCluster modelmeshserving is not Managed)"
            self._status(isvc, base, oc, False, "ControllerNotReady", msg, "Pending")
            return 5.0
        sr, err = kserve.resolve_runtime(self.mgr, isvc)
        if err is None and not dig(sr, "spec", "multiModel"):
            err = ("RuntimeNotRecognized", f"runtime {sr['metadata']['name']} is not a multi-model runtime")
        if err:
            reason, msg = err
            self._status(isvc, base, oc, False, reason, msg, "FailedToLoad", failure={"reason": reason, "message": msg})
            self._route(isvc, None)
            return 5.0
        self._route(isvc, sr)
        dname = runtime_deployment(sr["metadata"]["name"])
        pods = [p for p in self.mgr.informer(R.POD).items(namespace=ns, selector={"name": dname})
                if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in pods if pod_ready(p)]
        failed = [(p, _pod_failure(p)) for p in pods]
        failed = [(p, f) for p, f in failed if f]
        if ready and not failed:
            self._status(isvc, base, oc, True, "", "", "Loaded", copies=len(ready))
            return None
        if failed:
            pod, (reason, cname, message) = failed[0]
            msg = f"pod {pod['metadata']['name']} container {cname}: {reason} {message}".strip()
            self._status(isvc, base, oc, False, "ModelLoadFailed", msg, "FailedToLoad",
                         failure={"reason": "ModelLoadFailed", "location": pod["metadata"]["name"], "message": msg})
            return 2.0
        self._status(isvc, base, oc, False, "PredictorNotReady",
                     f"waiting for the pods of Deployment {dname}" if pods else f"no pods of Deployment {dname} yet",
                     "Loading" if pods else "Pending")
        return 2.0

    def _status(self, isvc, base, oc, ready, reason, msg, target, failure=None, copies=0):
        ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        status = dict(base)
        status["url"] = f"grpc://{SERVICE_NAME}.{ns}:8033"
        status["address"] = {"url": f"http://{SERVICE_NAME}.{ns}:8008/v2/models/{name}"}
        status["components"] = {"predictor": {"grpcUrl": f"grpc://{SERVICE_NAME}.{ns}:8033",
                                              "restUrl": f"http://{SERVICE_NAME}.{ns}:8008",
                                              "url": f"grpc://{SERVICE_NAME}.{ns}:8033"}}
        if ready:
            status["conditions"] = [cond(oc, "PredictorReady", "True"), cond(oc, "Ready", "True")]
            status["modelStatus"] = {"transitionStatus": "UpToDate",
                                     "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                                     "copies": {"failedCopies": 0, "totalCopies": copies}}
        else:
            status["conditions"] = [cond(oc, "PredictorReady", "False", reason, msg),
                                    cond(oc, "Ready", "False", reason, msg)]
            ms = {"transitionStatus": "BlockedByFailedLoad" if failure else "InProgress",
                  "states": {"activeModelState": "FailedToLoad" if failure else "", "targetModelState": target}}
            if failure:
                ms["lastFailureInfo"] = failure
            status["modelStatus"] = ms
        self.mgr.set_status(R.ISVC, isvc, status)

    def _route(self, isvc, sr):
        ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        cur = self.mgr.get(R.ROUTE, name, ns)
        if sr is None or not _true(sr, ROUTE_ANNOTATION):
            if cur is not None and (cur["metadata"].get("labels") or {}).get("inferenceservice-name") == name:
                self.mgr.delete(R.ROUTE, name, ns)
            return
        auth = _true(sr, AUTH_ANNOTATION)
        host = f"{name}-{ns}.{ingress_domain(self.mgr)}"
        tls = {"termination": "reencrypt" if auth else "edge", "insecureEdgeTerminationPolicy": "Redirect"}
        self.mgr.apply(R.ROUTE, {
            "metadata": meta(name, ns, {"inferenceservice-name": name, "app.kubernetes.io/managed-by": OMC},
                             owner=isvc),
            "spec": {"host": host, "path": f"/v2/models/{name}",
                     "to": {"kind": "Service", "name": SERVICE_NAME, "weight": 100},
                     "port": {"targetPort": "8443" if auth else "8008"}, "tls": tls, "wildcardPolicy": "None"}}, OMC)
        route = self.mgr.get(R.ROUTE, name, ns)
        if route is not None and not dig(route, "status", "ingress"):
            try:
                self.mgr.set_status(R.ROUTE, route, {"ingress": [{
                    "host": host, "routerName": "default", "wildcardPolicy": "None",
                    "routerCanonicalHostname": "router-default." + host.split(".", 1)[1],
                    "conditions": [{"type": "Admitted", "status": "True"}]}]})
            except Exception as e:  # noqa: BLE001
                log.debug("route status: %s", e)


CONTROLLERS = [ModelMeshComponentController, ModelMeshRuntimeController, ModelMeshISVCController]
