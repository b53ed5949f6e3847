"""Transient-failure policy of the client layer: which requests are sent again, when, and how a
request that keeps failing is reported (pure functions and the retry loop over a scripted send)."""

import pytest
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import (
    REQUEST_TIMEOUT,
    RETRY_BUDGET,
    connection_refused,
    request_timeout,
    resilient,
    retry_delay,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ConnectionFailed

REFUSED = MaxRetryError(None, "/api", NewConnectionError(None, "[Errno 111] Connection refused"))
RESET = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
READ_TIMEOUT = ReadTimeoutError(None, "/api", "read timed out")


def test_connection_refused_is_recognised_through_wrappers():
    assert connection_refused(REFUSED)
    assert connection_refused(ConnectionRefusedError())
    assert not connection_refused(RESET)
    assert not connection_refused(READ_TIMEOUT)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_for_reads_and_patches(status):
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        assert retry_delay(method, 0, 0.0, status=status) == 0.25


@pytest.mark.parametrize("status", [200, 201, 400, 401, 403, 404, 409, 410, 422])
def test_other_statuses_are_not_retried(status):
    assert retry_delay("GET", 0, 0.0, status=status) is None


def test_a_create_is_sent_again_only_when_the_server_surely_did_not_act():
    assert retry_delay("POST", 0, 0.0, status=429) is not None
    assert retry_delay("POST", 0, 0.0, status=503) is not None
    assert retry_delay("POST", 0, 0.0, error=REFUSED) is not None
    assert retry_delay("POST", 0, 0.0, status=500) is None
    assert retry_delay("POST", 0, 0.0, status=504) is None
    assert retry_delay("POST", 0, 0.0, error=RESET) is None
    assert retry_delay("POST", 0, 0.0, error=READ_TIMEOUT) is None


def test_backoff_grows_honours_retry_after_and_stops_at_the_budget():
    delays = [retry_delay("GET", n, 0.0, error=RESET) for n in range(8)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert retry_delay("GET", 0, 0.0, status=429, retry_after=3) == 3
    assert retry_delay("GET", 0, 0.0, status=429, retry_after=3600) == 10.0  # bounded
    assert retry_delay("GET", 3, RETRY_BUDGET - 1.0, status=503) is None


def test_request_timeouts():
    assert request_timeout("https://h/api/v1/namespaces/x/configmaps/y") == (False, REQUEST_TIMEOUT)
    assert request_timeout("https://h/api/v1/pods?watch=True&timeoutSeconds=120") == (True, (REQUEST_TIMEOUT[0], 150))
    assert request_timeout("https://h/api/v1/pods", [("watch", True), ("timeoutSeconds", 5)]) == (True, (10, 35))
    assert request_timeout("https://h/api/v1/pods?watch=true") == (True, None)


class Response(object):
    def __init__(self, status, headers=None):
        self.status = status
        self.headers = headers or {}
        self.read_called = False

    def read(self):
        self.read_called = True


class Script(object):
    """A send() that plays back answers/errors and records the calls."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, method, url, *args, **kwargs):
        self.calls.append((method, url, kwargs))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Clock(object):
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def test_retries_until_the_server_answers_and_sets_a_timeout():
    clock = Clock()
    busy = Response(503, {"Retry-After": "1"})
    send = Script(REFUSED, RESET, busy, Response(200))
    response = resilient(send, sleep=clock.sleep, clock=clock)("GET", "https://h/api/v1/x")
    assert response.status == 200
    assert clock.slept == [0.25, 0.5, 1.0]
    assert busy.read_called  # its connection went back to the pool
    assert all(kwargs["_request_timeout"] == REQUEST_TIMEOUT for _m, _u, kwargs in send.calls)


def test_an_explicit_timeout_is_kept_and_a_watch_is_never_retried():
    clock = Clock()
    send = Script(Response(200))
    resilient(send, sleep=clock.sleep, clock=clock)("GET", "https://h/api", _request_timeout=3)
    assert send.calls[0][2]["_request_timeout"] == 3
    send = Script(RESET)
    with pytest.raises(ProtocolError):
        resilient(send, sleep=clock.sleep, clock=clock)("GET", "https://h/api/v1/pods?watch=true&timeoutSeconds=9")
    assert len(send.calls) == 1 and send.calls[0][2]["_request_timeout"] == (10, 39)


def test_a_server_that_stays_away_is_reported_with_the_request():
    clock = Clock()
    send = Script(*([REFUSED] * 100))
    with pytest.raises(ConnectionFailed) as err:
        resilient(send, sleep=clock.sleep, clock=clock)("GET", "https://h/api/v1/namespaces?limit=1")
    assert "did not answer GET https://h/api/v1/namespaces (" in err.value.msg
    assert sum(clock.slept) <= RETRY_BUDGET


def test_after_a_server_stayed_away_later_requests_fail_at_once():
    clock = Clock()
    send = Script(*([REFUSED] * 100))
    request = resilient(send, sleep=clock.sleep, clock=clock)
    with pytest.raises(ConnectionFailed):
        request("GET", "https://h/apis/a/v1")
    sent, slept = len(send.calls), sum(clock.slept)
    for url in ("https://h/apis/b/v1", "https://h/api/v1/pods?watch=true&timeoutSeconds=9"):
        with pytest.raises(ConnectionFailed) as err:
            request("GET", url)
        assert "did not answer GET https://h/apis/a/v1 (" in err.value.msg and url.split("?", 1)[0] + " not sent" in err.value.msg
    assert len(send.calls) == sent and sum(clock.slept) == slept


def test_a_final_error_answer_is_returned_for_the_caller_to_raise():
    clock = Clock()
    send = Script(*([Response(500)] * 100))
    response = resilient(send, sleep=clock.sleep, clock=clock)("PATCH", "https://h/apis/x")
    assert response.status == 500 and sum(clock.slept) <= RETRY_BUDGET
    send = Script(Response(500))
    assert resilient(send, sleep=clock.sleep, clock=clock)("POST", "https://h/apis/x").status == 500
    assert len(send.calls) == 1
