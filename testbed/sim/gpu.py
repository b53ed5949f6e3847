"""Simulated Node Feature Discovery and NVIDIA GPU operators."""

from __future__ import annotations

import logging

from . import resources as R
from .mesh import operator_up
from .runtime import Controller
from .util import (cond, container, daemonset, daemonset_ready, deployment, deployment_ready, dig, installed_csv,
                   meta, pod_ready)

log = logging.getLogger("sim.gpu")
GPU_MARK = "testbed.openshift-ai.io/gpu"
GPU_COUNT = "testbed.openshift-ai.io/gpu-count"
PCI_LABELS = ("feature.node.kubernetes.io/pci-10de.present", "feature.node.kubernetes.io/pci-0302_10de.present",
              "feature.node.kubernetes.io/pci-0300_10de.present")
NFD_COMMON = {
    "feature.node.kubernetes.io/kernel-version.full": "5.14.0-427.42.1.el9_4.x86_64",
    "feature.node.kubernetes.io/kernel-version.major": "5",
    "feature.node.kubernetes.io/system-os_release.ID": "rhcos",
    "feature.node.kubernetes.io/system-os_release.VERSION_ID": "4.17",
    "feature.node.kubernetes.io/system-os_release.OSTREE_VERSION": "417.94.202411201839-0",
    "feature.node.kubernetes.io/cpu-model.vendor_id": "Intel",
    "feature.node.kubernetes.io/pci-1d0f.present": "true",
}


def worker_pod_ready(mgr, ns: str, app: str, node: str) -> bool:
    for p in mgr.informer(R.POD).items(namespace=ns, selector={"app": app}):
        if dig(p, "spec", "nodeName") == node and pod_ready(p):
            return True
    return False


