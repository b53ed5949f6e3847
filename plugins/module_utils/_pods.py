# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod diagnosis and pod-group evaluation for pods_verify.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

Everything here is a pure function of pod dicts (as the API returns them), except
:func:`recent_events`, which reads the Events of one pod.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
import time

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import InvalidInput
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import (
    Outcome,
    object_name,
    status_summary,
)

# Container waiting reasons that do not resolve by waiting longer.
FATAL_WAITING_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
FATAL_REASONS = FATAL_WAITING_REASONS + ("OOMKilled", "Unschedulable")
# Reasons that are often transient: a first pull attempt that fails on a registry hiccup, a Secret
# or ConfigMap an operator is still creating, a pod waiting for the autoscaler to add a node. With a
# grace (the modules' transient_grace) they count only once they last that long; a pull that keeps
# failing turns into ImagePullBackOff, which is fatal at once.
TRANSIENT_REASONS = ("ErrImagePull", "CreateContainerConfigError", "Unschedulable")
TRANSIENT_GRACE = 20
# Waiting reasons about the image itself: the diagnosis names the image the pod spec asks for,
# whatever the container runtime's wording (CRI-O's ErrImagePull message splits tag and repository).
IMAGE_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")


class PodProblem(object):
    """A fatal problem of one pod (container may be None, e.g. Unschedulable; node is None while
    the pod is not scheduled)."""

    def __init__(self, pod, container, reason, message, namespace=None, node=None):
        self.pod = pod
        self.namespace = namespace
        self.container = container
        self.reason = reason
        self.message = message or ""
        self.node = node

    def as_dict(self):
        return {"pod": self.pod, "namespace": self.namespace, "node": self.node, "container": self.container,
                "reason": self.reason, "message": self.message}

    def __str__(self):
        where = "pod %s" % self.pod
        if self.container:
            where += " container %s" % self.container
        return "%s: %s%s%s" % (
            where, self.reason, (" (%s)" % self.message) if self.message else "", (" on node %s" % self.node) if self.node else ""
        )


def _meta(pod):
    return pod.get("metadata") or {}


def pod_name(pod):
    return _meta(pod).get("name", "")


def node_name(pod):
    """The node the pod is scheduled on, or None."""
    return (pod.get("spec") or {}).get("nodeName") or None


def _statuses(pod):
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def container_images(pod):
    """Container name -> image, from the pod spec (init containers included)."""
    spec = pod.get("spec") or {}
    images = {}
    for container in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        if container.get("name"):
            images[container["name"]] = container.get("image") or ""
    return images


def diagnose(pod):
    """Fatal problems of a pod: containers waiting in CrashLoopBackOff, ImagePullBackOff,
    ErrImagePull, CreateContainerConfigError...; containers OOMKilled and not ready; the pod
    Unschedulable. Returns a list of PodProblem (empty when nothing fatal is visible).
    An image problem's message starts with the image the pod spec asks for."""
    name = pod_name(pod)
    namespace = _meta(pod).get("namespace")
    node = node_name(pod)
    images = container_images(pod)
    problems = []
    for cs in _statuses(pod):
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if waiting.get("reason") in FATAL_WAITING_REASONS:
            message = waiting.get("message") or ""
            if waiting["reason"] == "CrashLoopBackOff" and last:
                message = _join(message, "last exit code %s%s" % (last.get("exitCode"), _reason_suffix(last)))
            elif waiting["reason"] in IMAGE_REASONS:
                image = images.get(cs.get("name")) or cs.get("image")
                if image:
                    message = _join("image %s" % image, message)
            problems.append(PodProblem(name, cs.get("name"), waiting["reason"], message, namespace, node))
        elif not cs.get("ready") and "OOMKilled" in (terminated.get("reason"), last.get("reason")):
            problems.append(
                PodProblem(
                    name,
                    cs.get("name"),
                    "OOMKilled",
                    "container was killed for exceeding its memory limit (restarts: %s)" % cs.get("restartCount", 0),
                    namespace,
                    node,
                )
            )
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
            problems.append(PodProblem(name, None, "Unschedulable", cond.get("message"), namespace, node))
    return problems


def _join(a, b):
    return "%s; %s" % (a, b) if a else b


def _reason_suffix(terminated):
    return " (%s)" % terminated["reason"] if terminated.get("reason") else ""


def _condition(pod, ctype):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_ready(pod):
    """Running, Ready=True and not being deleted."""
    if _meta(pod).get("deletionTimestamp"):
        return False
    if (pod.get("status") or {}).get("phase") != "Running":
        return False
    cond = _condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def container_names(pod):
    return [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]


