"""resource_patch against the testbed, run for real through ansible-playbook.

Covers: a second SMCP extension provider keeps the first; re-adding is changed=false with no
write at all (resourceVersion unchanged and no watch event); removal by key; check mode writes
nothing and reports the would-be diff; diff mode; user labels/annotations kept; clear errors for a
missing CRD (names the kind) and a missing object (names the object); create-if-missing.
"""

import json
import threading
import uuid

import pytest
import yaml
from helpers import REPO, run_module
from kubernetes.client.rest import ApiException
from kubernetes.watch import Watch

from k8s_util import api, ensure_crd, make_namespace

pytestmark = pytest.mark.integration

PROVIDERS = "spec.techPreview.meshConfig.extensionProviders"
SMCP_CRD = REPO + "/testbed/crds/operators/servicemeshoperator/servicemeshcontrolplanes.maistra.io.yaml"


@pytest.fixture(scope="module")
def smcp_kind(k8s):
    """The SMCP CRD: the real one if an operator installed it, else created from the testbed's
    copy for this module (and removed again at the end)."""
    with open(SMCP_CRD) as f:
        crd = yaml.safe_load(f)
    with ensure_crd(k8s, crd):
        yield "maistra.io/v2", "ServiceMeshControlPlane"


@pytest.fixture(scope="module")
def ns(k8s):
    with make_namespace(k8s, "rp") as name:
        yield name


def provider(name, port=50051):
    return {"name": name, "envoyExtAuthzGrpc": {"service": "%s.svc.cluster.local" % name, "port": port}}


def provider_names(obj):
    return [p["name"] for p in obj["spec"]["techPreview"]["meshConfig"]["extensionProviders"]]


def smcp_args(ns, name, *providers, **extra):
    args = {
        "api_version": "maistra.io/v2",
        "kind": "ServiceMeshControlPlane",
        "name": name,
        "namespace": ns,
        "list_merge_keys": {PROVIDERS: "name"},
        "patch": {"spec": {"techPreview": {"meshConfig": {"extensionProviders": list(providers)}}}},
    }
    args.update(extra)
    return args