class NFDController(Controller):
    name = "nfd"
    primary = R.NFD
    owns = (R.DEPLOYMENT, R.DAEMONSET)
    triggers = (R.NODE,)

    def reconcile(self, ns, name):
        cr = self.mgr.get(R.NFD, name, ns)
        if cr is None or cr["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, "nfd"):
            return None
        old = cr.get("status") or {}
        oc = old.get("conditions")
        image = dig(cr, "spec", "operand", "image") or "registry.redhat.io/openshift4/ose-node-feature-discovery-rhel9:v4.17"
        self.mgr.apply(R.CONFIGMAP, {"metadata": meta("nfd-worker", ns, {"app": "nfd-worker"}, owner=cr),
                                     "data": {"nfd-worker.conf": dig(cr, "spec", "workerConfig", "configData") or ""}},
                       "nfd-operator")
        self.mgr.apply(R.DEPLOYMENT, deployment(self.mgr, "nfd-master", ns, {"app": "nfd-master"},
                                                [container("nfd-master", image)], owner=cr), "nfd-operator")
        self.mgr.apply(R.DEPLOYMENT, deployment(self.mgr, "nfd-gc", ns, {"app": "nfd-gc"},
                                                [container("nfd-gc", image)], owner=cr), "nfd-operator")
        self.mgr.apply(R.DAEMONSET, daemonset(self.mgr, "nfd-worker", ns, {"app": "nfd-worker"},
                                              [container("nfd-worker", image)], owner=cr), "nfd-operator")
        master_ok = deployment_ready(self.mgr.get(R.DEPLOYMENT, "nfd-master", ns))
        for node in self.mgr.informer(R.NODE).items():
            nname = node["metadata"]["name"]
            labels = node["metadata"].get("labels") or {}
            if not master_ok or not worker_pod_ready(self.mgr, ns, "nfd-worker", nname):
                continue
            want = dict(NFD_COMMON)
            if labels.get(GPU_MARK) == "true":
                want["feature.node.kubernetes.io/pci-10de.present"] = "true"
            if any(labels.get(k) != v for k, v in want.items()):
                self.mgr.patch(R.NODE, nname, {"metadata": {"labels": want}})
                log.info("nfd labelled node %s", nname)
        ds_ok = daemonset_ready(self.mgr.get(R.DAEMONSET, "nfd-worker", ns))
        ok = master_ok and ds_ok
        conds = [cond(oc, "Available", "True" if ok else "False", "" if ok else "OperandNotReady", ""),
                 cond(oc, "Progressing", "False" if ok else "True", "", ""),
                 cond(oc, "Degraded", "False", "", ""),
                 cond(oc, "Upgradeable", "True", "", "")]
        self.mgr.set_status(R.NFD, cr, {"conditions": conds})
        return None if ok else 2.0


OPERANDS = [
    # (daemonset, app label, deploy label suffix, spec key)
    ("nvidia-driver-daemonset", "nvidia-driver-daemonset", "driver", "driver"),
    ("nvidia-container-toolkit-daemonset", "nvidia-container-toolkit-daemonset", "container-toolkit", "toolkit"),
    ("nvidia-device-plugin-daemonset", "nvidia-device-plugin-daemonset", "device-plugin", "devicePlugin"),
    ("nvidia-dcgm-exporter", "nvidia-dcgm-exporter", "dcgm-exporter", "dcgmExporter"),
    ("gpu-feature-discovery", "gpu-feature-discovery", "gpu-feature-discovery", "gfd"),
    ("nvidia-operator-validator", "nvidia-operator-validator", "operator-validator", "validator"),
]


def gpu_nodes(mgr) -> list:
    return [n for n in mgr.informer(R.NODE).items()
            if any((n["metadata"].get("labels") or {}).get(k) == "true" for k in PCI_LABELS)]


class ClusterPolicyController(Controller):
    name = "clusterpolicy"
    primary = R.CLUSTERPOLICY
    triggers = (R.NODE, R.DAEMONSET)

    def reconcile(self, ns, name):
        cp = self.mgr.get(R.CLUSTERPOLICY, name)
        if cp is None or cp["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, "gpu-operator-certified"):
            return None
        old = cp.get("status") or {}
        oc = old.get("conditions")
        op_ns = installed_csv(self.mgr, "gpu-operator-certified")["metadata"]["namespace"]
        all_cps = self.mgr.informer(R.CLUSTERPOLICY).items()
        if all_cps and all_cps[0]["metadata"]["name"] != name:
            self.mgr.set_status(R.CLUSTERPOLICY, cp, {"state": "ignored", "namespace": op_ns, "conditions": [
                cond(oc, "Ready", "False", "Ignored", "another ClusterPolicy is the active singleton"),
                cond(oc, "Error", "False", "", "")]})
            return None
        spec = cp.get("spec") or {}
        nodes = gpu_nodes(self.mgr)
        nfd_any = any(any(k.startswith("feature.node.kubernetes.io/") for k in (n["metadata"].get("labels") or {}))
                      for n in self.mgr.informer(R.NODE).items())
        enabled = [o for o in OPERANDS if dig(spec, o[3], "enabled", default=True) is not False]
        for node in nodes:
            labels = node["metadata"].get("labels") or {}
            want = {"nvidia.com/gpu.present": "true"}
            for o in enabled:
                want[f"nvidia.com/gpu.deploy.{o[2]}"] = "true"
            if any(labels.get(k) != v for k, v in want.items()):
                self.mgr.patch(R.NODE, node["metadata"]["name"], {"metadata": {"labels": want}})
        owner = cp
        for ds_name, app, deploy_key, _ in enabled:
            ds = daemonset(self.mgr, ds_name, op_ns, {"app": app},
                           [container(ds_name.replace("-daemonset", ""), f"nvcr.io/nvidia/{app}:latest")],
                           node_selector={f"nvidia.com/gpu.deploy.{deploy_key}": "true"}, owner=owner)
            self.mgr.apply(R.DAEMONSET, ds, "gpu-operator")
        for node in nodes:
            nname = node["metadata"]["name"]
            if not worker_pod_ready(self.mgr, op_ns, "nvidia-device-plugin-daemonset", nname):
                continue
            count = str((node["metadata"].get("annotations") or {}).get("testbed.openshift-ai.io/gpu-count", "1"))
            st = node.get("status") or {}
            if (st.get("allocatable") or {}).get("nvidia.com/gpu") != count or \
                    (st.get("capacity") or {}).get("nvidia.com/gpu") != count:
                self.kube.patch(R.NODE, nname, {"status": {"capacity": {"nvidia.com/gpu": count},
                                                           "allocatable": {"nvidia.com/gpu": count}}}, sub="status")
                log.info("node %s: nvidia.com/gpu=%s", nname, count)
            gfd = {"nvidia.com/gpu.product": "NVIDIA-A10G", "nvidia.com/gpu.count": count,
                   "nvidia.com/gpu.memory": "23028", "nvidia.com/gpu.family": "ampere"}
            if any((node["metadata"].get("labels") or {}).get(k) != v for k, v in gfd.items()):
                self.mgr.patch(R.NODE, nname, {"metadata": {"labels": gfd}})
        if not nodes:
            reason = "NFDLabelsMissing" if not nfd_any else "NoGPUNodes"
            msg = ("NFD labels missing in the cluster, GPU nodes cannot be discovered." if not nfd_any
                   else "No GPU node found, watching for new nodes to join the cluster.")
            self.mgr.set_status(R.CLUSTERPOLICY, cp, {"state": "ready", "namespace": op_ns, "conditions": [
                cond(oc, "Ready", "True", reason, msg), cond(oc, "Error", "False", "", "")]})
            return None
        bad = [o[0] for o in enabled if not daemonset_ready(self.mgr.get(R.DAEMONSET, o[0], op_ns))
               or dig(self.mgr.get(R.DAEMONSET, o[0], op_ns), "status", "desiredNumberScheduled", default=0) == 0]
        if bad:
            self.mgr.set_status(R.CLUSTERPOLICY, cp, {"state": "notReady", "namespace": op_ns, "conditions": [
                cond(oc, "Ready", "False", "OperandNotReady", f"ClusterPolicy is not ready, states not ready: {bad}"),
                cond(oc, "Error", "True", "OperandNotReady", f"ClusterPolicy is not ready, states not ready: {bad}")]})
            return 2.0
        self.mgr.set_status(R.CLUSTERPOLICY, cp, {"state": "ready", "namespace": op_ns, "conditions": [
            cond(oc, "Ready", "True", "Reconciled", "ClusterPolicy is ready as all resources have been successfully reconciled"),
            cond(oc, "Error", "False", "", "")]})
        return None


CONTROLLERS = [NFDController, ClusterPolicyController]
