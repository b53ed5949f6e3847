"""Fault injection, driven by ConfigMap `testbed-system/testbed-faults`.

Keys (ConfigMap data, all values strings):

* `<package>.installplan: Failed` - the package's next InstallPlan goes to phase Failed.
* `<package>.csv: Failed` - the package's CSV goes to phase Failed (reason InstallCheckFailed).
* `<package>.delay: "<seconds>"` - the CSV stays Installing that much longer before Succeeded.
* `<component>.fail: CrashLoopBackOff|ImagePullBackOff|NotReady|OOMKilled` - pods of the component fail
  (`OOMKilled`: the container is killed for exceeding its memory limit and crash-loops, exit code 137).
* `<component>.fail-container: <container>` - which container fails (default: the first).
* `<component>.ready-delay: "<seconds>"` - pods of the component become Ready that much later.

`<component>` is a Deployment or DaemonSet name created by a simulated operator; it matches that
exact name or any name starting with `<component>-` (so `istiod` matches `istiod-minimal`,
`activator` matches `activator`); `<component>_` matches that exact name only (`autoscaler_` is not
`autoscaler-hpa`, `authorino_` is not `authorino-operator`). Component faults are written as the pod failure annotations of
the testbed (`testbed.openshift-ai.io/fail`, `.../fail-container`, `.../ready-delay`) into the pod
template of the matching workloads; the kwok stages act on the pods.
"""

from __future__ import annotations

from typing import Optional

NAMESPACE = "testbed-system"
NAME = "testbed-faults"
ANNOT_PREFIX = "testbed.openshift-ai.io/"
COMPONENT_FIELDS = ("fail", "fail-container", "ready-delay")
PACKAGE_FIELDS = ("installplan", "csv", "delay")


def _data(mgr) -> dict:
    from . import resources as R

    cm = mgr.informer(R.CONFIGMAP).get(NAME, NAMESPACE)
    return (cm or {}).get("data") or {}


def _matches(component: str, name: str) -> bool:
    if component.endswith("_"):  # no Kubernetes name has "_": the exact-name form
        return name == component[:-1]
    return name == component or name.startswith(component + "-")


def pod_annotations(mgr, workload_name: str) -> dict:
    """Pod-template annotations for the faults configured for this workload."""
    if mgr is None:
        return {}
    out = {}
    best: dict = {}
    for key, val in _data(mgr).items():
        comp, _, field = key.rpartition(".")
        if field not in COMPONENT_FIELDS or not comp or not _matches(comp, workload_name):
            continue
        # the most specific (longest) component name wins
        if len(comp) >= best.get(field, -1):
            best[field] = len(comp)
            out[ANNOT_PREFIX + field] = str(val)
    return out


def package_fault(mgr, package: str, field: str) -> Optional[str]:
    return _data(mgr).get(f"{package}.{field}")


# -- helpers for tests (take a kubernetes.dynamic.DynamicClient) ------------------------------
def _cm_api(k8s):
    return k8s.resources.get(api_version="v1", kind="ConfigMap")


def _ensure_ns(k8s):
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    try:
        ns_api.get(name=NAMESPACE)
    except Exception:  # noqa: BLE001
        try:
            ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        except Exception:  # noqa: BLE001
            pass


def set_fault(k8s, key: str, value) -> None:
    """Set one fault key (see module doc), creating the ConfigMap when needed."""
    _ensure_ns(k8s)
    api = _cm_api(k8s)
    try:
        api.get(name=NAME, namespace=NAMESPACE)
    except Exception:  # noqa: BLE001
        api.create(namespace=NAMESPACE, body={"apiVersion": "v1", "kind": "ConfigMap",
                                              "metadata": {"name": NAME, "namespace": NAMESPACE},
                                              "data": {key: str(value)}})
        return
    api.patch(name=NAME, namespace=NAMESPACE, body={"data": {key: str(value)}},
              content_type="application/merge-patch+json")


def clear_fault(k8s, key: str) -> None:
    try:
        _cm_api(k8s).patch(name=NAME, namespace=NAMESPACE, body={"data": {key: None}},
                           content_type="application/merge-patch+json")
    except Exception:  # noqa: BLE001
        pass


def clear_faults(k8s) -> None:
    """Remove every fault."""
    api = _cm_api(k8s)
    try:
        api.patch(name=NAME, namespace=NAMESPACE, body={"data": None},
                  content_type="application/merge-patch+json")
    except Exception:  # noqa: BLE001
        pass
