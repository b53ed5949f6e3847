# -*- coding: utf-8 -*-
# Copyright: (c) 2026, openshift_ai.model_serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action behind every module of this collection: run the module inside Ansible's worker
process when the task runs on the controller itself, as an ordinary module everywhere else.

Every module of the collection talks to the cluster API, so the usual task runs on the controller
(``connection: local``). There, handing the module to a new Python process (the AnsiballZ payload,
interpreter start-up, ``ansible.module_utils.basic`` compiled from a zip) costs about half a second
per task before the module does anything. In the worker, the module's own ``main()`` runs with the
same arguments (``_update_module_args``, as for a module process), the same environment (the task's
``environment`` applied for the duration), and its output goes through the same parser
(``_parse_returned_data``), so the result, the ``invocation`` and the masking of secrets are those of
the module process.

The module runs as an ordinary module when any of these holds (:func:`fallback_reason`):
the connection is not ``local`` (a delegated bastion host), the task uses ``become`` or ``async``,
``model_serving_modules_in_worker`` is false, or ansible-core lacks the module serialization
profiles (before 2.19).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

try:
    from ansible.module_utils.common.json import Direction, get_module_encoder
    import ansible.module_utils.basic as ansible_basic
    HAS_PROFILES = hasattr(ansible_basic, "_ANSIBLE_PROFILE")
except ImportError:  # ansible-core < 2.19
    HAS_PROFILES = False

COLLECTION = "openshift_ai.model_serving"
SWITCH = "model_serving_modules_in_worker"
PROFILE = "legacy"
LOCAL_CONNECTIONS = frozenset(("local", "ansible.builtin.local", "ansible.legacy.local"))


def fallback_reason(connection, become, async_val, switch, has_profiles=HAS_PROFILES):
    """Why the module must run as its own process, or None when it may run in the worker."""
    if not has_profiles:
        return "ansible-core before 2.19"
    if switch is not None and not boolean(switch, strict=False):
        return "%s is false" % SWITCH
    if connection not in LOCAL_CONNECTIONS:
        return "connection %s" % connection
    if become:
        return "become"
    if async_val:
        return "async"
    return None


@contextlib.contextmanager
def task_environment(environment):
    """The task's ``environment`` in ``os.environ`` for the duration, as the module process gets it."""
    saved = dict((k, os.environ.get(k)) for k in environment)
    os.environ.update(dict((k, str(v)) for k, v in environment.items()))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_main(module_name, module_args):
    """Run ``plugins/modules/<module_name>.py``'s ``main()`` with ``module_args`` (internal keys
    included) in this process; return what it printed and its exit code."""
    module = importlib.import_module("ansible_collections.openshift_ai.model_serving.plugins.modules." + module_name)
    encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)

    saved = (ansible_basic._ANSIBLE_ARGS, ansible_basic._ANSIBLE_PROFILE)
    ansible_basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=encoder).encode("utf-8")
    ansible_basic._ANSIBLE_PROFILE = PROFILE
    out = io.StringIO()
    rc = 0
    try:
        with contextlib.redirect_stdout(out):
            module.main()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        ansible_basic._ANSIBLE_ARGS, ansible_basic._ANSIBLE_PROFILE = saved
    return out.getvalue(), rc


class InWorkerAction(ActionBase):
    """Action plugin of each module of the collection (see the module docstring)."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        module_name = (getattr(self._task, "resolved_action", None) or self._task.action).rsplit(".", 1)[-1]
        switch = task_vars.get(SWITCH)
        if switch is not None:
            switch = self._templar.template(switch)
        reason = fallback_reason(getattr(self._connection, "transport", None), self._play_context.become,
                                 self._task.async_val, switch)
        if reason is not None:
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result.update(self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result

        module_args = dict(self._task.args)
        self._update_module_args("%s.%s" % (COLLECTION, module_name), module_args, task_vars)
        environment = {}
        self._compute_environment_string(raw_environment_out=environment)
        with task_environment(environment):
            stdout, rc = run_main(module_name, module_args)
        data = self._parse_returned_data(dict(rc=rc, stdout=stdout, stderr=""), PROFILE)
        remove_internal_keys(data)
        result.update(data)
        return result
