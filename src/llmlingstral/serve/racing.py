"""Running a coroutine until something else happens first (a client leaving, a deadline)."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

T = TypeVar("T")


async def until(work: Awaitable[T], stop: Awaitable[Any]) -> tuple[bool, T | None]:
    """Run ``work`` until it ends or ``stop`` completes first.

    Returns ``(True, result)`` when ``work`` finished (re-raising what it raised), else
    ``(False, None)`` once ``work`` has been cancelled and has unwound, so that what it
    started (a compression job, a request handler) is stopped before the caller answers.
    """
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop)
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return True, task.result()
    await asyncio.gather(task, return_exceptions=True)
    return False, None
