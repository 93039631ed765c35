"""The service on a real socket: uvicorn in a thread of the test process, on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import httpx


class LiveServer:
    """Runs ``app`` until :meth:`stop`; :meth:`start` returns once the models are loaded
    (or, with ``wait_ready=False``, once the server listens)."""

    def __init__(self, app, *, ready_timeout: float = 120.0, wait_ready: bool = True) -> None:
        self.app = app
        self.wait_ready = wait_ready
        self.ready_timeout = ready_timeout
        from llmlingstral.serve.server import graceful_server

        self.server = graceful_server(app, "127.0.0.1", 0, grace_s=10, log_level="warning",
                                      access_log=False)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        socket = self.server.servers[0].sockets[0]
        host, port = socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + self.ready_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        while self.wait_ready and httpx.get(f"{self.url}/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the models did not load in time")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
