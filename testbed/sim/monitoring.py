"""Simulated OpenShift monitoring: user workload monitoring with a real Prometheus.

What a real cluster has and what this module plays:

* the cluster monitoring operator (CMO): on a managed platform (ROSA: Infrastructure tag
  ``red-hat-managed=true``) ``cluster-monitoring-config`` exists from the start with
  ``enableUserWorkload: true`` (SRE-managed). ConfigMap ``openshift-monitoring/cluster-monitoring-config``
  with ``enableUserWorkload: true`` inside its ``config.yaml`` switches user workload monitoring (UWM)
  on. Then the UWM stack runs in ``openshift-user-workload-monitoring`` (Deployment
  ``prometheus-operator``, StatefulSet ``prometheus-user-workload``) and a **real Prometheus**
  (``/usr/bin/prometheus``, Debian's package, installed by ``testbed/deps.sh``) runs on a free loopback
  port, with its data and configuration under ``<state dir>/prometheus``. Switched off (or the
  ConfigMap deleted): the stack and the process go away. ``prometheus.retention`` /
  ``retentionSize`` / ``logLevel`` of ``user-workload-monitoring-config`` become its flags
  (a change restarts it);
* the prometheus-operator of UWM: every ServiceMonitor / PodMonitor in a user namespace (not one
  labelled ``openshift.io/cluster-monitoring: "true"`` or ``openshift.io/user-monitoring: "false"``)
  becomes a scrape job; as in UWM, a monitor only selects objects in its own namespace
  (``ignoreNamespaceSelectors``) and every series gets the monitor's ``namespace`` label. Targets are
  the pods' IPs (the pods kwok runs) with the labels prometheus-operator sets (``namespace``,
  ``service``, ``pod``, ``container``, ``endpoint``, ``job``) and the ``__meta_kubernetes_*`` labels of
  Kubernetes service discovery, so the monitors' ``relabelings`` / ``metricRelabelings`` work. The
  configuration is rewritten and reloaded (``POST /-/reload``) when it changes. Every job scrapes
  every ``SCRAPE_INTERVAL`` (1 s; env ``TESTBED_SCRAPE_INTERVAL``), whatever the monitor says, so
  tests do not wait;
* the pod network: Prometheus reaches the (fake) pod IPs through a small HTTP forward proxy of this
  module (``proxy_url``), which answers for a predictor pod (label
  ``serving.kserve.io/inferenceservice``) with the model-server simulator's ``/metrics`` of that
  InferenceService (through the testbed ingress's cluster-local listener); ``/stats/prometheus``
  (Istio's merged metrics) gives the same. The simulator counts per model, not per pod: only the
  first Running pod (by name) of a model answers with the counts, the others with an empty page, as do
  all other pods (the testbed simulates no metrics for them);
* odh-model-controller's metrics objects (serving-api.md §2.5): for an InferenceService whose
  ServingRuntime has ``spec.annotations.prometheus.io/port``, Service + ServiceMonitor
  ``<isvc>-metrics`` (port ``<runtime>-metrics``, path ``prometheus.io/path``). A real 2.17+ cluster
  does this for RawDeployment and scrapes Serverless models through the ``istio-proxies-monitor``
  PodMonitor with Istio metrics merging; the testbed uses the RawDeployment objects for both;
* the Thanos querier: Route ``openshift-monitoring/thanos-querier``
  (``thanos-querier-openshift-monitoring.<ingress domain>``, present from the start as on every
  cluster) served by an HTTPS front on its own loopback port (certificate signed by a CA generated at
  sim start). It checks ``Authorization: Bearer <token>`` with a TokenReview, then a
  SubjectAccessReview ``get namespaces`` (what ClusterRole ``cluster-monitoring-view``, created here,
  grants), as the querier's oauth-proxy does: 401 / 403 otherwise; then forwards ``/api/v1/query``,
  ``query_range``, ``series``, ``labels``, ``label/<name>/values`` to the UWM Prometheus (an empty
  result while UWM is off: the platform Prometheus has no user metrics).

Where to connect is recorded in ConfigMap ``testbed-system/testbed-monitoring``: ``query-address``
(``127.0.0.1:<port>``, a ``resolve`` target for the Route host), ``query-host``, ``query-url``,
``ca.crt``, ``user-workload`` (``"true"``/``"false"``), and while Prometheus runs
``prometheus-address`` and ``prometheus-ready-seconds`` (cold start to ``/-/ready``).

Prometheus is a child of the sim process (same process group, parent-death signal), stopped when the
sim stops: ``python -m testbed down`` leaves no Prometheus behind.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlsplit

import yaml

from . import resources as R
from .kube import ApiError, Res
from .rhoai import ingress_domain
from .runtime import Controller
from .util import deployment, deployment_ready, dig, meta

log = logging.getLogger("sim.monitoring")

SERVICEMONITOR = Res("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor")
PODMONITOR = Res("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor")
STATEFULSET = Res("apps", "v1", "statefulsets", "StatefulSet")
CLUSTERROLE = Res("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False)

CMO_NS = "openshift-monitoring"
UWM_NS = "openshift-user-workload-monitoring"
CMO_CM = "cluster-monitoring-config"
UWM_CM = "user-workload-monitoring-config"
QUERY_ROUTE = "thanos-querier"
RECORD_NS = "testbed-system"
RECORD_CM = "testbed-monitoring"
MANAGER = "cluster-monitoring-operator"
OMC = "odh-model-controller"
ADDRESS = "127.0.0.1"
PROMETHEUS = os.environ.get("TESTBED_PROMETHEUS", "/usr/bin/prometheus")
SCRAPE_INTERVAL = os.environ.get("TESTBED_SCRAPE_INTERVAL", "1s")
ISVC_LABEL = "serving.kserve.io/inferenceservice"
API_PATHS = re.compile(r"^/api/v1/(query|query_range|series|labels|label/[^/]+/values)$")


def _state_dir() -> str:
    """The testbed state dir: the directory of the sim's ``--kubeconfig``."""
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == "--kubeconfig" and i + 1 < len(argv):
            return os.path.dirname(os.path.abspath(argv[i + 1]))
        if a.startswith("--kubeconfig="):
            return os.path.dirname(os.path.abspath(a.split("=", 1)[1]))
    return tempfile.mkdtemp(prefix="sim-monitoring-")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ADDRESS, 0))
        return s.getsockname()[1]


