"""Checks every request passes before any route: the ``Host`` it names and, for a POST,
that its body is JSON.

A browser page on another site can make the operator's browser send requests to a service
on 127.0.0.1 (with DNS rebinding, under a name that resolves there). Such a request names
a foreign ``Host``, and cross-site forms can only send ``text/plain`` or form bodies; both
are refused here, so no web page can drive the proxy and spend the upstream key. The
service sends no CORS headers: browsers keep other sites from reading its answers.
"""

from __future__ import annotations

import json
from typing import Iterable

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})


def allowed_host_names(bind_host: str, extra: Iterable[str]) -> frozenset[str] | None:
    """Host names requests may name: loopback, the bound address and ``extra``; None when
    ``extra`` holds ``*`` (any host, for a service behind a proxy that checks it)."""
    extra = [h.strip().lower() for h in extra]
    if "*" in extra:
        return None
    names = set(LOOPBACK_HOSTS) | set(extra)
    if bind_host.lower() not in _WILDCARD_BINDS:
        names.add(bind_host.lower().strip("[]"))
    return frozenset(names)


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without port or IPv6 brackets, lowercased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


class RequestGuard:
    """ASGI middleware: 421 for a ``Host`` not allowed, 415 for a POST that is not JSON."""

    def __init__(self, app, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await _send_error(send, *refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope) -> tuple[int, str, str] | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if self.allowed_hosts is not None and \
                host_name(headers.get("host", "")) not in self.allowed_hosts:
            return (421, "misdirected_request", "this service does not answer for that Host; "
                    "the operator lists the names it may be reached by with --allowed-hosts")
        if scope["method"] == "POST" and not is_json_media_type(headers.get("content-type", "")):
            return (415, "invalid_request_error", "send the body as JSON, with "
                    "'Content-Type: application/json'")
        return None


async def _send_error(send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": kind}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
