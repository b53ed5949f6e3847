"""Shared helpers: conditions, owner references, workload builders, readiness checks."""

from __future__ import annotations

import copy
import datetime as _dt
import random
import string
from typing import Iterable, Optional

from . import faults
from . import resources as R

INJECT = "sidecar.istio.io/inject"
MEMBER_OF = "maistra.io/member-of"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(n: int = 5) -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def dig(obj, *path, default=None):
    cur = obj
    for p in path:
        if isinstance(cur, dict):
            cur = cur.get(p)
        else:
            return default
        if cur is None:
            return default
    return cur


# -- conditions ------------------------------------------------------------------------------
def find_cond(conds: Optional[list], typ: str) -> Optional[dict]:
    for c in conds or []:
        if c.get("type") == typ:
            return c
    return None


def cond(old_conds: Optional[list], typ: str, status, reason: str = "", message: str = "",
         time_field: str = "lastTransitionTime", **extra) -> dict:
    """Build a condition, keeping the old transition time when the status did not change."""
    status = status if isinstance(status, str) else ("True" if status else "False")
    prev = find_cond(old_conds, typ)
    ts = prev.get(time_field) if prev and prev.get("status") == status and prev.get(time_field) else now()
    c = {"type": typ, "status": status}
    if reason:
        c["reason"] = reason
    c["message"] = message
    c[time_field] = ts
    c.update(extra)
    return c


def cond_true(obj: Optional[dict], typ: str) -> bool:
    c = find_cond(dig(obj, "status", "conditions"), typ)
    return bool(c) and c.get("status") == "True"


# -- ownership -------------------------------------------------------------------------------
def owner_ref(obj: dict, controller: bool = True) -> dict:
    return {
        "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True,
    }


def meta(name: str, namespace: Optional[str] = None, labels: Optional[dict] = None,
         annotations: Optional[dict] = None, owner: Optional[dict] = None) -> dict:
    md = {"name": name}
    if namespace:
        md["namespace"] = namespace
    if labels:
        md["labels"] = dict(labels)
    if annotations:
        md["annotations"] = dict(annotations)
    if owner is not None:
        owner_ns = owner["metadata"].get("namespace")
        # ownerReferences must not cross namespaces, and namespaced owners cannot own cluster objects
        if owner_ns is None or owner_ns == namespace:
            md["ownerReferences"] = [owner_ref(owner)]
    return md


# -- workloads -------------------------------------------------------------------------------
def container(name: str, image: str = "", ports: Iterable = (), **extra) -> dict:
    c = {"name": name, "image": image or f"registry.redhat.io/testbed/{name}:latest"}
    ps = []
    for p in ports:
        if isinstance(p, dict):
            ps.append(p)
        else:
            pname, num = p
            ps.append({"name": pname, "containerPort": num, "protocol": "TCP"})
    if ps:
        c["ports"] = ps
    c["resources"] = extra.pop("resources", {"requests": {"cpu": "10m", "memory": "32Mi"}})
    c.update(extra)
    return c


def pod_template(pod_labels: dict, containers: list, pod_annotations: Optional[dict] = None,
                 service_account: Optional[str] = None, **spec_extra) -> dict:
    md = {"labels": dict(pod_labels)}
    if pod_annotations:
        md["annotations"] = dict(pod_annotations)
    spec = {"containers": containers}
    if service_account:
        spec["serviceAccountName"] = service_account
    spec.update(spec_extra)
    return {"metadata": md, "spec": spec}


def deployment(mgr, name: str, namespace: str, pod_labels: dict, containers: list, *,
               replicas: int = 1, labels: Optional[dict] = None, annotations: Optional[dict] = None,
               selector: Optional[dict] = None, pod_annotations: Optional[dict] = None,
               owner: Optional[dict] = None, service_account: Optional[str] = None,
               **spec_extra) -> dict:
    """A Deployment whose pod template carries any fault annotations configured for `name`."""
    pa = dict(pod_annotations or {})
    pa.update(faults.pod_annotations(mgr, name))
    tmpl = pod_template(pod_labels, containers, pa, service_account, **spec_extra)
    if mgr is not None and injection_applies(mgr, tmpl, namespace) and \
            "istio-proxy" not in [c.get("name") for c in containers]:
        # what the mesh's injection webhook adds to every pod of the Deployment
        tmpl["spec"]["containers"] = list(containers) + [istio_proxy()]
    return {
        "metadata": meta(name, namespace, labels or pod_labels, annotations, owner),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector or pod_labels)},
            "template": tmpl,
        },
    }


def istio_proxy() -> dict:
    return container("istio-proxy", "registry.redhat.io/openshift-service-mesh/proxyv2-rhel8:2.6",
                     [("http-envoy-prom", 15090)])


