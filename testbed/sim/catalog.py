"""The simulated operator catalog: packages, channels, CSV versions and what each CSV deploys.

Channel entries are ordered oldest -> newest; the last one is the channel head, and each entry
`replaces` the one before it (the upgrade graph; `Package.replaces`). A Subscription installs
`startingCSV` (if it is in the channel) or the head, then upgrades along the graph one CSV at a
time (one InstallPlan per step) to the head. The PackageManifest lists a channel's entries
newest first, as the package server does.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Optional

CRD_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "crds", "operators")


@dataclass
class OperatorDeployment:
    name: str
    pod_labels: dict
    containers: list  # container names
    ports: list = field(default_factory=list)  # (name, port)
    replicas: int = 1


@dataclass
class Package:
    name: str
    display_name: str
    provider: str
    catalog: str
    default_channel: str
    channels: dict  # channel -> [version, ...]
    suggested_namespace: str
    install_modes: tuple  # supported: OwnNamespace, SingleNamespace, MultiNamespace, AllNamespaces
    deployments: list
    services: list = field(default_factory=list)  # (name, selector, [(port-name, port, target)])
    crd_dirs: tuple = ()
    alm_examples: list = field(default_factory=list)

    def csv_name(self, version: str) -> str:
        return f"{self.name}.v{version}"

    def head(self, channel: str) -> Optional[str]:
        vs = self.channels.get(channel)
        return self.csv_name(vs[-1]) if vs else None

    def versions(self, channel: str) -> list:
        return [self.csv_name(v) for v in self.channels.get(channel, [])]

    def version_of(self, csv_name: str) -> str:
        return csv_name.split(".v", 1)[1]

    def replaces(self, channel: str, csv_name: str) -> Optional[str]:
        vs = self.versions(channel)
        if csv_name in vs:
            i = vs.index(csv_name)
            return vs[i - 1] if i > 0 else None
        return None

    def crd_files(self) -> list:
        out = []
        for d in self.crd_dirs:
            p = os.path.join(CRD_DIR, d)
            for f in sorted(os.listdir(p)):
                if f.endswith(".yaml"):
                    out.append(os.path.join(p, f))
        return out


ALL_MODES = ("OwnNamespace", "SingleNamespace", "MultiNamespace", "AllNamespaces")

PACKAGES = {
    p.name: p
    for p in [
        Package(
            name="servicemeshoperator", display_name="Red Hat OpenShift Service Mesh 2", provider="Red Hat, Inc.",
            catalog="redhat-operators", default_channel="stable",
            channels={"stable": ["2.5.1", "2.5.2", "2.6.4"], "1.0": ["1.1.18"]},
            suggested_namespace="openshift-operators", install_modes=("AllNamespaces",),
            deployments=[OperatorDeployment("istio-operator", {"name": "istio-operator"}, ["istio-operator"],
                                            [("webhook-server", 11999)])],
            services=[("istio-operator-service", {"name": "istio-operator"}, [("https", 443, 11999)])],
            crd_dirs=("servicemeshoperator",),
            alm_examples=[{"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane",
                           "metadata": {"name": "basic", "namespace": "istio-system"},
                           "spec": {"version": "v2.5", "tracing": {"type": "None"}}}],
        ),
        Package(
            name="serverless-operator", display_name="Red Hat OpenShift Serverless", provider="Red Hat",
            catalog="redhat-operators", default_channel="stable",
            channels={"stable": ["1.33.2", "1.34.1", "1.35.2"], "stable-1.33": ["1.33.0", "1.33.2"],
                      "stable-1.34": ["1.34.0", "1.34.1"], "stable-1.35": ["1.35.0", "1.35.2"]},
            suggested_namespace="openshift-serverless", install_modes=("AllNamespaces",),
            deployments=[
                OperatorDeployment("knative-operator-webhook", {"name": "knative-operator-webhook"},
                                   ["knative-operator"]),
                OperatorDeployment("knative-openshift", {"name": "knative-openshift"}, ["knative-openshift"]),
                OperatorDeployment("knative-openshift-ingress", {"name": "knative-openshift-ingress"},
                                   ["knative-openshift-ingress"]),
            ],
            crd_dirs=("serverless-operator",),
            alm_examples=[{"apiVersion": "operator.knative.dev/v1beta1", "kind": "KnativeServing",
                           "metadata": {"name": "knative-serving", "namespace": "knative-serving"}, "spec": {}}],
        ),
        Package(
            name="authorino-operator", display_name="Red Hat - Authorino Operator", provider="Red Hat",
            catalog="redhat-operators", default_channel="stable",
            channels={"tech-preview-v1": ["1.0.1", "1.0.2"], "stable": ["1.1.1", "1.1.2", "1.2.1"]},
            suggested_namespace="openshift-operators", install_modes=("AllNamespaces",),
            deployments=[
                OperatorDeployment("authorino-operator", {"control-plane": "authorino-operator"}, ["manager"]),
                OperatorDeployment("authorino-webhooks", {"authorino-component": "authorino-webhooks"},
                                   ["webhooks"], [("webhooks", 9443)]),
            ],
            services=[("authorino-webhooks", {"authorino-component": "authorino-webhooks"}, [("webhooks", 443, 9443)])],
            crd_dirs=("authorino-operator",),
            alm_examples=[{"apiVersion": "operator.authorino.kuadrant.io/v1beta1", "kind": "Authorino",
                           "metadata": {"name": "authorino"},
                           "spec": {"listener": {"tls": {"enabled": False}}, "oidcServer": {"tls": {"enabled": False}}}}],
        ),
        Package(
            name="rhods-operator", display_name="Red Hat OpenShift AI", provider="Red Hat",
            catalog="redhat-operators", default_channel="stable",
            channels={"stable": ["2.16.2", "2.19.1"], "fast": ["2.19.1", "2.22.1"],
                      "stable-2.16": ["2.16.0", "2.16.2"], "stable-2.19": ["2.19.0", "2.19.1"],
                      "eus-2.16": ["2.16.2"], "alpha": ["2.22.1"]},
            suggested_namespace="redhat-ods-operator", install_modes=("AllNamespaces",),
            deployments=[OperatorDeployment("rhods-operator", {"name": "rhods-operator"}, ["rhods-operator"],
                                            [("metrics", 8080)])],
            crd_dirs=("rhods-operator",),
            alm_examples=[
                {"apiVersion": "datasciencecluster.opendatahub.io/v1", "kind": "DataScienceCluster",
                 "metadata": {"name": "default-dsc"},
                 "spec": {"components": {"kserve": {"managementState": "Managed",
                                                    "serving": {"managementState": "Managed",
                                                                "name": "knative-serving"}},
                                         "modelregistry": {"managementState": "Removed",
                                                           "registriesNamespace": "rhoai-model-registries"}}}},
            ],
        ),
        Package(
            name="nfd", display_name="Node Feature Discovery Operator", provider="Red Hat",
            catalog="redhat-operators", default_channel="stable",
            channels={"stable": ["4.16.0-202410251436", "4.17.0-202411251033"]},
            suggested_namespace="openshift-nfd", install_modes=("OwnNamespace", "SingleNamespace"),
            deployments=[OperatorDeployment("nfd-controller-manager", {"control-plane": "controller-manager"},
                                            ["manager"])],
            crd_dirs=("nfd",),
            alm_examples=[{"apiVersion": "nfd.openshift.io/v1", "kind": "NodeFeatureDiscovery",
                           "metadata": {"name": "nfd-instance", "namespace": "openshift-nfd"},
                           "spec": {"operand": {"image": "registry.redhat.io/openshift4/ose-node-feature-discovery-rhel9:v4.17",
                                                "servicePort": 12000},
                                    "workerConfig": {"configData": "sources:\n  pci:\n    deviceClassWhitelist: [\"0200\", \"03\", \"12\"]\n    deviceLabelFields: [vendor]\n"}}}],
        ),
        Package(
            name="gpu-operator-certified", display_name="NVIDIA GPU Operator", provider="NVIDIA Corporation",
            catalog="certified-operators", default_channel="v25.3",
            channels={"v24.9": ["24.9.0", "24.9.1", "24.9.2"], "v25.3": ["25.3.0", "25.3.1"], "stable": ["25.3.1"]},
            suggested_namespace="nvidia-gpu-operator", install_modes=("OwnNamespace", "SingleNamespace"),
            deployments=[OperatorDeployment("gpu-operator", {"app": "gpu-operator"}, ["gpu-operator"])],
            crd_dirs=("gpu-operator-certified",),
            alm_examples=[{"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
                           "metadata": {"name": "gpu-cluster-policy"},
                           "spec": {"operator": {"defaultRuntime": "crio", "use_ocp_driver_toolkit": True},
                                    "daemonsets": {"updateStrategy": "RollingUpdate"},
                                    "driver": {"enabled": True}, "toolkit": {"enabled": True},
                                    "devicePlugin": {"enabled": True}, "dcgm": {"enabled": True},
                                    "dcgmExporter": {"enabled": True}, "gfd": {"enabled": True},
                                    "migManager": {"enabled": True}, "nodeStatusExporter": {"enabled": True},
                                    "validator": {"plugin": {"env": [{"name": "WITH_WORKLOAD", "value": "false"}]}}}}],
        ),
    ]
}

CATALOG_DISPLAY = {"redhat-operators": ("Red Hat Operators", "Red Hat"),
                   "certified-operators": ("Certified Operators", "Red Hat")}


@functools.lru_cache(maxsize=None)
def load_crd_dir(dirname: str) -> tuple:
    """The CRD documents of testbed/crds/operators/<dirname>, parsed once."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = []
    d = os.path.join(CRD_DIR, dirname)
    for f in sorted(os.listdir(d)):
        if f.endswith(".yaml"):
            with open(os.path.join(d, f)) as fh:
                out.append(yaml.load(fh, Loader=loader))
    return tuple(out)


