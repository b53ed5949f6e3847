"""Serving data path of the testbed: a real HTTPS ingress on loopback in front of the model-server simulator.

Started by the sim process (``python -m testbed.sim``) after the informers are synced:

* an HTTPS listener on ``127.0.0.1:<free port>`` that plays the OpenShift router + Istio ingress
  gateway. Per SNI host it serves the certificate a real cluster would serve:
  a Route with that host and ``edge``/``reencrypt`` termination -> the Route's own certificate, else
  the router's default certificate (``openshift-ingress/router-certs-default``); otherwise the
  TLS secret (``credentialName``) of the Istio Gateway server whose hosts match (``*.<domain>`` of
  ``knative-serving/knative-ingress-gateway``: ``knative-serving-cert`` from the operator,
  ``wildcard-certs`` from the manual path), looked up in the mesh namespace; otherwise a
  certificate signed by a CA the testbed generates (``fallback-ca.crt`` below);
* a plain HTTP listener on another free loopback port for cluster-local names
  (``<isvc>-predictor.<ns>.svc.cluster.local``: what a port-forward reaches);
* routing by ``Host`` header to the InferenceService whose ``status.url`` (Serverless) or Route
  ``spec.host`` (RawDeployment, the Serverless passthrough Route, or a ModelMesh model's Route
  labelled ``inferenceservice-name``) has that host;
  only a Ready InferenceService is served (503 ``no healthy upstream`` otherwise; an unknown host
  gets the router's 503 ``Application is not available``);
* token auth as Authorino does it: when the InferenceService's AuthConfig asks for a
  ``kubernetesTokenReview`` (or, without an AuthConfig, the ISVC is annotated
  ``security.opendatahub.io/enable-auth: "true"``), the bearer token is sent to the kube-apiserver
  as a TokenReview, then a SubjectAccessReview for ``get`` on that InferenceService
  (group ``serving.kserve.io``) in its namespace: 401 without a token or with a bad one, 403 without
  the permission; a ModelMesh model (:mod:`testbed.sim.modelmesh`) asks for a token when its runtime is
  annotated ``enable-auth: "true"`` and the SubjectAccessReview is the oauth-proxy's (``get`` on the
  project's Services). ``/metrics`` is not authenticated (the ``kserve-predictor`` AuthorizationPolicy
  excludes it);
* the answer itself comes from :mod:`testbed.sim.modelserver`.

Where to connect is recorded in ConfigMap ``testbed-system/testbed-ingress``: ``address``
(``127.0.0.1``), ``https-port``, ``http-port``, ``https-address`` / ``http-address``
(``127.0.0.1:<port>``, usable as a curl ``--resolve`` target) and ``fallback-ca.crt``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlsplit

from . import modelmesh
from . import resources as R
from .kserve import resolve_runtime
from .kube import ApiError
from .modelserver import Model, ModelServer
from .rhoai import ingress_domain, the_dsci
from .util import dig

log = logging.getLogger("sim.ingress")

NAMESPACE = "testbed-system"
CONFIGMAP = "testbed-ingress"
MANAGER = "testbed-ingress"
ADDRESS = "127.0.0.1"
AUTH_ANNOTATIONS = ("security.opendatahub.io/enable-auth", "enable-auth")
ROUTER_DEFAULT = ("openshift-ingress", "router-certs-default")


def _host_of(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    try:
        return (urlsplit(url).hostname or "").lower() or None
    except ValueError:
        return None


def host_matches(pattern: str, host: str) -> bool:
    """Istio Gateway host matching: ``*``, ``*.suffix`` (any depth) or exact; ``ns/`` prefix ignored."""
    pattern = pattern.split("/", 1)[-1].lower()
    host = host.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return pattern == host


def _ready(isvc: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in dig(isvc, "status", "conditions", default=[]) or [])


def _b64(data: dict, key: str) -> Optional[bytes]:
    import base64

    v = (data or {}).get(key)
    return base64.b64decode(v) if v else None


def _fallback_material(domain: str) -> tuple:
    """(CA PEM, certificate PEM, key PEM): a testbed CA and a wildcard certificate it signs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = _dt.datetime.now(_dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "testbed"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "testbed ingress fallback CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(minutes=5))
          .not_valid_after(now + _dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("*." + domain), x509.DNSName(domain), x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address(ADDRESS))]
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*." + domain)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(now + _dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(sans), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), leaf.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class Ingress:
    """The HTTPS ingress, the cluster-local HTTP listener and the auth; see the module docstring."""

    def __init__(self, mgr):
        self.mgr = mgr
        self.kube = mgr.kube
        self.server = ModelServer()
        self.tmp = tempfile.mkdtemp(prefix="sim-ingress-")
        self.contexts: dict = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.servers: list = []
        self.https_port = 0
        self.http_port = 0
        self.fallback_ca = b""
        self.fallback = (b"", b"")

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> "Ingress":
        ca, crt, key = _fallback_material(ingress_domain(self.mgr))
        self.fallback_ca, self.fallback = ca, (crt + ca, key)
        base = self._context(*self.fallback)
        base.sni_callback = self._sni
        self.base_ctx = base
        https = _Server((ADDRESS, 0), _Handler, self, tls=True)
        http = _Server((ADDRESS, 0), _Handler, self, tls=False)
        self.https_port, self.http_port = https.server_address[1], http.server_address[1]
        for srv, name in ((https, "ingress-https"), (http, "ingress-http")):
            self.servers.append(srv)
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.5}, name=name, daemon=True).start()
        threading.Thread(target=self._record_loop, name="ingress-record", daemon=True).start()
        log.info("serving data path: https://%s:%d (TLS, routed by SNI/Host), http://%s:%d (cluster-local names)",
                 ADDRESS, self.https_port, ADDRESS, self.http_port)
        return self

    def stop(self):
        self.stop_event.set()
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _record_loop(self):
        """Writes ConfigMap testbed-system/testbed-ingress, again whenever it went missing or changed."""
        wait = 0.0
        while not self.stop_event.wait(wait):
            try:
                self.record()
                wait = 10.0
            except Exception as e:  # noqa: BLE001
                log.warning("recording %s/%s: %s", NAMESPACE, CONFIGMAP, e)
                wait = 2.0

    def data(self) -> dict:
        return {"address": ADDRESS, "https-port": str(self.https_port), "http-port": str(self.http_port),
                "https-address": f"{ADDRESS}:{self.https_port}", "http-address": f"{ADDRESS}:{self.http_port}",
                "fallback-ca.crt": self.fallback_ca.decode()}

    def record(self):
        cur = self.mgr.get(R.CONFIGMAP, CONFIGMAP, NAMESPACE)
        want = self.data()
        if cur is not None and (cur.get("data") or {}) == want:
            return
        self.mgr.ensure_namespace(NAMESPACE)
        self.mgr.apply(R.CONFIGMAP, {"metadata": {"name": CONFIGMAP, "namespace": NAMESPACE,
                                                  "labels": {"app.kubernetes.io/part-of": "testbed"}},
                                     "data": want}, MANAGER)

    # -- TLS -------------------------------------------------------------------------------
    def _context(self, crt: bytes, key: bytes) -> ssl.SSLContext:
        digest = hashlib.sha256(crt + b"\0" + key).hexdigest()
        with self.lock:
            ctx = self.contexts.get(digest)
            if ctx is not None:
                return ctx
            path = os.path.join(self.tmp, digest[:32])
            with open(os.open(path + ".crt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(crt)
            with open(os.open(path + ".key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(key)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.set_alpn_protocols(["http/1.1"])
            try:
                ctx.load_cert_chain(path + ".crt", path + ".key")
            finally:
                os.unlink(path + ".key")
            if len(self.contexts) > 64:
                self.contexts.clear()
            self.contexts[digest] = ctx
            return ctx

    def _sni(self, sslsock, server_name, _ctx):
        sslsock.sni_name = (server_name or "").lower()
        if not server_name:
            return None
        try:
            crt, key, source = self.certificate_for(server_name.lower())
            if source != "fallback":
                sslsock.context = self._context(crt, key)
            sslsock.cert_source = source
        except Exception as e:  # noqa: BLE001 - a broken secret: serve the fallback certificate
            log.warning("certificate for %s: %s", server_name, e)
        return None

    def _secret_pair(self, name: str, namespace: str) -> Optional[tuple]:
        sec = self.kube.get(R.SECRET, name, namespace)
        if not sec:
            return None
        crt, key = _b64(sec.get("data"), "tls.crt"), _b64(sec.get("data"), "tls.key")
        return (crt, key) if crt and key else None

    def mesh_namespaces(self) -> list:
        out = [dig(the_dsci(self.mgr), "spec", "serviceMesh", "controlPlane", "namespace"), "istio-system"]
        for d in self.mgr.informer(R.DEPLOYMENT).items(selector={"istio": "ingressgateway"}):
            out.append(d["metadata"]["namespace"])
        seen = []
        for n in out:
            if n and n not in seen:
                seen.append(n)
        return seen

    def certificate_for(self, host: str) -> tuple:
        """(certificate PEM, key PEM, source) served for SNI ``host``."""
        route = self.route_for(host)
        term = dig(route, "spec", "tls", "termination")
        if route is not None and term in ("edge", "reencrypt"):
            tls = dig(route, "spec", "tls", default={})
            if tls.get("certificate") and tls.get("key"):
                return tls["certificate"].encode(), tls["key"].encode(), "route " + route["metadata"]["name"]
            pair = self._secret_pair(*reversed(ROUTER_DEFAULT))
            if pair:
                return pair[0], pair[1], "secret %s/%s" % ROUTER_DEFAULT
            return self.fallback[0], self.fallback[1], "fallback"
        gws = self.mgr.informer(R.GATEWAY)
        for gw in gws.items() if gws.served else []:
            for srv in dig(gw, "spec", "servers", default=[]) or []:
                tls = srv.get("tls") or {}
                if (dig(srv, "port", "protocol") or "").upper() != "HTTPS" or not tls.get("credentialName") \
                        or (tls.get("mode") or "SIMPLE") != "SIMPLE":
                    continue
                if not any(host_matches(h, host) for h in srv.get("hosts") or []):
                    continue
                for ns in self.mesh_namespaces() + [gw["metadata"]["namespace"]]:
                    pair = self._secret_pair(tls["credentialName"], ns)
                    if pair:
                        return pair[0], pair[1], f"secret {ns}/{tls['credentialName']}"
        return self.fallback[0], self.fallback[1], "fallback"

    # -- routing ---------------------------------------------------------------------------
    def route_for(self, host: str) -> Optional[dict]:
        routes = self.mgr.informer(R.ROUTE)
        for r in routes.items() if routes.served else []:
            if (dig(r, "spec", "host") or "").lower() == host and not r["metadata"].get("deletionTimestamp"):
                return r
        return None

    def isvc_for(self, host: str, tls: bool) -> Optional[dict]:
        isvcs = self.mgr.informer(R.ISVC)
        if not isvcs.served:
            return None
        items = isvcs.items()
        if tls:
            for i in items:
                if _host_of(dig(i, "status", "url")) == host and dig(i, "status", "url", default="").startswith("https:"):
                    return i
            route = self.route_for(host)
            if route is not None:
                labels = route["metadata"].get("labels") or {}
                name = labels.get("serving.kserve.io/inferenceservice") or labels.get("inferenceservice-name")
                ns = labels.get("serving.kserve.io/inferenceservice-namespace") or route["metadata"]["namespace"]
                if not name:
                    name = next((o.get("name") for o in route["metadata"].get("ownerReferences") or []
                                 if o.get("kind") == "InferenceService"), None)
                if not name:
                    to = dig(route, "spec", "to", "name") or ""
                    name = to[:-len("-predictor")] if to.endswith("-predictor") else None
                if name:
                    return isvcs.get(name, ns)
            return None
        for i in items:
            md = i["metadata"]
            local = {f"{md['name']}-predictor.{md['namespace']}{s}" for s in (".svc.cluster.local", ".svc", "")}
            for u in (dig(i, "status", "url"), dig(i, "status", "address", "url")):
                h = _host_of(u)
                if h and (u or "").startswith("http:"):
                    local.add(h)
            if host in local:
                return i
        return None

    # -- auth ------------------------------------------------------------------------------
    def auth_required(self, isvc: dict) -> bool:
        if modelmesh.is_modelmesh(isvc):  # ModelMesh: the runtime's oauth-proxy (testbed/sim/modelmesh.py)
            return modelmesh.auth_required(self.mgr, isvc)
        md = isvc["metadata"]
        acs = self.mgr.informer(R.AUTHCONFIG)
        ac = acs.get(md["name"], md["namespace"]) if acs.served else None
        if ac is not None:
            return any("kubernetesTokenReview" in (v or {}) for v in (dig(ac, "spec", "authentication", default={}) or {}).values())
        ann = md.get("annotations") or {}
        return any(str(ann.get(a, "")).lower() == "true" for a in AUTH_ANNOTATIONS)

    def ext_authz_down(self, isvc: dict) -> bool:
        """True when the ISVC's calls go through Authorino (it has an AuthConfig) and no Authorino
        instance has an available pod: the gateway's ext-authz call then fails and Envoy answers 403.
        A rolling update of Deployment ``authorino`` (what the Authorino operator does when it is
        upgraded) keeps an available pod, so calls keep being authorized through it."""
        acs, auths = self.mgr.informer(R.AUTHCONFIG), self.mgr.informer(R.AUTHORINO)
        if not (acs.served and auths.served) or modelmesh.is_modelmesh(isvc):
            return False
        md = isvc["metadata"]
        if acs.get(md["name"], md["namespace"]) is None:
            return False
        instances = auths.items()
        if not instances:
            return False
        for a in instances:
            dep = self.mgr.get(R.DEPLOYMENT, a["metadata"]["name"], a["metadata"]["namespace"])
            if dep and (dig(dep, "status", "availableReplicas", default=0) or 0) >= 1:
                return False
        return True

    def authorize(self, isvc: dict, authorization: Optional[str]) -> Optional[tuple]:
        """None when allowed, else (status, reason). The token never leaves this function."""
        token = None
        if authorization and authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        if not token:
            return 401, "credential not found"
        try:
            tr = self.kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", body={
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        except ApiError as e:
            log.warning("TokenReview: HTTP %s", e.status)
            return 401, "token review failed"
        if not dig(tr, "status", "authenticated"):
            return 401, "the token is not authenticated"
        user = dig(tr, "status", "user", "username")
        md = isvc["metadata"]
        attributes = {"verb": "get", "group": "serving.kserve.io", "resource": "inferenceservices",
                      "name": md["name"], "namespace": md["namespace"]}
        if modelmesh.is_modelmesh(isvc):  # ModelMesh: the oauth-proxy's check (testbed/sim/modelmesh.py)
            attributes = modelmesh.oauth_sar(isvc)
        try:
            sar = self.kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body={
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user, "resourceAttributes": attributes}})
        except ApiError as e:
            log.warning("SubjectAccessReview: HTTP %s", e.status)
            return 403, "subject access review failed"
        if not dig(sar, "status", "allowed"):
            return 403, "Unauthorized"
        return None

    # -- one request -----------------------------------------------------------------------
    def serve(self, tls: bool, host: str, method: str, path: str, headers, body: bytes) -> tuple:
        """(status, content type, body, extra headers) for one request."""
        isvc = self.isvc_for(host, tls)
        if isvc is None:
            return (503, "text/html", b"<html><body><h1>Application is not available</h1>"
                    b"<p>The application is currently not serving requests at this endpoint.</p></body></html>\n", {})
        if not _ready(isvc):
            return 503, "text/plain", b"no healthy upstream", {}
        sr, _ = resolve_runtime(self.mgr, isvc)
        model = Model(isvc, sr)
        bare = path.split("?", 1)[0].rstrip("/")
        if bare != "/metrics" and self.ext_authz_down(isvc):
            self.server.stats.add(model, "testbed_modelserver_requests_total",
                                  {"path": path.split("?", 1)[0], "code": "403"})
            return 403, "text/plain", b"", {"x-ext-auth-reason": "ext_authz_error: no available Authorino instance"}
        if bare != "/metrics" and self.auth_required(isvc):
            denied = self.authorize(isvc, headers.get("Authorization"))
            if denied:
                status, reason = denied
                self.server.stats.add(model, "testbed_modelserver_requests_total",
                                      {"path": path.split("?", 1)[0], "code": str(status)})
                extra = {"x-ext-auth-reason": reason}
                if status == 401:
                    extra["www-authenticate"] = 'Bearer realm="kubernetes-user"'
                return status, "text/plain", b"", extra
        t0 = time.monotonic()
        status, ctype, out = self.server.handle(model, method, path, body, latency_s=0.001)
        extra = {"x-envoy-upstream-service-time": str(max(int((time.monotonic() - t0) * 1000), 1))}
        return status, ctype, out, extra


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, ingress: Ingress, tls: bool):
        self.ingress = ingress
        self.tls = tls
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "istio-envoy"
    sys_version = ""
    timeout = 60

    def setup(self):
        if self.server.tls:
            self.request.settimeout(self.timeout)
            self.request = self.server.ingress.base_ctx.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self):
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._reply(411, "text/plain", b"chunked request bodies are not supported", {})
        try:
            body = self.rfile.read(int(length)) if length else b""
        except ValueError:
            return self._reply(400, "text/plain", b"bad Content-Length", {})
        host = (self.headers.get("Host") or getattr(self.request, "sni_name", "") or "").lower()
        if host.startswith("["):
            host = host.split("]", 1)[0] + "]"
        else:
            host = host.split(":", 1)[0]
        try:
            status, ctype, out, extra = self.server.ingress.serve(self.server.tls, host, self.command, self.path,
                                                                  self.headers, body)
        except Exception:  # noqa: BLE001
            log.exception("serving %s %s for %s", self.command, self.path, host)
            status, ctype, out, extra = 500, "text/plain", b"internal error in the testbed ingress", {}
        log.debug("%s %s %s -> %d", host, self.command, self.path.split("?", 1)[0], status)
        self._reply(status, ctype, out, extra)
        return None

    def _reply(self, status, ctype, out: bytes, extra: dict):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


def start(mgr) -> Optional[Ingress]:
    """Start the data path; None (and a warning in the log) when it cannot start."""
    try:
        return Ingress(mgr).start()
    except (OSError, socket.error, ImportError) as e:
        log.warning("the serving data path did not start: %s", e)
        return None
