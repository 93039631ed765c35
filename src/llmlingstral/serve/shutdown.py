"""Graceful shutdown with a hard upper bound.

On SIGTERM (or Ctrl-C) the server stops accepting connections and :class:`Draining` starts:

* every response sent from then on carries ``Connection: close``, so that no client sends
  its next request on a connection about to close;
* requests in flight get ``grace_s`` seconds to finish; at the deadline each one still
  running is cancelled (its compression stops at its next forward pass, see
  :mod:`llmlingstral.cancel`) and answered with a JSON 503, and any request arriving later
  gets the same answer at once.

uvicorn's own shutdown timeout is set a little past the deadline (:data:`ANSWER_MARGIN_S`),
so that it only cancels what could not even be answered in that time.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn

from .racing import until

ANSWER_MARGIN_S = 2.0  # after the deadline, for the 503s to be written
_CLOSE = (b"connection", b"close")


class Draining:
    """Whether the service is shutting down, and whether its grace period is over."""

    def __init__(self) -> None:
        self.started = False
        self._deadline = asyncio.Event()

    @property
    def deadline_passed(self) -> bool:
        return self._deadline.is_set()

    def begin(self, grace_s: float) -> None:
        """Start draining (on the event loop): the deadline passes in ``grace_s`` seconds."""
        if self.started:
            return
        self.started = True
        asyncio.get_running_loop().call_later(max(0.0, grace_s), self._deadline.set)

    async def wait_deadline(self) -> None:
        await self._deadline.wait()


class DrainMiddleware:
    """ASGI middleware: ``Connection: close`` while draining, a JSON 503 past the deadline."""

    def __init__(self, app, draining: Draining) -> None:
        self.app = app
        self.draining = draining

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining.deadline_passed:
            await _send_unavailable(send)
            return
        started = False

        async def closing_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if self.draining.started:
                    message = _with_connection_close(message)
            await send(message)

        handled, _ = await until(self.app(scope, receive, closing_send),
                                 self.draining.wait_deadline())
        if not handled and not started:
            await _send_unavailable(send)




def _with_connection_close(message: dict[str, Any]) -> dict[str, Any]:
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
    return {**message, "headers": [*headers, _CLOSE]}


async def _send_unavailable(send) -> None:
    body = json.dumps({"error": {
        "message": "the service is shutting down and stopped this request at the end of its "
                   "grace period; retry it on another instance or after the restart",
        "type": "service_unavailable"}}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", b"1"), _CLOSE]})
    await send({"type": "http.response.body", "body": body})


class GracefulServer(uvicorn.Server):
    """A uvicorn server that starts ``draining`` (deadline ``grace_s``) when it shuts down;
    build it with :func:`llmlingstral.serve.server.graceful_server`."""

    def __init__(self, config: uvicorn.Config, draining: Draining, grace_s: float) -> None:
        super().__init__(config)
        self.draining = draining
        self.grace_s = grace_s

    async def shutdown(self, sockets=None) -> None:
        self.draining.begin(self.grace_s)
        await super().shutdown(sockets=sockets)
