#!/usr/bin/env python3
"""A no-op rerun of playbooks/install.yml on a converged testbed: wall time and module invocations,
manual and automated install paths, for an older commit of the collection ("before") and the work
tree ("after"), measured in one run.

For each path, one fresh testbed (manual: ``model_serving_install_path=manual``; automated: a fresh
cluster with ``auto`` picks the automated path):

1. before: install.yml from the older commit (checked out with ``git archive`` into a temp dir)
   converges the cluster, then runs again: the second run is the measured no-op;
2. after: install.yml from the work tree runs on the same cluster (converging whatever the newer
   collection adds), then again: the measured no-op.

A measured run must report ``changed=0``. Module invocations are counted from the json callback:
every task result (every loop item) that ran a module, i.e. not skipped and not a controller-side
action (set_fact, debug, fail, assert, include_*, meta, validate_argument_spec...).

Writes bench/results/noop_rerun.json; the last line printed is
``noop manual_s=<s> automated_s=<s> invocations_before=<n> invocations_after=<n>`` (times of the
work tree's no-op runs; invocations summed over both paths).

    .venv/bin/python bench/noop_rerun.py [--before <commit>] [--paths manual,automated]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from testbed.cluster import Testbed  # noqa: E402  pylint: disable=wrong-import-position

VENV_BIN = Path(sys.executable).parent
# The parent of the first commit of the clean-up (issue 18): roles with five apply.yml copies and
# check-mode probes.
DEFAULT_BEFORE = "34a3e60^"
CONTROLLER_ACTIONS = {
    "set_fact", "debug", "fail", "assert", "meta", "include_tasks", "include_role", "import_tasks",
    "import_role", "include_vars", "set_stats", "validate_argument_spec", "add_host", "group_by",
}


def _short(action):
    return (action or "").rsplit(".", 1)[-1]


def count_invocations(report):
    """(module invocations, by module) of one json-callback report."""
    total, by_module = 0, {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                action = _short(result.get("action"))
                if action in CONTROLLER_ACTIONS:
                    continue
                if result.get("skipped"):
                    continue
                # a loop's items carry ansible_loop_var; a module's own "results" (resources_patch) do not
                items = result.get("results")
                looped = isinstance(items, list) and any(isinstance(i, dict) and "ansible_loop_var" in i for i in items)
                n = sum(1 for item in items if isinstance(item, dict) and not item.get("skipped")) if looped else 1
                if n:
                    total += n
                    by_module[action] = by_module.get(action, 0) + n
    return total, by_module


def _json_report(stdout):
    start = stdout.find("{\n")
    return json.loads(stdout[start:] if start >= 0 else stdout)


def checkout(commit, root):
    """The collection at ``commit`` under root/ansible_collections/openshift_ai/model_serving."""
    dest = Path(root) / "ansible_collections" / "openshift_ai" / "model_serving"
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    # its ansible.cfg points collections_path at ./.collections: make that resolve to itself
    link = dest / ".collections" / "ansible_collections" / "openshift_ai"
    link.mkdir(parents=True)
    (link / "model_serving").symlink_to(dest)
    return dest


def run_install(tree, kubeconfig, extra, log):
    env = dict(os.environ, ANSIBLE_CONFIG=str(tree / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", K8S_AUTH_KUBECONFIG=str(kubeconfig),
               PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "inventories/local", "playbooks/install.yml"]
    for key, value in extra.items():
        cmd += ["-e", "%s=%s" % (key, value)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - t0
    Path(log).write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit("install.yml failed (rc=%s) in %s, see %s" % (proc.returncode, tree, log))
    report = _json_report(proc.stdout)
    changed = sum(s.get("changed", 0) for s in report.get("stats", {}).values())
    invocations, by_module = count_invocations(report)
    return dict(seconds=round(seconds, 1), changed=changed, invocations=invocations, by_module=by_module)


def measure_path(path, trees, workdir):
    extra = {"model_serving_install_path": "manual"} if path == "manual" else {}
    tb = Testbed(str(Path(workdir) / ("tb-" + path)), workers=2, platform="AWS", gpu_nodes=0)
    tb.up()
    out = {}
    try:
        for label, tree in trees:
            converge = run_install(tree, tb.kubeconfig, extra, Path(workdir) / ("%s-%s-converge.log" % (path, label)))
            noop = run_install(tree, tb.kubeconfig, extra, Path(workdir) / ("%s-%s-noop.log" % (path, label)))
            if noop["changed"]:
                raise SystemExit("%s %s: the rerun reported changed=%s, not a no-op" % (path, label, noop["changed"]))
            out[label] = dict(converge_s=converge["seconds"], noop=noop)
            print("%s %s: converge %.1f s, no-op %.1f s, %d module invocations" % (
                path, label, converge["seconds"], noop["seconds"], noop["invocations"]), flush=True)
    finally:
        tb.down()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="commit measured as 'before' (default %(default)s)")
    parser.add_argument("--paths", default="manual,automated")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    before = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.strip()
    after = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.strip()
    workdir = tempfile.mkdtemp(prefix="noop-rerun-")
    try:
        trees = [("before", checkout(before, Path(workdir) / "before")), ("after", REPO)]
        results = {p: measure_path(p, trees, workdir) for p in args.paths.split(",")}
    finally:
        if args.keep:
            print("logs in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = dict(
        before=before, after=after + " (work tree)", machine=dict(cpus=os.cpu_count(), python=platform.python_version()),
        load_average=os.getloadavg(), paths=results,
    )
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "noop_rerun.json").write_text(json.dumps(summary, indent=2) + "\n")

    def noop(path, label, key):
        return results.get(path, {}).get(label, {}).get("noop", {}).get(key, 0)

    print("noop manual_s=%s automated_s=%s invocations_before=%d invocations_after=%d" % (
        noop("manual", "after", "seconds"), noop("automated", "after", "seconds"),
        sum(noop(p, "before", "invocations") for p in results), sum(noop(p, "after", "invocations") for p in results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
