"""Starting and stopping the service under test: one process, ready when its /readyz
answers 200, stopped with SIGTERM (killed if it has not exited within a minute)."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx


def launch(command: list[str], base_url: str, timeout_s: float = 180) -> subprocess.Popen:
    """Start ``command`` and return its process once ``base_url``/readyz answers 200."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the service exited while starting")
        time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"the service did not get ready within {timeout_s:.0f} s")


def stop(process: subprocess.Popen, timeout_s: float = 60) -> None:
    """Ask the service to shut down; kill it if it has not exited within ``timeout_s``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