_PARSED: dict = {}


def _config_yaml(cm: Optional[dict]) -> dict:
    """The parsed ``data["config.yaml"]`` of a monitoring ConfigMap ({} when absent or not a mapping)."""
    text = dig(cm, "data", "config.yaml")
    if not text:
        return {}
    if text in _PARSED:
        return _PARSED[text]
    if len(_PARSED) > 32:
        _PARSED.clear()
    _PARSED[text] = _parse_config(cm, text)
    return _PARSED[text]


def _parse_config(cm: dict, text: str) -> dict:
    try:
        out = yaml.safe_load(text)
    except yaml.YAMLError as e:
        log.warning("%s/%s: config.yaml is not YAML: %s", cm["metadata"].get("namespace"), cm["metadata"]["name"], e)
        return {}
    return out if isinstance(out, dict) else {}


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _selector_matches(sel: Optional[dict], labels: dict) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist)."""
    sel = sel or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        key, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and key in labels and labels[key] in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _relabel(rules: Optional[list]) -> list:
    """monitoring.coreos.com RelabelConfig (camelCase) -> Prometheus relabel_config (snake_case)."""
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    out = []
    for r in rules or []:
        if isinstance(r, dict):
            out.append({names.get(k, k): v for k, v in r.items()})
    return out


def _pod_running(pod: dict) -> bool:
    return dig(pod, "status", "phase") == "Running" and bool(dig(pod, "status", "podIP")) \
        and not pod["metadata"].get("deletionTimestamp")


def _pod_meta(pod: dict) -> dict:
    md = pod["metadata"]
    out = {
        "__meta_kubernetes_namespace": md["namespace"],
        "__meta_kubernetes_pod_name": md["name"],
        "__meta_kubernetes_pod_ip": dig(pod, "status", "podIP", default=""),
        "__meta_kubernetes_pod_node_name": dig(pod, "spec", "nodeName", default=""),
        "__meta_kubernetes_pod_host_ip": dig(pod, "status", "hostIP", default=""),
        "__meta_kubernetes_pod_uid": md.get("uid", ""),
        "__meta_kubernetes_pod_phase": dig(pod, "status", "phase", default=""),
        "__meta_kubernetes_pod_ready": "true" if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in dig(pod, "status", "conditions", default=[]) or []) else "false",
    }
    for k, v in (md.get("labels") or {}).items():
        out["__meta_kubernetes_pod_label_" + _sanitize(k)] = str(v)
        out["__meta_kubernetes_pod_labelpresent_" + _sanitize(k)] = "true"
    for k, v in (md.get("annotations") or {}).items():
        out["__meta_kubernetes_pod_annotation_" + _sanitize(k)] = str(v)
        out["__meta_kubernetes_pod_annotationpresent_" + _sanitize(k)] = "true"
    for ref in md.get("ownerReferences") or []:
        if ref.get("controller"):
            out["__meta_kubernetes_pod_controller_kind"] = ref.get("kind", "")
            out["__meta_kubernetes_pod_controller_name"] = ref.get("name", "")
    return out


def _container_ports(pod: dict):
    for c in dig(pod, "spec", "containers", default=[]) or []:
        for p in c.get("ports") or []:
            yield c, p


def _duration(text: Optional[str]) -> Optional[str]:
    return text if text and re.match(r"^\d+(ms|s|m|h|d|w|y)$", str(text)) else None


class Stack:
    """UWM: the Prometheus process, its configuration, the scrape proxy and the query front."""

    def __init__(self, mgr):
        self.mgr = mgr
        self.kube = mgr.kube
        self.root = os.path.join(_state_dir(), "prometheus")
        self.proc: Optional[subprocess.Popen] = None
        self.flags: tuple = ()
        self.port = 0
        self.config_text = ""
        self.ready_seconds: Optional[float] = None
        self.kick_event = threading.Event()
        self.lock = threading.Lock()
        self.servers: list = []
        self.proxy_port = 0
        self.query_port = 0
        self.ca_pem = b""
        self.query_ctx = None
        self.enabled = False
        self.stopped = False

    # -- life cycle ------------------------------------------------------------------------
    def start(self):
        threading.Thread(target=self._main, name="monitoring", daemon=True).start()
        atexit.register(self.shutdown)

    def kick(self):
        self.kick_event.set()

    def _main(self):
        for res in (R.CONFIGMAP, R.NAMESPACE, R.POD, R.SERVICE, R.ROUTE, SERVICEMONITOR, PODMONITOR):
            self.mgr.informer(res).synced.wait(60)
        try:
            self._start_servers()
        except Exception:  # noqa: BLE001
            log.exception("monitoring front ends did not start")
            return
        shutil.rmtree(self.root, ignore_errors=True)  # a new sim: counters restart, so does the TSDB
        while not self.mgr.stop.is_set():
            try:
                self.sync()
            except ApiError as e:
                log.warning("monitoring: %s", e)
            except Exception:  # noqa: BLE001
                log.exception("monitoring")
            self.kick_event.wait(1.0)
            self.kick_event.clear()
        self.shutdown()

    def shutdown(self):
        with self.lock:
            self.stopped = True
            self._stop_prometheus()
            for srv in self.servers:
                try:
                    srv.shutdown()
                    srv.server_close()
                except Exception:  # noqa: BLE001
                    pass
            self.servers = []

    def _start_servers(self):
        from .ingress import _fallback_material

        ca, crt, key = _fallback_material(ingress_domain(self.mgr))
        self.ca_pem = ca
        tmp = tempfile.mkdtemp(prefix="sim-monitoring-")
        try:
            with open(os.open(os.path.join(tmp, "tls.crt"), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(crt + ca)
            with open(os.open(os.path.join(tmp, "tls.key"), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(key)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.query_ctx = ctx
        proxy = _Server((ADDRESS, 0), _ProxyHandler, self)
        query = _Server((ADDRESS, 0), _QueryHandler, self)
        self.proxy_port, self.query_port = proxy.server_address[1], query.server_address[1]
        for srv, name in ((proxy, "scrape-proxy"), (query, "thanos-querier")):
            self.servers.append(srv)
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.5}, name=name, daemon=True).start()
        log.info("scrape proxy http://%s:%d, query front https://%s:%d", ADDRESS, self.proxy_port, ADDRESS,
                 self.query_port)

    # -- the loop --------------------------------------------------------------------------
    def sync(self):
        self._platform_objects()
        cmo = _config_yaml(self.mgr.get(R.CONFIGMAP, CMO_CM, CMO_NS))
        enabled = cmo.get("enableUserWorkload") is True
        uwm = _config_yaml(self.mgr.get(R.CONFIGMAP, UWM_CM, UWM_NS)) if enabled else {}
        if enabled != self.enabled:
            log.info("user workload monitoring %s", "enabled" if enabled else "disabled")
        self.enabled = enabled
        if enabled:
            self._uwm_objects(True)
            prom = uwm.get("prometheus") if isinstance(uwm.get("prometheus"), dict) else {}
            flags = (_duration(prom.get("retention")) or "24h", str(prom.get("retentionSize") or ""),
                     str(prom.get("logLevel") or "info"))
            text = self.config()
            with self.lock:
                if self.stopped:
                    return
                if self.proc is not None and self.proc.poll() is not None:
                    log.warning("prometheus exited with %s; restarting it", self.proc.returncode)
                    self.proc = None
                if self.proc is not None and flags != self.flags:
                    log.info("prometheus flags changed; restarting it")
                    self._stop_prometheus()
                if self.proc is None:
                    self._start_prometheus(text, flags)
                elif text != self.config_text:
                    self._reload(text)
        else:
            with self.lock:
                self._stop_prometheus()
            self._uwm_objects(False)
        self._record()

    # -- objects ---------------------------------------------------------------------------
    _platform_done = False

    def _platform_objects(self):
        if self._platform_done:
            return
        for ns in (CMO_NS, UWM_NS):
            self.mgr.ensure_namespace(ns, {"openshift.io/cluster-monitoring": "true"})
        self.mgr.apply(CLUSTERROLE, {"metadata": {"name": "cluster-monitoring-view", "labels": {
            "app.kubernetes.io/part-of": "openshift-monitoring"}},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]}, MANAGER)
        host = f"{QUERY_ROUTE}-{CMO_NS}.{ingress_domain(self.mgr)}"
        self.mgr.apply(R.ROUTE, {"metadata": {"name": QUERY_ROUTE, "namespace": CMO_NS, "labels": {
            "app.kubernetes.io/name": "thanos-query", "app.kubernetes.io/part-of": "openshift-monitoring"}},
            "spec": {"host": host, "path": "/api", "port": {"targetPort": "web"},
                     "to": {"kind": "Service", "name": QUERY_ROUTE, "weight": 100},
                     "tls": {"termination": "reencrypt", "insecureEdgeTerminationPolicy": "Redirect"},
                     "wildcardPolicy": "None"}}, MANAGER)
        route = self.mgr.get(R.ROUTE, QUERY_ROUTE, CMO_NS)
        if route is not None and not dig(route, "status", "ingress"):
            self.mgr.set_status(R.ROUTE, route, {"ingress": [{
                "host": host, "routerName": "default", "wildcardPolicy": "None",
                "routerCanonicalHostname": "router-default." + ingress_domain(self.mgr),
                "conditions": [{"type": "Admitted", "status": "True"}]}]})
        if self._managed_platform() and self.mgr.get(R.CONFIGMAP, CMO_CM, CMO_NS) is None:
            # ROSA / OSD: SRE manages cluster-monitoring-config; user workload monitoring is on by default
            self.mgr.create_if_missing(R.CONFIGMAP, {"metadata": {
                "name": CMO_CM, "namespace": CMO_NS},
                "data": {"config.yaml": "enableUserWorkload: true\n"}})
        self._platform_done = True

    def _managed_platform(self) -> bool:
        infra = self.kube.get(R.INFRASTRUCTURE, "cluster") or {}
        tags = dig(infra, "status", "platformStatus", "aws", "resourceTags", default=[]) or []
        return any(t.get("key") == "red-hat-managed" and t.get("value") == "true" for t in tags)

    def _uwm_objects(self, present: bool):
        labels = {"app.kubernetes.io/part-of": "openshift-monitoring"}
        if present:
            op = dict(labels, **{"app.kubernetes.io/name": "prometheus-operator"})
            if self.mgr.get(R.DEPLOYMENT, "prometheus-operator", UWM_NS) is None:
                self.mgr.apply(R.DEPLOYMENT, deployment(self.mgr, "prometheus-operator", UWM_NS, op, [
                    {"name": "prometheus-operator", "image": "registry.redhat.io/openshift4/ose-prometheus-operator:v4.16",
                     "ports": [{"name": "https", "containerPort": 8443, "protocol": "TCP"}],
                     "resources": {"requests": {"cpu": "5m", "memory": "150Mi"}}}]), MANAGER)
            if self.mgr.get(STATEFULSET, "prometheus-user-workload", UWM_NS) is None:
                pl = dict(labels, **{"app.kubernetes.io/name": "prometheus", "prometheus": "user-workload"})
                self.mgr.apply(STATEFULSET, {"metadata": meta("prometheus-user-workload", UWM_NS, pl), "spec": {
                    "replicas": 2, "serviceName": "prometheus-operated", "selector": {"matchLabels": pl},
                    "template": {"metadata": {"labels": pl}, "spec": {"containers": [
                        {"name": "prometheus", "image": "registry.redhat.io/openshift4/ose-prometheus:v4.16",
                         "ports": [{"name": "web", "containerPort": 9090, "protocol": "TCP"}],
                         "resources": {"requests": {"cpu": "6m", "memory": "30Mi"}}}]}}}}, MANAGER)
        else:
            for res, name in ((R.DEPLOYMENT, "prometheus-operator"), (STATEFULSET, "prometheus-user-workload")):
                if self.mgr.get(res, name, UWM_NS) is None:
                    continue
                try:
                    self.mgr.delete(res, name, UWM_NS)
                except ApiError as e:
                    if e.status != 404:
                        raise

    # -- scrape configuration --------------------------------------------------------------
    def _user_namespace(self, ns: str) -> bool:
        obj = self.mgr.get(R.NAMESPACE, ns)
        labels = dig(obj, "metadata", "labels", default={}) or {}
        return obj is not None and labels.get("openshift.io/cluster-monitoring") != "true" \
            and labels.get("openshift.io/user-monitoring") != "false"

    def jobs(self) -> list:
        """Prometheus scrape_configs for every ServiceMonitor/PodMonitor of user namespaces."""
        out = []
        sms = self.mgr.informer(SERVICEMONITOR)
        pms = self.mgr.informer(PODMONITOR)
        for sm in sms.items() if sms.served else []:
            if self._user_namespace(sm["metadata"]["namespace"]):
                out.extend(self._sm_jobs(sm))
        for pm in pms.items() if pms.served else []:
            if self._user_namespace(pm["metadata"]["namespace"]):
                out.extend(self._pm_jobs(pm))
        return out

    def _job(self, name: str, ep: dict, targets: list) -> dict:
        job = {"job_name": name, "honor_labels": False, "scrape_interval": SCRAPE_INTERVAL,
               "scrape_timeout": SCRAPE_INTERVAL, "metrics_path": ep.get("path") or "/metrics",
               "scheme": "http", "proxy_url": f"http://{ADDRESS}:{self.proxy_port}",
               "static_configs": targets or [{"targets": [], "labels": {}}]}
        if ep.get("relabelings"):
            job["relabel_configs"] = _relabel(ep["relabelings"])
        if ep.get("metricRelabelings"):
            job["metric_relabel_configs"] = _relabel(ep["metricRelabelings"])
        return job

    def _sm_jobs(self, sm: dict) -> list:
        md, spec = sm["metadata"], sm.get("spec") or {}
        ns = md["namespace"]
        services = [s for s in self.mgr.informer(R.SERVICE).items(namespace=ns)
                    if _selector_matches(spec.get("selector"), s["metadata"].get("labels") or {})]
        out = []
        for i, ep in enumerate(spec.get("endpoints") or []):
            targets = []
            for svc in services:
                sel = dig(svc, "spec", "selector", default={}) or {}
                if not sel:
                    continue
                sport = next((p for p in dig(svc, "spec", "ports", default=[]) or []
                              if (ep.get("port") and p.get("name") == ep["port"]) or
                              (not ep.get("port") and ep.get("targetPort") is not None and
                               str(p.get("targetPort")) == str(ep["targetPort"]))), None)
                if sport is None:
                    continue
                svc_labels = svc["metadata"].get("labels") or {}
                for pod in self.mgr.informer(R.POD).items(namespace=ns, selector=sel):
                    if not _pod_running(pod):
                        continue
                    tp = sport.get("targetPort", sport.get("port"))
                    cname, number = "", None
                    for c, p in _container_ports(pod):
                        if (isinstance(tp, int) and p.get("containerPort") == tp) or p.get("name") == tp:
                            cname, number = c.get("name", ""), p.get("containerPort")
                    if number is None:
                        if not isinstance(tp, int):
                            continue
                        number = tp
                    labels = _pod_meta(pod)
                    labels.update({"__meta_kubernetes_service_name": svc["metadata"]["name"],
                                   "__meta_kubernetes_endpoint_port_name": sport.get("name", ""),
                                   "__meta_kubernetes_endpoint_ready": labels["__meta_kubernetes_pod_ready"]})
                    for k, v in svc_labels.items():
                        labels["__meta_kubernetes_service_label_" + _sanitize(k)] = str(v)
                    job_label = svc_labels.get(spec.get("jobLabel")) if spec.get("jobLabel") else None
                    labels.update({"namespace": ns, "service": svc["metadata"]["name"],
                                   "pod": pod["metadata"]["name"], "container": cname,
                                   "endpoint": ep.get("port") or str(ep.get("targetPort")),
                                   "job": job_label or svc["metadata"]["name"]})
                    for t in spec.get("targetLabels") or []:
                        if t in svc_labels:
                            labels[_sanitize(t)] = svc_labels[t]
                    for t in spec.get("podTargetLabels") or []:
                        if t in (pod["metadata"].get("labels") or {}):
                            labels[_sanitize(t)] = pod["metadata"]["labels"][t]
                    targets.append({"targets": [f"{pod['status']['podIP']}:{number}"], "labels": labels})
            out.append(self._job(f"serviceMonitor/{ns}/{md['name']}/{i}", ep, targets))
        return out

    def _pm_jobs(self, pm: dict) -> list:
        md, spec = pm["metadata"], pm.get("spec") or {}
        ns = md["namespace"]
        pods = [p for p in self.mgr.informer(R.POD).items(namespace=ns)
                if _pod_running(p) and _selector_matches(spec.get("selector"), p["metadata"].get("labels") or {})]
        out = []
        for i, ep in enumerate(spec.get("podMetricsEndpoints") or []):
            targets = []
            for pod in pods:
                for c, p in _container_ports(pod):
                    if ep.get("port") and p.get("name") != ep["port"]:
                        continue
                    if not ep.get("port") and ep.get("targetPort") is not None and \
                            str(ep["targetPort"]) not in (str(p.get("containerPort")), p.get("name")):
                        continue
                    labels = _pod_meta(pod)
                    labels.update({"__meta_kubernetes_pod_container_name": c.get("name", ""),
                                   "__meta_kubernetes_pod_container_port_name": p.get("name", ""),
                                   "__meta_kubernetes_pod_container_port_number": str(p.get("containerPort")),
                                   "namespace": ns, "pod": pod["metadata"]["name"], "container": c.get("name", ""),
                                   "endpoint": ep.get("port") or str(ep.get("targetPort") or ""),
                                   "job": (pod["metadata"].get("labels") or {}).get(spec.get("jobLabel") or "")
                                   or f"{ns}/{md['name']}"})
                    for t in spec.get("podTargetLabels") or []:
                        if t in (pod["metadata"].get("labels") or {}):
                            labels[_sanitize(t)] = pod["metadata"]["labels"][t]
                    targets.append({"targets": [f"{pod['status']['podIP']}:{p.get('containerPort')}"], "labels": labels})
            out.append(self._job(f"podMonitor/{ns}/{md['name']}/{i}", ep, targets))
        return out

    def config(self) -> str:
        cfg = {"global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL,
                          "evaluation_interval": SCRAPE_INTERVAL,
                          "external_labels": {"prometheus": f"{UWM_NS}/user-workload"}},
               "scrape_configs": self.jobs()}
        # JSON is YAML to Prometheus, and json.dumps is much cheaper than a YAML dump every second
        return json.dumps(cfg, indent=1, sort_keys=True)

    # -- the process -----------------------------------------------------------------------
    def _write_config(self, text: str):
        os.makedirs(self.root, exist_ok=True)
        path = os.path.join(self.root, "prometheus.yml")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        self.config_text = text

    def _start_prometheus(self, text: str, flags: tuple):
        if not os.access(PROMETHEUS, os.X_OK):
            log.warning("%s is not installed (testbed/deps.sh installs it): user workload monitoring has no "
                        "Prometheus", PROMETHEUS)
            return
        self._write_config(text)
        retention, size, level = flags
        self.port = _free_port()
        argv = [PROMETHEUS, f"--config.file={os.path.join(self.root, 'prometheus.yml')}",
                f"--storage.tsdb.path={os.path.join(self.root, 'data')}",
                f"--web.listen-address={ADDRESS}:{self.port}", "--web.enable-lifecycle",
                f"--storage.tsdb.retention.time={retention}", f"--log.level={level}"]
        if size:
            argv.append(f"--storage.tsdb.retention.size={size}")
        logs = os.path.join(os.path.dirname(self.root), "logs")
        os.makedirs(logs, exist_ok=True)
        t0 = time.monotonic()
        with open(os.path.join(logs, "prometheus.log"), "ab") as logf:
            logf.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         cwd=self.root, preexec_fn=_die_with_parent)
        self.flags = flags
        self.ready_seconds = None
        deadline = t0 + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self._http("GET", "/-/ready", timeout=1)[0] == 200:
                self.ready_seconds = round(time.monotonic() - t0, 2)
                break
            time.sleep(0.1)
        log.info("prometheus (pid %d) on %s:%d %s", self.proc.pid, ADDRESS, self.port,
                 f"ready in {self.ready_seconds}s" if self.ready_seconds is not None else "NOT ready")

    def _reload(self, text: str):
        self._write_config(text)
        status, body = self._http("POST", "/-/reload", timeout=30)
        if status != 200:
            log.warning("prometheus reload: HTTP %s %s", status, body[:300])
        else:
            log.info("prometheus configuration reloaded (%d jobs)", text.count('"job_name":'))

    def _stop_prometheus(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.config_text = ""
        log.info("prometheus stopped")

    def _http(self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[dict] = None,
              timeout: float = 30) -> tuple:
        req = urllib.request.Request(f"http://{ADDRESS}:{self.port}{path}", data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (OSError, urllib.error.URLError) as e:
            return None, str(e).encode()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- record ----------------------------------------------------------------------------
    def _record(self):
        host = f"{QUERY_ROUTE}-{CMO_NS}.{ingress_domain(self.mgr)}"
        want = {"query-address": f"{ADDRESS}:{self.query_port}", "query-host": host,
                "query-url": f"https://{host}", "ca.crt": self.ca_pem.decode(),
                "user-workload": "true" if self.enabled else "false", "scrape-interval": SCRAPE_INTERVAL}
        if self.running():
            want["prometheus-address"] = f"{ADDRESS}:{self.port}"
            if self.ready_seconds is not None:
                want["prometheus-ready-seconds"] = str(self.ready_seconds)
        cur = self.mgr.get(R.CONFIGMAP, RECORD_CM, RECORD_NS)
        if cur is not None and (cur.get("data") or {}) == want:
            return
        self.mgr.ensure_namespace(RECORD_NS)
        body = {"metadata": {"name": RECORD_CM, "namespace": RECORD_NS,
                             "labels": {"app.kubernetes.io/part-of": "testbed"}}, "data": want}
        if cur is None:
            self.mgr.apply(R.CONFIGMAP, body, "testbed-monitoring")
        else:  # keys that went away must go: a full replace
            body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            out = self.kube.request("PUT", R.CONFIGMAP.path(RECORD_NS, RECORD_CM), body=dict(
                body, apiVersion="v1", kind="ConfigMap"))
            self.mgr.informer(R.CONFIGMAP).upsert(out)

    # -- the scrape proxy (pod network) ----------------------------------------------------
    def scrape(self, host: str, path: str) -> tuple:
        """(status, content type, body) of a scrape of ``http://<pod ip>:<port><path>``."""
        pod = next((p for p in self.mgr.informer(R.POD).items() if dig(p, "status", "podIP") == host and _pod_running(p)),
                   None)
        if pod is None:
            return 502, "text/plain", b"no running pod has this IP\n"
        md = pod["metadata"]
        isvc = (md.get("labels") or {}).get(ISVC_LABEL)
        if not isvc:  # the testbed simulates no metrics for other pods: an empty page (target up, no series)
            return 200, "text/plain; version=0.0.4", b""
        first = next((p for p in self.mgr.informer(R.POD).items(namespace=md["namespace"], selector={ISVC_LABEL: isvc})
                      if _pod_running(p)), None)
        peers = sorted(p["metadata"]["name"] for p in self.mgr.informer(R.POD).items(
            namespace=md["namespace"], selector={ISVC_LABEL: isvc}) if _pod_running(p))
        if first is None or not peers or peers[0] != md["name"]:
            return 200, "text/plain; version=0.0.4", b""
        ing = dig(self.mgr.get(R.CONFIGMAP, "testbed-ingress", RECORD_NS), "data", "http-address")
        if not ing:
            return 503, "text/plain", b"the testbed ingress has not recorded its address yet\n"
        if path.split("?", 1)[0] == "/stats/prometheus":  # Istio's merged metrics: the app's metrics
            path = "/metrics"
        req = urllib.request.Request(f"http://{ing}{path}",
                                     headers={"Host": f"{isvc}-predictor.{md['namespace']}.svc.cluster.local"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", "text/plain"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", "text/plain"), e.read()
        except (OSError, urllib.error.URLError) as e:
            return 502, "text/plain", f"{e}\n".encode()

    # -- the query front (Thanos querier) --------------------------------------------------
    def authorize(self, authorization: Optional[str]) -> Optional[tuple]:
        """None when allowed, else (status, text). The token never leaves this function."""
        token = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
        if not token:
            return 401, "Unauthorized: a bearer token is required"
        try:
            tr = self.kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", body={
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        except ApiError as e:
            log.warning("TokenReview: HTTP %s", e.status)
            return 401, "Unauthorized: token review failed"
        if not dig(tr, "status", "authenticated"):
            return 401, "Unauthorized: the token is not valid"
        user = dig(tr, "status", "user", default={}) or {}
        try:
            sar = self.kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body={
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user.get("username"), "groups": user.get("groups") or [], "uid": user.get("uid"),
                         "resourceAttributes": {"verb": "get", "resource": "namespaces"}}})
        except ApiError as e:
            log.warning("SubjectAccessReview: HTTP %s", e.status)
            return 403, "Forbidden: subject access review failed"
        if not dig(sar, "status", "allowed"):
            return 403, f"Forbidden: {user.get('username')} cannot get namespaces (cluster-monitoring-view)"
        return None

    def query(self, method: str, path: str, body: bytes, ctype: Optional[str]) -> tuple:
        bare = path.split("?", 1)[0]
        m = API_PATHS.match(bare)
        if not m:
            return 404, "text/plain", b"404 page not found\n"
        if not self.running():
            kind = m.group(1)
            data = {"resultType": "vector", "result": []} if kind in ("query", "query_range") else []
            if kind == "query_range":
                data["resultType"] = "matrix"
            return 200, "application/json", json.dumps({"status": "success", "data": data}).encode()
        status, out = self._http(method, path, body if method == "POST" else None,
                                 {"Content-Type": ctype} if ctype else None, timeout=60)
        if status is None:
            return 503, "text/plain", b"the user workload Prometheus is not reachable\n"
        return status, "application/json", out


