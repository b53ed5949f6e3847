"""pods_verify against the testbed (kwok pods honour the testbed's failure annotations).

Covers: groups by label selector and by name prefix with min_ready and exact containers, the
per-pod summary; an injected CrashLoopBackOff reported long before the timeout naming pod,
container and reason (fail fast); ImagePullBackOff and Unschedulable; a pod without the expected
sidecar and a NotReady pod time out with a message saying why; check mode does not wait.
"""

import time

import pytest
from helpers import run_module, run_module_in_background, wait_module_running

from k8s_util import api, make_namespace

pytestmark = pytest.mark.integration

FAIL = "testbed.openshift-ai.io/fail"
FAIL_CONTAINER = "testbed.openshift-ai.io/fail-container"
READY_DELAY = "testbed.openshift-ai.io/ready-delay"


@pytest.fixture
def ns(k8s):
    with make_namespace(k8s, "pv") as name:
        yield name


def deployment(name, replicas=1, containers=("app",), annotations=None, node_selector=None):
    spec = {"containers": [{"name": c, "image": "quay.io/example/%s:1.0" % c} for c in containers]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}, "annotations": annotations or {}}, "spec": spec},
        },
    }


def pod(name, containers=("app",), labels=None, annotations=None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"containers": [{"name": c, "image": "quay.io/example/%s:1.0" % c} for c in containers]},
    }


def test_groups_ready_with_summary(k8s, kubeconfig, ns):
    api(k8s, "apps/v1", "Deployment").create(
        namespace=ns, body=deployment("web", 2, ("app", "istio-proxy"), {READY_DELAY: "2"})
    )
    api(k8s, "v1", "Pod").create(namespace=ns, body=pod("solo-1"))
    result = run_module(
        "pods_verify",
        {"namespace": ns, "timeout": 180, "groups": [
            {"name": "web", "label_selector": "app=web", "min_ready": 2, "containers": ["istio-proxy", "app"]},
            {"name_prefix": "solo-"},
        ]},
        kubeconfig,
    )
    assert not result.get("failed"), result
    assert [g["ok"] for g in result["groups"]] == [True, True]
    assert result["groups"][0]["ready"] == 2 and result["groups"][1]["name"] == "solo-"
    assert len(result["pods"]) == 3 and all(p["ready"] for p in result["pods"])
    web = [p for p in result["pods"] if p["name"].startswith("web-")][0]
    assert sorted(c["name"] for c in web["containers"]) == ["app", "istio-proxy"]
    assert all(c["state"] == "running" for c in web["containers"]) and web["node"].startswith("worker-")


def test_crashloop_fails_fast_naming_pod_container_reason(k8s, kubeconfig, ns):
    timeout = 600
    run = run_module_in_background(
        "pods_verify",
        {"namespace": ns, "timeout": timeout, "groups": [
            {"name": "authorino", "label_selector": "app=authorino", "containers": ["authorino", "istio-proxy"]}]},
        kubeconfig,
    )
    wait_module_running("pods_verify", run)
    injected = time.monotonic()
    api(k8s, "apps/v1", "Deployment").create(
        namespace=ns,
        body=deployment("authorino", 1, ("authorino", "istio-proxy"), {FAIL: "CrashLoopBackOff", FAIL_CONTAINER: "authorino"}),
    )
    result = run.result(timeout + 120)
    reported = run.finished - injected
    assert result.get("failed"), result
    crashing = [p["name"] for p in result["pods"] if p["problems"]]
    assert len(crashing) == 1 and crashing[0].startswith("authorino-")
    msg = result["msg"]
    assert "pod %s container authorino: CrashLoopBackOff" % crashing[0] in msg
    assert "back-off" in msg  # the kubelet's message
    assert "  event: " in msg, "recent events of the pod are missing: %s" % msg
    assert result["pods"][0]["problems"][0] == {
        "pod": crashing[0], "container": "authorino", "reason": "CrashLoopBackOff",
        "message": result["pods"][0]["problems"][0]["message"],
        "namespace": ns, "node": result["pods"][0]["node"]}
    assert result["pods"][0]["node"] and "on node %s" % result["pods"][0]["node"] in msg
    assert result["elapsed"] < 60 and reported < 90, "not fail fast: %.1fs after injection" % reported
    assert result["groups"][0]["ok"] is False


def test_image_pull_and_unschedulable_fail_fast(k8s, kubeconfig, ns):
    api(k8s, "v1", "Pod").create(namespace=ns, body=pod("puller", labels={"app": "pull"}, annotations={FAIL: "ImagePullBackOff"}))
    api(k8s, "apps/v1", "Deployment").create(
        namespace=ns, body=deployment("gpu-model", node_selector={"testbed.openshift-ai.io/no-such-node": "true"})
    )
    pulled = run_module(
        "pods_verify", {"namespace": ns, "timeout": 300, "groups": [{"label_selector": "app=pull"}]}, kubeconfig
    )
    assert pulled.get("failed"), pulled
    assert "pod puller container app:" in pulled["msg"]
    # the kubelet passes through ErrImagePull quickly: either state may be the one seen, both name the image
    assert "container app: ImagePullBackOff (image quay.io/example/app:1.0" in pulled["msg"] or (
        "container app: ErrImagePull (image quay.io/example/app:1.0" in pulled["msg"]
    ), pulled["msg"]
    assert pulled["elapsed"] < 60

    unsched = run_module(
        "pods_verify", {"namespace": ns, "timeout": 300, "groups": [{"name_prefix": "gpu-model-"}]}, kubeconfig
    )
    assert unsched.get("failed"), unsched
    assert "Unschedulable" in unsched["msg"] and "node affinity/selector" in unsched["msg"]
    assert unsched["elapsed"] < 60


def test_missing_sidecar_and_not_ready_time_out_with_reason(k8s, kubeconfig, ns):
    api(k8s, "v1", "Pod").create(namespace=ns, body=pod("nosidecar", ("authorino",), {"app": "auth"}))
    api(k8s, "v1", "Pod").create(namespace=ns, body=pod("unready", ("app",), {"app": "slow"}, {FAIL: "NotReady"}))
    args = {"namespace": ns, "timeout": 8, "groups": [
        {"name": "auth", "label_selector": "app=auth", "containers": ["authorino", "istio-proxy"]},
        {"name": "slow", "label_selector": "app=slow"}]}
    result = run_module("pods_verify", args, kubeconfig)
    assert result.get("failed"), result
    msg = result["msg"]
    assert msg.startswith("Timed out after 8s")
    assert "nosidecar has containers ['authorino'], expected ['authorino', 'istio-proxy']" in msg
    assert "unready phase Running, Ready=False" in msg
    assert result["elapsed"] >= 8
    assert result["groups"][0]["wrong_containers"] == {"nosidecar": ["authorino"]}

    check = run_module("pods_verify", dict(args, timeout=600), kubeconfig, check=True)
    assert not check.get("failed"), check
    assert check["_duration"] < 120
    assert any("check mode, not waiting" in w for w in check.get("warnings", [])), check
