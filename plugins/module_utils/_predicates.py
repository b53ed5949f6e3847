# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Predicates on plain objects: paths, conditions, success and failure checks, summaries, and
whether a role's verification has to run. Pure functions of dicts, without the kubernetes library,
so the filters and the decision modules that use them import in milliseconds (a filter is loaded
again in every task's worker process).

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput

try:
    import jmespath

    HAS_JMESPATH = True
except ImportError:  # pragma: no cover
    HAS_JMESPATH = False

_MISSING = object()


# --------------------------------------------------------------------------- predicates


def get_path(obj, path, default=None):
    """Value at a dotted path (``status.phase``, ``status.conditions.0.type``) or ``default``."""
    cur = obj
    for part in path.split(".") if path else []:
        if isinstance(cur, dict):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return default
        else:
            return default
    return cur


def find_condition(obj, ctype):
    for cond in get_path(obj, "status.conditions", None) or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def _same(actual, expected):
    if actual == expected:
        return True
    if isinstance(expected, bool) or isinstance(actual, bool):
        return str(actual).lower() == str(expected).lower()
    return actual is not None and expected is not None and str(actual) == str(expected)


class Predicate(object):
    """A named test on one object: ``pred(obj) -> bool``; ``str(pred)`` describes it."""

    def __init__(self, func, description):
        self.func = func
        self.description = description

    def __call__(self, obj):
        return bool(obj is not None and self.func(obj))

    def __str__(self):
        return self.description

    __repr__ = __str__


def condition(ctype, status="True", reason=None):
    status = str(status)

    def test(obj):
        cond = find_condition(obj, ctype)
        if cond is None or str(cond.get("status")) != status:
            return False
        return reason is None or cond.get("reason") == reason

    desc = "condition %s=%s" % (ctype, status) + (" (reason %s)" % reason if reason else "")
    return Predicate(test, desc)


def field(path, value):
    return Predicate(lambda obj: _same(get_path(obj, path, _MISSING), value), "%s == %r" % (path, value))


def jmespath_expr(expression):
    if not HAS_JMESPATH:
        raise InvalidInput("the jmespath Python library is required for jmespath predicates")
    try:
        compiled = jmespath.compile(expression)
    except Exception as e:
        raise InvalidInput("invalid JMESPath expression %r: %s" % (expression, e))
    return Predicate(lambda obj: bool(compiled.search(obj)), "jmespath %s" % expression)


def exists():
    return Predicate(lambda obj: True, "exists")


def all_of(predicates):
    predicates = list(predicates)
    if len(predicates) == 1:
        return predicates[0]
    return Predicate(lambda obj: all(p(obj) for p in predicates), " and ".join(str(p) for p in predicates))


def established():
    """A CustomResourceDefinition is served: Established=True and its names accepted."""
    return condition("Established", "True")


def from_spec(spec, default=None):
    """Predicate from a module-style mapping with any of ``condition``, ``field``, ``jmespath``
    (all given ones must hold). ``default`` is used when the mapping has none of them."""
    spec = spec or {}
    preds = []
    cond = spec.get("condition")
    if cond:
        if not cond.get("type"):
            raise InvalidInput("condition needs a type")
        status = cond.get("status")
        preds.append(condition(cond["type"], "True" if status is None else status, cond.get("reason")))
    fld = spec.get("field")
    if fld:
        if not fld.get("path"):
            raise InvalidInput("field needs a path")
        preds.append(field(fld["path"], fld.get("value")))
    if spec.get("jmespath"):
        preds.append(jmespath_expr(spec["jmespath"]))
    if not preds:
        return default
    return all_of(preds)


# --------------------------------------------------------------------------- evaluation


def object_key(obj):
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def object_name(obj):
    ns, name = object_key(obj)
    return "%s/%s" % (ns, name) if ns else name


def status_summary(obj, limit=600):
    """Short text for messages: the conditions (type=status reason: message) or the status."""
    if obj is None:
        return "absent"
    conds = get_path(obj, "status.conditions", None)
    if isinstance(conds, list) and conds:
        parts = []
        for c in conds:
            if not isinstance(c, dict):
                continue
            text = "%s=%s" % (c.get("type"), c.get("status"))
            if c.get("reason"):
                text += " %s" % c["reason"]
            if c.get("message"):
                text += ": %s" % c["message"]
            parts.append(text)
        text = "; ".join(parts)
    else:
        status = obj.get("status")
        text = json.dumps(status, sort_keys=True, default=str) if status else "no status"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Outcome(object):
    """What one evaluation of the current objects concluded."""

    def __init__(self, done, message="", failed=False):
        self.done = done
        self.failed = failed
        self.message = message


def object_evaluator(success, failures=(), min_count=1):
    """Evaluation for resource_wait: fail when any object meets a failure predicate; succeed when
    at least ``min_count`` objects exist and every one meets ``success``."""
    success = success or exists()

    def evaluate(objects):
        for obj in objects:
            for fail in failures:
                if fail(obj):
                    return Outcome(
                        False,
                        "%s %s meets the failure predicate %s; status: %s"
                        % (obj.get("kind", "object"), object_name(obj), fail, status_summary(obj)),
                        failed=True,
                    )
        if len(objects) < min_count:
            return Outcome(False, "no matching object yet (waiting for %s)" % success)
        pending = [o for o in objects if not success(o)]
        if pending:
            return Outcome(
                False,
                "; ".join("%s: not %s; status: %s" % (object_name(o), success, status_summary(o)) for o in pending[:5]),
            )
        return Outcome(True, "%d object(s) meet %s" % (len(objects), success))

    return evaluate


def _written(results):
    """The objects a role's write tasks reported: each registered result is a resources_patch
    result (its ``results``), a resource_patch result (its ``result``) or a skipped task."""
    for res in results or []:
        if not isinstance(res, dict) or res.get("skipped"):
            continue
        if isinstance(res.get("results"), list):
            for entry in res["results"]:
                if isinstance(entry, dict):
                    obj = entry.get("result") or {}
                    kind = entry.get("kind") or obj.get("kind")
                    yield entry.get("changed"), kind, entry.get("name") or _meta_name(obj), obj
        else:
            obj = res.get("result") or {}
            yield res.get("changed"), obj.get("kind"), _meta_name(obj), obj


def _meta_name(obj):
    return ((obj or {}).get("metadata") or {}).get("name")


def verify_needed(results, checks=None, scope="changed"):
    """Whether a role must run its verification (waits, pod checks) after its writes.

    ``scope`` ``always`` verifies on every run. ``changed`` (a rerun on a converged platform)
    verifies when any write task changed an object, when an object of ``checks`` is not among the
    written objects, or when one of them does not pass its check on the object as read back
    (``kind``, optional ``name``, and ``condition``/``field``/``jmespath`` as for resource_wait).
    Returns ``(needed, reason)``.
    """
    if scope == "always":
        return True, "verification scope is always"
    if scope != "changed":
        raise InvalidInput("verify scope must be changed or always, not %r" % (scope,))
    written = list(_written(results))
    changed = ["%s/%s" % (kind, name) for was_changed, kind, name, _obj in written if was_changed]
    if changed:
        return True, "changed: %s" % ", ".join(changed)
    for check in checks or []:
        pred = from_spec(check, default=exists())
        found = [obj for _c, kind, name, obj in written
                 if kind == check.get("kind") and (not check.get("name") or name == check.get("name"))]
        if not found:
            return True, "%s %s was not read back" % (check.get("kind"), check.get("name") or "")
        for obj in found:
            if not pred(obj):
                return True, "%s/%s: not %s" % (obj.get("kind"), _meta_name(obj), pred)
    return False, "nothing changed and every checked object is ready"
