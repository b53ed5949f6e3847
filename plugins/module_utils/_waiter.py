# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiter layer: watch-based waits on a monotonic clock (the predicates they evaluate are in _predicates).

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

A wait lists the selected objects, evaluates them, then follows a watch from the list's
resourceVersion and re-evaluates on every event, so it returns as soon as the API server
reports the change (no polling interval). When the watch ends or expires (410 Gone) it
re-lists. A kind that is not served yet (CRD not installed) is polled in discovery with a short
backoff, then watched. The evaluation is a plain function of the current objects, so it is
unit-tested without a cluster.

:class:`MultiWaiter` follows several such streams at once (one thread each) and evaluates them
together, for example a custom resource and the pods of its namespaces, so a crashing pod is
reported while the resource is still "not ready". An API server that stops answering (restart,
dropped connections, 5xx) is retried until it answers again or UNREACHABLE_LIMIT seconds passed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

try:
    import queue
except ImportError:  # pragma: no cover - Python 2
    import Queue as queue  # noqa: N813

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    ResourceNotFound,
    WaitFailed,
    WaitTimeout,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._predicates import Outcome, object_key
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import ApiException, Watch, api_path

try:
    from urllib3.exceptions import HTTPError as _Urllib3Error
except ImportError:  # pragma: no cover
    _Urllib3Error = OSError

# --------------------------------------------------------------------------- waiting


class Deadline(object):
    def __init__(self, timeout, clock=time.monotonic):
        self.clock = clock
        self.start = clock()
        self.end = self.start + max(0.0, float(timeout))

    def remaining(self):
        return max(0.0, self.end - self.clock())

    def expired(self):
        return self.clock() >= self.end

    def elapsed(self):
        return self.clock() - self.start


class WaitResult(object):
    def __init__(self, objects, elapsed, message):
        self.objects = objects
        self.elapsed = elapsed
        self.message = message


