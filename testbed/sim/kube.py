"""Thin REST layer over the kubernetes client's connection settings.

Every kind is addressed through a `Res` descriptor (group, version, plural, namespaced, kind), so the
same code paths serve core kinds, apps kinds and custom resources whose CRD may not exist yet.
`Informer` keeps an in-memory cache of one kind, fed by a list+watch loop in a thread that
reconnects on errors and relists when the resourceVersion expires.
"""

from __future__ import annotations

import atexit
import base64
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import urllib3
import yaml

log = logging.getLogger("sim.kube")


@dataclass(frozen=True)
class Res:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: Optional[str] = None, name: Optional[str] = None, sub: Optional[str] = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


class ApiError(Exception):
    def __init__(self, status: int, body: str, method: str = "", path: str = ""):
        self.status = status
        self.body = body
        try:
            self.obj = json.loads(body)
        except Exception:  # noqa: BLE001
            self.obj = {}
        self.message = self.obj.get("message", body[:500]) if isinstance(self.obj, dict) else body[:500]
        super().__init__(f"{method} {path}: {status} {self.message}")


class Kube:
    """Minimal REST client: get/list/create/apply/patch/delete and raw watch streams."""

    def __init__(self, kubeconfig: str):
        # A small kubeconfig reader (client certificate or token, inline or file): importing the
        # kubernetes client's generated models costs seconds at start-up.
        with open(kubeconfig) as f:
            kc = yaml.safe_load(f)
        ctx_name = kc.get("current-context") or kc["contexts"][0]["name"]
        ctx = next(c["context"] for c in kc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in kc.get("users") or [] if u["name"] == ctx.get("user")), {}) or {}
        base = os.path.dirname(os.path.abspath(kubeconfig))
        self._tmp = tempfile.mkdtemp(prefix="sim-kube-")
        atexit.register(shutil.rmtree, self._tmp, True)

        def material(key: str) -> Optional[str]:
            for src in (cluster, user):
                if src.get(key + "-data"):
                    path = os.path.join(self._tmp, key)
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                        fh.write(base64.b64decode(src[key + "-data"]))
                    return path
                if src.get(key):
                    return src[key] if os.path.isabs(src[key]) else os.path.join(base, src[key])
            return None

        self.host = cluster["server"].rstrip("/")
        self.token = user.get("token")
        ca = material("certificate-authority")
        kw = {"maxsize": 96, "block": False}
        if cluster.get("insecure-skip-tls-verify"):
            kw["cert_reqs"] = "CERT_NONE"
        else:
            kw["cert_reqs"] = "CERT_REQUIRED"
            if ca:
                kw["ca_certs"] = ca
        cert, key = material("client-certificate"), material("client-key")
        if cert and key:
            kw["cert_file"], kw["key_file"] = cert, key
        self.pool = urllib3.PoolManager(**kw)

    def _headers(self, content_type: Optional[str] = None) -> dict:
        h = {"Accept": "application/json"}
        if content_type:
            h["Content-Type"] = content_type
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        return h

    def request(self, method: str, path: str, body=None, query: Optional[dict] = None,
                content_type: str = "application/json", timeout: float = 30, stream: bool = False):
        url = self.host + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        resp = self.pool.request(
            method, url, body=data, headers=self._headers(content_type if body is not None else None),
            preload_content=not stream,
            timeout=urllib3.Timeout(connect=10, read=timeout),
        )
        if stream:
            if resp.status >= 300:
                text = resp.read().decode(errors="replace")
                resp.release_conn()
                raise ApiError(resp.status, text, method, path)
            return resp
        text = resp.data.decode(errors="replace")
        if resp.status >= 300:
            raise ApiError(resp.status, text, method, path)
        return json.loads(text) if text else {}

    # -- verbs ---------------------------------------------------------------------------
    def get(self, res: Res, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        try:
            return self.request("GET", res.path(namespace, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def list(self, res: Res, namespace: Optional[str] = None, label_selector: Optional[str] = None) -> list:
        try:
            out = self.request("GET", res.path(namespace), query={"labelSelector": label_selector})
        except ApiError as e:
            if e.status == 404:
                return []
            raise
        return out.get("items", [])

    def create(self, res: Res, obj: dict, namespace: Optional[str] = None) -> dict:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        return self.request("POST", res.path(ns if res.namespaced else None), body=obj)

    def create_if_missing(self, res: Res, obj: dict) -> tuple[dict, bool]:
        md = obj["metadata"]
        cur = self.get(res, md["name"], md.get("namespace"))
        if cur is not None:
            return cur, False
        try:
            return self.create(res, obj), True
        except ApiError as e:
            if e.status == 409:
                return self.get(res, md["name"], md.get("namespace")) or obj, False
            raise

    def apply(self, res: Res, obj: dict, manager: str, force: bool = True) -> dict:
        md = obj["metadata"]
        obj = dict(obj)
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        return self.request(
            "PATCH", res.path(md.get("namespace") if res.namespaced else None, md["name"]),
            body=json.dumps(obj), query={"fieldManager": manager, "force": "true" if force else None},
            content_type="application/apply-patch+yaml",
        )

    def patch(self, res: Res, name: str, patch: dict, namespace: Optional[str] = None,
              sub: Optional[str] = None, ptype: str = "merge") -> dict:
        ct = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
              "strategic": "application/strategic-merge-patch+json"}[ptype]
        return self.request("PATCH", res.path(namespace, name, sub), body=patch, content_type=ct)

    def patch_status(self, res: Res, obj: dict, status: dict, has_subresource: bool = True) -> dict:
        """Merge-patch `status` so that it becomes exactly `status` at the top level."""
        old = obj.get("status") or {}
        body = dict(status)
        for k in old:
            if k not in body:
                body[k] = None
        md = obj["metadata"]
        try:
            return self.patch(res, md["name"], {"status": body}, md.get("namespace"),
                              sub="status" if has_subresource else None)
        except ApiError as e:
            if e.status == 404 and has_subresource:
                return self.patch(res, md["name"], {"status": body}, md.get("namespace"))
            raise

    def delete(self, res: Res, name: str, namespace: Optional[str] = None, propagation: str = "Background") -> bool:
        try:
            self.request("DELETE", res.path(namespace, name), body={"propagationPolicy": propagation})
            return True
        except ApiError as e:
            if e.status == 404:
                return False
            raise


def key_of(obj: dict) -> tuple:
    md = obj.get("metadata", {})
    return (md.get("namespace") or "", md.get("name"))


class Informer:
    """List+watch cache for one kind; calls `on_event(type, obj)` for every change."""

    def __init__(self, kube: Kube, res: Res, on_event: Callable[[str, dict, "Informer"], None],
                 namespace: Optional[str] = None, label_selector: Optional[str] = None):
        self.kube = kube
        self.res = res
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_event = on_event
        self.cache: dict[tuple, dict] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.served = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{res.plural}", daemon=True)

    def start(self):
        self.thread.start()

    # -- read API --------------------------------------------------------------------------
    def get(self, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        with self.lock:
            return self.cache.get((namespace or "", name))

    def items(self, namespace: Optional[str] = None, selector: Optional[dict] = None) -> list:
        with self.lock:
            vals = list(self.cache.values())
        out = []
        for o in vals:
            md = o.get("metadata", {})
            if namespace is not None and md.get("namespace") != namespace:
                continue
            if selector:
                labels = md.get("labels") or {}
                if any(labels.get(k) != v for k, v in selector.items()):
                    continue
            out.append(o)
        out.sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"].get("name")))
        return out

    def upsert(self, obj: dict):
        """Write-through after our own writes, so the next reconcile sees them immediately."""
        if not obj or "metadata" not in obj:
            return
        k = key_of(obj)
        with self.lock:
            cur = self.cache.get(k)
            try:
                if cur is not None and int(cur["metadata"].get("resourceVersion", 0)) > int(obj["metadata"].get("resourceVersion", 0)):
                    return
            except ValueError:
                pass
            self.cache[k] = obj

    # -- loop ------------------------------------------------------------------------------
    def _run(self):
        backoff = 1.0
        while not self.stop.is_set():
            try:
                rv = self._relist()
                self.served = True
                self.synced.set()
                backoff = 1.0
                while not self.stop.is_set():
                    rv = self._watch(rv)
                    if rv is None:
                        break  # expired: relist
            except ApiError as e:
                if e.status == 404:
                    self.served = False
                    if self.cache:
                        self._replace({})
                    self.synced.set()
                    time.sleep(2)
                    continue
                log.warning("watch %s: %s", self.res.plural, e)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            except Exception as e:  # noqa: BLE001
                log.warning("watch %s: %r", self.res.plural, e)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)

    def _replace(self, new: dict):
        with self.lock:
            old = self.cache
            self.cache = new
        for k, o in old.items():
            if k not in new:
                self.on_event("DELETED", o, self)
        for k, o in new.items():
            prev = old.get(k)
            if prev is None or prev["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                self.on_event("ADDED" if prev is None else "MODIFIED", o, self)

    def _relist(self) -> str:
        out = self.kube.request("GET", self.res.path(self.namespace), query={"labelSelector": self.label_selector})
        new = {}
        for o in out.get("items", []):
            o.setdefault("apiVersion", self.res.api_version)
            o.setdefault("kind", self.res.kind)
            new[key_of(o)] = o
        self._replace(new)
        return out.get("metadata", {}).get("resourceVersion", "")

    def _watch(self, rv: str) -> Optional[str]:
        resp = self.kube.request(
            "GET", self.res.path(self.namespace), stream=True, timeout=330,
            query={"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true",
                   "timeoutSeconds": "300", "labelSelector": self.label_selector},
        )
        try:
            buf = b""
            for chunk in resp.stream(4096, decode_content=True):
                if self.stop.is_set():
                    return rv
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    typ, obj = ev.get("type"), ev.get("object") or {}
                    if typ == "ERROR":
                        if obj.get("code") == 410:
                            return None
                        log.warning("watch %s error: %s", self.res.plural, obj.get("message"))
                        return None
                    new_rv = obj.get("metadata", {}).get("resourceVersion")
                    if typ == "BOOKMARK":
                        rv = new_rv or rv
                        continue
                    rv = new_rv or rv
                    k = key_of(obj)
                    with self.lock:
                        if typ == "DELETED":
                            self.cache.pop(k, None)
                        else:
                            self.cache[k] = obj
                    self.on_event(typ, obj, self)
        finally:
            resp.release_conn()
        return rv


def iter_owner_keys(obj: dict, kind: str, namespaced: bool) -> Iterable[tuple]:
    md = obj.get("metadata", {})
    for ref in md.get("ownerReferences") or []:
        if ref.get("kind") == kind:
            yield ((md.get("namespace") or "") if namespaced else "", ref.get("name"))
