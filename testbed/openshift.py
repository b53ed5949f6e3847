"""The OpenShift API surface a fresh cluster has before any operator is installed.

CRDs come from ``testbed/crds/openshift/*.yaml``; this module applies them and then creates
the singletons (Ingress/Infrastructure ``cluster``, ClusterVersion ``version``), the
``openshift-*`` namespaces, the default CatalogSources and the ``global-operators``
OperatorGroup.

Platform values (``--platform``):

- ``AWS``: Infrastructure ``status.platform``/``status.platformStatus.type`` = ``AWS``
- ``ROSA``: as AWS (ROSA *is* AWS to the cluster), plus the ROSA markers a real ROSA cluster
  carries: ``status.platformStatus.aws.resourceTags`` contains
  ``red-hat-clustertype=rosa`` and ``red-hat-managed=true``; base domain under
  ``openshiftapps.com``
- ``None``: bare-metal style ``None`` platform
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import yaml

CRD_DIR = Path(__file__).resolve().parent / "crds" / "openshift"
NAMESPACES = [
    "openshift-config",
    "openshift-config-managed",
    "openshift-operators",
    "openshift-marketplace",
    "openshift-ingress",
    "openshift-ingress-operator",
    "openshift-operator-lifecycle-manager",
    "openshift-monitoring",  # the platform monitoring stack lives here on every OpenShift cluster
    "openshift-user-workload-monitoring",
    "testbed-system",  # the testbed's own objects (faults, ingress address): present before any test looks
]
CATALOG_SOURCES = [
    ("redhat-operators", "Red Hat Operators", "Red Hat"),
    ("certified-operators", "Certified Operators", "Red Hat"),
    ("community-operators", "Community Operators", "Red Hat"),
    ("redhat-marketplace", "Red Hat Marketplace", "Red Hat"),
]


def default_base_domain(platform: str) -> str:
    if platform == "ROSA":
        return "a1b2.p1.openshiftapps.com"
    return "example.com"


def load_crds() -> list[dict]:
    crds = []
    for f in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


def _path(group: str, version: str, plural: str, name: str, namespace: str | None = None) -> str:
    base = "/api/v1" if group == "" else f"/apis/{group}/{version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{ns}/{plural}/{name}"


def _stable_id(tb, salt: str) -> str:
    return str(uuid.UUID(hashlib.sha256(f"{tb.cluster_name}/{salt}".encode()).hexdigest()[:32]))


def infrastructure(tb) -> tuple[dict, dict]:
    """(spec, status) of Infrastructure ``cluster``."""
    infra_name = f"{tb.cluster_name}-{hashlib.sha256(tb.cluster_name.encode()).hexdigest()[:5]}"
    api_url = f"https://api.{tb.cluster_name}.{tb.base_domain}:6443"
    status = {
        "infrastructureName": infra_name,
        "apiServerURL": api_url,
        "apiServerInternalURI": f"https://api-int.{tb.cluster_name}.{tb.base_domain}:6443",
        "etcdDiscoveryDomain": "",
        "controlPlaneTopology": "HighlyAvailable",
        "infrastructureTopology": "HighlyAvailable",
        "cpuPartitioning": "None",
    }
    if tb.platform in ("AWS", "ROSA"):
        spec = {"cloudConfig": {"name": ""}, "platformSpec": {"type": "AWS", "aws": {}}}
        aws = {"region": "us-east-1"}
        if tb.platform == "ROSA":
            aws["resourceTags"] = [
                {"key": "red-hat-clustertype", "value": "rosa"},
                {"key": "red-hat-managed", "value": "true"},
                {"key": "api.openshift.com/name", "value": tb.cluster_name},
            ]
        status.update({"platform": "AWS", "platformStatus": {"type": "AWS", "aws": aws}})
    else:
        spec = {"cloudConfig": {"name": ""}, "platformSpec": {"type": "None"}}
        status.update({"platform": "None", "platformStatus": {"type": "None"}})
    return spec, status


def cluster_version(tb) -> tuple[dict, dict]:
    v = tb.openshift_version
    minor = ".".join(v.split(".")[:2])
    image = f"quay.io/openshift-release-dev/ocp-release@sha256:{hashlib.sha256(v.encode()).hexdigest()}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    spec = {"clusterID": _stable_id(tb, "cluster-id"), "channel": f"stable-{minor}"}
    status = {
        "desired": {"version": v, "image": image,
                    "channels": [f"candidate-{minor}", f"eus-{minor}", f"fast-{minor}", f"stable-{minor}"]},
        "history": [{"state": "Completed", "version": v, "image": image, "verified": False,
                     "startedTime": now, "completionTime": now}],
        "observedGeneration": 1,
        "versionHash": hashlib.sha256(image.encode()).hexdigest()[:12],
        "availableUpdates": None,
        "capabilities": {"enabledCapabilities": ["Console", "Ingress", "OperatorLifecycleManager",
                                                 "marketplace"],
                         "knownCapabilities": ["Console", "Ingress", "OperatorLifecycleManager",
                                               "marketplace"]},
        "conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": now,
             "message": f"Done applying {v}"},
            {"type": "Failing", "status": "False", "lastTransitionTime": now},
            {"type": "Progressing", "status": "False", "lastTransitionTime": now,
             "message": f"Cluster version is {v}"},
            {"type": "RetrievedUpdates", "status": "True", "lastTransitionTime": now},
        ],
    }
    return spec, status


def bootstrap(api, tb, deadline: float, log=None) -> None:
    from .cluster import TestbedError

    from concurrent.futures import ThreadPoolExecutor

    crds = load_crds()
    jobs = [(_path("apiextensions.k8s.io", "v1", "customresourcedefinitions", c["metadata"]["name"]), c)
            for c in crds]
    jobs += [(_path("", "v1", "namespaces", ns),
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {
                  "name": ns, "labels": {"openshift.io/cluster-monitoring": "true"}
                  if ns.startswith("openshift-") and ns != "openshift-operators" else {}}}) for ns in NAMESPACES]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda job: api.apply(*job), jobs))
    t0 = time.monotonic()
    log = log or (lambda msg: None)

    pending = {c["metadata"]["name"] for c in crds}
    while pending:
        status, out = api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        for item in out.get("items") or []:
            conds = {c["type"]: c["status"] for c in ((item.get("status") or {}).get("conditions") or [])}
            if conds.get("Established") == "True":
                pending.discard(item["metadata"]["name"])
        if pending:
            if time.monotonic() > deadline:
                raise TestbedError(f"CRDs not established: {sorted(pending)}")
            time.sleep(0.05)
    log(f"  CRDs established (+{time.monotonic() - t0:.1f}s)")
    if not crds:
        return
    served = {c["spec"]["group"] for c in crds}

    calls = []

    def apply(*args, **kwargs):
        calls.append((args, kwargs))

    def do_apply(group, version, plural, obj, status=None, namespace=None):
        path = _path(group, version, plural, obj["metadata"]["name"], namespace)
        # a freshly established CRD can take a moment to be served for writes
        for _ in range(100):
            try:
                api.apply(path, obj)
                break
            except TestbedError as e:
                if "404" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if status is not None:
            api.apply(path, {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                             "metadata": {"name": obj["metadata"]["name"],
                                          **({"namespace": namespace} if namespace else {})},
                             "status": status}, subresource="status")

    if "config.openshift.io" in served:
        g = "config.openshift.io"
        apply(g, "v1", "ingresses", {
            "apiVersion": f"{g}/v1", "kind": "Ingress", "metadata": {"name": "cluster"},
            "spec": {"domain": tb.ingress_domain},
        }, status={"defaultPlacement": "Workers"})
        spec, status = infrastructure(tb)
        apply(g, "v1", "infrastructures", {
            "apiVersion": f"{g}/v1", "kind": "Infrastructure", "metadata": {"name": "cluster"},
            "spec": spec}, status=status)
        spec, status = cluster_version(tb)
        apply(g, "v1", "clusterversions", {
            "apiVersion": f"{g}/v1", "kind": "ClusterVersion", "metadata": {"name": "version"},
            "spec": spec}, status=status)

    if "operators.coreos.com" in served:
        g = "operators.coreos.com"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for name, display, publisher in CATALOG_SOURCES:
            apply(g, "v1alpha1", "catalogsources", {
                "apiVersion": f"{g}/v1alpha1", "kind": "CatalogSource",
                "metadata": {"name": name, "namespace": "openshift-marketplace"},
                "spec": {"sourceType": "grpc", "displayName": display, "publisher": publisher,
                         "image": f"registry.redhat.io/redhat/{name}-index:v{'.'.join(tb.openshift_version.split('.')[:2])}",
                         "updateStrategy": {"registryPoll": {"interval": "10m"}}},
            }, namespace="openshift-marketplace", status={
                "connectionState": {"address": f"{name}.openshift-marketplace.svc:50051",
                                    "lastObservedState": "READY", "lastConnect": now},
                "registryService": {"protocol": "grpc", "serviceName": name,
                                    "serviceNamespace": "openshift-marketplace", "port": "50051"},
            })
        apply(g, "v1", "operatorgroups", {
            "apiVersion": f"{g}/v1", "kind": "OperatorGroup",
            "metadata": {"name": "global-operators", "namespace": "openshift-operators"},
            "spec": {"upgradeStrategy": {"name": "Default"}},
        }, namespace="openshift-operators", status={"namespaces": [""], "lastUpdated": now})

    if "route.openshift.io" in served:
        calls.append((("admissionregistration.k8s.io", "v1", "mutatingadmissionpolicies",
                       route_host_policy(tb.ingress_domain)), {}))
        calls.append((("admissionregistration.k8s.io", "v1", "mutatingadmissionpolicybindings", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": ROUTE_POLICY}, "spec": {"policyName": ROUTE_POLICY}}), {}))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: do_apply(*c[0], **c[1]), calls))
    log(f"  OpenShift objects applied (+{time.monotonic() - t0:.1f}s)")

    if "route.openshift.io" in served:
        # the policy takes effect asynchronously: probe with a dry-run create
        probe = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "testbed-probe"},
                 "spec": {"to": {"kind": "Service", "name": "probe"}}}
        while True:
            status, out = api.request("POST", "/apis/route.openshift.io/v1/namespaces/default/routes?dryRun=All",
                                      probe)
            if status < 300 and (out.get("spec") or {}).get("host"):
                break
            if time.monotonic() > deadline:
                raise TestbedError(f"Route host defaulting not active: {status} {out.get('message')}")
            time.sleep(0.1)


ROUTE_POLICY = "testbed-route-host-default"


def route_host_policy(domain: str) -> dict:
    """What openshift-apiserver does for a Route created without ``spec.host``: set it to
    ``<name>-<namespace>.<ingress domain>`` (or ``<spec.subdomain>.<ingress domain>``).
    A MutatingAdmissionPolicy (CEL) does the same here."""
    host = ("(has(object.spec.subdomain) && object.spec.subdomain != '' ? object.spec.subdomain"
            " : object.metadata.name + '-' + request.namespace) + '.%s'" % domain)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": ROUTE_POLICY},
        "spec": {
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["route.openshift.io"], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["routes"]}]},
            "matchConditions": [{"name": "no-host", "expression": "!has(object.spec.host) || object.spec.host == ''"}],
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                "expression": "Object{spec: Object.spec{host: %s}}" % host}}],
        },
    }