def _container_state(cs):
    state = cs.get("state") or {}
    for key in ("running", "waiting", "terminated"):
        if key in state and state[key] is not None:
            return key, (state[key] or {}).get("reason")
    return "unknown", None


def summary(pod):
    """Per-pod summary returned by pods_verify."""
    status = pod.get("status") or {}
    images = container_images(pod)
    containers = []
    for cs in status.get("containerStatuses") or []:
        state, reason = _container_state(cs)
        containers.append(
            {
                "name": cs.get("name"),
                "ready": bool(cs.get("ready")),
                "state": state,
                "reason": reason,
                "restarts": cs.get("restartCount", 0),
                "image": images.get(cs.get("name")) or cs.get("image"),
            }
        )
    return {
        "name": pod_name(pod),
        "namespace": _meta(pod).get("namespace"),
        "phase": status.get("phase"),
        "ready": is_ready(pod),
        "node": (pod.get("spec") or {}).get("nodeName"),
        "containers": containers,
        "container_names": container_names(pod),
        "problems": [p.as_dict() for p in diagnose(pod)],
    }


# --------------------------------------------------------------------------- label selectors

_KEY_RE = re.compile(r"^[A-Za-z0-9./_-]+$")
_VALUE_RE = re.compile(r"^[A-Za-z0-9._-]*$")
_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector):
    parts, depth, cur = [], 0, ""
    for c in selector:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_selector(selector):
    """Parse a label selector string into [(key, op, values)] (ops: =, !=, in, notin, exists, !exists)."""
    reqs = []
    for term in _split_selector(selector or ""):
        m = _SET_RE.match(term)
        if m:
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), values))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "!=", [v.strip()]))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!exists", []))
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            reqs.append((term, "exists", []))
        else:
            raise InvalidInput("invalid label selector term %r in %r" % (term, selector))
    for key, _op, values in reqs:
        if not _KEY_RE.match(key) or not all(_VALUE_RE.match(v) for v in values):
            raise InvalidInput("invalid label selector %r" % selector)
    return reqs


def selector_matches(requirements, labels):
    labels = labels or {}
    for key, op, values in requirements:
        has = key in labels
        val = labels.get(key)
        if op == "=" and not (has and val == values[0]):
            return False
        if op == "!=" and has and val == values[0]:
            return False
        if op == "in" and not (has and val in values):
            return False
        if op == "notin" and has and val in values:
            return False
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
    return True


# --------------------------------------------------------------------------- groups


class Group(object):
    def __init__(self, spec):
        self.name = spec.get("name") or spec.get("label_selector") or spec.get("name_prefix")
        self.label_selector = spec.get("label_selector")
        self.name_prefix = spec.get("name_prefix")
        if not self.label_selector and not self.name_prefix:
            raise InvalidInput("group %r needs label_selector and/or name_prefix" % self.name)
        self.requirements = parse_selector(self.label_selector) if self.label_selector else []
        min_ready = spec.get("min_ready")
        self.min_ready = 1 if min_ready is None else int(min_ready)
        self.containers = list(spec.get("containers") or []) or None

    def selects(self, pod):
        if self.name_prefix and not pod_name(pod).startswith(self.name_prefix):
            return False
        return selector_matches(self.requirements, _meta(pod).get("labels"))

    def containers_ok(self, pod):
        return self.containers is None or sorted(container_names(pod)) == sorted(self.containers)

    def describe(self):
        parts = []
        if self.label_selector:
            parts.append("labels %s" % self.label_selector)
        if self.name_prefix:
            parts.append("name prefix %s" % self.name_prefix)
        return "group %s (%s)" % (self.name, ", ".join(parts))


def evaluate_groups(groups, pods):
    """State of every group: {name, min_ready, ready, pods, ok, missing}; pure."""
    report = []
    for group in groups:
        members = [p for p in pods if group.selects(p)]
        ready = [p for p in members if is_ready(p) and group.containers_ok(p)]
        wrong = [p for p in members if not group.containers_ok(p)]
        report.append(
            {
                "name": group.name,
                "min_ready": group.min_ready,
                "ready": len(ready),
                "pods": [pod_name(p) for p in members],
                "ok": len(ready) >= group.min_ready,
                "wrong_containers": dict((pod_name(p), container_names(p)) for p in wrong),
            }
        )
    return report


