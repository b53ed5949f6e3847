# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape objects for the resources_patch module, thin wrappers over module_utils/_batch.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ModelServingError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _batch


def patch_entries(manifests, list_merge_keys=None, replace_maps=None):
    try:
        return _batch.manifest_entries(plain(manifests or []), plain(list_merge_keys or {}), plain(replace_maps or {}))
    except ModelServingError as e:
        raise AnsibleFilterError(e.msg)


class FilterModule(object):
    def filters(self):
        return {"patch_entries": patch_entries}
