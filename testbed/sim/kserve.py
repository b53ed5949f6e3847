"""Simulated KServe controller + odh-model-controller (InferenceService)."""

from __future__ import annotations

import copy
import json
import logging
from typing import Optional

from . import resources as R
from .rhoai import DEFAULT_APPS_NS, ingress_domain, the_dsci
from .runtime import Controller
from .serverless import FAILED_WAITING_REASONS, knative_ready
from .util import MEMBER_OF, cond, container, deployment, deployment_ready, dig, meta, service

log = logging.getLogger("sim.kserve")
MANAGER = "kserve-controller"
OMC = "odh-model-controller"


def apps_ns(mgr) -> str:
    return dig(the_dsci(mgr), "spec", "applicationsNamespace") or DEFAULT_APPS_NS


def mesh_ref(mgr) -> tuple:
    d = the_dsci(mgr)
    return (dig(d, "spec", "serviceMesh", "controlPlane", "name", default="data-science-smcp"),
            dig(d, "spec", "serviceMesh", "controlPlane", "namespace", default="istio-system"))


def resolve_runtime(mgr, isvc: dict) -> tuple[Optional[dict], Optional[tuple]]:
    ns = isvc["metadata"]["namespace"]
    model = dig(isvc, "spec", "predictor", "model", default={}) or {}
    fmt = (dig(model, "modelFormat", "name") or "").lower()
    rname = model.get("runtime")
    srs = mgr.informer(R.SERVINGRUNTIME).items(namespace=ns)
    if rname:
        sr = next((s for s in srs if s["metadata"]["name"] == rname), None)
        if sr is None:
            return None, ("RuntimeNotRecognized", f"specified runtime {rname} does not exist")
        if dig(sr, "spec", "disabled"):
            return None, ("RuntimeDisabled", f"specified runtime {rname} is disabled")
        formats = [(f.get("name") or "").lower() for f in dig(sr, "spec", "supportedModelFormats", default=[]) or []]
        if fmt and fmt not in formats:
            return None, ("NoSupportingRuntime", f"specified runtime {rname} does not support specified framework/version")
        return sr, None
    for sr in srs:
        if dig(sr, "spec", "disabled"):
            continue
        for f in dig(sr, "spec", "supportedModelFormats", default=[]) or []:
            if (f.get("name") or "").lower() == fmt and f.get("autoSelect"):
                return sr, None
    return None, ("NoSupportingRuntime", f"No runtime found to support predictor with model type: {fmt}")


def _subst(v, name: str):
    if isinstance(v, str):
        return v.replace("{{.Name}}", name)
    if isinstance(v, list):
        return [_subst(x, name) for x in v]
    if isinstance(v, dict):
        return {k: _subst(x, name) for k, x in v.items()}
    return v


