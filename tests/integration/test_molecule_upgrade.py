"""Molecule scenario ``upgrade`` (extensions/molecule/upgrade) against a dedicated testbed (issue 16):
older pinned operators + one model -> playbooks/upgrade.yml with Manual approval, step by step.

1. ``molecule prepare``: install.yml with authorino-operator and serverless-operator pinned two CSVs
   below their channel head (the operators role's ``starting_csv``, Manual approval), then the demo
   model of inventories/local (vLLM, token auth), then the control plane pinned to spec.version v2.5.
2. Before any upgrade: a target channel the catalog does not have, and a control plane version below
   the one it runs, are refused before any write (naming the variable), and ``--check`` writes nothing
   (Subscriptions and the control plane unchanged, no InstallPlan approved).
3. ``molecule test`` (prepare already done, so skipped): syntax, converge (the upgrade), idempotence
   (changed=0), verify (CSV versions, every intermediate InstallPlan approved in order, the control
   plane raised to v2.6, platform and model Ready, inference check). While converge runs, a background thread calls the model's
   completions endpoint through the testbed's ingress with its token; the number of failed calls is
   printed and must be 0.

Molecule's state goes to a directory of the test's own (MOLECULE_EPHEMERAL_DIRECTORY), so a previous
run's "prepared" state never skips the prepare of a fresh testbed.
"""

import base64
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from helpers import REPO, ansible_env, ansible_playbook

# the collection's own HTTP caller (module_utils/_inference.py) for the calls during the upgrade
if os.path.join(REPO, ".collections") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, ".collections"))
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _inference  # noqa: E402
from install_support import failure_text, stats  # noqa: E402
from testbed.pytest_plugin import dynamic_client  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INVENTORY = ("-i", "inventories/local")
V1A1 = "operators.coreos.com/v1alpha1"
PROJECT, MODEL, TOKEN_SECRET = "demo-models", "demo-llm", "demo-demo-llm-sa"
PINNED = {"authorino-operator": "openshift-operators", "serverless-operator": "openshift-serverless"}
MOLECULE = os.path.join(os.path.dirname(sys.executable), "molecule")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _get(k8s, api_version, kind, name, namespace=None):
    return k8s.resources.get(api_version=api_version, kind=kind).get(name=name, namespace=namespace).to_dict()


def _subs(k8s):
    return dict((p, _get(k8s, V1A1, "Subscription", p, ns)) for p, ns in PINNED.items())


def _approved_plans(k8s):
    return sorted(p.metadata.name for ns in set(PINNED.values())
                  for p in k8s.resources.get(api_version=V1A1, kind="InstallPlan").get(namespace=ns).items
                  if p.spec.approved)


class Traffic(object):
    """Calls the model's completions endpoint, with its token, through the testbed's ingress, about
    five times a second until stopped; counts the calls and keeps the failed ones."""

    def __init__(self, url, token, ca, https_address):
        host, port = https_address.rsplit(":", 1)
        self.caller = _inference.Caller(url, token=token, context=_inference.ssl_context(ca=ca),
                                        resolve_map=_inference.parse_resolve({"*": "%s:%s" % (host, port)}), timeout=10)
        self.call = _inference.build_calls("vllm", MODEL)[1]
        self.stop = threading.Event()
        self.calls, self.failed = 0, []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            res = self.caller.call(self.call)
            self.calls += 1
            if res["status"] != 200:
                self.failed.append((time.strftime("%H:%M:%S"), res["status"], res.get("error") or res["excerpt"][:200]))
            self.stop.wait(0.2)  # pacing of the load, not a wait for a condition

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(30)


