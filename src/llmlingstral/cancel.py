"""Stopping work that nobody waits for any more.

A caller that may give up (a service whose request timed out, or whose client left) runs the
work inside :func:`cancellable` with a :class:`CancelToken`, and cancels the token when it
gives up. The work notices at its next check: every model the library loads checks before
each forward pass, and every retry loop before each attempt and while it waits. It then
raises :class:`Cancelled`, so the thread is free again within one window or one batch.
Work run outside :func:`cancellable` is never cancelled.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

_local = threading.local()


class Cancelled(BaseException):
    """The work was cancelled: its caller no longer waits for it. A BaseException, like
    :class:`asyncio.CancelledError`, so that no ``except Exception`` on the way keeps the
    work going."""


class CancelToken:
    """A flag one thread sets (:meth:`cancel`) and the thread doing the work checks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)


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