def _die_with_parent():
    """Child side of fork: SIGTERM when the sim dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, stack: Stack):
        self.stack = stack
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    timeout = 60

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status, ctype, out: bytes, extra: Optional[dict] = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length and length.isdigit() else b""


class _ProxyHandler(_Handler):
    """HTTP forward proxy: ``GET http://<pod ip>:<port>/metrics`` from Prometheus."""

    server_version = "testbed-pod-network"

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        if not parts.hostname:
            return self._reply(400, "text/plain", b"a proxy request needs an absolute URL\n")
        try:
            status, ctype, out = self.server.stack.scrape(parts.hostname, parts.path + (
                "?" + parts.query if parts.query else ""))
        except Exception:  # noqa: BLE001
            log.exception("scrape %s", self.path)
            status, ctype, out = 500, "text/plain", b"internal error in the testbed scrape proxy\n"
        return self._reply(status, ctype, out)


class _QueryHandler(_Handler):
    """HTTPS query front of Route ``openshift-monitoring/thanos-querier``."""

    server_version = "thanos-querier"

    def setup(self):
        self.request.settimeout(self.timeout)
        self.request = self.server.stack.query_ctx.wrap_socket(self.request, server_side=True)
        super().setup()

    def _serve(self):
        body = self._body()
        denied = self.server.stack.authorize(self.headers.get("Authorization"))
        if denied:
            status, text = denied
            extra = {"WWW-Authenticate": 'Bearer realm="openshift-monitoring"'} if status == 401 else {}
            return self._reply(status, "text/plain", (text + "\n").encode(), extra)
        try:
            status, ctype, out = self.server.stack.query(self.command, self.path, body,
                                                         self.headers.get("Content-Type"))
        except Exception:  # noqa: BLE001
            log.exception("query %s", self.path.split("?", 1)[0])
            status, ctype, out = 500, "text/plain", b"internal error in the testbed query front\n"
        return self._reply(status, ctype, out)

    do_GET = do_POST = _serve