class Waiter(object):
    """Watch-based wait for objects of one kind selected by name and/or label selector."""

    # Bounds for one watch request; each re-list also re-checks the deadline.
    MAX_WATCH_SECONDS = 120
    DISCOVERY_BACKOFF = (0.2, 0.3, 0.5, 0.8, 1.0)

    def __init__(
        self,
        client,
        api_version,
        kind,
        namespace=None,
        name=None,
        label_selector=None,
        field_selector=None,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        self.client = client
        self.api_version = api_version
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.clock = clock
        self.sleep = sleep
        self.last_objects = []

    # -- discovery -------------------------------------------------------------------------
    def _served(self):
        """Cheap check (one request) whether api_version serves kind."""
        try:
            data = self.client.dynamic.request("get", api_path(self.api_version), _request_timeout=10)
        except ApiException as e:
            if e.status in (404, 503):
                return False
            raise ApiError("discovery of %s failed: %s" % (self.api_version, e), status=e.status)
        data = data.to_dict() if hasattr(data, "to_dict") else data
        if not isinstance(data, dict):
            return False
        for res in (data or {}).get("resources", []):
            if res.get("kind") == self.kind and "/" not in res.get("name", ""):
                return True
        return False

    def resource(self, deadline):
        """The dynamic resource, waiting (discovery polls with backoff) until the kind is served."""
        attempt = 0
        unreachable = _Unreachable(self, deadline)
        while True:
            try:
                served = self._served()
            except (_Urllib3Error, OSError, ApiError, ApiException) as e:
                unreachable.failed(e)
                continue
            if served:
                try:
                    return self.client.resource(self.api_version, self.kind)
                except ResourceNotFound:
                    pass
            if deadline.expired():
                raise WaitTimeout(
                    "Timed out after %.0fs: the cluster does not serve %s %s (is its CRD installed?)"
                    % (deadline.elapsed(), self.api_version, self.kind),
                    elapsed=deadline.elapsed(),
                    resources=[],
                )
            delay = self.DISCOVERY_BACKOFF[min(attempt, len(self.DISCOVERY_BACKOFF) - 1)]
            self.sleep(min(delay, max(deadline.remaining(), 0.01)))
            attempt += 1

    # -- list/watch ------------------------------------------------------------------------
    def _selectors(self):
        fields = []
        if self.name:
            fields.append("metadata.name=%s" % self.name)
        if self.field_selector:
            fields.append(self.field_selector)
        return ",".join(fields) or None

    def _list(self, resource):
        kwargs = {}
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        if self._selectors():
            kwargs["field_selector"] = self._selectors()
        namespace = self.namespace if resource.namespaced else None
        try:
            result = resource.get(namespace=namespace, **kwargs).to_dict()
        except ApiException as e:
            raise ApiError("Failed to list %s: %s" % (self.kind, getattr(e, "reason", e)), status=e.status)
        items = result.get("items") or []
        for item in items:  # list items carry no kind/apiVersion
            item.setdefault("kind", self.kind)
            item.setdefault("apiVersion", self.api_version)
        return items, (result.get("metadata") or {}).get("resourceVersion")

    def _list_retrying(self, resource, deadline):
        """``_list`` that rides over an API server restart (connection errors, 429/5xx) for up to
        UNREACHABLE_LIMIT seconds (and the deadline), then fails naming the error."""
        unreachable = _Unreachable(self, deadline)
        while True:
            try:
                return self._list(resource)
            except (_Urllib3Error, OSError, ApiError, ApiException) as e:
                unreachable.failed(e)

    def stream(self, deadline, stop=None):
        """Yield the selected objects (sorted) after the first list and after every change, until
        the deadline passes or ``stop`` (a threading.Event) is set. Re-lists when a watch ends."""
        resource = self.resource(deadline)
        namespace = self.namespace if resource.namespaced else None
        while True:
            items, rv = self._list_retrying(resource, deadline)
            state = dict((object_key(o), o) for o in items)
            yield sorted(state.values(), key=object_key)
            if deadline.expired() or (stop is not None and stop.is_set()):
                return
            watcher = Watch()
            seconds = int(min(self.MAX_WATCH_SECONDS, deadline.remaining()) + 0.999)
            try:
                for event in self.client.dynamic.watch(
                    resource,
                    namespace=namespace,
                    label_selector=self.label_selector,
                    field_selector=self._selectors(),
                    resource_version=rv,
                    timeout=max(1, seconds),
                    watcher=watcher,
                ):
                    obj = event.get("raw_object") or {}
                    etype = event.get("type")
                    if etype == "BOOKMARK" or not obj.get("metadata"):
                        continue
                    obj.setdefault("kind", self.kind)
                    obj.setdefault("apiVersion", self.api_version)
                    if etype == "DELETED":
                        state.pop(object_key(obj), None)
                    else:
                        state[object_key(obj)] = obj
                    yield sorted(state.values(), key=object_key)
                    if deadline.expired() or (stop is not None and stop.is_set()):
                        return
            except ApiException as e:
                if e.status not in (410, 429, 500, 502, 503, 504):  # expired resourceVersion or flaky server: re-list
                    raise ApiError("Failed to watch %s: %s" % (self.kind, getattr(e, "reason", e)), status=e.status)
            except (_Urllib3Error, OSError):
                self.sleep(min(0.5, deadline.remaining()))  # dropped connection: re-list
            finally:
                watcher.stop()
            if deadline.expired():
                return

    def wait(self, evaluate, timeout):
        """Block until ``evaluate(objects)`` is done. Raises WaitFailed (outcome.failed) or
        WaitTimeout carrying the last objects and message."""
        deadline = Deadline(timeout, self.clock)
        outcome = Outcome(False, "not evaluated")
        for objects in self.stream(deadline):
            self.last_objects = objects
            outcome = evaluate(objects)
            if outcome.failed:
                raise WaitFailed(outcome.message, elapsed=deadline.elapsed(), resources=objects)
            if outcome.done:
                return WaitResult(objects, deadline.elapsed(), outcome.message)
            if deadline.expired():
                break
        raise WaitTimeout(
            "Timed out after %.0fs waiting for %s: %s" % (deadline.elapsed(), self.describe(), outcome.message),
            elapsed=deadline.elapsed(),
            resources=self.last_objects,
        )

    def describe(self):
        target = self.kind
        if self.name:
            target += " %s" % self.name
        if self.label_selector:
            target += " with labels %s" % self.label_selector
        if self.namespace:
            target += " in namespace %s" % self.namespace
        return target

    def snapshot(self, evaluate):
        """Evaluate once without waiting (check mode). Returns (objects, outcome); a kind that is
        not served gives no objects."""
        if not self._served():
            return [], Outcome(False, "the cluster does not serve %s %s yet" % (self.api_version, self.kind))
        resource = self.client.resource(self.api_version, self.kind)
        items, _rv = self._list(resource)
        objects = sorted(items, key=object_key)
        return objects, evaluate(objects)


# --------------------------------------------------------------------------- API server outages

_RETRYABLE_STATUS = (429, 500, 502, 503, 504)


class _Unreachable(object):
    """Back-off while the API server does not answer; gives up after UNREACHABLE_LIMIT seconds
    (or at the deadline) with an error naming the server's last answer."""

    LIMIT = 25.0
    BACKOFF = (0.2, 0.5, 1.0, 2.0)

    def __init__(self, waiter, deadline):
        self.waiter = waiter
        self.deadline = deadline
        self.since = None
        self.attempt = 0

    def failed(self, error):
        status = getattr(error, "status", None)
        if isinstance(error, ApiError):
            status = error.details.get("status")
        if isinstance(error, (ApiError, ApiException)) and status not in _RETRYABLE_STATUS:
            if isinstance(error, ApiError):
                raise error
            raise ApiError("Failed to read %s: %s" % (self.waiter.kind, getattr(error, "reason", error)), status=status)
        now = self.waiter.clock()
        if self.since is None:
            self.since = now
        if now - self.since >= self.LIMIT or self.deadline.expired():
            raise ApiError(
                "The API server did not answer for %.0fs while waiting for %s: %s"
                % (now - self.since, self.waiter.describe(), _short(error)),
                status=status,
            )
        delay = self.BACKOFF[min(self.attempt, len(self.BACKOFF) - 1)]
        self.attempt += 1
        self.waiter.sleep(min(delay, max(self.deadline.remaining(), 0.01)))


def _short(error):
    text = str(getattr(error, "msg", None) or error)
    return text if len(text) <= 300 else text[:297] + "..."


class _Ended(Exception):
    """A waiter's stream ended (its deadline passed) without an error."""


class MultiWaiter(object):
    """Follow several waiters' streams at once (a thread each) and evaluate them together.

    ``evaluate(states)`` gets one entry per waiter: its objects, or None before its first list.
    It is also called every TICK seconds without a change, so time-based verdicts (a container
    that never becomes ready) are reached without an event. A verdict at the deadline is made on
    every waiter's first list: one still in flight then (a loaded API server) is awaited up to
    LIST_GRACE seconds more, so a timeout names the objects' state, not that they were being listed."""

    TICK = 1.0
    LIST_GRACE = 30.0

    def __init__(self, waiters, clock=time.monotonic):
        self.waiters = list(waiters)
        self.clock = clock
        self.states = [None] * len(self.waiters)

    def _follow(self, index, waiter, deadline, events, stop):
        try:
            for objects in waiter.stream(deadline, stop):
                events.put((index, objects, None))
                if stop.is_set():
                    return
        except Exception as e:  # pylint: disable=broad-except
            events.put((index, None, e))
            return
        events.put((index, None, _Ended()))

    def objects(self):
        """The objects of the first waiter (the others only feed the evaluation)."""
        return list(self.states[0] or []) if self.states else []

    def wait(self, evaluate, timeout, describe=""):
        deadline = Deadline(timeout, self.clock)
        events = queue.Queue()
        stop = threading.Event()
        for index, waiter in enumerate(self.waiters):
            thread = threading.Thread(target=self._follow, args=(index, waiter, deadline, events, stop))
            thread.daemon = True
            thread.start()
        unlisted = set(range(len(self.waiters)))  # still running, first list not in yet
        outcome = Outcome(False, "not evaluated")
        try:
            while True:
                if deadline.expired():
                    wait_for = min(self.TICK, max(0.01, deadline.end + self.LIST_GRACE - self.clock()))
                else:
                    wait_for = max(0.01, min(self.TICK, deadline.remaining()))
                try:
                    item = events.get(timeout=wait_for)
                    while True:  # take every queued change before evaluating
                        index, objects, error = item
                        if error is not None and not isinstance(error, (WaitTimeout, _Ended)):
                            raise error
                        if error is None:
                            self.states[index] = objects
                        unlisted.discard(index)
                        item = events.get_nowait()
                except queue.Empty:
                    pass
                outcome = evaluate(self.states)
                if outcome.failed:
                    raise WaitFailed(outcome.message, elapsed=deadline.elapsed(), resources=self.objects())
                if outcome.done:
                    return WaitResult(self.objects(), deadline.elapsed(), outcome.message)
                if deadline.expired() and (not unlisted or self.clock() >= deadline.end + self.LIST_GRACE):
                    raise WaitTimeout(
                        "Timed out after %.0fs waiting for %s: %s"
                        % (min(deadline.elapsed(), timeout), describe or " and ".join(w.describe() for w in self.waiters),
                           outcome.message),
                        elapsed=deadline.elapsed(),
                        resources=self.objects(),
                    )
        finally:
            stop.set()
