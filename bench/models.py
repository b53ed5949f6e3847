#!/usr/bin/env python3
"""50 models: this collection (playbooks/deploy_models.yml) vs. a kubernetes.core.k8s loop.

    .venv/bin/python bench/models.py [--kubeconfig PATH] [--models 50] [--projects 5]

Without --kubeconfig a dedicated testbed is started in a temporary state dir (never the shared
`.testbed`), OpenShift AI with KServe Serverless and Authorino is installed on it through the
simulated OLM, and the testbed is stopped at the end.

The same models, in one run on the same testbed:

* collection: `ansible-playbook playbooks/deploy_models.yml` with `model_serving_models` (projects
  `mbench-c-<i>`): writes, waits until every model is Ready and Loaded, and calls every model
  (inference_check); the first converge must report every check ok.
* k8s loop: the same objects (project labels, ServingRuntime copied from the runtime's Template,
  InferenceService, token ServiceAccount/Role/RoleBinding/Secret, built by the role's own code) in
  projects `mbench-k-<i>`, applied by `kubernetes.core.k8s` loops, the InferenceServices with
  `wait: true` on `Ready=True` (the module's default poll interval) - how a hand-written playbook
  applies and waits.

Each converges once, then reruns with nothing to change (the collection's no-op three times: `noop_s`
is the median, the machine being shared). Times are the wall time of the ansible-playbook process
(start to exit). The collection's no-op uses the role's default
`model_deployment_check_scope: changed` (no model changed, every model read Ready and Loaded, so none
is called); a third collection run with `model_deployment_check_scope: all` calls all 50 models
again and is recorded as `noop_check_all_s`.

Writes bench/results/models.json. The last line printed is
`models=<n> converge_speedup=<x> noop_speedup=<y> noop_s=<s>`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, ".collections"))
sys.path.insert(0, REPO)

from helpers import ansible_playbook  # noqa: E402  pylint: disable=wrong-import-position

DOMAIN = "apps.testbed.example.com"
K8S_LOOP = """---
- name: Models by a kubernetes.core.k8s loop
  hosts: localhost
  gather_facts: false
  vars_files:
    - objects.yml
  tasks:
    - name: Apply the projects
      kubernetes.core.k8s:
        definition: "{{ item }}"
      loop: "{{ namespaces }}"
      loop_control:
        label: "{{ item.metadata.name }}"

    - name: Apply the ServingRuntimes
      kubernetes.core.k8s:
        definition: "{{ item }}"
      loop: "{{ runtimes }}"
      loop_control:
        label: "{{ item.metadata.namespace }}/{{ item.metadata.name }}"

    - name: Apply the InferenceServices and wait until Ready
      kubernetes.core.k8s:
        definition: "{{ item }}"
        wait: true
        wait_condition:
          type: Ready
          status: "True"
        wait_timeout: 900
      loop: "{{ isvcs }}"
      loop_control:
        label: "{{ item.metadata.namespace }}/{{ item.metadata.name }}"

    - name: Apply the token ServiceAccounts, Roles and RoleBindings
      kubernetes.core.k8s:
        definition: "{{ item }}"
      loop: "{{ token_objects }}"
      loop_control:
        label: "{{ item.kind }} {{ item.metadata.namespace }}/{{ item.metadata.name }}"

    - name: Apply the token Secrets
      kubernetes.core.k8s:
        definition: "{{ item }}"
      loop: "{{ token_secrets }}"
      loop_control:
        label: "{{ item.metadata.namespace }}/{{ item.metadata.name }}"
