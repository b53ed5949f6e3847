"""resource_wait against the testbed, run for real through ansible-playbook.

Covers: waiting for a kind whose CRD does not exist yet, then for a condition; a CRD
Established wait; field, JMESPath and label-selector predicates; failure predicates fail fast;
the timeout message shows the last status; check mode does not wait.
"""

import time
import uuid

import pytest
from helpers import run_module, run_module_in_background, wait_module_running

from k8s_util import api, ensure_crd, make_namespace, widget_crd

pytestmark = pytest.mark.integration

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def ns(k8s):
    with make_namespace(k8s, "rw") as name:
        yield name


@pytest.fixture(scope="module")
def widgets(k8s):
    group = "rw%s.example.com" % uuid.uuid4().hex[:6]
    with ensure_crd(k8s, widget_crd(group)):
        yield group, api(k8s, group + "/v1", "Widget")


def make_widget(res, group, ns, name, status=None):
    res.create(namespace=ns, body={"apiVersion": group + "/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {}})
    if status:
        res.status.patch(namespace=ns, name=name, body={"status": status}, content_type=MERGE)


def test_waits_for_crd_then_condition(k8s, kubeconfig, ns):
    group = "late%s.example.com" % uuid.uuid4().hex[:6]
    crd_name = "widgets." + group
    obj_wait = run_module_in_background(
        "resource_wait",
        {"api_version": group + "/v1", "kind": "Widget", "name": "w1", "namespace": ns,
         "condition": {"type": "Ready"}, "timeout": 240},
        kubeconfig,
    )
    crd_wait = run_module_in_background(
        "resource_wait",
        {"api_version": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "name": crd_name, "timeout": 240},
        kubeconfig,
    )
    wait_module_running("resource_wait", obj_wait)
    wait_module_running("resource_wait", crd_wait)
    assert not obj_wait.done() and not crd_wait.done()
    with ensure_crd(k8s, widget_crd(group)):
        crd_args = {"api_version": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "name": crd_name, "timeout": 60}
        crd = run_module("resource_wait", crd_args, kubeconfig)
        assert crd["satisfied"] is True, crd
        res = api(k8s, group + "/v1", "Widget")
        make_widget(res, group, ns, "w1", {"conditions": [{"type": "Ready", "status": "False", "reason": "Starting"}]})
        time.sleep(1)
        assert not obj_wait.done(), "a Ready=False object must not end the wait"
        res.status.patch(namespace=ns, name="w1", content_type=MERGE,
                         body={"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Done"}]}})
        result = obj_wait.result(240)
        assert not result.get("failed"), result
        assert result["elapsed"] >= 3
        assert result["resources"][0]["status"]["conditions"][0]["reason"] == "Done"
        established = crd_wait.result(240)
        assert not established.get("failed"), established
        assert any(c["type"] == "Established" and c["status"] == "True"
                   for c in established["resources"][0]["status"]["conditions"])


def test_failure_predicate_fails_fast(k8s, kubeconfig, ns, widgets):
    group, res = widgets
    make_widget(res, group, ns, "csv-like", {"phase": "Installing"})
    run = run_module_in_background(
        "resource_wait",
        {"api_version": group + "/v1", "kind": "Widget", "name": "csv-like", "namespace": ns,
         "field": {"path": "status.phase", "value": "Succeeded"},
         "failure": [{"field": {"path": "status.phase", "value": "Failed"}},
                     {"condition": {"type": "Degraded"}}],
         "timeout": 600},
        kubeconfig,
    )
    wait_module_running("resource_wait", run)
    res.status.patch(namespace=ns, name="csv-like", content_type=MERGE,
                     body={"status": {"phase": "Failed", "message": "install strategy failed: boom"}})
    result = run.result(300)
    assert result.get("failed"), result
    assert "status.phase == 'Failed'" in result["msg"] and "install strategy failed: boom" in result["msg"]
    assert "csv-like" in result["msg"]
    assert result["elapsed"] < 60, "failure predicate did not fail fast"
    assert result["resources"][0]["status"]["phase"] == "Failed"


def test_jmespath_with_label_selector_needs_every_object(k8s, kubeconfig, ns):
    cms = api(k8s, "v1", "ConfigMap")
    for name, state in (("a", "ready"), ("b", "starting")):
        cms.create(namespace=ns, body={"metadata": {"name": "sel-" + name, "labels": {"app": "sel"}}, "data": {"state": state}})
    run = run_module_in_background(
        "resource_wait",
        {"kind": "ConfigMap", "label_selector": "app=sel", "namespace": ns, "jmespath": "data.state == 'ready'", "timeout": 240},
        kubeconfig,
    )
    wait_module_running("resource_wait", run)
    assert not run.done()
    cms.patch(namespace=ns, name="sel-b", body={"data": {"state": "ready"}}, content_type=MERGE)
    result = run.result(240)
    assert not result.get("failed"), result
    assert sorted(o["metadata"]["name"] for o in result["resources"]) == ["sel-a", "sel-b"]


def test_timeout_shows_last_status_and_check_mode_does_not_wait(k8s, kubeconfig, ns, widgets):
    group, res = widgets
    make_widget(res, group, ns, "stuck", {"conditions": [
        {"type": "Ready", "status": "False", "reason": "MeshNotReady", "message": "waiting for istiod"}]})
    args = {"api_version": group + "/v1", "kind": "Widget", "name": "stuck", "namespace": ns,
            "condition": {"type": "Ready"}, "timeout": 3}
    result = run_module("resource_wait", args, kubeconfig)
    assert result.get("failed"), result
    assert result["msg"].startswith("Timed out after 3s")
    assert "Ready=False MeshNotReady: waiting for istiod" in result["msg"]
    assert result["resources"][0]["metadata"]["name"] == "stuck"

    check = run_module("resource_wait", dict(args, timeout=600), kubeconfig, check=True)
    assert not check.get("failed"), check
    assert check["satisfied"] is False and check["elapsed"] == 0
    assert check["_duration"] < 120
    assert any("check mode, not waiting" in w for w in check.get("warnings", [])), check


def test_field_predicate_already_true(k8s, kubeconfig, ns, widgets):
    group, res = widgets
    make_widget(res, group, ns, "done", {"phase": "Succeeded", "replicas": 3})
    result = run_module(
        "resource_wait",
        {"api_version": group + "/v1", "kind": "Widget", "name": "done", "namespace": ns,
         "field": {"path": "status.replicas", "value": "3"}, "timeout": 30},
        kubeconfig,
    )
    assert not result.get("failed"), result
    assert result["elapsed"] < 5
