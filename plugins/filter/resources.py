# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters around the resources_patch module (what to write, whether to verify what was written),
thin wrappers over module_utils/_batch.py and module_utils/_predicates.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ModelServingError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _batch, _predicates


def patch_entries(manifests, list_merge_keys=None, replace_maps=None, first_stage=0, one_stage=False):
    try:
        return _batch.manifest_entries(plain(manifests or []), plain(list_merge_keys or {}), plain(replace_maps or {}),
                                       int(first_stage), bool(one_stage))
    except ModelServingError as e:
        raise AnsibleFilterError(e.msg)


def verify_needed(results, checks=None, scope="changed"):
    try:
        needed, reason = _predicates.verify_needed(plain(results or []), plain(checks or []), scope)
    except ModelServingError as e:
        raise AnsibleFilterError(e.msg)
    return {"needed": needed, "reason": reason}


class FilterModule(object):
    def filters(self):
        return {"patch_entries": patch_entries, "verify_needed": verify_needed}