def predictor_pod(isvc: dict, sr: dict) -> tuple[dict, dict, dict]:
    """(pod labels, pod annotations, pod spec) of the predictor."""
    md = isvc["metadata"]
    name = md["name"]
    pred = dig(isvc, "spec", "predictor", default={}) or {}
    model = pred.get("model") or {}
    containers = _subst(copy.deepcopy(dig(sr, "spec", "containers", default=[]) or []), name)
    if not containers:
        containers = [{"name": "kserve-container", "image": "registry.example.com/model-server:latest"}]
    main = containers[0]
    for k in ("args", "env"):
        if model.get(k):
            main[k] = list(main.get(k) or []) + list(model[k])
    if model.get("resources"):
        main["resources"] = model["resources"]
    if model.get("image"):
        main["image"] = model["image"]
    main.setdefault("image", "registry.example.com/model-server:latest")
    labels = dict(md.get("labels") or {})
    labels.update(dig(sr, "spec", "labels", default={}) or {})
    labels.update(pred.get("labels") or {})
    labels.update({"serving.kserve.io/inferenceservice": name, "component": "predictor"})
    annotations = {k: v for k, v in (md.get("annotations") or {}).items()
                   if not k.startswith("kubectl.kubernetes.io/") and k != "openshift.io/display-name"}
    annotations.update(dig(sr, "spec", "annotations", default={}) or {})
    annotations.update(pred.get("annotations") or {})
    spec = {"containers": containers}
    if model.get("storageUri") or model.get("storage"):
        spec["initContainers"] = [container("storage-initializer", "quay.io/modh/kserve-storage-initializer:v0.14",
                                            args=[model.get("storageUri") or "s3://" + (dig(model, "storage", "path") or ""),
                                                  "/mnt/models"])]
        spec["volumes"] = [{"name": "kserve-provision-location", "emptyDir": {}}]
        for c in containers:
            c.setdefault("volumeMounts", []).append({"name": "kserve-provision-location", "mountPath": "/mnt/models",
                                                     "readOnly": True})
        spec["initContainers"][0]["volumeMounts"] = [{"name": "kserve-provision-location", "mountPath": "/mnt/models"}]
    if dig(sr, "spec", "volumes"):  # KServe adds the runtime's volumes (the dashboard's /dev/shm) to the pod
        spec["volumes"] = list(spec.get("volumes") or []) + copy.deepcopy(dig(sr, "spec", "volumes"))
    for k in ("tolerations", "nodeSelector", "affinity", "serviceAccountName", "imagePullSecrets"):
        v = pred.get(k) or dig(sr, "spec", k)
        if v:
            spec[k] = v
    return labels, annotations, spec


