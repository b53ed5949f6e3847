#!/usr/bin/env python3
"""Wall time of playbooks/install.yml over a fleet of three clusters (one run, --forks 3) against the
sum of three single-cluster runs of the same playbook on the same kind of clusters.

Two rounds, each on three fresh testbeds started in parallel (rosa: platform ROSA; aws-gpu: AWS with one
GPU node; aws: AWS), so both measure a first install on empty clusters:

1. sequential: install.yml once per cluster, one after the other (an inventory of one host each);
2. fleet: install.yml once over an inventory of the three hosts with --forks 3.

Only the ansible-playbook runs are timed (not the testbed start-up). Writes bench/results/fleet.json;
the last line printed is ``clusters=3 fleet_s=<s> sequential_s=<s>``.

    .venv/bin/python bench/fleet.py
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from testbed.cluster import Testbed  # noqa: E402  pylint: disable=wrong-import-position

CLUSTERS = {
    "rosa": dict(platform="ROSA", gpu_nodes=0),
    "aws-gpu": dict(platform="AWS", gpu_nodes=1),
    "aws": dict(platform="AWS", gpu_nodes=0),
}
VENV_BIN = Path(sys.executable).parent


def _inventory(path, beds):
    with open(path, "w") as f:
        yaml.safe_dump({"all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "hosts": {name: {"model_serving_kubeconfig": str(tb.kubeconfig)} for name, tb in beds.items()},
        }}, f)
    return path


def _install(inventory, forks, log):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("K8S_AUTH_KUBECONFIG", None)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "--forks", str(forks), "playbooks/install.yml"]
    t0 = time.monotonic()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    dt = time.monotonic() - t0
    if rc != 0:
        raise SystemExit("install.yml failed (rc=%s), see %s" % (rc, log))
    return dt


def _round(root, name, body):
    """Start three fresh testbeds in parallel, run body(beds, dir), stop them."""
    d = Path(root) / name
    beds = {c: Testbed(str(d / c), workers=2, **opts) for c, opts in CLUSTERS.items()}
    try:
        with concurrent.futures.ThreadPoolExecutor(len(beds)) as pool:
            for fut in [pool.submit(tb.up) for tb in beds.values()]:
                fut.result()
        return body(beds, d)
    finally:
        with concurrent.futures.ThreadPoolExecutor(len(beds)) as pool:
            list(pool.map(lambda tb: tb.down(), beds.values()))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "fleet.json"))
    ap.add_argument("--logs", default=None, help="directory for the ansible-playbook logs (default: a temp dir, kept)")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench-fleet-")
    logs = Path(a.logs or tempfile.mkdtemp(prefix="bench-fleet-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    try:
        def sequential(beds, d):
            return {c: _install(_inventory(d / ("%s.yml" % c), {c: tb}), 1, logs / ("single-%s.log" % c))
                    for c, tb in beds.items()}

        def fleet(beds, d):
            return _install(_inventory(d / "fleet.yml", beds), 3, logs / "fleet.log")

        singles = _round(root, "sequential", sequential)
        fleet_s = _round(root, "fleet", fleet)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sequential_s = sum(singles.values())
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "clusters": len(CLUSTERS),
        "single_s": {c: round(s, 1) for c, s in singles.items()},
        "sequential_s": round(sequential_s, 1),
        "fleet_s": round(fleet_s, 1),
        "logs": str(logs),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print("clusters=%d fleet_s=%.1f sequential_s=%.1f" % (len(CLUSTERS), fleet_s, sequential_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
