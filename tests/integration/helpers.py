"""Run this collection's modules and playbooks for real, through Ansible, from pytest.

Shared by every integration test. Nothing here knows about a particular module.

    from helpers import run_module, run_playbook   # tests/integration is on sys.path under pytest

    result = run_module("resource_patch", {"api_version": "v1", ...}, kubeconfig, check=True, diff=True)
    assert result["changed"] is False, result
    rc, stats = run_playbook("playbooks/install.yml", kubeconfig, extra_vars={"x": 1})

Output is parsed from the ``ansible.posix.json`` stdout callback (shipped by the ``ansible``
package in the venv), so results are real Python dicts, never scraped text.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
COLLECTION = "openshift_ai.model_serving"


def ansible_env(kubeconfig=None, extra=None):
    """Environment for an ansible subprocess: repo ansible.cfg, venv python, JSON output."""
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        }
    )
    if kubeconfig:
        env["K8S_AUTH_KUBECONFIG"] = str(kubeconfig)
    if extra:
        env.update(extra)
    return env


def _parse_json_output(stdout):
    """The json callback prints one JSON document; warnings may precede it on stdout."""
    start = stdout.find("{")
    if start < 0:
        raise ValueError("no JSON in ansible output:\n%s" % stdout)
    return json.loads(stdout[start:])


def fqcn(module):
    return module if "." in module else "%s.%s" % (COLLECTION, module)


class AnsibleRun(object):
    """Raw outcome of one ansible-playbook run: rc, parsed JSON, stderr, wall time."""

    def __init__(self, rc, output, stderr, duration):
        self.rc = rc
        self.output = output
        self.stderr = stderr
        self.duration = duration

    @property
    def stats(self):
        return self.output.get("stats", {})

    def task_results(self, host="localhost"):
        """[(task name, result dict)] in execution order; each result carries ``_task_duration``
        (the callback's ``{"start", "end"}`` wall-clock timestamps of the task)."""
        out = []
        for play in self.output.get("plays", []):
            for task in play.get("tasks", []):
                res = task.get("hosts", {}).get(host)
                if res is not None:
                    res = dict(res, _task_duration=task["task"].get("duration", {}))
                    out.append((task["task"]["name"], res))
        return out


def ansible_playbook(
    path, kubeconfig=None, extra_vars=None, check=False, diff=False, env=None, timeout=900, args=(), on_start=None
):
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), str(path)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd += list(args)
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=ansible_env(kubeconfig, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    if on_start:
        on_start(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError("ansible-playbook %s ran longer than %ss\n%s\n%s" % (path, timeout, stdout[-3000:], stderr[-3000:]))
    duration = time.monotonic() - started
    try:
        output = _parse_json_output(stdout)
    except ValueError:
        raise AssertionError(
            "ansible-playbook %s printed no JSON (rc=%s)\nstdout:\n%s\nstderr:\n%s" % (path, proc.returncode, stdout, stderr)
        )
    return AnsibleRun(proc.returncode, output, stderr, duration)


def run_playbook(path, kubeconfig=None, extra_vars=None, check=False, diff=False, env=None, timeout=900):
    """Run a playbook; return (rc, stats) where stats is the json callback's per-host stats dict
    (e.g. ``stats["localhost"]["changed"]``). Use :func:`ansible_playbook` for task results."""
    run = ansible_playbook(path, kubeconfig, extra_vars, check, diff, env, timeout)
    return run.rc, run.stats


def run_module(module, args, kubeconfig=None, check=False, diff=False, env=None, timeout=900, task_vars=None, on_start=None):
    """Run one module on localhost through ansible-playbook and return its result dict.

    The result carries ``failed``/``changed``/``msg`` as Ansible reports them, plus
    ``_duration`` (seconds of wall time for the whole ansible run). A module failure is
    returned, not raised, so tests can assert on the message.
    """
    play = [
        {
            "name": "run %s" % module,
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": dict(task_vars or {}),
            "tasks": [{"name": "module", fqcn(module): args, "ignore_errors": True}],
        }
    ]
    fd, path = tempfile.mkstemp(prefix="run_module_", suffix=".yml")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(play, f)
        run = ansible_playbook(path, kubeconfig, None, check, diff, env, timeout, args=("-i", "localhost,"), on_start=on_start)
    finally:
        os.unlink(path)
    results = run.task_results()
    if not results:
        raise AssertionError("no task result (rc=%s)\n%s\n%s" % (run.rc, json.dumps(run.output)[:4000], run.stderr[-4000:]))
    result = dict(results[-1][1])
    result["_duration"] = run.duration
    return result


class BackgroundRun(object):
    """A :func:`run_module` call running in a thread (for tests that change the cluster while a
    module waits). ``started`` is the monotonic time of the call; ``finished`` is set when it returns."""

    def __init__(self, *args, **kwargs):
        import threading

        self._args, self._kwargs = args, kwargs
        self.pid = None  # of ansible-playbook; the module process descends from it
        self._kwargs["on_start"] = self._started
        # where the module runs: in Ansible's worker unless the run's task_vars turn it off
        self.in_worker = bool((self._kwargs.get("task_vars") or {}).get("model_serving_modules_in_worker", True))
        self._result = None
        self._error = None
        self.started = time.monotonic()
        self.finished = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _started(self, pid):
        self.pid = pid

    def _run(self):
        try:
            self._result = run_module(*self._args, **self._kwargs)
        except Exception as e:  # pylint: disable=broad-except
            self._error = e
        self.finished = time.monotonic()

    def done(self):
        return not self._thread.is_alive()

    def result(self, timeout=None):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("module still running after %ss" % timeout)
        if self._error is not None:
            raise self._error
        return self._result


def run_module_in_background(module, args, kubeconfig=None, **kwargs):
    """Start :func:`run_module` in a thread; returns a :class:`BackgroundRun`."""
    return BackgroundRun(module, args, kubeconfig, **kwargs)


def _ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _descends_from(pid, ancestor):
    try:
        while pid > 1:
            if pid == ancestor:
                return True
            pid = _ppid(pid)
    except (OSError, ValueError, IndexError):
        return False
    return False


def module_pid(module, ancestor=None, in_worker=False):
    """PID of the Python process running ``module``, or None.

    As a module process (``in_worker`` false): its AnsiballZ wrapper. Shell helpers Ansible runs
    around it (chmod, rm, sh -c) do not count; with ``ancestor`` (e.g. ``BackgroundRun.pid``) only a
    descendant of that process counts, so other runs of the same module on this machine are ignored.
    With pipelining (the repo's ansible.cfg) the wrapper comes on stdin, so the module's process is
    the one Python descendant of ``ancestor`` that runs no script (ansible-playbook and its workers do).

    In the worker (``in_worker``, the default on the controller, see plugins/plugin_utils/_in_worker.py):
    the Ansible worker process that runs the task, a descendant of ``ancestor`` (required) running
    ansible-playbook's script; the one-task plays of :func:`run_module` have one such worker at a time."""
    needle = "AnsiballZ_%s.py" % module.split(".")[-1]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if not argv or "python" not in os.path.basename(argv[0]):
            continue
        script = argv[1] if len(argv) > 1 else ""
        if in_worker:
            if (ancestor is not None and int(pid) != ancestor and os.path.basename(script) == "ansible-playbook"
                    and _descends_from(int(pid), ancestor)):
                return int(pid)
            continue
        if script.endswith(needle) and (ancestor is None or _descends_from(int(pid), ancestor)):
            return int(pid)
        if ancestor is not None and script in ("", "-") and _descends_from(int(pid), ancestor):
            return int(pid)
    return None


def run_pid(module, run):
    """PID of the process running ``module`` for the :class:`BackgroundRun` ``run``, or None."""
    return module_pid(module, ancestor=run.pid, in_worker=run.in_worker) if run.pid else None


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_module_running(module, run=None, timeout=180, idle=1.0):
    """Block until the process of ``module`` runs and then stays idle (no CPU time used) for
    ``idle`` seconds, i.e. it has imported, listed and is blocked in its watch; so a test can
    change the cluster while the module is surely waiting. ``run``: the :class:`BackgroundRun`
    whose module to look for. Returns the monotonic time."""
    deadline = time.monotonic() + timeout
    pid = None
    while pid is None:
        if time.monotonic() > deadline:
            raise AssertionError("%s did not start within %ss" % (module, timeout))
        if run is not None and run.done():
            return time.monotonic()  # already returned (the test's assertions will tell)
        if run is not None and run.pid is None:
            time.sleep(0.02)
            continue
        pid = run_pid(module, run) if run is not None else module_pid(module)
        if pid is None:
            time.sleep(0.02)
    try:
        last, since = _cpu_ticks(pid), time.monotonic()
        while time.monotonic() - since < idle:
            if time.monotonic() > deadline:
                raise AssertionError("%s did not settle within %ss" % (module, timeout))
            time.sleep(0.1)
            ticks = _cpu_ticks(pid)
            if ticks != last:
                last, since = ticks, time.monotonic()
    except (OSError, IndexError):
        pass  # the module already returned
    return time.monotonic()
