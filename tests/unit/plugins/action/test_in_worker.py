"""The in-worker action: when a module may run inside Ansible's worker, the task environment it
gets there, and that every module of the collection has the action (pure logic, no cluster)."""

import os
import pathlib

import pytest
from ansible_collections.openshift_ai.model_serving.plugins.plugin_utils import _in_worker

REPO = pathlib.Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("connection, become, async_val, switch, reason", [
    ("local", False, 0, None, None),
    ("ansible.builtin.local", False, 0, True, None),
    ("local", False, 0, "yes", None),
    ("local", False, 0, False, "model_serving_modules_in_worker is false"),
    ("local", False, 0, "false", "model_serving_modules_in_worker is false"),
    ("ssh", False, 0, None, "connection ssh"),
    ("local", True, 0, None, "become"),
    ("local", False, 30, None, "async"),
])
def test_fallback_reason(connection, become, async_val, switch, reason):
    assert _in_worker.fallback_reason(connection, become, async_val, switch, has_profiles=True) == reason


def test_old_ansible_core_runs_module_processes():
    assert _in_worker.fallback_reason("local", False, 0, None, has_profiles=False) == "ansible-core before 2.19"


def test_task_environment_is_applied_then_restored(monkeypatch):
    monkeypatch.setenv("MS_KEEP", "before")
    monkeypatch.delenv("MS_NEW", raising=False)
    with _in_worker.task_environment({"MS_KEEP": "during", "MS_NEW": 5}):
        assert os.environ["MS_KEEP"] == "during"
        assert os.environ["MS_NEW"] == "5"
    assert os.environ["MS_KEEP"] == "before"
    assert "MS_NEW" not in os.environ


def test_every_module_has_the_action():
    modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
    actions = sorted(p.stem for p in (REPO / "plugins" / "action").glob("*.py") if not p.stem.startswith("_"))
    assert modules == actions
    for name in actions:
        assert "(InWorkerAction)" in (REPO / "plugins" / "action" / (name + ".py")).read_text()
