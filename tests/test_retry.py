"""The one retry loop: attempts and waits under one deadline (HTTP cases are in
test_api_faults.py, test_remote_scorer.py and test_serve_parts.py)."""

from __future__ import annotations

import time

import pytest

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
