# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the model_mesh role and of playbooks/upgrade_readiness.yml, thin wrappers over
module_utils/_modelmesh.py.

The plan is marked unsafe: ServingRuntimes carry KServe's Go-template placeholders such as
``{{.Name}}``, which must reach the cluster literally and never be evaluated by Jinja.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _modelmesh

# The dashboard's default model server sizes (serving-api.md §1.5), used when the cluster has no
# OdhDashboardConfig (dashboard component not Managed).
DEFAULT_SIZES = [
    {"name": "Small", "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}},
    {"name": "Medium", "resources": {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"cpu": "8", "memory": "10Gi"}}},
    {"name": "Large", "resources": {"requests": {"cpu": "6", "memory": "16Gi"}, "limits": {"cpu": "10", "memory": "20Gi"}}},
]


def model_mesh_input_errors(servers, defaults=None, single_models=None):
    """Errors of ``model_mesh_servers`` that need no cluster (the ``validate`` entry point)."""
    return _modelmesh.input_errors(plain(servers), plain(defaults or {}), plain(single_models or []))


def model_mesh_plan(servers, defaults, cluster, check_mode=False, single_models=None):
    """See ``_modelmesh.plan``."""
    if not isinstance(cluster, Mapping):
        raise AnsibleFilterError("model_mesh_plan expects the cluster facts as a dict")
    cluster = plain(cluster)
    if not cluster.get("sizes"):
        cluster["sizes"] = DEFAULT_SIZES
    return wrap_var(_modelmesh.plan(plain(servers), plain(defaults or {}), cluster, bool(check_mode),
                                    plain(single_models or [])))


def model_mesh_owned(items, runtime_results):
    """Token objects with the ownerReference to their model server."""
    return wrap_var(_modelmesh.with_owners(plain(items or []), plain(runtime_results or [])))


def model_mesh_checks(checks, route_results):
    """The inference checks with the URL of each model's Route."""
    return _modelmesh.checks(plain(checks or []), plain(route_results or []))


def model_mesh_failure(pods_results):
    """Lines naming model server, pod, container and reason of failed server pods."""
    return _modelmesh.failure_report(plain(pods_results or []))


def model_mesh_summary(servers, removed, wait_results, route_results, check_results):
    """Per model server result of the role."""
    return _modelmesh.summary(plain(servers or []), plain(removed or []), plain(wait_results or []),
                              plain(route_results or []), plain(check_results or []))


def model_mesh_platform(dsc, dashboard_switch=True):
    """DSC and OdhDashboardConfig patches that enable the multi-model platform."""
    return _modelmesh.platform_patch(plain(dsc or {}), bool(dashboard_switch))


def upgrade_readiness(cluster):
    """What the next major release removes and the cluster uses: blockers and advisories."""
    return _modelmesh.readiness(plain(cluster or {}))


class FilterModule(object):
    def filters(self):
        return {
            "model_mesh_input_errors": model_mesh_input_errors,
            "model_mesh_plan": model_mesh_plan,
            "model_mesh_owned": model_mesh_owned,
            "model_mesh_checks": model_mesh_checks,
            "model_mesh_failure": model_mesh_failure,
            "model_mesh_summary": model_mesh_summary,
            "model_mesh_platform": model_mesh_platform,
            "upgrade_readiness": upgrade_readiness,
        }
