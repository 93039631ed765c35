"""Starting the service under test: one process, ready when its /readyz answers 200."""

from __future__ import annotations

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