# -- controllers ---------------------------------------------------------------------------
class MonitoringController(Controller):
    """Starts the stack; a change of either monitoring ConfigMap wakes it up at once."""

    name = "monitoring"
    primary = R.CONFIGMAP

    def __init__(self, mgr):
        super().__init__(mgr)
        for res in (SERVICEMONITOR, PODMONITOR, STATEFULSET, R.POD, R.SERVICE, R.ROUTE, R.NAMESPACE):
            mgr.informer(res)
        self.stack = Stack(mgr)
        self.stack.start()

    def reconcile(self, ns, name):
        if (ns, name) in ((CMO_NS, CMO_CM), (UWM_NS, UWM_CM)):
            self.stack.kick()
        return None


class MetricsObjectsController(Controller):
    """odh-model-controller's ``<isvc>-metrics`` Service and ServiceMonitor (see the module docstring)."""

    name = "isvc-metrics"
    primary = R.ISVC
    owns = (R.SERVICE,)
    triggers = (R.SERVINGRUNTIME,)

    def reconcile(self, ns, name):
        from .kserve import apps_ns, resolve_runtime

        isvc = self.mgr.get(R.ISVC, name, ns)
        if isvc is None or isvc["metadata"].get("deletionTimestamp"):
            return None
        if not deployment_ready(self.mgr.get(R.DEPLOYMENT, "odh-model-controller", apps_ns(self.mgr))):
            return 5.0
        if not self.mgr.informer(SERVICEMONITOR).served:
            return 5.0
        sr, err = resolve_runtime(self.mgr, isvc)
        ann = dig(sr, "spec", "annotations", default={}) or {}
        port = ann.get("prometheus.io/port")
        if err or not port or not str(port).isdigit():
            return None  # "No Prometheus annotations on ServingRuntime, skipping"
        sname = f"{name}-metrics"
        pname = f"{sr['metadata']['name']}-metrics"[:63]
        labels = {"name": sname, "app.kubernetes.io/managed-by": OMC}
        self.mgr.apply(R.SERVICE, {"metadata": meta(sname, ns, labels, owner=isvc), "spec": {
            "selector": {ISVC_LABEL: name}, "ports": [
                {"name": pname, "port": int(port), "targetPort": int(port), "protocol": "TCP"}]}}, OMC)
        self.mgr.apply(SERVICEMONITOR, {"metadata": meta(sname, ns, labels, owner=isvc), "spec": {
            "selector": {"matchLabels": {"name": sname}},
            "endpoints": [{"port": pname, "path": ann.get("prometheus.io/path") or "/metrics", "scheme": "http"}]}},
            OMC)
        return None


CONTROLLERS = [MonitoringController, MetricsObjectsController]
