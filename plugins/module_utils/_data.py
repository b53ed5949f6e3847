# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain-data helpers shared by the filters and the pure decision modules.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.module_utils.common.text.converters import to_text


def plain(value):
    """Deep copy into plain Python types (Ansible may hand over tagged, unsafe or lazy containers)."""
    if isinstance(value, Mapping):
        return dict((to_text(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return to_text(value)
    if isinstance(value, str):
        return str(value)
    return value
