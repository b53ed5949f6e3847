# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the model_deployment role, thin wrappers over module_utils/_models.py.

The results are marked unsafe: ServingRuntimes carry KServe's Go-template placeholders such as
``{{.Name}}``, which must reach the cluster literally and never be evaluated by Jinja.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _models

# The dashboard's default model server sizes (serving-api.md §1.5), used when the cluster has no
# OdhDashboardConfig (dashboard component not Managed).
DEFAULT_SIZES = _models.DEFAULT_SIZES


def model_deployment_input_errors(models, defaults=None):
    """Errors of ``model_serving_models`` that need no cluster (the ``validate`` entry point)."""
    return _models.input_errors(plain(models), plain(defaults or {}))


def model_deployment_plan(models, defaults, cluster, check_mode=False, allow_recreate=False):
    """See ``_models.plan``."""
    if not isinstance(cluster, Mapping):
        raise AnsibleFilterError("model_deployment_plan expects the cluster facts as a dict")
    cluster = plain(cluster)
    if not cluster.get("sizes"):
        cluster["sizes"] = DEFAULT_SIZES
    result = _models.plan(plain(models), plain(defaults or {}), cluster, bool(check_mode), bool(allow_recreate))
    return wrap_var(result)


def model_deployment_owned(items, isvc_results):
    """Token objects with the ownerReference to their InferenceService."""
    return wrap_var(_models.with_owners(plain(items or []), plain(isvc_results or [])))


def model_deployment_failure(wait_message, pods_result, names):
    """Lines naming model, pod, container and reason of a failed readiness wait."""
    return _models.failure_report(plain(wait_message), plain(pods_result or {}), plain(names or []))


def model_deployment_summary(models, wait_results, check_results, live_isvcs=None):
    """Per-model result of the role."""
    return _models.summary(plain(models or []), plain(wait_results or []), plain(check_results or []),
                           plain(live_isvcs or []))


def model_deployment_split(models):
    """``{"models": models without the S3 keys of their data connections, "credentials": the keys per model}``."""
    if not isinstance(models, (list, tuple)):
        return {"models": plain(models), "credentials": []}
    public, secret = _models.split_credentials(plain(models))
    return {"models": wrap_var(public), "credentials": wrap_var(secret)}


class FilterModule(object):
    def filters(self):
        return {
            "model_deployment_input_errors": model_deployment_input_errors,
            "model_deployment_plan": model_deployment_plan,
            "model_deployment_owned": model_deployment_owned,
            "model_deployment_failure": model_deployment_failure,
            "model_deployment_summary": model_deployment_summary,
            "model_deployment_split": model_deployment_split,
        }
