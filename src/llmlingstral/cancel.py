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

The same checks are where long work may pause: a scheduler that shares one CPU between
callers runs the work inside :func:`pausable`, and every check first calls its hook, which
may block the thread until the work's next turn (the service's fair turns).
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

    def on_cancel(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the cancelling thread) when the token is cancelled."""
        self._listeners.append(listener)

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
        token.on_cancel(check)
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


@contextlib.contextmanager
def pausable(pause: Callable[[], None]) -> Iterator[None]:
    """Within the block, every check on this thread first calls ``pause`` (which may
    block until the work may go on). Work run so must hold no lock across a check that
    another paused or running piece of work could wait for."""
    previous = getattr(_local, "pause", None)
    _local.pause = pause
    try:
        yield
    finally:
        _local.pause = previous


def check_cancelled() -> None:
    """Pause if the scheduler asks for it (:func:`pausable`), then raise
    :class:`Cancelled` if the work running on this thread was cancelled."""
    pause = getattr(_local, "pause", None)
    if pause is not None:
        pause()
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
