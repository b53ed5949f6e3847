"""The install's read-only preflight (issue: node capacity and a provided certificate on the
automated path): refusals come before any write and name what to change.

One dedicated testbed: its single worker is shrunk below seed 000's minimum, then restored; a
provided certificate for another domain is put in istio-system for the automated path."""

import json

from helpers import ansible_playbook
from install_support import MANUAL, PLAYBOOK, failure_text, snapshot
from test_install_bad_inputs import _write_cert
from testbed.pytest_plugin import dynamic_client


def _set_allocatable(k8s, cpu, memory):
    nodes = k8s.resources.get(api_version="v1", kind="Node")
    for node in nodes.get().items:
        resources = {"cpu": cpu, "memory": memory, "pods": "110"}
        nodes.status.patch(name=node.metadata.name, body={"status": {"allocatable": resources, "capacity": resources}},
                           content_type="application/merge-patch+json")
    return [(n.metadata.name, n.status.allocatable.cpu) for n in nodes.get().items]


def test_preflight_refusals_come_before_any_write(fresh_testbed, tmp_path):
    tb = fresh_testbed(workers=2, gpu_nodes=0, platform="AWS")
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)

    # 1. Every node below the minimum: refused, naming the variables and the largest nodes.
    assert _set_allocatable(k8s, "2", "8Gi") == [("worker-0", "2"), ("worker-1", "2")]
    before = snapshot(k8s)
    run = ansible_playbook(PLAYBOOK, kubeconfig, MANUAL)
    text = failure_text(run)
    assert run.rc != 0, text[-2000:]
    for word in ("model_serving_node_minimum_cpu", "model_serving_node_capacity_check",
                 "worker-0 (2 CPU, 8 GiB)", "3500m CPU and 13Gi"):
        assert word in text, "%r not in:\n%s" % (word, text[-3000:])
    assert snapshot(k8s) == before

    # 2. warn: the play goes on (here in check mode, which writes nothing) with the warning.
    run = ansible_playbook(PLAYBOOK, kubeconfig, dict(MANUAL, model_serving_node_capacity_check="warn"), check=True)
    assert run.rc == 0, failure_text(run)[-3000:]
    assert "no schedulable node has at least 3500m CPU" in json.dumps(run.output) + run.stderr
    assert snapshot(k8s) == before

    # 3. A bad threshold is refused at step (1), naming the variable.
    run = ansible_playbook(PLAYBOOK, kubeconfig, dict(MANUAL, model_serving_node_minimum_memory="lots"))
    assert run.rc != 0 and "model_serving_node_minimum_memory (lots)" in failure_text(run)

    # 4. Automated path, provided certificate for another domain: refused before any operator is installed.
    _set_allocatable(k8s, "16", "64Gi")
    crt, key = _write_cert(str(tmp_path), ["*.apps.somewhere-else.example.org"])
    k8s.resources.get(api_version="v1", kind="Namespace").create(body={"metadata": {"name": "istio-system"}})
    with open(crt) as c, open(key) as k:
        k8s.resources.get(api_version="v1", kind="Secret").create(namespace="istio-system", body={
            "metadata": {"name": "my-wildcard"}, "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": c.read(), "tls.key": k.read()}})
    before = snapshot(k8s)
    run = ansible_playbook(PLAYBOOK, kubeconfig, {
        "model_serving_install_path": "automated", "kserve_automated_certificate_type": "Provided",
        "kserve_automated_certificate_secret_name": "my-wildcard"})
    text = failure_text(run)
    assert run.rc != 0, text[-2000:]
    for word in ("kserve_automated_certificate_secret_name", "istio-system/my-wildcard", "apps.testbed.example.com",
                 "nothing was changed"):
        assert word in text, "%r not in:\n%s" % (word, text[-3000:])
    assert "PRIVATE KEY" not in json.dumps(run.output) + run.stderr
    assert snapshot(k8s) == before
