# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the upgrade role, thin wrappers over module_utils/_upgrade.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _upgrade


def upgrade_plan(targets, subscriptions, packagemanifests, approval="Manual", platform=None, isvcs=None, mesh_version=None):
    return _upgrade.upgrade_plan(plain(targets), plain(subscriptions or []), plain(packagemanifests or []), approval,
                                 plain(platform or {}), plain(isvcs or []), mesh_version or None)


def upgrade_certificates(secrets):
    return _upgrade.certificates_to_check(plain(secrets or []))


def upgrade_model_checks(isvcs, secrets):
    return _upgrade.model_checks(plain(isvcs or []), plain(secrets or []))


class FilterModule(object):
    def filters(self):
        return {
            "upgrade_plan": upgrade_plan,
            "upgrade_certificates": upgrade_certificates,
            "upgrade_model_checks": upgrade_model_checks,
        }