def load_crds(pkg_name: str) -> tuple:
    """The package's CRD documents."""
    return tuple(c for d in PACKAGES[pkg_name].crd_dirs for c in load_crd_dir(d))


def _owned(pkg_name: str) -> list:
    return [{"name": c["metadata"]["name"], "kind": c["spec"]["names"]["kind"],
             "version": c["spec"]["versions"][0]["name"], "displayName": c["spec"]["names"]["kind"]}
            for c in load_crds(pkg_name)]


def csv_spec(pkg: Package, csv_name: str, channel: str) -> dict:
    version = pkg.version_of(csv_name)
    owned = [dict(o) for o in _owned(pkg.name)]
    spec = {
        "displayName": pkg.display_name,
        "version": version,
        "provider": {"name": pkg.provider},
        "installModes": [{"type": m, "supported": m in pkg.install_modes} for m in ALL_MODES],
        "customresourcedefinitions": {"owned": owned},
        "install": {"strategy": "deployment", "spec": {"deployments": [
            {"name": d.name, "spec": {"replicas": d.replicas, "selector": {"matchLabels": d.pod_labels}}}
            for d in pkg.deployments]}},
    }
    rep = pkg.replaces(channel, csv_name)
    if rep:
        spec["replaces"] = rep
    return spec


def alm_examples(pkg: Package) -> str:
    return json.dumps(pkg.alm_examples)
