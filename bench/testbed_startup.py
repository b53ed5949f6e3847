#!/usr/bin/env python3
"""Measure how long `python -m testbed up` takes to reach ready with the binaries built.

Runs several up/down cycles in a temporary state dir (so it never touches the shared
`.testbed`), reports each wall time (process start to exit, i.e. what `make testbed-up`
costs after the build step) and the median, and writes bench/results/testbed_startup.json.

    .venv/bin/python bench/testbed_startup.py [--runs 5] [--no-sim]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 30.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "testbed_startup.json"))
    a = ap.parse_args()
    subprocess.run([str(REPO / "testbed" / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times, downs, cpus = [], [], []
    tick = os.sysconf("SC_CLK_TCK")
    for i in range(a.runs):
        d = tempfile.mkdtemp(prefix="testbed-bench-")
        try:
            cmd = [sys.executable, "-m", "testbed", "up", "--state-dir", d] + (["--no-sim"] if a.no_sim else [])
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
            dt = time.monotonic() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                print(r.stderr, file=sys.stderr)
                raise SystemExit(f"run {i + 1}: up failed")
            # CPU time spent until ready: the launcher itself plus the daemons it started
            # (a load-independent measure: on an idle 2-core machine wall time ~ cpu / 2)
            cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            state = json.loads((Path(d) / "state.json").read_text())
            for rec in state["processes"].values():
                with open(f"/proc/{rec['pid']}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / tick
            cpus.append(cpu)
            t1 = time.monotonic()
            subprocess.run([sys.executable, "-m", "testbed", "down", "--state-dir", d], cwd=REPO, env=env,
                           check=True, capture_output=True)
            downs.append(time.monotonic() - t1)
            times.append(dt)
            print(f"run {i + 1}: up {dt:.1f}s ({cpu:.1f} CPU-s), down {downs[-1]:.1f}s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    load = os.getloadavg()
    result = {
        "benchmark": "testbed_startup",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": a.runs,
        "sim": not a.no_sim and (REPO / "testbed" / "sim" / "__main__.py").is_file(),
        "up_seconds": [round(t, 2) for t in times],
        "up_median_seconds": round(statistics.median(times), 2),
        "down_median_seconds": round(statistics.median(downs), 2),
        "cpu_seconds_to_ready": [round(c, 2) for c in cpus],
        "cpu_seconds_to_ready_median": round(statistics.median(cpus), 2),
        "target_seconds": TARGET_S,
        "meets_target": statistics.median(times) < TARGET_S,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_end": [round(x, 2) for x in load]},
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0  # a measurement, not an assertion (see testbed/README.md)


if __name__ == "__main__":
    sys.exit(main())