class UnreadyTracker(object):
    """Reports containers running without being ready for ``timeout`` seconds as NotReady.

    The age is the longer of: the time since the container started (its ``startedAt`` against
    ``wall``, the clock of this host) and the time this process has seen it unready (monotonic
    ``clock``). A container that restarts (new start time) starts over. ``timeout`` 0 disables
    the check."""

    def __init__(self, timeout, clock=time.monotonic, wall=time.time):
        self.timeout = float(timeout or 0)
        self.clock = clock
        self.wall = wall
        self.since = {}

    def _age(self, key, started_at, now):
        first = self.since.setdefault(key, now)
        age = now - first
        started = _epoch(started_at)
        if started is not None:
            age = max(age, self.wall() - started)
        return age

    def problems(self, pods):
        if self.timeout <= 0:
            return []
        now = self.clock()
        seen = set()
        out = []
        for pod in pods:
            if _meta(pod).get("deletionTimestamp"):
                continue
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                running = (cs.get("state") or {}).get("running")
                if running is None or cs.get("ready"):
                    continue
                key = (_meta(pod).get("namespace"), pod_name(pod), cs.get("name"), running.get("startedAt"))
                seen.add(key)
                age = self._age(key, running.get("startedAt"), now)
                if age >= self.timeout:
                    cond = _condition(pod, "Ready") or {}
                    detail = cond.get("message") or cond.get("reason") or ""
                    out.append(
                        PodProblem(
                            pod_name(pod),
                            cs.get("name"),
                            "NotReady",
                            "running for %.0fs without becoming ready (readiness probe failing?)%s"
                            % (age, ("; " + detail) if detail else ""),
                            _meta(pod).get("namespace"),
                            node_name(pod),
                        )
                    )
        for key in list(self.since):
            if key not in seen:
                del self.since[key]
        return out


