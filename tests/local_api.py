"""A real HTTP server on 127.0.0.1 that speaks the parts of the Mistral API the tests need.

Each route maps a path such as ``/v1/embeddings`` to a handler ``f(body) -> (status, payload)``.
Handlers see the decoded JSON request body; the server records every request so tests can
assert on batching and retries. A handler that returns a list of payloads answers with
server-sent events, one per payload, then ``data: [DONE]``. Scripted failures
(``fail_next``) let a test return 429/500 responses before the handler runs, with the
headers in ``failure_headers`` (e.g. a ``Retry-After``); with ``echo_authorization`` their
message quotes the request's Authorization header, as careless servers do.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

# In a streamed reply, where the server stops as if it had failed (no ``[DONE]``).
CUT_STREAM = {"cut": "here"}
Handler = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | list[dict[str, Any]]]]


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    authorization: str | None


class LoopbackServer:
    """An HTTP server on 127.0.0.1 in a thread, with scripted failures; subclasses set
    ``_lock`` and ``_failures`` and call :meth:`_listen` with their handler class."""

    _lock: threading.Lock
    _failures: deque
    failure_headers: dict[str, str]
    echo_authorization: bool

    def _listen(self, handler) -> None:
        self.failure_headers, self.echo_authorization = {}, False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP statuses, in order, before serving normally."""
        with self._lock:
            self._failures.extend(statuses)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next_failure(self) -> int | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def failure_message(self, status: int, authorization: str | None) -> str:
        """The message of a scripted failure (quoting the Authorization header if asked)."""
        if self.echo_authorization:
            return f"scripted {status}: refused credentials {authorization!r}"
        return f"scripted {status}"


@dataclass
class LocalAPIServer(LoopbackServer):
    routes: dict[str, Handler]
    requests: list[RecordedRequest] = field(default_factory=list)
    # Seconds between the bytes of each reply body (a server that dribbles its answer).
    dribble: float | None = None
    _failures: deque = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listen(self._make_handler())


    def _make_handler(self):
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                body = json.loads(raw or b"{}")
                with server._lock:
                    server.requests.append(
                        RecordedRequest(self.path, body, self.headers.get("Authorization")))
                failure = server._next_failure()
                if failure is not None:
                    message = server.failure_message(failure, self.headers.get("Authorization"))
                    self._reply(failure, {"object": "error", "message": message,
                                          "type": "scripted", "code": str(failure)},
                                server.failure_headers)
                    return
                handler = server.routes.get(self.path.split("?")[0])
                if handler is None:
                    self._reply(404, {"object": "error", "message": f"no route {self.path}"})
                    return
                status, payload = handler(body)
                self._reply(status, payload)

            def _reply(self, status: int, payload: dict[str, Any] | list,
                       headers: dict[str, str] | None = None) -> None:
                if isinstance(payload, list):
                    self._stream(status, payload)
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if server.dribble is None:
                    self.wfile.write(data)
                    return
                try:
                    for byte in data:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(server.dribble)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def _stream(self, status: int, events: list[dict[str, Any]]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in events:
                    if event == CUT_STREAM:  # the upstream fails mid-stream: no [DONE]
                        self.close_connection = True
                        return
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return _Handler


def chat_completion_payload(model: str, content: str) -> dict[str, Any]:
    """A chat.completions response body in the shape the Mistral API returns."""
    return {
        "id": "cmpl-local", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def embeddings_payload(model: str, vectors: list[list[float]]) -> dict[str, Any]:
    """An embeddings response body in the shape the Mistral API returns."""
    return {
        "id": "emb-local", "object": "list", "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


def chat_stream_payloads(model: str, pieces: list[str]) -> list[dict[str, Any]]:
    """Streamed chat.completion.chunk bodies that spell ``pieces``, then a final stop."""
    chunks = [{"id": "cmpl-local", "object": "chat.completion.chunk", "created": 0,
               "model": model, "choices": [{"index": 0, "finish_reason": None,
                                            "delta": {"role": "assistant", "content": piece}}]}
              for piece in pieces]
    chunks.append({"id": "cmpl-local", "object": "chat.completion.chunk", "created": 0,
                   "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                                "delta": {"content": ""}}]})
    return chunks