def wants_injection(tmpl: dict) -> bool:
    md = tmpl.get("metadata") or {}
    v = (md.get("labels") or {}).get(INJECT) or (md.get("annotations") or {}).get(INJECT)
    return str(v).lower() == "true"


def injection_applies(mgr, tmpl: dict, namespace: str) -> bool:
    """Injection requested, the namespace is a mesh member and that mesh has a control plane."""
    if not wants_injection(tmpl):
        return False
    nsobj = mgr.get(R.NAMESPACE, namespace)
    mesh_ns = ((nsobj or {}).get("metadata", {}).get("labels") or {}).get(MEMBER_OF)
    return bool(mesh_ns) and bool(mgr.informer(R.SMCP).items(namespace=mesh_ns))


def daemonset(mgr, name: str, namespace: str, pod_labels: dict, containers: list, *,
              node_selector: Optional[dict] = None, labels: Optional[dict] = None,
              owner: Optional[dict] = None) -> dict:
    pa = faults.pod_annotations(mgr, name)
    extra = {"nodeSelector": node_selector} if node_selector else {}
    extra["tolerations"] = [{"operator": "Exists"}]
    return {
        "metadata": meta(name, namespace, labels or pod_labels, None, owner),
        "spec": {
            "selector": {"matchLabels": dict(pod_labels)},
            "template": pod_template(pod_labels, containers, pa, None, **extra),
        },
    }


def service(name: str, namespace: str, selector: dict, ports: Iterable, *, labels: Optional[dict] = None,
            owner: Optional[dict] = None, annotations: Optional[dict] = None, svc_type: str = "ClusterIP") -> dict:
    ps = []
    for p in ports:
        if isinstance(p, dict):
            ps.append(p)
        else:
            pname, port = p[0], p[1]
            target = p[2] if len(p) > 2 else port
            ps.append({"name": pname, "port": port, "targetPort": target, "protocol": "TCP"})
    return {
        "metadata": meta(name, namespace, labels, annotations, owner),
        "spec": {"selector": dict(selector), "ports": ps, "type": svc_type},
    }


def deployment_ready(dep: Optional[dict]) -> bool:
    """Ready the way Maistra/OLM judge it: all replicas ready and updated, Available=True."""
    if not dep:
        return False
    spec_r = dig(dep, "spec", "replicas", default=1)
    st = dep.get("status") or {}
    if st.get("observedGeneration", 0) < dep["metadata"].get("generation", 1):
        return False
    if st.get("readyReplicas", 0) < spec_r or st.get("updatedReplicas", 0) < spec_r:
        return False
    if st.get("replicas", 0) > spec_r:  # rollout still terminating old pods
        return False
    c = find_cond(st.get("conditions"), "Available")
    return bool(c) and c.get("status") == "True"


def daemonset_ready(ds: Optional[dict]) -> bool:
    if not ds:
        return False
    st = ds.get("status") or {}
    if st.get("observedGeneration", 0) < ds["metadata"].get("generation", 1):
        return False
    want = st.get("desiredNumberScheduled", 0)
    return st.get("numberReady", 0) >= want and st.get("updatedNumberScheduled", 0) >= want


def pod_ready(pod: dict) -> bool:
    st = pod.get("status") or {}
    if st.get("phase") == "Succeeded":
        return True
    return cond_true(pod, "Ready")


def namespace_pods_ready(mgr, namespace: str) -> tuple[bool, list]:
    """RHOAI's WaitForPodsToBeReady: every (non-evicted) pod in the namespace Ready."""
    bad = []
    for p in mgr.informer(R.POD).items(namespace=namespace):
        if p["metadata"].get("deletionTimestamp"):
            continue
        if dig(p, "status", "reason") == "Evicted":
            continue
        if not pod_ready(p):
            bad.append(p["metadata"]["name"])
    return (not bad), bad


def deployments_ready(mgr, namespace: str, names: Iterable[str]) -> tuple[bool, list]:
    bad = [n for n in names if not deployment_ready(mgr.get(R.DEPLOYMENT, n, namespace))]
    return (not bad), bad


def operator_running(mgr, namespace: str, deployment_name: str) -> bool:
    return deployment_ready(mgr.get(R.DEPLOYMENT, deployment_name, namespace))


def installed_csv(mgr, package: str) -> Optional[dict]:
    """The Succeeded CSV (not a copy) of `package`, in any namespace."""
    for csv in mgr.informer(R.CSV).items():
        if csv["metadata"]["name"].startswith(package + ".v") and dig(csv, "status", "phase") == "Succeeded" \
                and "olm.copiedFrom" not in (csv["metadata"].get("labels") or {}):
            return csv
    return None


def subscription_exists(mgr, name: str) -> bool:
    return any(s["metadata"]["name"] == name for s in mgr.informer(R.SUBSCRIPTION).items())


def crd_established(mgr, name: str) -> bool:
    crd = mgr.get(R.CRD, name)
    return bool(crd) and cond_true(crd, "Established")
