"""Controller manager: informers, a de-duplicating work queue with delayed requeue, periodic resync.

A controller declares its primary kind, the kinds it owns (events on those are mapped back to the
owner through ownerReferences) and the kinds that should re-trigger all its primaries. Its
`reconcile(ns, name)` reads the informer caches and writes through the manager, which skips writes
that would not change anything.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import logging
import threading
import time
from typing import Optional

from . import resources as R
from .kube import ApiError, Informer, Kube, Res, iter_owner_keys

log = logging.getLogger("sim")

RESYNC_SECONDS = 4.0
STATS_SECONDS = float(os.environ.get("SIM_STATS_SECONDS", "300"))


class Controller:
    name = "controller"
    primary: Res = None
    owns: tuple = ()
    triggers: tuple = ()

    def __init__(self, mgr: "Manager"):
        self.mgr = mgr
        self.kube = mgr.kube

    def reconcile(self, ns: str, name: str) -> Optional[float]:  # pragma: no cover - interface
        raise NotImplementedError

    def on_deleted(self, obj: dict) -> None:
        pass

    # convenience
    def cache(self, res: Res) -> Informer:
        return self.mgr.informer(res)


class Manager:
    def __init__(self, kube: Kube):
        self.kube = kube
        self.informers: dict[Res, Informer] = {}
        self.controllers: list[Controller] = []
        self.cv = threading.Condition()
        self.pending: list = []  # heap of (due, seq, (ctrl_idx, ns, name))
        self.queued: dict = {}  # key -> due
        self.seq = 0
        self.applied: dict = {}
        self.stop = threading.Event()
        self.deleted_objs: dict = {}
        self.stats: dict = {}

    # -- setup -----------------------------------------------------------------------------
    def informer(self, res: Res, namespace: Optional[str] = None) -> Informer:
        inf = self.informers.get(res)
        if inf is None:
            inf = Informer(self.kube, res, self._on_event, namespace=namespace)
            self.informers[res] = inf
            if self._started:
                inf.start()
        return inf

    _started = False

    def add(self, ctrl_cls) -> Controller:
        c = ctrl_cls(self)
        self.controllers.append(c)
        self.informer(c.primary)
        for r in c.owns:
            self.informer(r)
        for r in c.triggers:
            self.informer(r)
        return c

    def start(self):
        self._started = True
        for inf in list(self.informers.values()):
            inf.start()
        for inf in list(self.informers.values()):
            inf.synced.wait(30)
        threading.Thread(target=self._resync_loop, name="resync", daemon=True).start()
        for i in range(2):
            threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True).start()

    # -- events ----------------------------------------------------------------------------
    def _on_event(self, typ: str, obj: dict, inf: Informer):
        res = inf.res
        for idx, c in enumerate(self.controllers):
            if c.primary == res:
                ns = (obj["metadata"].get("namespace") or "") if res.namespaced else ""
                if typ == "DELETED":
                    try:
                        c.on_deleted(obj)
                    except Exception:  # noqa: BLE001
                        log.exception("%s on_deleted", c.name)
                self.enqueue(idx, ns, obj["metadata"]["name"])
            if res in c.owns:
                for ns, name in iter_owner_keys(obj, c.primary.kind, c.primary.namespaced):
                    self.enqueue(idx, ns, name)
            if res in c.triggers:
                self.enqueue_all(idx)

    def enqueue(self, idx: int, ns: str, name: str, after: float = 0.0):
        key = (idx, ns or "", name)
        due = time.monotonic() + after
        with self.cv:
            cur = self.queued.get(key)
            if cur is not None and cur <= due:
                return
            self.queued[key] = due
            self.seq += 1
            heapq.heappush(self.pending, (due, self.seq, key))
            self.cv.notify()

    def enqueue_all(self, idx: int, after: float = 0.0):
        c = self.controllers[idx]
        for o in self.informer(c.primary).items():
            self.enqueue(idx, o["metadata"].get("namespace") or "", o["metadata"]["name"], after)

    def enqueue_kind(self, res: Res):
        for idx, c in enumerate(self.controllers):
            if c.primary == res:
                self.enqueue_all(idx)

    def resync_all(self):
        for idx in range(len(self.controllers)):
            self.enqueue_all(idx)

    def _resync_loop(self):
        last = time.monotonic()
        while not self.stop.wait(RESYNC_SECONDS):
            self.resync_all()
            if time.monotonic() - last >= STATS_SECONDS:
                with self.cv:
                    stats, self.stats = self.stats, {}
                busy = sorted(stats.items(), key=lambda kv: -kv[1][1])
                log.info("reconciles in the last %ds: %s", int(time.monotonic() - last),
                         ", ".join(f"{k}={n}/{t:.1f}s" for k, (n, t) in busy[:8]))
                last = time.monotonic()

    _inflight: set = set()

    def _worker(self):
        while not self.stop.is_set():
            with self.cv:
                while True:
                    now = time.monotonic()
                    if self.pending and self.pending[0][0] <= now:
                        due, _, key = heapq.heappop(self.pending)
                        if self.queued.get(key) != due:
                            continue  # superseded by an earlier entry
                        if key in self._inflight:
                            # another worker is on it: retry shortly
                            self.seq += 1
                            heapq.heappush(self.pending, (now + 0.2, self.seq, key))
                            self.queued[key] = now + 0.2
                            continue
                        del self.queued[key]
                        self._inflight.add(key)
                        break
                    timeout = (self.pending[0][0] - now) if self.pending else 1.0
                    self.cv.wait(min(timeout, 1.0))
            idx, ns, name = key
            ctrl = self.controllers[idx]
            after = None
            t0 = time.monotonic()
            try:
                after = ctrl.reconcile(ns, name)
            except ApiError as e:
                log.warning("%s %s/%s: %s", ctrl.name, ns, name, e)
                after = 2.0
            except Exception:  # noqa: BLE001
                log.exception("%s %s/%s", ctrl.name, ns, name)
                after = 3.0
            finally:
                with self.cv:
                    self._inflight.discard(key)
                    st = self.stats.setdefault(ctrl.name, [0, 0.0])
                    st[0] += 1
                    st[1] += time.monotonic() - t0
            if after is not None:
                self.enqueue(idx, ns, name, after)

    # -- writes ----------------------------------------------------------------------------
    def apply(self, res: Res, obj: dict, manager: str = "sim") -> dict:
        """Server-side apply, skipped when the same content was applied and the object still exists."""
        md = obj["metadata"]
        ns = md.get("namespace") if res.namespaced else None
        digest = hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()
        k = (res.plural, res.group, ns or "", md["name"], manager)
        inf = self.informers.get(res)
        cur = inf.get(md["name"], ns) if inf is not None and inf.served else None
        # skip when we applied the same content to this object and nobody changed its spec since
        # (metadata.generation moves with every spec change, ours or someone else's)
        if cur is not None and self.applied.get(k) == (digest, cur["metadata"].get("uid"),
                                                       cur["metadata"].get("generation")):
            return cur
        out = self.kube.apply(res, obj, manager)
        self.applied[k] = (digest, out["metadata"].get("uid"), out["metadata"].get("generation"))
        if inf is not None:
            inf.upsert(out)
        return out

    def create_if_missing(self, res: Res, obj: dict) -> tuple[dict, bool]:
        md = obj["metadata"]
        inf = self.informers.get(res)
        if inf is not None and inf.served:
            cur = inf.get(md["name"], md.get("namespace") if res.namespaced else None)
            if cur is not None:
                return cur, False
        out, created = self.kube.create_if_missing(res, obj)
        if inf is not None:
            inf.upsert(out)
        return out, created

    def set_status(self, res: Res, obj: dict, status: dict, subresource: bool = True) -> dict:
        old = obj.get("status") or {}
        if _norm(old) == _norm(status):
            return obj
        out = self.kube.patch_status(res, obj, status, subresource)
        inf = self.informers.get(res)
        if inf is not None:
            inf.upsert(out)
        return out

    def patch(self, res: Res, name: str, patch: dict, namespace: Optional[str] = None, ptype: str = "merge") -> dict:
        out = self.kube.patch(res, name, patch, namespace, ptype=ptype)
        inf = self.informers.get(res)
        if inf is not None:
            inf.upsert(out)
        return out

    def delete(self, res: Res, name: str, namespace: Optional[str] = None) -> bool:
        return self.kube.delete(res, name, namespace)

    # -- reads -----------------------------------------------------------------------------
    def get(self, res: Res, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        return self.informer(res).get(name, namespace if res.namespaced else None)

    def ensure_namespace(self, name: str, labels: Optional[dict] = None) -> dict:
        cur = self.get(R.NAMESPACE, name)
        if cur is None:
            out, _ = self.kube.create_if_missing(R.NAMESPACE, {"metadata": {"name": name, "labels": labels or {}}})
            self.informer(R.NAMESPACE).upsert(out)
            return out
        if labels and any((cur["metadata"].get("labels") or {}).get(k) != v for k, v in labels.items()):
            return self.patch(R.NAMESPACE, name, {"metadata": {"labels": labels}})
        return cur


def _norm(status) -> str:
    """Status comparison ignoring timestamps that change on every write."""
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()
                    if k not in ("lastTransitionTime", "lastUpdateTime", "lastUpdatedTime", "lastUpdated",
                                 "lastHeartbeatTime", "lastProbeTime")}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    return json.dumps(strip(status), sort_keys=True)
