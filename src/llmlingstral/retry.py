"""Retries under one deadline, for every network call the library makes.

A call has a :class:`Deadline`: its whole budget, attempts, backoff waits and the waits a
server asks for with ``Retry-After`` together. :func:`call_with_retries` gives each attempt
the time left; an attempt that fails in a way worth retrying raises :class:`Transient`.
The next attempt follows the policy's wait, unless the attempts are spent or the wait would
pass the deadline: a server asking for longer than the time left ends the call at once. The
caller turns the final :class:`GaveUp` into an error message of its own.

:func:`finish_within` bounds one attempt whatever the server does (a reply sent a byte at a
time included): the request runs in a daemon thread that is abandoned at the deadline.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from .cancel import check_cancelled, sleep
from .validate import check_finite, check_positive_int

T = TypeVar("T")
_CANCEL_POLL_S = 0.2


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried.

    The wait before retry ``k`` (1-based) is ``base_delay * 2**(k-1)``, capped at
    ``max_delay``, scaled by a random factor in [0.5, 1] so that parallel clients spread out.
    A longer ``Retry-After`` from the server wins; the call's deadline bounds it.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        check_positive_int("max_attempts", self.max_attempts)
        for name in ("base_delay", "max_delay"):
            check_finite(name, getattr(self, name), allow_zero=True)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        backoff *= 0.5 + random.random() / 2
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return backoff


class Deadline:
    """A point in time, ``seconds`` from now, by which a whole call must end."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._end = time.monotonic() + self.seconds

    def left(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())


class Transient(Exception):
    """An attempt failed in a way worth retrying.

    ``reason`` describes it for the final message, ``status`` is the HTTP status (None for
    network errors and timeouts), ``retry_after`` the seconds the server asked to wait, and
    ``timed_out`` says that the attempt ran out of time.
    """

    def __init__(self, reason: str, *, status: int | None = None,
                 retry_after: float | None = None, timed_out: bool = False,
                 cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after
        self.timed_out, self.cause = timed_out, cause


class GaveUp(Exception):
    """No attempt succeeded; ``why`` is ``"attempts"`` (all were used), ``"deadline"`` (no
    time is left for another) or ``"retry_after"`` (the server asked to wait past the
    deadline). ``last`` is the last failure."""

    def __init__(self, why: str, attempts: int, last: Transient, deadline: Deadline) -> None:
        super().__init__(f"gave up after {attempts} attempt(s) ({why}): {last.reason}")
        self.why, self.attempts, self.last, self.deadline = why, attempts, last, deadline


def call_with_retries(attempt: Callable[[int, float], T], policy: RetryPolicy,
                      deadline: Deadline) -> T:
    """``attempt(number, seconds_left)`` until one succeeds; :class:`GaveUp` when none can.

    Exceptions other than :class:`Transient` end the call as they are; so does a
    cancellation (:mod:`.cancel`), checked before each attempt and during each wait.
    """
    number = 0
    while True:
        number += 1
        check_cancelled()
        try:
            return attempt(number, deadline.left())
        except Transient as failure:
            last = failure
        if number >= policy.max_attempts:
            raise GaveUp("attempts", number, last, deadline)
        wait, left = policy.delay(number, last.retry_after), deadline.left()
        if last.retry_after is not None and last.retry_after >= left:
            raise GaveUp("retry_after", number, last, deadline)
        if wait >= left:
            raise GaveUp("deadline", number, last, deadline)
        sleep(wait)


class AttemptTimedOut(Exception):
    """An attempt did not complete within the time it had."""


def finish_within(seconds: float, request: Callable[[], T]) -> T:
    """``request()``, abandoned once ``seconds`` pass, whatever the server does.

    The request runs in a daemon thread; give its HTTP client a timeout too, so that the
    thread ends soon after.
    """
    if seconds <= 0:
        raise AttemptTimedOut("no time left for another attempt")
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = request()
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=run, name="llmlingstral-request", daemon=True).start()
    end = time.monotonic() + seconds
    # Woken every so often, so that a cancelled caller does not wait out a silent server.
    while not finished.wait(min(_CANCEL_POLL_S, max(0.0, end - time.monotonic()))):
        check_cancelled()
        if time.monotonic() >= end:
            raise AttemptTimedOut(f"no complete reply within {seconds:.3g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` header value (an HTTP date gives None: own backoff)."""
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None
