# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument-spec building blocks and the module entry-point wrapper.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import gc
import traceback

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import CONNECTION_ARG_SPEC
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ModelServingError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import redact

# One predicate: any of condition / field / jmespath (all given ones must hold).
PREDICATE_OPTIONS = dict(
    condition=dict(
        type="dict",
        options=dict(
            type=dict(type="str", required=True),
            status=dict(type="str", default="True", choices=["True", "False", "Unknown"]),
            reason=dict(type="str"),
        ),
    ),
    field=dict(
        type="dict",
        options=dict(
            path=dict(type="str", required=True),
            value=dict(type="raw", required=True),
        ),
    ),
    jmespath=dict(type="str"),
)


def with_connection(spec):
    """Deep copy of ``spec`` plus the shared connection options."""
    out = copy.deepcopy(CONNECTION_ARG_SPEC)
    out.update(copy.deepcopy(spec))
    return out


def pod_groups_spec():
    """Argument spec of a list of pod groups (pods_verify ``groups``, resource_wait ``pods.groups``)."""
    return dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            name=dict(type="str"),
            label_selector=dict(type="str"),
            name_prefix=dict(type="str"),
            min_ready=dict(type="int", default=1),
            containers=dict(type="list", elements="str"),
        ),
    )


def predicate_spec():
    return copy.deepcopy(PREDICATE_OPTIONS)


def fast_exit():
    """Move every live object to the permanent GC generation before the module exits.

    The interpreter's final garbage collection over the kubernetes client's thousands of classes
    otherwise takes a noticeable time (measured ~1.5 s vs ~0.15 s on a loaded 2-CPU machine, see
    bench/README.md) and sits between a wait noticing its condition and the task returning."""
    if hasattr(gc, "freeze"):
        gc.freeze()


# Keys whose values are credentials inside an inline kubeconfig (``kubeconfig`` given as a dict).
KUBECONFIG_SECRET_KEYS = frozenset((
    "token", "client-key-data", "client-key", "password", "id-token", "refresh-token", "access-token",
    "client-secret", "secret",
))


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, str):
        yield value


def _credential_values(value, secret=False):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _credential_values(v, secret or str(k).lower() in KUBECONFIG_SECRET_KEYS)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _credential_values(v, secret)
    elif secret and isinstance(value, str):
        yield value


def sensitive_values(params):
    """Strings in the module parameters that are secret although their parameter is not ``no_log``:
    the credentials of an inline kubeconfig, and the values of Secret ``data``/``stringData``
    sent through a patch (``patch`` of one object, or each entry of ``resources``)."""
    found = set(_credential_values(params.get("kubeconfig"))) if isinstance(params.get("kubeconfig"), dict) else set()
    entries = [params] + [e for e in (params.get("resources") or []) if isinstance(e, dict)]
    for entry in entries:
        if entry.get("kind") != "Secret" or not isinstance(entry.get("patch"), dict):
            continue
        for key in ("data", "stringData"):
            found.update(_leaves(entry["patch"].get(key)))
    return set(v for v in found if len(v) >= 3)


def run_module(module, func):
    """Call ``func(module) -> result dict`` and exit; errors of this collection become fail_json
    with their details (e.g. the last objects seen by a wait). Secret values among the parameters
    (see :func:`sensitive_values`) are masked in the result, its ``invocation`` included."""
    module.no_log_values.update(sensitive_values(module.params))
    try:
        result = func(module)
    except ModelServingError as e:
        details = dict((k, v) for k, v in e.details.items() if k not in ("msg", "failed", "changed"))
        if isinstance(details.get("resources"), list):
            details["resources"] = [redact(o) for o in details["resources"]]
        if isinstance(details.get("elapsed"), float):
            details["elapsed"] = round(details["elapsed"], 3)
        fast_exit()
        module.fail_json(msg=e.msg, **details)
    except Exception as e:  # pylint: disable=broad-except
        module.fail_json(msg="Unexpected error: %s: %s" % (type(e).__name__, e), exception=traceback.format_exc())
    fast_exit()
    module.exit_json(**result)
