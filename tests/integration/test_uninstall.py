"""playbooks/uninstall.yml (issue 16): install -> deploy a model -> uninstall -> nothing of ours left -> install again.

One dedicated testbed, empty at the start. The model's project (inventories/local's demo-models) is
made by the "user" before the install, with a PVC and a Secret in it: user data the uninstall keeps.

- without ``uninstall_confirm`` the playbook is refused before any write (full snapshot unchanged);
- ``--check`` lists what it would delete (Subscriptions, their installed CSVs, the model) and deletes nothing;
- a finalizer that blocks a deletion is named in the failure (a finalizer put on the model's runtime);
- the uninstall (with the CRD consent) leaves a cluster equal to the one before the install, apart
  from the user's project, which keeps its PVC and Secret; only the original CSVs were deleted (never
  the copies OLM places in other namespaces, which OLM removes itself); no delete ConfigMap is left;
- the install then converges again.
"""

import pytest

from helpers import ansible_playbook
from install_support import failure_text, full_snapshot, settled_snapshot, snapshot_changes, stats
from testbed.pytest_plugin import dynamic_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INVENTORY = ("-i", "inventories/local")
PROJECT = "demo-models"
CONSENT = {"uninstall_confirm": True}
# Kinds full_snapshot does not list on the testbed (their discovery entries are not "preferred").
OLM_KINDS = (
    ("operators.coreos.com/v1alpha1", "Subscription"),
    ("operators.coreos.com/v1alpha1", "ClusterServiceVersion"),
    ("operators.coreos.com/v1alpha1", "InstallPlan"),
    ("operators.coreos.com/v1", "OperatorGroup"),
    ("operators.coreos.com/v2", "OperatorCondition"),
)
# What the user made; kept by the uninstall.
USER_OBJECTS = {
    ("v1", "Namespace", "", PROJECT),
    ("v1", "PersistentVolumeClaim", PROJECT, "user-data"),
    ("v1", "Secret", PROJECT, "user-secret"),
}


def _olm(k8s):
    out = {}
    for api_version, kind in OLM_KINDS:
        try:
            res = k8s.resources.get(api_version=api_version, kind=kind)
        except Exception:  # pylint: disable=broad-except
            continue  # not served: none exists
        for obj in res.get().items:
            md = obj.metadata
            out[(api_version, kind, md.namespace or "", md.name)] = md.resourceVersion
    return out


def _snapshot(k8s, settle=False):
    snap = settled_snapshot(k8s) if settle else full_snapshot(k8s)
    snap.update(_olm(k8s))
    return snap


def _objects_of(snap):
    """Keys without the objects the cluster makes in every namespace (the namespace controller's
    ConfigMap and ServiceAccount)."""
    return set(k for k in snap if (k[1], k[3]) not in (("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")))


def _result(run, name):
    for task, res in run.task_results():
        if task.endswith(name):
            return res
    raise AssertionError("no task %r in %s" % (name, [t for t, _r in run.task_results()]))


def _timed(label, *args, **kwargs):
    run = ansible_playbook(*args, **kwargs)
    print("[uninstall test] %s: %.1fs, rc %s" % (label, run.duration, run.rc))
    return run


