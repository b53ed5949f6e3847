"""Small Kubernetes helpers for integration tests (namespaces, CRDs, waiting on the test side)."""

import contextlib
import time
import uuid

from kubernetes.client.rest import ApiException


def api(k8s, api_version, kind):
    """Dynamic resource, re-reading discovery once when the kind is new."""
    try:
        return k8s.resources.get(api_version=api_version, kind=kind)
    except Exception:  # pylint: disable=broad-except
        k8s.resources.invalidate_cache()
        return k8s.resources.get(api_version=api_version, kind=kind)


def wait_for(fn, timeout=60.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except ApiException as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s; last value: %r" % (timeout, what, last))


@contextlib.contextmanager
def make_namespace(k8s, prefix):
    """A fresh namespace (with its default ServiceAccount, which pods need); deleted afterwards."""
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    namespaces = api(k8s, "v1", "Namespace")
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    sas = api(k8s, "v1", "ServiceAccount")
    wait_for(lambda: sas.get(name="default", namespace=name), 60, what="default ServiceAccount in %s" % name)
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):
            namespaces.delete(name=name)


def crd_established(k8s, name):
    crds = api(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition")
    try:
        crd = crds.get(name=name).to_dict()
    except ApiException:
        return False
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _absent(resource, name):
    try:
        resource.get(name=name)
    except ApiException as e:
        return e.status == 404
    return False


@contextlib.contextmanager
def ensure_crd(k8s, crd):
    """Make sure a CRD is installed; when this created it, remove it (and wait until gone) afterwards,
    so that a shared testbed is left as found."""
    crds = api(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition")
    name = crd["metadata"]["name"]
    created = False
    try:
        crds.get(name=name)
    except ApiException as e:
        if e.status != 404:
            raise
        crds.create(body=crd)
        created = True
    wait_for(lambda: crd_established(k8s, name), 60, what="CRD %s Established" % name)
    k8s.resources.invalidate_cache()
    try:
        yield name
    finally:
        if created:
            with contextlib.suppress(ApiException):
                crds.delete(name=name)
            wait_for(lambda: _absent(crds, name), 120, what="CRD %s deleted" % name)
            k8s.resources.invalidate_cache()


def widget_crd(group, kind="Widget", plural="widgets"):
    """A namespaced test CRD with a status subresource and free-form spec/status."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (plural, group)},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }
