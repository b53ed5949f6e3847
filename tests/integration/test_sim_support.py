"""Helpers shared by the simulated-operator tests (test_sim_*.py). Holds no tests itself.

Each test module gets a testbed of its own (module scope), because installing operators and
creating control planes changes the whole cluster.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time

import pytest
import yaml

from testbed.cluster import Testbed
from testbed.pytest_plugin import dynamic_client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED_DIR = os.path.join(REPO, "tests", "unit", "fixtures", "seed_000")
MARKETPLACE = "openshift-marketplace"


def module_testbed(**kwargs):
    """A module-scoped fixture `tb`: a dedicated testbed with the simulated operators."""

    @pytest.fixture(scope="module", name="tb")
    def _tb():
        d = tempfile.mkdtemp(prefix="testbed-sim-")
        tb = Testbed(d, **kwargs)
        tb.up(log=lambda m: print(f"[testbed] {m}"))
        try:
            k8s = client(tb)
            # the simulated operators start with the testbed; their catalog marks them ready
            wait_for(
                lambda: len(items(k8s, "packages.operators.coreos.com/v1", "PackageManifest", MARKETPLACE)) >= 6,
                60,
                desc="simulated catalog",
            )
            yield tb
        finally:
            try:
                tb.down(log=lambda m: print(f"[testbed] {m}"))
            finally:
                shutil.rmtree(d, ignore_errors=True)

    return _tb


def client(tb):
    return dynamic_client(tb.kubeconfig)


# -- polling ---------------------------------------------------------------------------------
def wait_for(fn, timeout=120.0, interval=0.5, desc="condition"):
    """Poll `fn` until it returns something truthy; return that. Fail with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Exception as e:  # noqa: BLE001 - kinds may not be served yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {desc}; last: {last!r}")
        time.sleep(interval)


def when(value, pred, pick=None):
    """`value` (or `pick(value)`) when it is truthy and `pred(value)` holds, else None."""
    if not value or not pred(value):
        return None
    return pick(value) if pick else value