def _molecule(env, *args, on_line=None, timeout=1800):
    """Runs molecule from the collection root; returns (rc, output, seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen([MOLECULE] + list(args), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    out = []
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        for line in proc.stdout:
            out.append(ANSI.sub("", line))
            if on_line:
                on_line(out[-1])
        proc.wait()
    finally:
        killer.cancel()
    return proc.returncode, "".join(out), time.monotonic() - started


def test_molecule_upgrade(fresh_testbed, tmp_path):
    t0 = time.monotonic()
    tb = fresh_testbed(workers=2, gpu_nodes=0, platform="AWS")
    kubeconfig = str(tb.kubeconfig)
    k8s = dynamic_client(kubeconfig)
    env = ansible_env(kubeconfig)
    # Molecule drives ansible-playbook itself; use the normal (human) output, and the repo's
    # collection path so that the collection under test is the one loaded.
    for var in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_RESULT_FORMAT"):
        env.pop(var, None)
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".collections"), "MOLECULE_NO_LOG": "false",
                "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "molecule"), "NO_COLOR": "1"})

    # 1. The previous versions and the model.
    rc, out, secs = _molecule(env, "prepare", "-s", "upgrade")
    print("[upgrade test] molecule prepare: %.0fs, rc %s" % (secs, rc))
    assert rc == 0, out[-8000:]
    before = _subs(k8s)
    assert dict((p, s["status"]["installedCSV"]) for p, s in before.items()) == {
        "authorino-operator": "authorino-operator.v1.1.1", "serverless-operator": "serverless-operator.v1.33.2"}
    approved_before = _approved_plans(k8s)

    # 2. A channel the catalog does not have: refused before any write, naming the variable.
    run = ansible_playbook("playbooks/upgrade.yml", kubeconfig,
                           {"upgrade_operators": {"serverless-operator": {"channel": "stable-9.9"}}}, args=INVENTORY,
                           timeout=600)
    print("[upgrade test] refused: %.0fs, rc %s, %s" % (run.duration, run.rc, stats(run)))
    assert run.rc != 0 and stats(run).get("changed", 0) == 0
    text = failure_text(run)
    assert "upgrade_operators['serverless-operator'].channel" in text and "stable-9.9" in text, text
    # A control plane version below the one it runs (no downgrade): refused before any write, naming the variable.
    smcp_before = _get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system")
    assert smcp_before["spec"]["version"] == "v2.5"
    run = ansible_playbook("playbooks/upgrade.yml", kubeconfig, {"upgrade_service_mesh_version": "v2.4"}, args=INVENTORY,
                           timeout=600)
    assert run.rc != 0 and stats(run).get("changed", 0) == 0
    text = failure_text(run)
    assert "upgrade_service_mesh_version=v2.4" in text and "cannot lower" in text, text
    # --check: reports the steps, writes nothing.
    run = ansible_playbook("playbooks/upgrade.yml", kubeconfig, {"upgrade_service_mesh_version": "v2.6"}, check=True,
                           args=INVENTORY, timeout=600)
    print("[upgrade test] --check: %.0fs, rc %s, %s" % (run.duration, run.rc, stats(run)))
    assert run.rc == 0, failure_text(run) or run.stderr[-3000:]
    assert stats(run).get("changed", 0) > 0
    assert dict((p, s["metadata"]["resourceVersion"]) for p, s in _subs(k8s).items()) == \
        dict((p, s["metadata"]["resourceVersion"]) for p, s in before.items())
    assert _approved_plans(k8s) == approved_before
    smcp = _get(k8s, "maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system")
    assert smcp["metadata"]["resourceVersion"] == smcp_before["metadata"]["resourceVersion"]

    # 3. molecule test, with the model called throughout converge.
    isvc = _get(k8s, "serving.kserve.io/v1beta1", "InferenceService", MODEL, PROJECT)
    token = base64.b64decode(_get(k8s, "v1", "Secret", TOKEN_SECRET, PROJECT)["data"]["token"]).decode()
    ca = base64.b64decode(_get(k8s, "v1", "Secret", "knative-serving-cert", "istio-system")["data"]["tls.crt"]).decode()
    ingress = _get(k8s, "v1", "ConfigMap", "testbed-ingress", "testbed-system")["data"]
    traffic = Traffic(isvc["status"]["url"], token, ca, ingress["https-address"])

    def on_line(line):
        if "[upgrade > idempotence] Executing" in line:
            traffic.finish()  # converge is over

    traffic.start()
    try:
        rc, out, secs = _molecule(env, "test", "-s", "upgrade", on_line=on_line)
    finally:
        traffic.finish()
    print("[upgrade test] molecule test: %.0fs, rc %s" % (secs, rc))
    print("[upgrade test] calls to the model during the upgrade: %d, failed: %d %s"
          % (traffic.calls, len(traffic.failed), traffic.failed[:10]))
    for line in out.splitlines():
        if "->" in line and ("authorino-operator.v" in line or "serverless-operator.v" in line) and "msg" in line:
            print("[upgrade test] InstallPlans approved in order: " + line.strip())
    assert rc == 0, out[-8000:]
    assert "Skipping, instances already prepared" in out, out[:4000]
    for step in ("converge", "idempotence", "verify"):
        assert "upgrade > %s: Executed: Successful" % step in out, (step, out[-4000:])
    assert traffic.calls > 0
    assert traffic.failed == [], traffic.failed[:20]
    print("[upgrade test] total: %.0fs" % (time.monotonic() - t0))
