"""Where a module of the collection runs: inside Ansible's worker on the controller (the default
with ``connection: local``), or as its own process (``model_serving_modules_in_worker: false``, and
any non-local connection). Both give the same result for the same task: a change, its check-mode
prediction and diff, a failure, the secrets masked in ``invocation``; the task's ``environment``
reaches the module in both.
"""

import json
import os
import subprocess
import uuid

import pytest
from helpers import REPO, VENV_BIN, ansible_env, run_module

from k8s_util import make_namespace

pytestmark = pytest.mark.integration

SWITCH = "model_serving_modules_in_worker"
VOLATILE = ("_duration", "_task_duration", "creationTimestamp", "resourceVersion", "uid", "managedFields")


@pytest.fixture(scope="module")
def ns(k8s):
    with make_namespace(k8s, "inworker") as name:
        yield name


def normalise(value, name):
    """``value`` without its volatile fields, the object's name replaced by NAME."""
    if isinstance(value, dict):
        return dict((k, normalise(v, name)) for k, v in value.items() if k not in VOLATILE)
    if isinstance(value, list):
        return [normalise(v, name) for v in value]
    if isinstance(value, str):
        return value.replace(name, "NAME")
    return value


def both(args, kubeconfig, **kwargs):
    """(in the worker, as a module process) results of the same task on two fresh object names."""
    out = []
    for in_worker in (True, False):
        name = "cm-%s" % uuid.uuid4().hex[:6]
        result = run_module("resource_patch", dict(args, name=name), kubeconfig, task_vars={SWITCH: in_worker}, **kwargs)
        out.append(normalise(result, name))
    return out


def test_change_check_and_failure_match(ns, kubeconfig):
    args = {"kind": "ConfigMap", "namespace": ns, "create": True, "patch": {"data": {"a": "b"}}}
    worker, process = both(args, kubeconfig, check=True, diff=True)
    assert worker["changed"] is True and worker.get("diff")
    assert worker == process

    worker, process = both(args, kubeconfig, diff=True)
    assert worker["changed"] is True and worker["result"]["data"] == {"a": "b"}
    assert worker == process

    missing = dict(args, create=False)
    worker, process = both(missing, kubeconfig)
    assert worker["failed"] is True and "not found" in worker["msg"]
    assert worker == process


def test_secret_masked_in_both(ns, kubeconfig):
    args = {"kind": "ConfigMap", "namespace": ns, "create": True, "patch": {"data": {"a": "b"}},
            "api_key": "not-a-real-token-4f1d", "kubeconfig": str(kubeconfig)}
    worker, process = both(args, kubeconfig)
    assert worker == process
    assert "not-a-real-token-4f1d" not in repr(worker)
    assert worker["invocation"]["module_args"]["api_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def play_file(tmp_path, ns, name, environment=None):
    task = {"name": "patch", "openshift_ai.model_serving.resource_patch": {
        "kind": "ConfigMap", "name": name, "namespace": ns, "create": True, "patch": {"data": {"a": "b"}}}}
    if environment:
        task["environment"] = environment
    path = tmp_path / "play.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [task]}]))
    return path


def playbook(path, in_worker, env, *args):
    """ansible-playbook with the default callback and exactly ``env`` for the Kubernetes settings."""
    full = ansible_env(None, {"ANSIBLE_STDOUT_CALLBACK": "default"})
    for key in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        full.pop(key, None)
    full.update(env)
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", str(path), "-e",
           json.dumps({SWITCH: in_worker})] + list(args)
    return subprocess.run(cmd, cwd=REPO, env=full, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker", "process"])
def test_task_environment_reaches_the_module(ns, kubeconfig, tmp_path, in_worker):
    """The process environment names no usable kubeconfig: only the task's ``environment`` does."""
    name = "env-%s" % ("worker" if in_worker else "process")
    path = play_file(tmp_path, ns, name, environment={"K8S_AUTH_KUBECONFIG": str(kubeconfig)})
    run = playbook(path, in_worker, {"KUBECONFIG": "/nonexistent/kubeconfig"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "changed=1" in run.stdout


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker", "process"])
def test_which_path_ran(ns, kubeconfig, tmp_path, in_worker):
    """-vvv names the module file only when a module process is built for the task."""
    path = play_file(tmp_path, ns, "which-%s" % ("worker" if in_worker else "process"))
    run = playbook(path, in_worker, {"K8S_AUTH_KUBECONFIG": str(kubeconfig)}, "-vvv")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert ("Using module file" in run.stdout + run.stderr) is (not in_worker)