class ISVCController(Controller):
    name = "isvc"
    primary = R.ISVC
    owns = (R.KSVC, R.DEPLOYMENT)
    triggers = (R.SERVINGRUNTIME,)

    def reconcile(self, ns, name):
        isvc = self.mgr.get(R.ISVC, name, ns)
        if isvc is None or isvc["metadata"].get("deletionTimestamp"):
            return None
        app_ns = apps_ns(self.mgr)
        if not deployment_ready(self.mgr.get(R.DEPLOYMENT, "kserve-controller-manager", app_ns)):
            return 5.0
        md = isvc["metadata"]
        old = isvc.get("status") or {}
        oc = old.get("conditions")
        gen = md.get("generation", 1)
        cfg = self.mgr.get(R.CONFIGMAP, "inferenceservice-config", app_ns)
        default_mode = "Serverless"
        try:
            default_mode = json.loads(dig(cfg, "data", "deploy", default="{}")).get("defaultDeploymentMode") or "Serverless"
        except ValueError:
            pass
        mode = (md.get("annotations") or {}).get("serving.kserve.io/deploymentMode") or default_mode
        base = {"observedGeneration": gen, "deploymentMode": mode}
        sr, err = resolve_runtime(self.mgr, isvc)
        if err:
            reason, msg = err
            self.mgr.set_status(R.ISVC, isvc, dict(base, conditions=[
                cond(oc, "PredictorReady", "False", reason, msg), cond(oc, "Ready", "False", reason, msg)],
                modelStatus={"transitionStatus": "InvalidSpec", "states": {"activeModelState": "",
                                                                           "targetModelState": "FailedToLoad"},
                             "lastFailureInfo": {"reason": reason, "message": msg}}))
            return 5.0
        labels, annotations, podspec = predictor_pod(isvc, sr)
        pred = dig(isvc, "spec", "predictor", default={}) or {}
        min_r = pred.get("minReplicas", 1)
        local = (md.get("labels") or {}).get("networking.knative.dev/visibility") == "cluster-local"
        domain = ingress_domain(self.mgr)
        self._omc(isvc, ns, name, local, f"{name}-{ns}.{domain}", sr, mode)
        if mode != "RawDeployment" and self.mgr.get(R.KSVC, f"{name}-predictor", ns) is None and \
                str(annotations.get("sidecar.istio.io/inject")).lower() == "true" and \
                self.mgr.get(R.SMM, "default", ns) is not None and \
                MEMBER_OF not in ((self.mgr.get(R.NAMESPACE, ns) or {}).get("metadata", {}).get("labels") or {}):
            return 1.0  # let the namespace join the mesh first, so the pods get their sidecar at creation
        if mode == "RawDeployment":
            dname = f"{name}-predictor"
            labels["app"] = f"isvc.{dname}"
            dep = deployment(self.mgr, dname, ns, labels, podspec.pop("containers"), replicas=max(min_r or 1, 1),
                             pod_annotations=annotations, owner=isvc, selector={"app": f"isvc.{dname}"}, **podspec)
            self.mgr.apply(R.DEPLOYMENT, dep, MANAGER)
            self.mgr.apply(R.SERVICE, service(dname, ns, {"app": f"isvc.{dname}"}, [("http", 80, 8080)], owner=isvc),
                           MANAGER)
            ready = deployment_ready(self.mgr.get(R.DEPLOYMENT, dname, ns))
            url = f"http://{dname}.{ns}.svc.cluster.local"
            pods_sel = {"app": f"isvc.{dname}"}
            ksvc_st = {}
            rev = None
        else:
            # KServe needs the Knative Service API; a KnativeServing that is not Ready because the
            # Serverless operator is rolling its Deployments to a new version (an upgrade) does not
            # take down a predictor that already has its ksvc: readiness keeps coming from the ksvc.
            if self.mgr.get(R.CRD, "services.serving.knative.dev") is None or \
                    (not knative_ready(self.mgr) and self.mgr.get(R.KSVC, f"{name}-predictor", ns) is None):
                msg = "fails to reconcile predictor: no matches for kind \"Service\" in version \"serving.knative.dev/v1\""
                self.mgr.set_status(R.ISVC, isvc, dict(base, conditions=[
                    cond(oc, "PredictorReady", "False", "ReconcileFailed", msg), cond(oc, "Ready", "False", "ReconcileFailed", msg)]))
                return 5.0
            kname = f"{name}-predictor"
            kmeta = meta(kname, ns, dict((md.get("labels") or {}), **{"serving.kserve.io/inferenceservice": name,
                                                                     "component": "predictor"}), owner=isvc)
            tmpl_ann = dict(annotations)
            tmpl_ann["autoscaling.knative.dev/min-scale"] = str(min_r if min_r is not None else 1)
            if pred.get("maxReplicas"):
                tmpl_ann["autoscaling.knative.dev/max-scale"] = str(pred["maxReplicas"])
            body = {"metadata": kmeta, "spec": {"template": {"metadata": {"labels": labels, "annotations": tmpl_ann},
                                                             "spec": podspec}}}
            cur = self.mgr.get(R.KSVC, kname, ns)
            if cur is None:
                self.mgr.create_if_missing(R.KSVC, body)
            elif json.dumps(cur.get("spec"), sort_keys=True) != json.dumps(body["spec"], sort_keys=True):
                self.mgr.patch(R.KSVC, kname, {"spec": body["spec"]}, ns)
            ksvc = self.mgr.get(R.KSVC, kname, ns) or {}
            ksvc_st = ksvc.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in ksvc_st.get("conditions") or [])
            rev = ksvc_st.get("latestCreatedRevisionName")
            url = f"http://{kname}.{ns}.svc.cluster.local" if local else f"https://{name}-{ns}.{domain}"
            pods_sel = {"serving.kserve.io/inferenceservice": name}
        # status
        pods = self.mgr.informer(R.POD).items(namespace=ns, selector=pods_sel)
        failure = None
        for p in pods:
            for cs in (dig(p, "status", "containerStatuses", default=[]) or []) + (dig(p, "status", "initContainerStatuses", default=[]) or []):
                w = dig(cs, "state", "waiting") or {}
                if w.get("reason") in FAILED_WAITING_REASONS:
                    failure = (w["reason"], cs.get("name"), w.get("message") or "")
            for pc in dig(p, "status", "conditions", default=[]) or []:
                if pc.get("type") == "PodScheduled" and pc.get("status") == "False" and not failure:
                    failure = ("Unschedulable", "", pc.get("message") or "0/N nodes are available")
        conds = []
        if ready:
            for t in ("IngressReady", "LatestDeploymentReady", "PredictorConfigurationReady", "PredictorReady",
                      "PredictorRouteReady", "Ready"):
                conds.append(cond(oc, t, "True"))
            model_status = {"transitionStatus": "UpToDate", "states": {"activeModelState": "Loaded",
                                                                       "targetModelState": "Loaded"},
                            "copies": {"failedCopies": 0, "totalCopies": max(len(pods), 1)}}
        else:
            ksvc_reason = next((c for c in ksvc_st.get("conditions") or [] if c.get("type") == "Ready"), {}) if ksvc_st else {}
            reason = ksvc_reason.get("reason") or "PredictorNotReady"
            msg = ksvc_reason.get("message") or "Predictor is not ready"
            if failure:
                msg = f"Revision \"{rev or name + '-predictor'}\" failed with message: {failure[0]} {failure[2]}".strip()
                reason = "RevisionFailed"
            for t in ("LatestDeploymentReady", "PredictorConfigurationReady", "PredictorReady"):
                conds.append(cond(oc, t, "False", reason, msg))
            conds.append(cond(oc, "IngressReady", "True" if mode != "RawDeployment" else "False"))
            conds.append(cond(oc, "PredictorRouteReady", "False", reason, msg))
            conds.append(cond(oc, "Ready", "False", reason, msg))
            if failure and failure[0] != "Unschedulable":
                model_status = {"transitionStatus": "BlockedByFailedLoad",
                                "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
                                "lastFailureInfo": {"reason": "ModelLoadFailed", "location": failure[1],
                                                    "message": msg, "exitCode": 1},
                                "copies": {"failedCopies": len(pods), "totalCopies": len(pods)}}
            else:
                model_status = {"transitionStatus": "InProgress",
                                "states": {"activeModelState": "", "targetModelState": "Pending" if not pods else "Loading"}}
        status = dict(base, conditions=conds, modelStatus=model_status)
        if ready or mode != "RawDeployment":
            status["url"] = url
            status["address"] = {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"}
        if ksvc_st:
            comp = {"url": url, "address": {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"},
                    "latestCreatedRevision": ksvc_st.get("latestCreatedRevisionName")}
            if ksvc_st.get("latestReadyRevisionName"):
                comp["latestReadyRevision"] = ksvc_st["latestReadyRevisionName"]
                comp["latestRolledoutRevision"] = ksvc_st["latestReadyRevisionName"]
                comp["traffic"] = [{"revisionName": ksvc_st["latestReadyRevisionName"], "latestRevision": True,
                                    "percent": 100}]
            status["components"] = {"predictor": comp}
        self.mgr.set_status(R.ISVC, isvc, status)
        return None if ready else 2.0

    def _omc(self, isvc, ns, name, local, host, sr, mode):
        """odh-model-controller side effects."""
        app_ns = apps_ns(self.mgr)
        if not deployment_ready(self.mgr.get(R.DEPLOYMENT, "odh-model-controller", app_ns)):
            return
        cp_name, cp_ns = mesh_ref(self.mgr)
        if mode != "RawDeployment" and self.mgr.informer(R.SMM).served and self.mgr.get(R.SMM, "default", ns) is None:
            self.mgr.create_if_missing(R.SMM, {"metadata": {"name": "default", "namespace": ns, "labels": {
                "app.kubernetes.io/managed-by": "odh-model-controller", "app.kubernetes.io/name": "odh-model-controller",
                "app.kubernetes.io/component": "kserve", "app.kubernetes.io/part-of": "odh-model-serving"}},
                "spec": {"controlPlaneRef": {"name": cp_name, "namespace": cp_ns}}})
        if not local and mode != "RawDeployment" and self.mgr.get(R.NAMESPACE, cp_ns) is not None:
            self.mgr.apply(R.ROUTE, {
                "metadata": {"name": f"{name}-{ns}", "namespace": cp_ns,
                             "labels": dict(isvc["metadata"].get("labels") or {}, **{
                                 "serving.kserve.io/inferenceservice": name,
                                 "serving.kserve.io/inferenceservice-namespace": ns})},
                "spec": {"host": host, "to": {"kind": "Service", "name": "istio-ingressgateway", "weight": 100},
                         "port": {"targetPort": "https"},
                         "tls": {"termination": "passthrough", "insecureEdgeTerminationPolicy": "Redirect"},
                         "wildcardPolicy": "None"}}, OMC)
            route = self.mgr.get(R.ROUTE, f"{name}-{ns}", cp_ns)
            if route is not None and not dig(route, "status", "ingress"):
                try:
                    self.mgr.set_status(R.ROUTE, route, {"ingress": [{
                        "host": host, "routerName": "default", "wildcardPolicy": "None",
                        "routerCanonicalHostname": "router-default." + host.split(".", 1)[1],
                        "conditions": [{"type": "Admitted", "status": "True"}]}]})
                except Exception as e:  # noqa: BLE001
                    log.debug("route status: %s", e)
        image = json.dumps(dig(sr, "spec", "containers", default=[]))
        supported = any(k in image for k in ("vllm", "ovms", "openvino", "text-generation", "caikit", "nim"))
        self.mgr.apply(R.CONFIGMAP, {"metadata": meta(f"{name}-metrics-dashboard", ns, {
            "opendatahub.io/managed": "true", "app.kubernetes.io/managed-by": "odh-model-controller"}, owner=isvc),
            "data": {"supported": "true" if supported else "false"}}, OMC)
        auth_on = any(dig(p, "spec", "action") == "CUSTOM" and
                      dig(p, "spec", "selector", "matchLabels", "component") == "predictor"
                      for p in self.mgr.informer(R.AUTHZ_POLICY).items(namespace=cp_ns)) \
            if self.mgr.informer(R.AUTHZ_POLICY).served else False
        if auth_on and self.mgr.get(R.CRD, "authconfigs.authorino.kuadrant.io") is not None and dig(isvc, "status", "url"):
            ann = isvc["metadata"].get("annotations") or {}
            enable = (ann.get("security.opendatahub.io/enable-auth") or ann.get("enable-auth")) == "true"
            spec = {"hosts": [host, f"{name}-predictor.{ns}.svc.cluster.local"]}
            if enable:
                spec["authentication"] = {"kubernetes-user": {"credentials": {"authorizationHeader": {}},
                                                              "kubernetesTokenReview": {"audiences": ["https://kubernetes.default.svc"]}}}
                spec["authorization"] = {"kubernetes-rbac": {"kubernetesSubjectAccessReview": {
                    "user": {"selector": "auth.identity.user.username"},
                    "resourceAttributes": {"verb": {"value": "get"}, "group": {"value": "serving.kserve.io"},
                                           "resource": {"value": "inferenceservices"}, "name": {"value": name},
                                           "namespace": {"value": ns}}}}}
            else:
                spec["authentication"] = {"anonymous-access": {"anonymous": {}}}
            self.mgr.apply(R.AUTHCONFIG, {"metadata": meta(name, ns, {"security.opendatahub.io/authorization-group": "default"},
                                                           owner=isvc), "spec": spec}, OMC)

    def on_deleted(self, obj):
        name, ns = obj["metadata"]["name"], obj["metadata"]["namespace"]
        _, cp_ns = mesh_ref(self.mgr)
        try:
            self.mgr.delete(R.ROUTE, f"{name}-{ns}", cp_ns)
        except Exception:  # noqa: BLE001
            pass


# The model-registry operator (ModelRegistry CRs, with a real database): testbed/sim/model_registry.py
CONTROLLERS = [ISVCController]