def _epoch(timestamp):
    """Seconds since the epoch of an RFC 3339 UTC timestamp (``2026-01-01T00:00:00Z``), or None."""
    if not timestamp:
        return None
    try:
        return calendar.timegm(time.strptime(str(timestamp)[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


class TransientGrace(object):
    """Holds back problems of TRANSIENT_REASONS until the same pod, container and reason has been
    seen for ``grace`` seconds (monotonic ``clock``); other problems pass at once. ``grace`` 0
    passes everything."""

    def __init__(self, grace, clock=time.monotonic):
        self.grace = float(grace or 0)
        self.clock = clock
        self.since = {}

    def filter(self, problems):
        if self.grace <= 0:
            return list(problems)
        now = self.clock()
        out, seen = [], set()
        for problem in problems:
            if problem.reason not in TRANSIENT_REASONS:
                out.append(problem)
                continue
            key = (problem.namespace, problem.pod, problem.container, problem.reason)
            seen.add(key)
            age = now - self.since.setdefault(key, now)
            if age >= self.grace:
                problem.message = "%s (for %.0fs)" % (problem.message, age) if problem.message else "for %.0fs" % age
                out.append(problem)
        for key in [k for k in self.since if k not in seen]:
            del self.since[key]  # the state cleared: a later occurrence starts over
        return out


def group_problems(groups, pods, tracker=None, grace=None):
    """Fatal problems of the pods of the groups that do not have min_ready ready pods yet.

    A group that already has enough ready pods is not failed by a broken leftover or surplus pod
    (an old ReplicaSet's pod during a rollout, a spare replica): waiting cannot be the issue there."""
    report = evaluate_groups(groups, pods)
    problems, named = [], set()
    for group, state in zip(groups, report):
        if state["ok"]:
            continue
        members = [p for p in pods if group.selects(p)]
        found = [pr for pod in members for pr in diagnose(pod)]
        if grace is not None:
            found = grace.filter(found)
        if tracker is not None:
            found.extend(tracker.problems(members))
        for problem in found:
            key = (problem.pod, problem.container, problem.reason)
            if key not in named:
                named.add(key)
                problems.append(problem)
    return problems, report


def pods_evaluator(groups, fail_fast=True, events=None, unready_timeout=0, clock=time.monotonic, wall=time.time,
                   transient_grace=0):
    """Evaluation for the waiter: fails (fail_fast) on the first fatal pod problem of a group that
    is not ready yet, naming pod, container, reason, message and the pod's recent events
    (``events(problem) -> [str]``); with ``unready_timeout`` a container running but not ready
    that long counts as a problem (NotReady); with ``transient_grace`` a problem of
    TRANSIENT_REASONS counts once it has lasted that long. Done when every group has at least
    min_ready ready pods with the expected containers."""
    tracker = UnreadyTracker(unready_timeout, clock, wall)
    grace = TransientGrace(transient_grace, clock)

    def evaluate(pods):
        if fail_fast:
            problems, report = group_problems(groups, pods, tracker, grace)
            if problems:
                return Outcome(False, failure_message(problems, events), failed=True)
        else:
            report = evaluate_groups(groups, pods)
        if all(g["ok"] for g in report):
            return Outcome(True, "all groups ready")
        return Outcome(False, progress_message(groups, report, pods))

    return evaluate


def pod_watch_evaluator(namespace, groups, events=None, unready_timeout=0, clock=time.monotonic, wall=time.time,
                        transient_grace=0):
    """Failure-only evaluation of the pods of one namespace, for a wait on another object: fails
    like :func:`pods_evaluator` on a broken pod of a group that is not ready, never succeeds by
    itself (readiness of the pods is pods_verify's business)."""
    tracker = UnreadyTracker(unready_timeout, clock, wall)
    grace = TransientGrace(transient_grace, clock)

    def evaluate(pods):
        problems, _report = group_problems(groups, pods or [], tracker, grace)
        if problems:
            return Outcome(False, "in namespace %s: %s" % (namespace, failure_message(problems, events)), failed=True)
        return Outcome(False, "no broken pod in namespace %s" % namespace)

    return evaluate


def with_pod_watch(object_evaluate, pod_evaluates, what):
    """Evaluation of ``[objects, pods of namespace 1, pods of namespace 2, ...]`` (MultiWaiter
    states): fails as soon as a pod evaluation fails, naming the awaited object and its status;
    otherwise the object evaluation decides. ``what`` describes the awaited object."""

    def evaluate(states):
        objects = states[0] or []
        for index, pod_evaluate in enumerate(pod_evaluates):
            outcome = pod_evaluate(states[index + 1])
            if outcome.failed:
                status = "; ".join(
                    "%s %s status: %s" % (o.get("kind", "object"), object_name(o), status_summary(o)) for o in objects[:3]
                )
                return Outcome(
                    False,
                    "%s is not ready: a pod it runs is broken %s\n%s" % (what, outcome.message, status or "%s: absent" % what),
                    failed=True,
                )
        return object_evaluate(objects)

    return evaluate


def server_selector(groups):
    """The label selector the API server can filter the pods by: the only group's, else None."""
    return groups[0].label_selector if len(groups) == 1 else None


def failure_message(problems, events=None):
    lines = []
    for problem in problems:
        lines.append(str(problem))
        for event in (events(problem) if events else [])[-5:]:
            lines.append("  event: %s" % event)
    return "\n".join(lines)


def progress_message(groups, report, pods):
    by_name = dict((pod_name(p), p) for p in pods)
    parts = []
    for group, state in zip(groups, report):
        if state["ok"]:
            continue
        text = "%s: %d/%d ready" % (group.describe(), state["ready"], state["min_ready"])
        details = []
        for name in state["pods"][:5]:
            pod = by_name.get(name)
            if pod is None:
                continue
            if name in state["wrong_containers"]:
                details.append(
                    "%s has containers %s, expected %s" % (name, state["wrong_containers"][name], sorted(group.containers))
                )
            elif not is_ready(pod):
                details.append("%s %s" % (name, _not_ready_reason(pod)))
        if not state["pods"]:
            details.append("no pod matches")
        if details:
            text += " (" + "; ".join(details) + ")"
        parts.append(text)
    return "; ".join(parts)


def _not_ready_reason(pod):
    status = pod.get("status") or {}
    pieces = ["phase %s" % status.get("phase", "Unknown")]
    cond = _condition(pod, "Ready")
    if cond and cond.get("status") != "True":
        pieces.append("Ready=%s%s" % (cond.get("status"), (" " + cond["reason"]) if cond.get("reason") else ""))
    for cs in status.get("containerStatuses") or []:
        if not cs.get("ready"):
            state, reason = _container_state(cs)
            pieces.append("container %s %s%s" % (cs.get("name"), state, (" " + reason) if reason else ""))
    problems = diagnose(pod)
    if problems:
        pieces.extend(str(p) for p in problems)
    return ", ".join(pieces)


def _event_time(event):
    meta = event.get("metadata") or {}
    return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or meta.get("creationTimestamp") or ""


def format_events(events, limit=5):
    """Event dicts -> text lines ``<time> <type> <reason>: <message> (xN)``, the last ``limit``, oldest first."""
    lines = []
    for e in sorted(events, key=_event_time)[-limit:]:
        count = " (x%s)" % e["count"] if (e.get("count") or 0) > 1 else ""
        lines.append(
            "%s %s %s: %s%s"
            % (_event_time(e), e.get("type") or "", e.get("reason") or "", (e.get("message") or "").strip(), count)
        )
    return lines


def recent_events(client, namespace, pod, limit=5):
    """Last ``limit`` Events of one pod as text lines (dynamic client, no typed API); [] when they
    cannot be read."""
    try:
        events = client.resource("v1", "Event").get(
            namespace=namespace, field_selector="involvedObject.kind=Pod,involvedObject.name=%s" % pod
        )
        items = events.to_dict().get("items") or []
    except Exception:  # pylint: disable=broad-except
        return []
    return format_events(items, limit)
