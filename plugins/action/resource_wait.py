# -*- coding: utf-8 -*-
# Copyright: (c) 2026, openshift_ai.model_serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the resource_wait module in Ansible's worker on the controller (see plugin_utils/_in_worker.py)."""

from __future__ import annotations

from ansible_collections.openshift_ai.model_serving.plugins.plugin_utils._in_worker import InWorkerAction


class ActionModule(InWorkerAction):
    pass