def stays(fn, seconds=5.0, interval=0.5, desc="condition"):
    """Assert `fn` stays truthy for `seconds` (used to check that something does NOT happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = fn()
        assert v, f"{desc} changed: {v!r}"
        time.sleep(interval)


# -- object access ---------------------------------------------------------------------------
def api(k8s, api_version, kind):
    return k8s.resources.get(api_version=api_version, kind=kind)


def get(k8s, api_version, kind, name, namespace=None):
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

    try:
        return api(k8s, api_version, kind).get(name=name, namespace=namespace).to_dict()
    except (NotFoundError, ResourceNotFoundError):
        return None


def items(k8s, api_version, kind, namespace=None, label_selector=None):
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        out = api(k8s, api_version, kind).get(namespace=namespace, label_selector=label_selector)
    except ResourceNotFoundError:
        return []
    return [o.to_dict() for o in out.items]


def create(k8s, obj):
    obj = {k: v for k, v in copy.deepcopy(obj).items() if not k.startswith("x-")}
    ns = obj["metadata"].get("namespace")
    return api(k8s, obj["apiVersion"], obj["kind"]).create(body=obj, namespace=ns).to_dict()


def apply(k8s, obj):
    """Create, or merge-patch when it exists (like `oc apply` for these tests)."""
    from kubernetes.dynamic.exceptions import ConflictError

    obj = {k: v for k, v in copy.deepcopy(obj).items() if not k.startswith("x-")}
    md = obj["metadata"]
    r = api(k8s, obj["apiVersion"], obj["kind"])
    try:
        return r.create(body=obj, namespace=md.get("namespace")).to_dict()
    except ConflictError:
        return r.patch(
            body=obj, name=md["name"], namespace=md.get("namespace"), content_type="application/merge-patch+json"
        ).to_dict()


def merge_patch(k8s, api_version, kind, name, patch, namespace=None):
    return (
        api(k8s, api_version, kind)
        .patch(body=patch, name=name, namespace=namespace, content_type="application/merge-patch+json")
        .to_dict()
    )


def delete(k8s, api_version, kind, name, namespace=None):
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        api(k8s, api_version, kind).delete(name=name, namespace=namespace)
    except NotFoundError:
        pass


def cond(obj, typ):
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == typ:
            return c
    return None


def seed_docs(filename):
    with open(os.path.join(SEED_DIR, filename)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


# -- OLM -------------------------------------------------------------------------------------
OPERATORS = {
    # package: (namespace, OperatorGroup name, targetNamespaces or None, catalog)
    "servicemeshoperator": ("openshift-operators", None, None, "redhat-operators"),
    "authorino-operator": ("openshift-operators", None, None, "redhat-operators"),
    "serverless-operator": ("openshift-serverless", "serverless-operators", None, "redhat-operators"),
    "rhods-operator": ("redhat-ods-operator", "rhods-operator", None, "redhat-operators"),
    "nfd": ("openshift-nfd", "openshift-nfd-og", ["openshift-nfd"], "redhat-operators"),
    "gpu-operator-certified": (
        "nvidia-gpu-operator",
        "nvidia-gpu-operator-group",
        ["nvidia-gpu-operator"],
        "certified-operators",
    ),
}


def subscribe(k8s, package, channel=None, approval="Automatic", starting_csv=None, og=True):
    ns, og_name, targets, catalog = OPERATORS[package]
    apply(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    if og and og_name:
        spec = {"targetNamespaces": targets} if targets else {}
        apply(
            k8s,
            {
                "apiVersion": "operators.coreos.com/v1",
                "kind": "OperatorGroup",
                "metadata": {"name": og_name, "namespace": ns},
                "spec": spec,
            },
        )
    spec = {"name": package, "source": catalog, "sourceNamespace": MARKETPLACE, "installPlanApproval": approval}
    if channel:
        spec["channel"] = channel
    if starting_csv:
        spec["startingCSV"] = starting_csv
    return apply(
        k8s,
        {
            "apiVersion": "operators.coreos.com/v1alpha1",
            "kind": "Subscription",
            "metadata": {"name": package, "namespace": ns},
            "spec": spec,
        },
    )


def subscription(k8s, package):
    return get(k8s, "operators.coreos.com/v1alpha1", "Subscription", package, OPERATORS[package][0])


def wait_installed(k8s, package, timeout=120):
    """Wait for Subscription AtLatestKnown and its CSV Succeeded; return (sub, csv)."""
    ns = OPERATORS[package][0]

    def done():
        sub = subscription(k8s, package)
        st = (sub or {}).get("status") or {}
        if st.get("state") != "AtLatestKnown" or not st.get("installedCSV"):
            return None
        csv = get(k8s, "operators.coreos.com/v1alpha1", "ClusterServiceVersion", st["installedCSV"], ns)
        if ((csv or {}).get("status") or {}).get("phase") != "Succeeded":
            return None
        return sub, csv

    return wait_for(done, timeout, desc=f"{package} installed")


def pods(k8s, namespace, label_selector=None):
    return items(k8s, "v1", "Pod", namespace, label_selector)


def pod_ready(p):
    for c in (p.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def all_pods_ready(k8s, namespace, min_count=1):
    ps = [p for p in pods(k8s, namespace) if not p["metadata"].get("deletionTimestamp")]
    return ps if len(ps) >= min_count and all(pod_ready(p) for p in ps) else None


def pod_summary(k8s, namespace):
    """[(name, ready 'n/m', containers)] like `oc get pods` with container names."""
    out = []
    for p in pods(k8s, namespace):
        cs = (p.get("status") or {}).get("containerStatuses") or []
        ready = sum(1 for c in cs if c.get("ready"))
        out.append(
            (
                p["metadata"]["name"],
                f"{ready}/{len(p['spec']['containers'])}",
                [c["name"] for c in p["spec"]["containers"]],
            )
        )
    return sorted(out)
