# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain-data helpers shared by the filters and the pure decision modules.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
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


_QUANTITY_SUFFIXES = {
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
    "n": 10 ** -9, "u": 10 ** -6, "m": 10 ** -3, "": 1,
    "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
}


def quantity(value):
    """A Kubernetes resource quantity ("500m", "16Gi", "4", "1.5G", 2) as a float; ValueError if not one."""
    if isinstance(value, bool):
        raise ValueError("not a quantity: %r" % (value,))
    if isinstance(value, (int, float)):
        return float(value)
    text = to_text(value).strip()
    for suffix in sorted(_QUANTITY_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            number, factor = text[:-len(suffix)], _QUANTITY_SUFFIXES[suffix]
            break
    else:
        number, factor = text, 1
    try:
        return float(number) * factor
    except ValueError:
        raise ValueError("not a quantity: %r" % (value,))


_REDACTED = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def redact(obj):
    """Result form of an object: without managedFields (noise), Secret values hidden so they never
    reach results, diffs or logs."""
    if not isinstance(obj, dict):
        return obj
    out = copy.deepcopy(obj)
    if isinstance(out.get("metadata"), dict):
        out["metadata"].pop("managedFields", None)
    if out.get("kind") != "Secret":
        return out
    for field in ("data", "stringData"):
        if isinstance(out.get(field), dict):
            out[field] = dict((k, _REDACTED) for k in out[field])
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = _REDACTED
    return out
