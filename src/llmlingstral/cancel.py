"""Stopping work that nobody waits for any more.

A caller that may give up (a service whose request timed out, or whose client left) runs the
work inside :func:`cancellable` with a :class:`CancelToken`, and cancels the token when it
gives up. The work notices at its next check: every model the library loads checks before
each forward pass, and every retry loop before each attempt and while it waits. It then
raises :class:`Cancelled`, so the thread is free again within one window or one batch.
Work run outside :func:`cancellable` is never cancelled.

Work done for several callers at once (a batch of requests) runs under :func:`all_of` their
tokens, so it stops once none of them waits; each caller's own part of it runs under the
caller's token, so a caller who leaves drops only its part.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator, Sequence

_local = threading.local()


class Cancelled(BaseException):
    """The work was cancelled: its caller no longer waits for it. A BaseException, like
    :class:`asyncio.CancelledError`, so that no ``except Exception`` on the way keeps the
    work going."""


class CancelToken:
    """A flag one thread sets (:meth:`cancel`) and the thread doing the work checks."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._listeners: list[Callable[[], None]] = []

    def cancel(self) -> None:
        self._event.set()
        for listener in self._listeners:
            listener()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)


def all_of(tokens: Sequence[CancelToken]) -> CancelToken:
    """A token cancelled once every one of ``tokens`` is: work shared by several callers
    stops when the last of them gives up."""
    joint = CancelToken()

    def check() -> None:
        if all(token.cancelled for token in tokens):
            joint.cancel()

    for token in tokens:
        token._listeners.append(check)
    check()
    return joint


@contextlib.contextmanager
def cancellable(token: CancelToken) -> Iterator[CancelToken]:
    """Within the block, this thread's work stops at its next check once ``token`` is
    cancelled."""
    previous = getattr(_local, "token", None)
    _local.token = token
    try:
        yield token
    finally:
        _local.token = previous


def check_cancelled() -> None:
    """Raise :class:`Cancelled` if the work running on this thread was cancelled."""
    token = getattr(_local, "token", None)
    if token is not None and token.cancelled:
        raise Cancelled("the work was cancelled: its caller gave up")


def sleep(seconds: float) -> None:
    """``time.sleep(seconds)``, cut short (raising :class:`Cancelled`) by a cancellation."""
    token = getattr(_local, "token", None)
    if token is None:
        time.sleep(seconds)
        return
    if token.wait(seconds):
        check_cancelled()
