"""The one retry loop: attempts and waits under one deadline, the same for the Mistral API
and the remote scorer (more HTTP cases are in test_api.py, scoring/test_remote.py and
serve/test_upstream.py)."""

from __future__ import annotations

import time

import pytest

from llmlingstral.errors import LLMLingstralError
from llmlingstral.retry import (AttemptTimedOut, Deadline, GaveUp, RetryPolicy, Transient,
                                call_with_retries, finish_within, parse_retry_after)

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01)


def _failing(retry_after=None, succeed_at=None):
    calls = []

    def attempt(number, left):
        calls.append(left)
        if number == succeed_at:
            return "ok"
        raise Transient("HTTP 429", status=429, retry_after=retry_after)

    return attempt, calls


def test_attempts_until_one_succeeds_each_given_the_time_left():
    attempt, calls = _failing(succeed_at=3)
    assert call_with_retries(attempt, FAST, Deadline(5.0)) == "ok"
    assert len(calls) == 3 and all(0 < left <= 5.0 for left in calls)
    assert calls == sorted(calls, reverse=True)


def test_spent_attempts_end_the_call():
    attempt, calls = _failing()
    with pytest.raises(GaveUp) as info:
        call_with_retries(attempt, FAST, Deadline(5.0))
    assert (info.value.why, info.value.attempts, len(calls)) == ("attempts", 4, 4)


def test_a_retry_after_past_the_deadline_ends_the_call_at_once():
    attempt, calls = _failing(retry_after=100000.0)
    start = time.monotonic()
    with pytest.raises(GaveUp) as info:
        call_with_retries(attempt, RetryPolicy(max_attempts=50), Deadline(30.0))
    assert info.value.why == "retry_after" and len(calls) == 1
    assert time.monotonic() - start < 1.0


def test_waits_count_against_the_deadline():
    attempt, calls = _failing(retry_after=0.2)
    start = time.monotonic()
    with pytest.raises(GaveUp) as info:
        call_with_retries(attempt, RetryPolicy(100, 0.001, 0.01), Deadline(0.7))
    assert info.value.why == "retry_after" and 2 <= len(calls) <= 4
    assert time.monotonic() - start < 0.7 + 0.5


def test_other_errors_are_not_retried():
    def attempt(number, left):
        raise KeyError("a bug, not a network failure")

    with pytest.raises(KeyError):
        call_with_retries(attempt, FAST, Deadline(5.0))


def test_an_attempt_is_abandoned_at_its_deadline():
    start = time.monotonic()
    with pytest.raises(AttemptTimedOut):
        finish_within(0.2, lambda: time.sleep(5))
    assert time.monotonic() - start < 1.0
    assert finish_within(1.0, lambda: 7) == 7
    with pytest.raises(AttemptTimedOut):
        finish_within(0.0, lambda: 7)


@pytest.mark.parametrize("header, seconds", [("120", 120.0), ("0.5", 0.5), (None, None),
                                             ("Wed, 21 Oct 2015 07:28:00 GMT", None),
                                             ("-3", None), ("nan", None)])
def test_retry_after_headers(header, seconds):
    assert parse_retry_after(header) == seconds


def test_a_cancelled_caller_stops_retrying_at_once():
    """A caller that gave up (a request that timed out) ends the backoff wait at once."""
    import threading
    import time

    from llmlingstral.cancel import CancelToken, Cancelled, cancellable
    from llmlingstral.retry import Deadline, RetryPolicy, Transient, call_with_retries

    def attempt(number, left):
        raise Transient("connection refused")

    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled), cancellable(token):
        call_with_retries(attempt, RetryPolicy(max_attempts=5, base_delay=10.0),
                          Deadline(60))
    assert time.monotonic() - started < 3


# ----------------------------------------------------------------------------- one policy, every caller


def _api_call(server, attempts: int, deadline_s: float):
    from llmlingstral.api import MistralAPI

    api = MistralAPI("test-key", server_url=server.url, timeout_ms=deadline_s * 1000,
                     retry=RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.02))
    return lambda: api.embed(["東京は日本の首都です。", "กรุงเทพมหานคร", "القاهرة عاصمة مصر"])


def _remote_call(server, attempts: int, deadline_s: float):
    from llmlingstral.scoring.remote import CompletionsClient, RemoteScorerSettings

    client = CompletionsClient(RemoteScorerSettings(
        base_url=f"{server.url}/v1", model="m", timeout=deadline_s, max_attempts=attempts,
        retry_base_delay=0.01))
    return lambda: client.request("POST", "/completions", {"model": "m", "prompt": [[1, 2]]})


def _server():
    from local_api import LocalAPIServer, embeddings_payload

    return LocalAPIServer({
        "/v1/embeddings": lambda body: (200, embeddings_payload(
            body["model"], [[1.0, 0.0]] * len(body["input"]))),
        "/v1/completions": lambda body: (200, {"choices": [{"index": 0, "text": ""}]})})


CALLERS = {"the Mistral API": _api_call, "the remote scorer": _remote_call}


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_caller_retries_transient_failures_until_one_succeeds(caller):
    with _server() as server:
        server.fail_next(503, 429)
        CALLERS[caller](server, attempts=3, deadline_s=10)()
    assert len(server.requests) == 3


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_caller_stops_after_its_attempts(caller):
    with _server() as server:
        server.fail_next(503, 503, 503, 503)
        with pytest.raises(LLMLingstralError, match=r"3 attempt"):
            CALLERS[caller](server, attempts=3, deadline_s=10)()
    assert len(server.requests) == 3


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_caller_ends_at_once_when_retry_after_passes_its_deadline(caller):
    with _server() as server:
        server.failure_headers = {"Retry-After": "100000"}
        server.fail_next(429, 429, 429)
        call = CALLERS[caller](server, attempts=3, deadline_s=5)
        start = time.monotonic()
        with pytest.raises(LLMLingstralError, match=r"retry after 100000 s"):
            call()
        elapsed = time.monotonic() - start
    assert len(server.requests) == 1
    assert elapsed < 2.5  # not the 5 s deadline, let alone the wait asked for