def test_install_deploy_uninstall_reinstall(fresh_testbed):
    tb = fresh_testbed()
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)
    core = k8s.resources.get(api_version="v1", kind="Namespace")
    core.create(body={"metadata": {"name": PROJECT}})
    k8s.resources.get(api_version="v1", kind="PersistentVolumeClaim").create(namespace=PROJECT, body={
        "metadata": {"name": "user-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    k8s.resources.get(api_version="v1", kind="Secret").create(namespace=PROJECT, body={
        "metadata": {"name": "user-secret"}, "stringData": {"token": "mine"}})
    before = _snapshot(k8s, settle=True)

    # 1. Install the platform and deploy inventories/local's demo model.
    run = _timed("install", "playbooks/install.yml", kubeconfig, None, args=INVENTORY, timeout=1800)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    run = _timed("deploy", "playbooks/deploy_models.yml", kubeconfig, None, args=INVENTORY, timeout=900)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    installed = _snapshot(k8s)
    copies = [k for k in installed if k[1] == "ClusterServiceVersion" and k[2] == PROJECT]
    assert copies, "OLM placed no copied CSV in %s: %s" % (PROJECT, sorted(k for k in installed if k[1] == "ClusterServiceVersion"))

    # 2. Without consent: refused by the first task, nothing written.
    run = _timed("no consent", "playbooks/uninstall.yml", kubeconfig, None, args=INVENTORY, timeout=300)
    assert run.rc != 0
    assert "uninstall_confirm" in failure_text(run), failure_text(run)
    assert stats(run).get("changed", 0) == 0
    after = _snapshot(k8s)
    assert after == installed, snapshot_changes(installed, after)

    # 3. --check: lists what it would delete, deletes nothing.
    run = _timed("check", "playbooks/uninstall.yml", kubeconfig, CONSENT, check=True, args=INVENTORY, timeout=600)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    listed = _result(run, "Delete what the collection installed, in dependency order")["deleted"]
    kinds = set((d["kind"], d.get("namespace", ""), d["name"]) for d in listed)
    for expected in (("InferenceService", PROJECT, "demo-llm"), ("Subscription", "redhat-ods-operator", "rhods-operator"),
                     ("ClusterServiceVersion", "redhat-ods-operator", "rhods-operator.v2.19.1"),
                     ("DataScienceCluster", "", "default-dsc"), ("Namespace", "", "istio-system")):
        assert expected in kinds, (expected, sorted(kinds))
    assert not [d for d in listed if d["kind"] in ("PersistentVolumeClaim",) or d["name"] in ("user-secret", PROJECT)], listed
    after = _snapshot(k8s)
    assert after == installed, snapshot_changes(installed, after)

    # 4. A finalizer that blocks is named (the model's runtime gets one nobody removes). The timeout
    # bounds each step: ample for step 1 (the model, deleted in the foreground, waits for the garbage
    # collector to remove what it owns, seconds on a loaded machine), then step 2 waits it out.
    sr = k8s.resources.get(api_version="serving.kserve.io/v1alpha1", kind="ServingRuntime")
    sr.patch(name="demo-llm", namespace=PROJECT, body={"metadata": {"finalizers": ["example.com/hold"]}},
             content_type="application/merge-patch+json")
    run = _timed("blocked finalizer", "playbooks/uninstall.yml", kubeconfig, dict(CONSENT, uninstall_timeout=30),
                 args=INVENTORY, timeout=300)
    assert run.rc != 0
    text = failure_text(run)
    assert "ServingRuntime %s/demo-llm is held by finalizer(s) example.com/hold" % PROJECT in text, text
    sr.patch(name="demo-llm", namespace=PROJECT, body={"metadata": {"finalizers": None}},
             content_type="application/merge-patch+json")

    # 5. The uninstall, CRDs included: the cluster is back to what it was, user data kept.
    run = _timed("uninstall", "playbooks/uninstall.yml", kubeconfig, dict(CONSENT, uninstall_remove_crds=True),
                 args=INVENTORY, timeout=1200)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    result = _result(run, "Delete what the collection installed, in dependency order")
    print("uninstall: %.1fs, %d objects deleted, steps %s" % (run.duration, len(result["deleted"]),
                                                              [(s["step"], s["elapsed"]) for s in result["steps"]]))
    deleted_csvs = [(d["namespace"], d["name"]) for d in result["deleted"] if d["kind"] == "ClusterServiceVersion"]
    assert sorted(deleted_csvs) == sorted([("redhat-ods-operator", "rhods-operator.v2.19.1"),
                                           ("openshift-operators", "authorino-operator.v1.2.1"),
                                           ("openshift-serverless", "serverless-operator.v1.35.2"),
                                           ("openshift-operators", "servicemeshoperator.v2.6.4")]), deleted_csvs
    after = _snapshot(k8s, settle=True)
    leftovers = sorted(_objects_of(after) - _objects_of(before), key=str)
    assert leftovers == [], "left behind by the uninstall: %s" % leftovers
    gone = sorted(_objects_of(before) - _objects_of(after), key=str)
    assert gone == [], "deleted although there before the install: %s" % gone
    assert USER_OBJECTS <= set(after), sorted(USER_OBJECTS - set(after))
    cms = k8s.resources.get(api_version="v1", kind="ConfigMap").get(
        label_selector="api.openshift.com/addon-managed-odh-delete=true").items
    assert not cms, [c.metadata.name for c in cms]

    # 6. A second uninstall finds nothing; the install converges again.
    again = _timed("uninstall again", "playbooks/uninstall.yml", kubeconfig, CONSENT, args=INVENTORY, timeout=600)
    assert again.rc == 0, failure_text(again) or again.stderr[-3000:]
    assert stats(again).get("changed", 0) == 0, [n for n, r in again.task_results() if r.get("changed")]
    run = _timed("reinstall", "playbooks/install.yml", kubeconfig, None, args=INVENTORY, timeout=1800)
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert stats(run).get("changed", 0) > 0
