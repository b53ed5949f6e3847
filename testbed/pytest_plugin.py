"""pytest fixtures for the testbed (registered by tests/conftest.py).

- ``testbed`` (session): the shared testbed at ``<repo>/.testbed``. Reused when already up
  (``make testbed-up``); otherwise started here and stopped when the last pytest process
  using it finishes (works with pytest-xdist too).
- ``kubeconfig`` (session): path of its admin kubeconfig.
- ``k8s`` (session): ``kubernetes.dynamic.DynamicClient`` for it.
- ``fresh_testbed`` (function): factory ``fresh_testbed(**Testbed kwargs)`` that starts a
  dedicated testbed in a temporary state dir (``Testbed`` defaults: 3 workers, 1 GPU node,
  platform AWS, simulated operators on) and stops/removes it at teardown.

Environment:
- ``TESTBED_STATE_DIR``: state dir of the shared testbed (default ``<repo>/.testbed``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .cluster import DEFAULT_STATE_DIR, Testbed, _proc_start_time


def _log(msg):
    print(f"[testbed] {msg}")


def _shared_state_dir() -> Path:
    return Path(os.environ.get("TESTBED_STATE_DIR", DEFAULT_STATE_DIR))


class _Lease:
    """Marks this pytest process as a user of a testbed started by a fixture, so that
    with several pytest processes (xdist) only the last one stops it."""

    def __init__(self, tb: Testbed):
        self.dir = tb.state_dir / "users"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.file = self.dir / str(os.getpid())
        self.file.write_text(json.dumps({"start": _proc_start_time(os.getpid())}))

    def others(self) -> list[int]:
        alive = []
        for f in self.dir.glob("*"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(f.name)
                if pid == os.getpid():
                    continue
                if _proc_start_time(pid) == json.loads(f.read_text()).get("start"):
                    alive.append(pid)
                else:
                    f.unlink()
        return alive

    def release(self):
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()


@pytest.fixture(scope="session")
def testbed():
    tb = Testbed(_shared_state_dir())
    owner_file = tb.state_dir / "started-by-pytest"
    with tb._lock():
        already = tb.is_up()
    if not already:
        tb.up(log=_log)
        # (the lock is released between is_up and up; a concurrent pytest process that lost
        # the race finds the testbed up and only records its lease)
        if not owner_file.exists():
            owner_file.write_text(str(os.getpid()))
    lease = _Lease(tb)
    try:
        yield tb
    finally:
        lease.release()
        with tb._lock():
            stop = owner_file.exists() and not lease.others()
        if stop:
            tb.down(log=_log)
            with contextlib.suppress(FileNotFoundError):
                owner_file.unlink()


@pytest.fixture(scope="session")
def kubeconfig(testbed) -> str:
    return str(testbed.kubeconfig)


def dynamic_client(kubeconfig_path):
    from kubernetes import config as k8s_config
    from kubernetes import dynamic
    from kubernetes.client import api_client

    client = k8s_config.new_client_from_config(config_file=str(kubeconfig_path))
    # discovery cached next to the kubeconfig (one testbed), never in the shared temp directory where
    # a testbed on a reused port would find another cluster's kinds
    cache = os.path.join(os.path.dirname(os.path.abspath(str(kubeconfig_path))), "discovery-cache.json")
    return dynamic.DynamicClient(api_client.ApiClient(configuration=client.configuration), cache_file=cache)


@pytest.fixture(scope="session")
def k8s(testbed):
    return dynamic_client(testbed.kubeconfig)


@pytest.fixture
def fresh_testbed():
    started: list[tuple[Testbed, Path]] = []

    def factory(**kwargs) -> Testbed:
        d = Path(tempfile.mkdtemp(prefix="testbed-"))
        tb = Testbed(d, **kwargs)
        started.append((tb, d))
        tb.up(log=_log)
        return tb

    yield factory
    for tb, d in reversed(started):
        try:
            tb.down(log=_log)
        finally:
            shutil.rmtree(d, ignore_errors=True)
