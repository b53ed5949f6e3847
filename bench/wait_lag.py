"""Lag between a condition becoming true on the cluster and resource_wait / pods_verify returning,
compared with a polling wait that sleeps 5 s between reads (the ``until:``/``retries``/``delay: 5``
pattern of hand-written playbooks).

    .venv/bin/python bench/wait_lag.py [--kubeconfig PATH] [--samples 10]

Without --kubeconfig the shared testbed (.testbed) is used, started if needed (and then stopped).

Per sample:
* resource_wait: a ConfigMap with ``data.state: starting``; resource_wait (field data.state == ready)
  is started through ansible-playbook; once its module process is running and has begun waiting,
  the bench patches the ConfigMap (t0 = patch sent). A poller thread (GET, check, sleep 5 s; its
  phase relative to t0 is random) measures the polling lag for the same change.
* pods_verify: once the module waits (no pod matches yet), a pod with
  ``testbed.openshift-ai.io/ready-delay`` is created; t0 = the moment the bench's own watch sees
  the pod Ready (watch delivery on the same machine is milliseconds).
* "the module waits" = its process has run and then used no CPU for 1 s (blocked in its watch).
* module lag = the process running the module exits - t0 (the module has returned its result; the
  process is Ansible's worker when the module runs in it, the default on the controller);
  task lag = the task's end as stamped by the json callback (wall clock) - t0 (when the next task
  of a playbook could start); playbook exit lag = the one-task ansible-playbook process exits - t0
  (includes Ansible's end-of-run output and its own interpreter teardown).
* A sample counts only when the module had started waiting before t0: its start is derived as
  (module exit - the module's own ``elapsed``), both on the machine's monotonic clock.

Results: bench/results/wait_lag.json and bench/results/wait_lag.md.
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, REPO)

from helpers import run_module_in_background, run_pid, wait_module_running  # noqa: E402  pylint: disable=wrong-import-position


def find_module_pid(module, run, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = run_pid(module, run)
        if pid:
            return pid
        time.sleep(0.01)
    raise RuntimeError("module %s did not start" % module)


class ExitWatcher(threading.Thread):
    """Records the monotonic time a process exits (polls /proc every 2 ms)."""

    def __init__(self, pid):
        super(ExitWatcher, self).__init__(daemon=True)
        self.pid = pid
        self.exited = None
        self.start()

    def run(self):
        while os.path.exists("/proc/%d" % self.pid):
            time.sleep(0.002)
        self.exited = time.monotonic()


class Poller(threading.Thread):
    """The 5 s polling wait: read, test, sleep 5 s; records when it first sees the condition."""

    def __init__(self, read, test, interval=5.0):
        super(Poller, self).__init__(daemon=True)
        self.read, self.test, self.interval = read, test, interval
        self.seen = None
        self.stop = False
        self.start()

    def run(self):
        time.sleep(random.uniform(0, self.interval))  # random phase, as a playbook started at any time
        while not self.stop:
            try:
                obj = self.read()
            except Exception:  # pylint: disable=broad-except
                obj = None
            if obj is not None and self.test(obj):
                self.seen = time.monotonic()
                return
            time.sleep(self.interval)


def ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def sample_resource_wait(k8s, kubeconfig, ns):
    cms = k8s.resources.get(api_version="v1", kind="ConfigMap")
    name = "lag-" + uuid.uuid4().hex[:6]
    cms.create(namespace=ns, body={"metadata": {"name": name}, "data": {"state": "starting"}})
    run = run_module_in_background(
        "resource_wait",
        {"kind": "ConfigMap", "name": name, "namespace": ns, "field": {"path": "data.state", "value": "ready"}, "timeout": 300},
        kubeconfig,
    )
    exit_watch = ExitWatcher(find_module_pid("resource_wait", run))
    poller = Poller(lambda: cms.get(name=name, namespace=ns).to_dict(), lambda o: (o.get("data") or {}).get("state") == "ready")
    wait_module_running("resource_wait", run)  # imported, listed, idle in its watch
    time.sleep(random.uniform(0, 1))
    t0 = time.monotonic()
    wall0 = time.time()
    cms.patch(namespace=ns, name=name, body={"data": {"state": "ready"}}, content_type="application/merge-patch+json")
    result = run.result(300)
    exit_watch.join(10)
    poller.join(15)
    return _sample("resource_wait", t0, result, run, exit_watch, poller, wall0)


def sample_pods_verify(k8s, kubeconfig, ns, delay):
    pods = k8s.resources.get(api_version="v1", kind="Pod")
    name = "lag-" + uuid.uuid4().hex[:6]
    seen = {}

    def watch_ready():
        from kubernetes.watch import Watch

        w = Watch()
        for event in pods.watch(namespace=ns, name=name, timeout=delay + 120, watcher=w):
            if ready(event["raw_object"]):
                seen["t"] = time.monotonic()
                seen["wall"] = time.time()
                w.stop()
                return

    run = run_module_in_background(
        "pods_verify", {"namespace": ns, "groups": [{"label_selector": "bench=" + name}], "timeout": 300}, kubeconfig
    )
    exit_watch = ExitWatcher(find_module_pid("pods_verify", run))
    wait_module_running("pods_verify", run)  # imported, listed (no pod yet), idle in its watch
    watcher = threading.Thread(target=watch_ready, daemon=True)
    watcher.start()
    time.sleep(0.3)
    pods.create(namespace=ns, body={
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": name}, "annotations": {"testbed.openshift-ai.io/ready-delay": str(delay)}},
        "spec": {"containers": [{"name": "app", "image": "quay.io/example/app:1.0"}]},
    })
    poller = Poller(lambda: pods.get(name=name, namespace=ns).to_dict(), ready)
    result = run.result(300)
    exit_watch.join(10)
    watcher.join(30)
    poller.join(15)
    return _sample("pods_verify", seen.get("t"), result, run, exit_watch, poller, seen.get("wall"))


def sample_waiter_in_process(kubeconfig, ns, k8s):
    """The waiter layer alone (same process, no Ansible): patch -> Waiter.wait returns."""
    sys.path.insert(0, os.path.join(REPO, ".collections"))
    from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client
    from ansible_collections.openshift_ai.model_serving.plugins.module_utils._waiter import Waiter, field, object_evaluator

    cms = k8s.resources.get(api_version="v1", kind="ConfigMap")
    name = "lagw-" + uuid.uuid4().hex[:6]
    cms.create(namespace=ns, body={"metadata": {"name": name}, "data": {"state": "starting"}})
    waiter = Waiter(Client({"kubeconfig": kubeconfig}), "v1", "ConfigMap", namespace=ns, name=name)
    box = {}

    def wait():
        waiter.wait(object_evaluator(field("data.state", "ready")), 120)
        box["t"] = time.monotonic()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    time.sleep(2 + random.uniform(0, 1))
    t0 = time.monotonic()
    cms.patch(namespace=ns, name=name, body={"data": {"state": "ready"}}, content_type="application/merge-patch+json")
    thread.join(120)
    return {"module": "waiter (in process)", "valid": "t" in box, "module_lag": round(box["t"] - t0, 3) if "t" in box else None}


def _wall(iso):
    """Seconds since the epoch of the json callback's ISO timestamp (UTC, microseconds)."""
    import datetime

    stamp = datetime.datetime.strptime(iso.rstrip("Z").split("+")[0], "%Y-%m-%dT%H:%M:%S.%f")
    return (stamp - datetime.datetime(1970, 1, 1)).total_seconds()


