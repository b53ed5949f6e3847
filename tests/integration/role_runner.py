"""Run one role of this collection against a testbed, the way a user's playbook would.

Shared by test_automated_path.py, test_gpu.py and test_molecule_automated.py.

    run = run_role("kserve_automated", kubeconfig, {"kserve_automated_authorino": True})
    run.rc, run.stats["localhost"]["changed"], run.fact, run.failure_msg
"""

import json
import os
import tempfile

from helpers import ansible_playbook


class RoleRun(object):
    def __init__(self, run, fact_name):
        self.run = run
        self.rc = run.rc
        self.stats = run.stats
        self.duration = run.duration
        self.results = run.task_results()
        self.fact = None
        for name, res in self.results:
            if name == "role result" and fact_name in res:
                self.fact = res[fact_name]

    @property
    def changed(self):
        return self.stats.get("localhost", {}).get("changed")

    @property
    def failed_results(self):
        return [(n, r) for n, r in self.results if r.get("failed") and not r.get("ignore_errors")]

    @property
    def failure_msg(self):
        """Message of the last failed task; for a loop, the messages of its failed items too."""
        failed = self.failed_results
        if not failed:
            return ""
        res = failed[-1][1]
        msgs = [res.get("msg", "")]
        msgs += [item.get("msg", "") for item in res.get("results") or [] if isinstance(item, dict) and item.get("failed")]
        return " | ".join(m for m in msgs if m)

    def task(self, name):
        """Results of the tasks with this name (in order); role tasks are named "<role> : <name>"."""
        return [r for n, r in self.results if n == name or n.endswith(" : " + name)]

    def changed_tasks(self):
        return [n for n, r in self.results if r.get("changed")]

    def describe(self):
        return "rc=%s changed=%s changed_tasks=%s failure=%s\nstderr tail:\n%s" % (
            self.rc, self.changed, self.changed_tasks(), self.failure_msg, self.run.stderr[-3000:])


def run_role(role, kubeconfig, role_vars=None, check=False, fact_name=None, timeout=1500, pre_tasks=None):
    """Include openshift_ai.model_serving.<role> with ``role_vars`` as extra vars, then print the
    role's published fact (``<role>_result`` unless ``fact_name``)."""
    fact_name = fact_name or "%s_result" % role
    play = [
        {
            "name": "role %s" % role,
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": list(pre_tasks or [])
            + [
                {"name": "role under test", "ansible.builtin.include_role": {"name": "openshift_ai.model_serving.%s" % role}},
                {"name": "role result", "ansible.builtin.debug": {"var": fact_name}},
            ],
        }
    ]
    fd, path = tempfile.mkstemp(prefix="run_role_", suffix=".yml")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(play, f)
        run = ansible_playbook(path, kubeconfig, role_vars, check=check, timeout=timeout, args=("-i", "localhost,"))
    finally:
        os.unlink(path)
    return RoleRun(run, fact_name)


def install_operators(kubeconfig, packages, timeout=900):
    """Install operator packages with the operators role (prerequisite of a scenario)."""
    run = run_role("operators", kubeconfig, {"operators_enabled": list(packages)}, fact_name="operators_installed",
                   timeout=timeout)
    assert run.rc == 0, run.describe()
    return run
