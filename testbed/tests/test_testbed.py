"""Acceptance of the testbed (issue 2): real control plane semantics on simulated nodes,
kubelet-like failure reporting, the OpenShift API surface, and a clean shutdown."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from testbed.cluster import REPO, _proc_cmdline

pytestmark = pytest.mark.integration

FAIL = "testbed.openshift-ai.io/fail"
FAIL_CONTAINER = "testbed.openshift-ai.io/fail-container"
READY_DELAY = "testbed.openshift-ai.io/ready-delay"


def wait_for(fn, timeout=60.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def poll(fetch, pred):
    """A wait_for() check: fetch an object, return it when pred(object) holds."""
    def check():
        obj = fetch()
        return obj if pred(obj) else None
    return check


def api(k8s, api_version, kind):
    return k8s.resources.get(api_version=api_version, kind=kind)


@pytest.fixture
def ns(k8s):
    name = f"tb-{uuid.uuid4().hex[:8]}"
    namespaces = api(k8s, "v1", "Namespace")
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    # pods need the namespace's default ServiceAccount (created by kube-controller-manager)
    sas = api(k8s, "v1", "ServiceAccount")

    def sa_exists():
        try:
            sas.get(name="default", namespace=name)
            return True
        except ApiException:
            return False
    wait_for(sa_exists, 30, what="default ServiceAccount")
    yield name
    with_suppress_404(lambda: namespaces.delete(name=name))


def with_suppress_404(fn):
    try:
        return fn()
    except ApiException as e:
        if e.status != 404:
            raise


def pod_body(name, containers=("app",), annotations=None, labels=None):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
        "spec": {"containers": [{"name": c, "image": f"quay.io/example/{c}:1.0"} for c in containers]},
    }


def cstatus(pod, name):
    for s in pod.status.containerStatuses or []:
        if s.name == name:
            return s
    return None


def condition(obj, ctype):
    for c in obj.status.conditions or []:
        if c.type == ctype:
            return c
    return None


# ----------------------------------------------------------------------------- cluster basics

def test_nodes_and_gpu_markers(k8s):
    nodes = {n.metadata.name: n for n in api(k8s, "v1", "Node").get().items}
    assert {"worker-0", "worker-1", "worker-2"} <= set(nodes)
    for name in ("worker-0", "worker-1", "worker-2"):
        n = nodes[name]
        labels = dict(n.metadata.labels)
        assert labels.get("node-role.kubernetes.io/worker") == ""
        assert condition(n, "Ready").status == "True"
        assert "nvidia.com/gpu" not in dict(n.status.capacity), "GPU resources appear only via the GPU operator"
    gpu = [n for n in nodes.values() if dict(n.metadata.labels).get("testbed.openshift-ai.io/gpu") == "true"]
    assert [n.metadata.name for n in gpu] == ["worker-0"]
    assert dict(gpu[0].metadata.annotations)["testbed.openshift-ai.io/gpu-count"] == "1"


def test_version_is_stamped(k8s):
    info = k8s.request("GET", "/version", serializer=lambda client, data: data)
    assert info["gitVersion"].startswith("v1.3"), info
    assert info["gitVersion"] != "v0.0.0-master+$Format:%H$"
    assert info["gitTreeState"] == "clean"


def test_deployment_rolls_out_to_ready_pods(k8s, ns):
    deploys = api(k8s, "apps/v1", "Deployment")
    deploys.create(namespace=ns, body={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "quay.io/example/web:1"}]}}},
    })
    d = wait_for(poll(lambda: deploys.get(name="web", namespace=ns),
                      lambda o: (o.status.availableReplicas or 0) == 3), 60, what="3 available replicas")
    assert condition(d, "Available").status == "True"
    pods = api(k8s, "v1", "Pod").get(namespace=ns, label_selector="app=web").items
    assert len(pods) == 3
    for p in pods:
        assert p.status.phase == "Running"
        assert p.spec.nodeName.startswith("worker-")
        assert condition(p, "Ready").status == "True"
        assert condition(p, "PodScheduled").status == "True"
        s = cstatus(p, "web")
        assert s.ready is True and s.started is True and s.restartCount == 0
        assert s.state.running.startedAt
        assert p.status.podIP and p.status.hostIP
    # the ReplicaSet chain is real: scaling down removes pods
    deploys.patch(name="web", namespace=ns, body={"spec": {"replicas": 1}},
                  content_type="application/merge-patch+json")
    wait_for(lambda: len(api(k8s, "v1", "Pod").get(namespace=ns, label_selector="app=web").items) == 1,
             60, what="scale down to 1 pod")


def test_job_completes_and_service_gets_endpoints(k8s, ns):
    api(k8s, "batch/v1", "Job").create(namespace=ns, body={
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "run", "image": "quay.io/example/run:1"}]}}}})
    job = wait_for(poll(lambda: api(k8s, "batch/v1", "Job").get(name="once", namespace=ns),
                        lambda j: (j.status.succeeded or 0) == 1), 60, what="job succeeded")
    assert condition(job, "Complete").status == "True"
    pod = api(k8s, "v1", "Pod").get(namespace=ns, label_selector="job-name=once").items[0]
    assert pod.status.phase == "Succeeded"
    assert cstatus(pod, "run").state.terminated.reason == "Completed"

    api(k8s, "v1", "Pod").create(namespace=ns, body=pod_body("srv", labels={"app": "srv"}))
    api(k8s, "v1", "Service").create(namespace=ns, body={
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "srv"},
        "spec": {"selector": {"app": "srv"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    svc = api(k8s, "v1", "Service").get(name="srv", namespace=ns)
    assert svc.spec.clusterIP.startswith("10.96.")
    pod_ip = wait_for(lambda: _pod(k8s, ns, "srv").status.podIP, 30)

    def endpoints():
        slices = api(k8s, "discovery.k8s.io/v1", "EndpointSlice").get(
            namespace=ns, label_selector="kubernetes.io/service-name=srv").items
        return [a for sl in slices for e in (sl.endpoints or []) if e.conditions.ready for a in e.addresses]
    assert wait_for(endpoints, 30, what="ready endpoint") == [pod_ip]


def test_namespace_deletion_completes(k8s):
    name = f"tb-del-{uuid.uuid4().hex[:6]}"
    namespaces = api(k8s, "v1", "Namespace")
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    api(k8s, "v1", "ConfigMap").create(namespace=name, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}})
    wait_for(lambda: with_suppress_404(lambda: api(k8s, "v1", "ServiceAccount").get(
        name="default", namespace=name)), 30, what="default SA")
    api(k8s, "v1", "Pod").create(namespace=name, body=pod_body("p"))
    wait_for(lambda: api(k8s, "v1", "Pod").get(name="p", namespace=name).status.phase == "Running", 30)
    namespaces.delete(name=name)
    assert namespaces.get(name=name).status.phase == "Terminating"

    def gone():
        try:
            namespaces.get(name=name)
            return False
        except ApiException as e:
            return e.status == 404
    wait_for(gone, 90, 0.5, what="namespace removed")


def test_serviceaccount_without_rolebinding_is_forbidden(k8s, ns, testbed):
    api(k8s, "v1", "ServiceAccount").create(namespace=ns, body={
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}})
    tr = k8s.request(
        "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/nobody/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 600}})
    token = tr.status.token
    cfg = Configuration()
    cfg.host = testbed.server
    cfg.ssl_ca_cert = str(testbed.pki_dir / "ca.crt")
    cfg.api_key = {"authorization": f"Bearer {token}"}
    sa_client = DynamicClient(ApiClient(cfg))
    with pytest.raises(ApiException) as exc:
        sa_client.resources.get(api_version="v1", kind="Secret").get(namespace=ns)
    assert exc.value.status == 403
    assert f"system:serviceaccount:{ns}:nobody" in exc.value.body
    # the token itself is valid: an RBAC grant makes the same call succeed
    api(k8s, "rbac.authorization.k8s.io/v1", "Role").create(namespace=ns, body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "read-secrets"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})
    api(k8s, "rbac.authorization.k8s.io/v1", "RoleBinding").create(namespace=ns, body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "nobody"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-secrets"},
        "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": ns}]})

    def allowed():
        try:
            sa_client.resources.get(api_version="v1", kind="Secret").get(namespace=ns)
            return True
        except ApiException as e:
            assert e.status == 403
            return False
    wait_for(allowed, 20, what="RBAC grant to take effect")


def test_new_crd_can_be_created_and_used(k8s):
    group = f"t{uuid.uuid4().hex[:6]}.example.com"
    crds = api(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition")
    crds.create(body={
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {
                                       "size": {"type": "integer", "minimum": 1}}},
                                   "status": {"type": "object", "properties": {
                                       "phase": {"type": "string"}}}}}}}]}})
    try:
        wait_for(lambda: any(c.type == "Established" and c.status == "True"
                             for c in (crds.get(name=f"widgets.{group}").status.conditions or [])), 30)
        k8s.resources.invalidate_cache()
        widgets = wait_for(lambda: _try_resource(k8s, f"{group}/v1", "Widget"), 30)
        w = widgets.create(namespace="default", body={
            "apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}})
        assert w.spec.size == 3
        with pytest.raises(ApiException) as exc:  # schema validation is enforced
            widgets.create(namespace="default", body={
                "apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 0}})
        assert exc.value.status == 422
        # status is a subresource: a main-resource update does not change it
        widgets.patch(namespace="default", name="w1", body={"status": {"phase": "Ignored"}},
                      content_type="application/merge-patch+json")
        assert widgets.get(namespace="default", name="w1").status is None
        widgets.status.patch(namespace="default", name="w1", body={"status": {"phase": "Ready"}},
                             content_type="application/merge-patch+json")
        assert widgets.get(namespace="default", name="w1").status.phase == "Ready"
        assert [i.metadata.name for i in widgets.get(namespace="default").items] == ["w1"]
    finally:
        crds.delete(name=f"widgets.{group}")


def _try_resource(k8s, api_version, kind):
    try:
        k8s.resources.invalidate_cache()
        return k8s.resources.get(api_version=api_version, kind=kind)
    except Exception:
        return None


def test_server_side_apply(k8s, ns):
    cms = api(k8s, "v1", "ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}}
    cms.server_side_apply(namespace=ns, body=body, field_manager="alice")
    # a second manager changing alice's field conflicts ...
    with pytest.raises(ApiException) as exc:
        cms.server_side_apply(namespace=ns, body={**body, "data": {"a": "changed"}}, field_manager="bob")
    assert exc.value.status == 409
    assert "conflict" in exc.value.body.lower()
    # ... unless forced, which moves ownership
    cms.server_side_apply(namespace=ns, body={**body, "data": {"a": "changed", "c": "3"}},
                          field_manager="bob", force_conflicts=True)
    cm = cms.get(name="ssa", namespace=ns)
    assert dict(cm.data) == {"a": "changed", "b": "2", "c": "3"}
    managers = {m.manager: m for m in cm.metadata.managedFields}
    assert {"alice", "bob"} <= set(managers)
    # alice re-applies without "b": the field she alone owned is removed
    cms.server_side_apply(namespace=ns, body={**body, "data": {}}, field_manager="alice")
    assert dict(cms.get(name="ssa", namespace=ns).data) == {"a": "changed", "c": "3"}


def test_strategic_merge_patch(k8s, ns):
    deploys = api(k8s, "apps/v1", "Deployment")
    deploys.create(namespace=ns, body={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "smp"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "smp"}},
                 "template": {"metadata": {"labels": {"app": "smp"}}, "spec": {"containers": [
                     {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                     {"name": "b", "image": "b:1"}]}}}})
    # containers merge by name; env merges by name
    deploys.patch(namespace=ns, name="smp", content_type="application/strategic-merge-patch+json", body={
        "spec": {"template": {"spec": {"containers": [
            {"name": "a", "env": [{"name": "Y", "value": "2"}]}]}}}})
    c = {x.name: x for x in deploys.get(namespace=ns, name="smp").spec.template.spec.containers}
    assert set(c) == {"a", "b"}
    assert c["a"].image == "a:1"
    assert [(e.name, e.value) for e in c["a"].env] == [("Y", "2"), ("X", "1")]
    # $patch: delete removes one list entry
    deploys.patch(namespace=ns, name="smp", content_type="application/strategic-merge-patch+json", body={
        "spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}})
    assert [x.name for x in deploys.get(namespace=ns, name="smp").spec.template.spec.containers] == ["a"]
    # a JSON merge patch, by contrast, replaces the whole list
    deploys.patch(namespace=ns, name="smp", content_type="application/merge-patch+json", body={
        "spec": {"template": {"spec": {"containers": [{"name": "z", "image": "z:1"}]}}}})
    assert [x.name for x in deploys.get(namespace=ns, name="smp").spec.template.spec.containers] == ["z"]


# ----------------------------------------------------------------------------- failure annotations

def _pod(k8s, ns, name):
    return api(k8s, "v1", "Pod").get(name=name, namespace=ns)


def test_crashloopbackoff_annotation(k8s, ns):
    pods = api(k8s, "v1", "Pod")
    pods.create(namespace=ns, body=pod_body("crash", containers=("main", "sidecar"),
                                            annotations={FAIL: "CrashLoopBackOff", FAIL_CONTAINER: "sidecar"}))
    p = wait_for(poll(lambda: _pod(k8s, ns, "crash"), lambda o: cstatus(o, "sidecar") is not None), 30)
    assert p.status.phase == "Running"  # kubelet keeps a crash-looping pod Running
    s = cstatus(p, "sidecar")
    assert s.ready is False and s.started is False
    assert s.restartCount >= 1
    assert s.state.waiting.reason == "CrashLoopBackOff"
    uid = p.metadata.uid
    assert s.state.waiting.message == f"back-off 10s restarting failed container=sidecar pod=crash_{ns}({uid})"
    assert s.lastState.terminated.exitCode == 1
    assert s.lastState.terminated.reason == "Error"
    main = cstatus(p, "main")
    assert main.ready is True and main.state.running
    ready = condition(p, "Ready")
    assert ready.status == "False" and ready.reason == "ContainersNotReady"
    assert ready.message == "containers with unready status: [sidecar]"
    # the kubelet restarts it after the back-off: restartCount grows, back-off doubles
    p2 = wait_for(poll(lambda: _pod(k8s, ns, "crash"), lambda o: cstatus(o, "sidecar").restartCount >= 2),
                  30, 0.5, what="second restart")
    assert cstatus(p2, "sidecar").state.waiting.message.startswith("back-off 20s restarting failed container=sidecar")


def test_imagepullbackoff_annotation(k8s, ns):
    pods = api(k8s, "v1", "Pod")
    pods.create(namespace=ns, body=pod_body("pull", annotations={FAIL: "ImagePullBackOff"}))
    seen = set()

    def reason():
        s = cstatus(_pod(k8s, ns, "pull"), "app")
        r = s and s.state.waiting and s.state.waiting.reason
        if r:
            seen.add(r)
        return r == "ImagePullBackOff"
    wait_for(reason, 30, 0.1, what="ImagePullBackOff")
    p = _pod(k8s, ns, "pull")
    assert p.status.phase == "Pending"
    s = cstatus(p, "app")
    assert s.ready is False and s.restartCount == 0
    assert s.state.waiting.message == (
        'Back-off pulling image "quay.io/example/app:1.0": ErrImagePull: '
        'rpc error: code = Unknown desc = reading manifest 1.0 in quay.io/example/app: manifest unknown')
    assert condition(p, "Ready").status == "False"
    # kubelet reports ErrImagePull first (we may miss it when polling, but it is in the events)
    events = api(k8s, "v1", "Event").get(namespace=ns, field_selector="involvedObject.name=pull").items
    assert "ErrImagePull" in seen or any("ErrImagePull" in (e.message or "") for e in events)


def test_notready_annotation(k8s, ns):
    pods = api(k8s, "v1", "Pod")
    pods.create(namespace=ns, body=pod_body("unready", annotations={FAIL: "NotReady"}))
    p = wait_for(poll(lambda: _pod(k8s, ns, "unready"), lambda o: o.status.phase == "Running"), 30)
    s = cstatus(p, "app")
    assert s.started is True and s.ready is False and s.state.running
    assert condition(p, "Ready").status == "False"
    assert condition(p, "ContainersReady").status == "False"
    time.sleep(3)  # and it stays that way
    assert condition(_pod(k8s, ns, "unready"), "Ready").status == "False"


def test_ready_delay_annotation(k8s, ns):
    pods = api(k8s, "v1", "Pod")
    t0 = time.monotonic()
    pods.create(namespace=ns, body=pod_body("slow", annotations={READY_DELAY: "4"}))
    p = wait_for(poll(lambda: _pod(k8s, ns, "slow"), lambda o: o.status.phase == "Running"), 30)
    assert condition(p, "Ready").status == "False"
    wait_for(lambda: condition(_pod(k8s, ns, "slow"), "Ready").status == "True", 30, 0.2, what="Ready")
    assert time.monotonic() - t0 >= 3.5
    assert cstatus(_pod(k8s, ns, "slow"), "app").ready is True


def test_failure_annotation_on_deployment_template(k8s, ns):
    deploys = api(k8s, "apps/v1", "Deployment")
    deploys.create(namespace=ns, body={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "bad"}},
                 "template": {"metadata": {"labels": {"app": "bad"}, "annotations": {FAIL: "CrashLoopBackOff"}},
                              "spec": {"containers": [{"name": "srv", "image": "quay.io/example/srv:2"}]}}}})

    def crashing():
        items = api(k8s, "v1", "Pod").get(namespace=ns, label_selector="app=bad").items
        return items and cstatus(items[0], "srv") and cstatus(items[0], "srv").state.waiting \
            and cstatus(items[0], "srv").state.waiting.reason == "CrashLoopBackOff"
    wait_for(crashing, 30, what="deployment pod in CrashLoopBackOff")
    d = deploys.get(namespace=ns, name="bad")
    assert (d.status.availableReplicas or 0) == 0
    assert d.status.unavailableReplicas == 1


# ----------------------------------------------------------------------------- OpenShift API surface

def test_openshift_config_singletons(k8s):
    ingress = api(k8s, "config.openshift.io/v1", "Ingress").get(name="cluster")
    assert ingress.spec.domain.startswith("apps.") and ingress.spec.domain.count(".") >= 3
    infra = api(k8s, "config.openshift.io/v1", "Infrastructure").get(name="cluster")
    assert infra.status.platformStatus.type == infra.status.platform == "AWS"
    tags = {t.key: t.value for t in (infra.status.platformStatus.aws.resourceTags or [])}
    assert tags.get("red-hat-clustertype") != "rosa"
    cv = api(k8s, "config.openshift.io/v1", "ClusterVersion").get(name="version")
    assert cv.status.desired.version.startswith("4.")
    assert cv.status.history[0].state == "Completed"
    assert condition(cv, "Available").status == "True"
    names = {n.metadata.name for n in api(k8s, "v1", "Namespace").get().items}
    assert {"openshift-operators", "openshift-marketplace", "openshift-ingress"} <= names
    cs = api(k8s, "operators.coreos.com/v1alpha1", "CatalogSource").get(
        name="redhat-operators", namespace="openshift-marketplace")
    assert cs.status.connectionState.lastObservedState == "READY"
    og = api(k8s, "operators.coreos.com/v1", "OperatorGroup").get(
        name="global-operators", namespace="openshift-operators")
    assert og.spec.upgradeStrategy.name == "Default"


@pytest.mark.parametrize("api_version,kind", [
    ("route.openshift.io/v1", "Route"),
    ("operators.coreos.com/v1", "OperatorGroup"),
    ("operators.coreos.com/v1alpha1", "Subscription"),
    ("operators.coreos.com/v1alpha1", "InstallPlan"),
    ("operators.coreos.com/v1alpha1", "ClusterServiceVersion"),
    ("operators.coreos.com/v1alpha1", "CatalogSource"),
    ("operators.coreos.com/v2", "OperatorCondition"),
    ("operators.coreos.com/v1", "OperatorCondition"),
    ("packages.operators.coreos.com/v1", "PackageManifest"),
    ("user.openshift.io/v1", "Group"),
])
def test_openshift_kinds_served(k8s, api_version, kind):
    assert k8s.resources.get(api_version=api_version, kind=kind).kind == kind


def test_route_schema_is_enforced(k8s, ns):
    routes = api(k8s, "route.openshift.io/v1", "Route")
    r = routes.create(namespace=ns, body={
        "apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r"},
        "spec": {"to": {"kind": "Service", "name": "svc"}, "port": {"targetPort": "http"},
                 "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}}})
    assert r.spec.to.weight == 100 and r.spec.wildcardPolicy == "None"  # defaults as on OpenShift
    domain = api(k8s, "config.openshift.io/v1", "Ingress").get(name="cluster").spec.domain
    assert r.spec.host == f"r-{ns}.{domain}"  # host generated as openshift-apiserver does
    r2 = routes.create(namespace=ns, body={
        "apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r2"},
        "spec": {"subdomain": "svc-a", "to": {"kind": "Service", "name": "svc"}}})
    assert r2.spec.host == f"svc-a.{domain}"
    r3 = routes.create(namespace=ns, body={
        "apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r3"},
        "spec": {"host": "models.example.org", "to": {"kind": "Service", "name": "svc"}}})
    assert r3.spec.host == "models.example.org"
    with pytest.raises(ApiException) as exc:
        routes.create(namespace=ns, body={
            "apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "bad"},
            "spec": {"to": {"kind": "Service", "name": "svc"}, "tls": {"termination": "bogus"}}})
    assert exc.value.status == 422


def test_operator_crds_absent_at_start(k8s):
    groups = {c.spec.group for c in api(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition").get().items}
    for g in ("maistra.io", "operator.knative.dev", "datasciencecluster.opendatahub.io", "nvidia.com"):
        assert g not in groups or _installed_by_sim(k8s, g)


def _installed_by_sim(k8s, group):
    # the simulated OLM may have installed an operator earlier in this session
    subs = api(k8s, "operators.coreos.com/v1alpha1", "Subscription").get().items
    return bool(subs)


# ----------------------------------------------------------------------------- lifecycle

def test_up_is_a_noop_when_up(testbed):
    before = testbed.pids()
    t0 = time.monotonic()
    testbed.up()
    assert time.monotonic() - t0 < 5
    assert testbed.pids() == before


@pytest.mark.fresh_testbed
@pytest.mark.slow
def test_fresh_rosa_testbed_stale_cleanup_and_down(fresh_testbed, testbed):
    tb = fresh_testbed(gpu_nodes=0, platform="ROSA")
    assert tb.is_up() and testbed.is_up()  # two testbeds at once, on different ports
    assert tb.server != testbed.server
    sim_present = (REPO / "testbed" / "sim" / "__main__.py").is_file()
    if sim_present:  # the simulated operators run with the testbed and stop with it
        assert "sim" in tb.pids()
        assert "testbed.sim" in _proc_cmdline(tb.pids()["sim"])
    from testbed.pytest_plugin import dynamic_client
    k = dynamic_client(tb.kubeconfig)
    infra = k.resources.get(api_version="config.openshift.io/v1", kind="Infrastructure").get(name="cluster")
    assert infra.status.platformStatus.type == "AWS"
    tags = {t.key: t.value for t in infra.status.platformStatus.aws.resourceTags}
    assert tags["red-hat-clustertype"] == "rosa" and tags["red-hat-managed"] == "true"
    domain = k.resources.get(api_version="config.openshift.io/v1", kind="Ingress").get(name="cluster").spec.domain
    assert domain.endswith(".openshiftapps.com")
    nodes = k.resources.get(api_version="v1", kind="Node").get().items
    assert not [n for n in nodes if "testbed.openshift-ai.io/gpu" in dict(n.metadata.labels)]

    # a half-dead testbed (API server killed) is not "up"; up() cleans it and starts again
    old = tb.pids()
    os.kill(old["kube-apiserver"], 9)
    wait_for(lambda: not tb.is_up(), 10)
    tb.up()
    new = tb.pids()
    assert tb.is_up()
    assert set(new) >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    assert all(new[n] != old[n] for n in old)
    assert ("sim" in new) == sim_present
    for pid in old.values():
        assert not Path(f"/proc/{pid}").exists() or str(tb.state_dir) not in _proc_cmdline(pid)

    tb.down()
    assert not tb.is_up()
    for pid in new.values():
        assert not Path(f"/proc/{pid}").exists() or str(tb.state_dir) not in _proc_cmdline(pid)
    leftovers = [p for p in Path("/proc").iterdir()
                 if p.name.isdigit() and str(tb.state_dir) in _proc_cmdline(int(p.name))]
    assert leftovers == []
    assert testbed.is_up()  # the shared testbed is untouched
