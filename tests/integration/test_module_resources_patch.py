"""resources_patch (resource_patch for many objects in one task) against the shared testbed.

Covers: many objects created in one run, the second run changes nothing and writes nothing
(resourceVersions unchanged), check mode writes nothing and returns the diffs, keys others wrote
are kept, Secret values never returned, one failing entry fails the task naming it while the
others are still written.
"""

import json
import uuid

import pytest
from helpers import run_module

from k8s_util import api, make_namespace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ns(k8s):
    with make_namespace(k8s, "rps") as name:
        yield name


def cm(ns, i, value="a"):
    return {"kind": "ConfigMap", "name": "cm-%d" % i, "namespace": ns,
            "patch": {"metadata": {"labels": {"app": "x"}}, "data": {"key": value}}, "create": True}


def versions(k8s, ns):
    return dict((o.metadata.name, o.metadata.resourceVersion)
                for o in api(k8s, "v1", "ConfigMap").get(namespace=ns).items if o.metadata.name.startswith("cm-"))


def test_many_objects_idempotent_check_mode_and_secrets(k8s, kubeconfig, ns):
    entries = [cm(ns, i) for i in range(12)]
    res = run_module("resources_patch", {"resources": entries}, kubeconfig)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["changed_count"] == 12
    assert [r["name"] for r in res["results"]] == ["cm-%d" % i for i in range(12)]
    assert all(r["method"] == "create" for r in res["results"])
    before = versions(k8s, ns)
    assert len(before) == 12

    # someone else's label stays; the second run writes nothing
    api(k8s, "v1", "ConfigMap").patch(name="cm-3", namespace=ns, body={"metadata": {"labels": {"team": "ml"}}},
                                      content_type="application/merge-patch+json")
    before = versions(k8s, ns)
    res = run_module("resources_patch", {"resources": entries, "return_objects": False}, kubeconfig)
    assert not res.get("failed") and res["changed"] is False and res["changed_count"] == 0, res
    assert versions(k8s, ns) == before
    assert set(res["results"][0]["result"]["metadata"]) == {"uid", "resourceVersion"}

    # check mode: nothing written, the diff says what would change
    changed = [cm(ns, 0, "b"), cm(ns, 99)]
    res = run_module("resources_patch", {"resources": changed}, kubeconfig, check=True)
    assert not res.get("failed") and res["changed_count"] == 2, res
    assert versions(k8s, ns) == before
    assert res["results"][0]["diff"] == {"before": {"data": {"key": "a"}}, "after": {"data": {"key": "b"}}}
    assert api(k8s, "v1", "ConfigMap").get(namespace=ns).items[0].metadata.labels is not None
    assert "cm-99" not in versions(k8s, ns)
    assert api(k8s, "v1", "ConfigMap").get(name="cm-3", namespace=ns).metadata.labels["team"] == "ml"

    # Secret values never come back
    secret = {"kind": "Secret", "name": "s", "namespace": ns, "create": True,
              "patch": {"type": "Opaque", "stringData": {"password": "very-secret-value"}}}
    res = run_module("resources_patch", {"resources": [secret]}, kubeconfig, diff=True)
    assert not res.get("failed"), res
    assert "very-secret-value" not in json.dumps({k: v for k, v in res.items() if k != "invocation"})


def test_a_failing_entry_names_the_object_and_the_others_are_written(kubeconfig, ns):
    entries = [cm(ns, 200), {"kind": "ConfigMap", "name": "absent-one", "namespace": ns, "patch": {"data": {"a": "b"}}},
               cm(ns, 201)]
    res = run_module("resources_patch", {"resources": entries}, kubeconfig)
    assert res.get("failed"), res
    assert "ConfigMap %s/absent-one" % ns in res["msg"] and "not found" in res["msg"], res["msg"]
    assert [r.get("changed") for r in res["results"]] == [True, False, True]


def test_check_mode_on_an_empty_cluster_predicts_the_namespace_and_the_kinds_not_served(k8s, kubeconfig):
    """One task, check mode: a new namespace (dry-run), a ConfigMap in it and an object of a CRD not
    installed are predicted creations with their diffs; nothing is written."""
    missing = "rps-new-%s" % uuid.uuid4().hex[:6]
    entries = [{"kind": "Namespace", "name": missing, "create": True, "patch": {"metadata": {"labels": {"a": "b"}}}},
               dict(cm(missing, 1), stage=1),
               {"api_version": "nothing.example.com/v1", "kind": "Gizmo", "name": "g", "namespace": missing,
                "create": True, "stage": 1, "patch": {"spec": {"size": 3}}}]
    res = run_module("resources_patch", {"resources": entries}, kubeconfig, check=True)
    assert not res.get("failed") and res["changed_count"] == 3, res
    namespace, config, gizmo = res["results"]
    assert "deferred" not in namespace and namespace["method"] == "create"
    assert config["deferred"] == "namespace %s does not exist yet" % missing, config
    assert config["diff"] == {"before": {}, "after": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"key": "a"},
                                                      "metadata": {"name": "cm-1", "namespace": missing,
                                                                   "labels": {"app": "x"}}}}
    assert "not served" in gizmo["deferred"] and gizmo["diff"]["after"]["spec"] == {"size": 3}
    assert missing not in [n.metadata.name for n in api(k8s, "v1", "Namespace").get().items]
