"""The uvicorn server a service runs on, with the limits a public socket needs.

* a connection limit: past ``max_connections`` open connections, a new one is closed at
  once, so that a flood of idle connections never exhausts the process's open files (the
  limit is kept below the file limit);
* a header-read timeout: a connection that has not sent a complete request head within
  ``header_timeout_s`` (at the start, or after its previous reply) is closed, so that
  clients sending headers a byte at a time (slowloris) cannot hold connections open;
* one log line, at most once a second, for errors of the event loop itself (such as
  ``accept()`` failing), instead of a traceback per failure.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ..validate import check_finite
from .shutdown import ANSWER_MARGIN_S, GracefulServer

logger = logging.getLogger("llmlingstral.serve")
_FILES_KEPT_FREE = 64  # for models, logs and the upstream's connections


def connection_limit(wanted: int) -> int:
    """``wanted``, lowered to stay below the process's open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - _FILES_KEPT_FREE))


def guarded_protocol(max_connections: int, header_timeout_s: float) -> type:
    """uvicorn's HTTP protocol with a connection limit and a header-read timeout."""

    class GuardedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()
                return
            self._await_headers()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._await_headers()  # the next request's head must come in time too

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            self._stop_timer()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late,
                                                      self.cycle)

        def _headers_late(self, cycle_then: Any) -> None:
            # A new request cycle starts once a complete head has arrived.
            if self.cycle is cycle_then and not self.transport.is_closing():
                self.transport.abort()

        def _stop_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

    return GuardedHTTPProtocol


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` (built by ``create_app``), with its limits."""
    config = app.state.config
    protocol = guarded_protocol(connection_limit(config.max_connections),
                                config.header_timeout_s)
    return uvicorn.Config(app, host=host, port=port, http=protocol, **options)


def graceful_server(app: Any, host: str, port: int, *, grace_s: float,
                    **options: Any) -> GracefulServer:
    """The server for ``app``: on shutdown, requests in flight get ``grace_s`` seconds, then
    a JSON 503 (see :mod:`.shutdown`)."""
    grace_s = check_finite("--graceful-timeout", grace_s, allow_zero=True,
                           meaning="seconds requests in flight get on shutdown")
    config = server_config(app, host, port,
                           timeout_graceful_shutdown=grace_s + ANSWER_MARGIN_S, **options)
    return GracefulServer(config, app.state.draining, grace_s)


class QuietLoopErrors:
    """An event-loop exception handler that logs one line, at most once a second."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._last = 0.0
        self._skipped = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._skipped += 1
            return
        error = context.get("exception")
        logger.error("event loop: %s%s%s", context.get("message", ""),
                     f" ({type(error).__name__}: {error})" if error else "",
                     f"; {self._skipped} more since the last line" if self._skipped else "")
        self._last, self._skipped = now, 0