"""


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def models_for(prefix, n, projects):
    """n models over `projects` projects: vLLM (Serverless, every second one with token auth), OVMS
    (RawDeployment, every third with a route), Caikit-TGIS and Caikit standalone (Serverless)."""
    out = []
    for i in range(n):
        project = "%s-%d" % (prefix, i % projects)
        kind = i % 4
        if kind == 0:
            m = {"name": "llm-%d" % i, "runtime": "vllm-cuda-runtime", "model_format": "vLLM", "size": "Small",
                 "storage": {"uri": "oci://quay.io/example/granite-3.1-2b-instruct:1"}}
            if i % 8 == 0:
                m.update(token_auth=True, tokens=["bench"])
        elif kind == 1:
            m = {"name": "mnist-%d" % i, "runtime": "kserve-ovms", "model_format": "onnx",
                 "deployment_mode": "RawDeployment", "external_route": i % 3 == 0,
                 "storage": {"uri": "oci://quay.io/example/mnist:1"}}
        elif kind == 2:
            m = {"name": "flan-%d" % i, "runtime": "caikit-tgis-runtime", "model_format": "caikit", "size": "Small",
                 "storage": {"uri": "oci://quay.io/example/flan-t5-small-caikit:1"}}
        else:
            m = {"name": "minilm-%d" % i, "runtime": "caikit-standalone-runtime", "model_format": "caikit",
                 "size": "Small", "storage": {"uri": "oci://quay.io/example/all-minilm-l12-v2-caikit:1"}}
        m["project"] = project
        out.append(m)
    return out


def manifests(k8s, models):
    """The objects the role writes for `models`, as full manifests (built by the role's own code)."""
    from ansible_collections.openshift_ai.model_serving.plugins.filter.model_deployment import DEFAULT_SIZES
    from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _models

    templates = k8s.resources.get(api_version="template.openshift.io/v1", kind="Template").get(
        namespace="redhat-ods-applications", label_selector="opendatahub.io/dashboard=true").to_dict()["items"]
    plan = _models.plan(models, {"deployment_mode": "Serverless", "external_route": True, "token_auth": False},
                        {"templates": templates, "sizes": DEFAULT_SIZES, "namespaces": [], "isvcs": [], "secrets": []})
    if plan.get("errors"):
        raise SystemExit("bench models refused: %s" % plan["errors"])

    def full(entry):
        obj = dict((k, v) for k, v in entry["patch"].items() if k != "metadata")
        meta = dict(entry["patch"].get("metadata") or {}, name=entry["name"])
        if entry.get("namespace"):
            meta["namespace"] = entry["namespace"]
        obj.update(apiVersion=entry["api_version"], kind=entry["kind"], metadata=meta)
        return obj

    return {
        "namespaces": [full(e) for e in plan["namespaces"]],
        "runtimes": [full(e) for e in plan["runtimes"]],
        "isvcs": [full(e) for e in plan["isvcs"]],
        "token_objects": [full(e) for e in plan["tokens"] if e["kind"] != "Secret"],
        "token_secrets": [full(e) for e in plan["tokens"] if e["kind"] == "Secret"],
    }


def unsafe_yaml(data):
    """YAML for a vars file where strings with `{{` are `!unsafe` (the ServingRuntimes carry KServe's `{{.Name}}`,
    which Ansible must not template - what a hand-written playbook has to do as well)."""
    import yaml

    class Unsafe(str):
        pass

    def mark(value):
        if isinstance(value, dict):
            return dict((k, mark(v)) for k, v in value.items())
        if isinstance(value, list):
            return [mark(v) for v in value]
        # only what looks like a template: `!unsafe 'true'` loads as a bool in ansible-core 2.19
        return Unsafe(value) if isinstance(value, str) and ("{{" in value or "{%" in value) else value

    dumper = yaml.SafeDumper
    dumper.add_representer(Unsafe, lambda d, v: d.represent_scalar("!unsafe", str(v), style="'"))
    return yaml.dump(mark(data), Dumper=dumper, default_flow_style=False)


def run(path, kubeconfig, extra_vars, what):
    log("%s ..." % what)
    t0 = time.monotonic()
    res = ansible_playbook(path, kubeconfig, extra_vars, timeout=3600)
    dt = time.monotonic() - t0
    if res.rc != 0:
        failed = [(n, r.get("msg"), [i.get("msg") for i in r.get("results") or [] if i.get("failed")][:3])
                  for n, r in res.task_results() if r.get("failed") and not r.get("ignore_errors")]
        raise SystemExit("%s failed (rc %s): %s\n%s" % (what, res.rc, failed, res.stderr[-3000:]))
    changed = res.stats.get("localhost", {}).get("changed")
    log("%s: %.1f s, changed=%s" % (what, dt, changed))
    return dt, changed, res


def summary_of(res):
    for name, r in res.task_results():
        if name.endswith("Publish the result"):
            return (r.get("ansible_facts") or {}).get("model_deployment_result") or {}
    return {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", help="a testbed that is up (default: start a dedicated one)")
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--projects", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "models.json"))
    a = ap.parse_args()

    from test_inference_check import ensure_platform
    from testbed.cluster import Testbed
    from testbed.pytest_plugin import dynamic_client

    tb = state = None
    if a.kubeconfig:
        kubeconfig = a.kubeconfig
    else:
        state = tempfile.mkdtemp(prefix="testbed-bench-models-")
        # 2 x n models of 1 CPU / 4 Gi (size Small) and more: 16-CPU/64-Gi workers enough for all
        tb = Testbed(state, workers=max(3, (2 * a.models) // 12 + 1))
        tb.up(log=log)
        kubeconfig = str(tb.kubeconfig)
    work = tempfile.mkdtemp(prefix="bench-models-")
    try:
        k8s = dynamic_client(kubeconfig)
        log("platform (OpenShift AI, KServe Serverless, Authorino) ...")
        ingress = ensure_platform(k8s)
        tag = time.strftime("%H%M%S")
        ours = models_for("mbench-c%s" % tag, a.models, a.projects)
        theirs = models_for("mbench-k%s" % tag, a.models, a.projects)

        extra = {"model_serving_kubeconfig": kubeconfig, "model_serving_models": ours,
                 "model_deployment_timeout": 900,
                 # the gateway's self-signed certificate: TLS verification is exercised by the tests
                 "model_deployment_check_validate_certs": False,
                 "model_deployment_check_ca": "",
                 # the role's default, explicit: inventories/local (the demo) calls every model on every run
                 "model_deployment_check_scope": "changed",
                 "model_deployment_check_resolve": {"*." + DOMAIN: ingress["https-address"],
                                                    "*.svc.cluster.local": ingress["http-address"]}}
        playbook = os.path.join(REPO, "playbooks", "deploy_models.yml")
        ours_converge, _c, res = run(playbook, kubeconfig, extra, "collection: first converge of %d models" % a.models)
        result = summary_of(res)
        checked = [m for m in result.get("models") or [] if (m.get("check") or {}).get("ok")]
        if len(checked) != a.models:
            raise SystemExit("collection: %d of %d models answered their inference check" % (len(checked), a.models))
        # the no-op three times (the machine is shared: the median is less noisy than one sample)
        noops = [run(playbook, kubeconfig, extra, "collection: no-op rerun %d/3" % (i + 1)) for i in range(3)]
        ours_noop_samples = [round(n[0], 2) for n in noops]
        ours_noop = statistics.median(n[0] for n in noops)
        ours_noop_changed = max(n[1] for n in noops)
        ours_all, _c, res = run(playbook, kubeconfig, dict(extra, model_deployment_check_scope="all"),
                                "collection: no-op rerun calling every model (check_scope all)")
        checked_all = [m for m in summary_of(res).get("models") or [] if (m.get("check") or {}).get("ok")]

        with open(os.path.join(work, "objects.yml"), "w") as f:
            f.write(unsafe_yaml(manifests(k8s, theirs)))
        loop_playbook = os.path.join(work, "k8s_loop.yml")
        with open(loop_playbook, "w") as f:
            f.write(K8S_LOOP)
        loop_vars = {"ansible_python_interpreter": sys.executable}
        theirs_converge, _c, _r = run(loop_playbook, kubeconfig, loop_vars, "k8s loop: first converge of %d models" % a.models)
        theirs_noop, theirs_noop_changed, _r = run(loop_playbook, kubeconfig, loop_vars, "k8s loop: no-op rerun")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if tb is not None:
            try:
                tb.down(log=log)
            finally:
                shutil.rmtree(state, ignore_errors=True)

    converge_speedup = theirs_converge / ours_converge
    noop_speedup = theirs_noop / ours_noop
    out = {
        "benchmark": "models",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": a.models,
        "projects": a.projects,
        "testbed": "given kubeconfig" if a.kubeconfig else "dedicated (temporary state dir)",
        "collection": {"converge_s": round(ours_converge, 2), "noop_s": round(ours_noop, 2),
                       "noop_samples_s": ours_noop_samples,
                       "noop_changed": ours_noop_changed, "noop_check_all_s": round(ours_all, 2),
                       "models_checked_ok_first_converge": len(checked),
                       "models_checked_ok_check_all": len(checked_all)},
        "k8s_loop": {"converge_s": round(theirs_converge, 2), "noop_s": round(theirs_noop, 2),
                     "noop_changed": theirs_noop_changed},
        "converge_speedup": round(converge_speedup, 1),
        "noop_speedup": round(noop_speedup, 1),
        "targets": {"converge_speedup": 5, "noop_speedup": 5, "noop_s": 10},
        "meets_targets": converge_speedup >= 5 and noop_speedup >= 5 and ours_noop < 10,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    print("models=%d converge_speedup=%.1f noop_speedup=%.1f noop_s=%.1f" % (
        a.models, converge_speedup, noop_speedup, ours_noop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