class EventRecorder(object):
    """Collects watch events on one object while a module runs (proves "no write at all")."""

    def __init__(self, resource, name, namespace, rv):
        self.events = []
        self.stopped = False
        self.watcher = Watch()
        self.thread = threading.Thread(target=self._run, args=(resource, name, namespace, rv), daemon=True)

    def _run(self, resource, name, namespace, rv):
        try:
            for event in resource.watch(
                namespace=namespace, name=name, resource_version=rv, timeout=120, watcher=self.watcher
            ):
                self.events.append((event["type"], event["raw_object"]["metadata"]["resourceVersion"]))
        except Exception as e:  # pylint: disable=broad-except
            if not self.stopped:  # stopping the watch closes the response under it
                self.events.append(("ERROR", str(e)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped = True
        self.watcher.stop()
        self.thread.join(timeout=5)


def test_second_provider_keeps_first_and_rerun_writes_nothing(k8s, kubeconfig, smcp_kind, ns):
    smcps = api(k8s, *smcp_kind)
    name = "smcp-" + uuid.uuid4().hex[:6]
    smcps.create(
        namespace=ns,
        body={
            "apiVersion": "maistra.io/v2",
            "kind": "ServiceMeshControlPlane",
            "metadata": {
                "name": name,
                "labels": {"owner": "someone-else"},
                "annotations": {"user/note": "keep me"},
            },
            "spec": {
                "version": "v2.6",
                "techPreview": {"meshConfig": {"extensionProviders": [provider("tracing-provider", 9411)]}},
            },
        },
    )

    # add a second provider: the first one is kept, user labels and annotations too
    res = run_module("resource_patch", smcp_args(ns, name, provider("authorino")), kubeconfig, diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["method"] == "patch"
    live = smcps.get(name=name, namespace=ns).to_dict()
    assert provider_names(live) == ["tracing-provider", "authorino"]
    assert live["metadata"]["labels"] == {"owner": "someone-else"}
    assert live["metadata"]["annotations"]["user/note"] == "keep me"
    assert live["spec"]["version"] == "v2.6"
    after = res["diff"]["after"]["spec"]["techPreview"]["meshConfig"]["extensionProviders"]
    assert [p["name"] for p in after] == ["tracing-provider", "authorino"]
    assert [p["name"] for p in res["diff"]["before"]["spec"]["techPreview"]["meshConfig"]["extensionProviders"]] == [
        "tracing-provider"
    ]

    # re-adding: changed false and no write at all (resourceVersion unchanged, no watch event)
    rv = live["metadata"]["resourceVersion"]
    with EventRecorder(smcps, name, ns, rv) as recorder:
        again = run_module("resource_patch", smcp_args(ns, name, provider("authorino")), kubeconfig, diff=True)
    assert not again.get("failed"), again
    assert again["changed"] is False and again["method"] == "none"
    assert again["diff"] == {"before": {}, "after": {}}
    assert smcps.get(name=name, namespace=ns).metadata.resourceVersion == rv
    assert recorder.events == [], "the rerun wrote to the object: %s" % recorder.events

    # check mode: would remove an entry, writes nothing, reports the would-be diff
    check = run_module(
        "resource_patch",
        smcp_args(ns, name, remove_entries={PROVIDERS: ["tracing-provider"]}, patch={}),
        kubeconfig,
        check=True,
    )
    assert not check.get("failed"), check
    assert check["changed"] is True
    assert provider_names(check["result"]) == ["authorino"]
    assert [p["name"] for p in check["diff"]["after"]["spec"]["techPreview"]["meshConfig"]["extensionProviders"]] == [
        "authorino"
    ]
    assert smcps.get(name=name, namespace=ns).metadata.resourceVersion == rv
    assert provider_names(smcps.get(name=name, namespace=ns).to_dict()) == ["tracing-provider", "authorino"]

    # removal by key, for real; then removing again changes nothing
    removed = run_module(
        "resource_patch", smcp_args(ns, name, remove_entries={PROVIDERS: ["tracing-provider"]}, patch={}), kubeconfig
    )
    assert removed["changed"] is True, removed
    assert provider_names(smcps.get(name=name, namespace=ns).to_dict()) == ["authorino"]
    removed_again = run_module(
        "resource_patch", smcp_args(ns, name, remove_entries={PROVIDERS: ["tracing-provider"]}, patch={}), kubeconfig
    )
    assert removed_again["changed"] is False, removed_again


def test_check_mode_on_a_change_writes_nothing(k8s, kubeconfig, ns):
    cms = api(k8s, "v1", "ConfigMap")
    cms.create(namespace=ns, body={"metadata": {"name": "cfg", "labels": {"mine": "yes"}}, "data": {"a": "1"}})
    rv = cms.get(name="cfg", namespace=ns).metadata.resourceVersion
    args = {"kind": "ConfigMap", "name": "cfg", "namespace": ns, "patch": {"data": {"b": "2"}}}
    res = run_module("resource_patch", args, kubeconfig, check=True, diff=True)
    assert res["changed"] is True, res
    assert res["diff"] == {"before": {"data": {"a": "1"}}, "after": {"data": {"a": "1", "b": "2"}}} or res["diff"] == {
        "before": {"data": {}},
        "after": {"data": {"b": "2"}},
    }
    assert res["result"]["data"] == {"a": "1", "b": "2"}
    live = cms.get(name="cfg", namespace=ns)
    assert live.metadata.resourceVersion == rv and live.data.to_dict() == {"a": "1"}

    real = run_module("resource_patch", args, kubeconfig)
    assert real["changed"] is True
    live = cms.get(name="cfg", namespace=ns).to_dict()
    assert live["data"] == {"a": "1", "b": "2"} and live["metadata"]["labels"] == {"mine": "yes"}


def test_missing_crd_names_the_kind(kubeconfig, ns):
    res = run_module(
        "resource_patch",
        {"api_version": "nothing.example.com/v1", "kind": "Gizmo", "name": "g", "namespace": ns, "patch": {"spec": {}}},
        kubeconfig,
    )
    assert res.get("failed"), res
    assert "nothing.example.com/v1 Gizmo" in res["msg"] and "CRD" in res["msg"]


def test_check_mode_predicts_what_the_server_cannot_dry_run_yet(k8s, kubeconfig, ns):
    """Check mode with create: a CRD not installed, or a namespace not created yet, is a predicted
    creation (changed, the object as the diff's after, the before empty), not an error; nothing written."""
    gizmo = {"api_version": "nothing.example.com/v1", "kind": "Gizmo", "name": "g", "namespace": ns,
             "patch": {"spec": {"size": 3}}, "create": True}
    res = run_module("resource_patch", gizmo, kubeconfig, check=True, diff=True)
    assert not res.get("failed") and res["changed"] is True and res["method"] == "create", res
    assert "nothing.example.com/v1 Gizmo" in res["deferred"] and "not served" in res["deferred"], res
    assert res["diff"] == {"before": {}, "after": {"apiVersion": "nothing.example.com/v1", "kind": "Gizmo",
                                                   "metadata": {"name": "g", "namespace": ns}, "spec": {"size": 3}}}

    missing = "rp-absent-%s" % uuid.uuid4().hex[:6]
    cfg = {"kind": "ConfigMap", "name": "cfg", "namespace": missing, "patch": {"data": {"a": "1"}}, "create": True}
    res = run_module("resource_patch", cfg, kubeconfig, check=True, diff=True)
    assert not res.get("failed") and res["changed"] is True and res["method"] == "create", res
    assert res["deferred"] == "namespace %s does not exist yet" % missing, res
    assert res["diff"]["before"] == {} and res["diff"]["after"]["data"] == {"a": "1"}
    with pytest.raises(ApiException) as err:
        api(k8s, "v1", "Namespace").get(name=missing)
    assert err.value.status == 404

    # a real run still fails, with the server's message
    res = run_module("resource_patch", cfg, kubeconfig)
    assert res.get("failed") and "not found" in res["msg"] and missing in res["msg"], res


def test_missing_object_names_the_object_unless_create(k8s, kubeconfig, ns):
    args = {"kind": "ConfigMap", "name": "absent", "namespace": ns, "patch": {"data": {"k": "v"}}}
    res = run_module("resource_patch", args, kubeconfig)
    assert res.get("failed"), res
    assert "ConfigMap %s/absent not found" % ns in res["msg"]

    check = run_module("resource_patch", dict(args, create=True), kubeconfig, check=True)
    assert check["changed"] is True and check["method"] == "create", check
    with pytest.raises(ApiException) as err:
        api(k8s, "v1", "ConfigMap").get(name="absent", namespace=ns)
    assert err.value.status == 404

    created = run_module("resource_patch", dict(args, create=True), kubeconfig)
    assert created["changed"] is True and created["method"] == "create", created
    assert api(k8s, "v1", "ConfigMap").get(name="absent", namespace=ns).data.k == "v"
    again = run_module("resource_patch", dict(args, create=True), kubeconfig)
    assert again["changed"] is False, again


def test_replace_maps_changes_a_selector_instead_of_adding_to_it(k8s, kubeconfig, ns):
    """A selector given in replace_maps is the patch's exactly: the old key goes, labels still merge."""
    def args(selector):
        return {"kind": "Service", "name": "gw", "namespace": ns, "create": True, "replace_maps": ["spec.selector"],
                "patch": {"metadata": {"labels": {"app": "gw"}},
                          "spec": {"selector": selector, "ports": [{"name": "https", "port": 443}]}}}

    first = run_module("resource_patch", args({"knative": "ingressgateway"}), kubeconfig)
    assert first["changed"] is True, first
    api(k8s, "v1", "Service").patch(
        name="gw", namespace=ns, body={"metadata": {"labels": {"team": "x"}}}, content_type="application/merge-patch+json")
    changed = run_module("resource_patch", args({"istio": "ingressgateway"}), kubeconfig, diff=True)
    assert changed["changed"] is True, changed
    live = api(k8s, "v1", "Service").get(name="gw", namespace=ns).to_dict()
    assert live["spec"]["selector"] == {"istio": "ingressgateway"}, live["spec"]
    assert live["metadata"]["labels"] == {"app": "gw", "team": "x"}, live["metadata"]
    again = run_module("resource_patch", args({"istio": "ingressgateway"}), kubeconfig)
    assert again["changed"] is False, again


def test_secret_values_never_returned(k8s, kubeconfig, ns):
    args = {
        "kind": "Secret",
        "name": "creds",
        "namespace": ns,
        "create": True,
        "patch": {"type": "Opaque", "stringData": {"password": "hunter2-very-secret"}},
    }
    res = run_module("resource_patch", args, kubeconfig, diff=True)
    assert res["changed"] is True, res
    shown = repr((res["result"], res["diff"]))
    assert "hunter2-very-secret" not in shown
    assert "aHVudGVyMi12ZXJ5LXNlY3JldA" not in shown  # base64 of the value
    assert res["result"]["data"] == {"password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    assert api(k8s, "v1", "Secret").get(name="creds", namespace=ns).data.password == "aHVudGVyMi12ZXJ5LXNlY3JldA=="


def test_secret_values_not_in_the_invocation_at_vvv(k8s, kubeconfig, ns):
    """The values sent are masked everywhere, the module_args Ansible echoes back included."""
    args = {"kind": "Secret", "name": "creds-vvv", "namespace": ns, "create": True,
            "patch": {"type": "Opaque", "stringData": {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-K7MDENG-sekrit"}}}
    res = run_module("resource_patch", args, kubeconfig, diff=True, env={"ANSIBLE_VERBOSITY": "3"})
    assert res["changed"] is True, res
    assert "wJalrXUtnFEMI-K7MDENG-sekrit" not in json.dumps(res)
    assert res["invocation"]["module_args"]["patch"]["stringData"]["AWS_SECRET_ACCESS_KEY"] != "wJalrXUtnFEMI-K7MDENG-sekrit"