def _sample(module, t0, result, run, exit_watch, poller, wall0=None):
    out = {"module": module, "failed": bool(result.get("failed")), "msg": result.get("msg")}
    if t0 is None or result.get("failed") or exit_watch.exited is None:
        out["valid"] = False
        return out
    module_started = exit_watch.exited - float(result["elapsed"])
    out.update(
        valid=module_started < t0,
        module_lag=round(exit_watch.exited - t0, 3),
        task_lag=round(_wall(result["_task_duration"]["end"]) - wall0, 3) if wall0 else None,
        playbook_exit_lag=round(run.finished - t0, 3),
        poll_lag=round(poller.seen - t0, 3) if poller.seen else None,
        module_elapsed=result["elapsed"],
        ansible_run=round(result["_duration"], 3),
    )
    return out


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    values.sort()
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3),
        "mean": round(statistics.mean(values), 3),
        "min": round(values[0], 3),
        "max": round(values[-1], 3),
        "p90": round(values[min(len(values) - 1, int(0.9 * len(values)))], 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--ready-delay", type=int, default=3, help="pods_verify: seconds until the created pod turns Ready")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()

    from testbed.pytest_plugin import dynamic_client

    tb = None
    kubeconfig = args.kubeconfig
    if not kubeconfig:
        from testbed.cluster import Testbed

        tb = Testbed(os.environ.get("TESTBED_STATE_DIR") or os.path.join(REPO, ".testbed"))
        started = not tb.is_up()
        if started:
            tb.up()
        kubeconfig = str(tb.kubeconfig)
        if not started:
            tb = None  # not ours to stop
    k8s = dynamic_client(kubeconfig)
    nss = k8s.resources.get(api_version="v1", kind="Namespace")
    ns = "bench-lag-" + uuid.uuid4().hex[:6]
    nss.create(body={"metadata": {"name": ns}})
    sas = k8s.resources.get(api_version="v1", kind="ServiceAccount")
    for _ in range(300):
        try:
            sas.get(name="default", namespace=ns)
            break
        except Exception:  # pylint: disable=broad-except
            time.sleep(0.2)
    samples = []
    try:
        for i in range(args.samples):
            for fn in (lambda: sample_resource_wait(k8s, kubeconfig, ns),
                       lambda: sample_pods_verify(k8s, kubeconfig, ns, args.ready_delay),
                       lambda: sample_waiter_in_process(kubeconfig, ns, k8s)):
                s = fn()
                s["i"] = i
                samples.append(s)
                print(json.dumps(s), flush=True)
    finally:
        nss.delete(name=ns)
        if tb is not None:
            tb.down()

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(), "python": platform.python_version()},
        "samples": samples,
        "summary": {},
    }
    for module in ("resource_wait", "pods_verify", "waiter (in process)"):
        valid = [s for s in samples if s["module"] == module and s.get("valid")]
        report["summary"][module] = {
            "valid_samples": len(valid),
            "invalid_samples": len([s for s in samples if s["module"] == module and not s.get("valid")]),
            "module_lag": summarize([s.get("module_lag") for s in valid]),
            "task_lag": summarize([s.get("task_lag") for s in valid]),
            "playbook_exit_lag": summarize([s.get("playbook_exit_lag") for s in valid]),
            "poll_5s_lag": summarize([s.get("poll_lag") for s in valid]),
        }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "wait_lag.json"), "w") as f:
        json.dump(report, f, indent=2)
    lines = [
        "# Wait lag (%s, %d CPUs, load average at end %.1f)" % (report["when"], os.cpu_count(), os.getloadavg()[0]),
        "",
        "Seconds from the condition becoming true on the cluster to the wait returning.",
        "",
        "| wait | samples | median | mean | p90 | max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for module, summ in report["summary"].items():
        for key, label in (("module_lag", "%s (module returns)" % module if "process" not in module else module),
                           ("task_lag", "%s (ansible task ends, callback timestamp)" % module),
                           ("playbook_exit_lag", "%s (one-task ansible-playbook process exits)" % module),
                           ("poll_5s_lag", "polling wait, 5 s sleep (same changes)")):
            st = summ[key]
            if st:
                lines.append("| %s | %d | %.2f | %.2f | %.2f | %.2f |" % (label, st["n"], st["median"], st["mean"], st["p90"], st["max"]))
    with open(os.path.join(args.out, "wait_lag.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
