"""Where compression work runs: one compute thread, a bounded queue, micro-batching.

Models run on one worker thread (torch already spreads one forward pass over the cores;
two passes at once only fight over them). Reading a request (finding the texts of a chat,
counting their tokens) runs on a second thread, the "prepare" lane, so that it never waits
behind a model and a model never waits behind it. Every job, in either lane, is admitted
against ``max_queue`` first: a full queue raises :class:`Overloaded`, which the service
answers with 429. No CPU work of a request runs on the event loop.

Token-classifier jobs go through a :class:`MicroBatcher`: the first job opens a short
window, jobs arriving within it (or while the previous batch is running) join, and the
batch runs as one call that shares forward passes. A job whose caller gave up (timeout)
before its batch starts is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

from ..cancel import CancelToken, Cancelled, cancellable, check_cancelled
from .metrics import Metrics

T = TypeVar("T")
BatchFunction = Callable[[Sequence[Any]], list[Any]]
logger = logging.getLogger("llmlingstral.serve")


class Overloaded(Exception):
    """The queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the compression queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class JobTimeout(Exception):
    """A job did not finish within the request timeout."""


class Scheduler:
    """Admission, timeout and the compute thread shared by every compression job."""

    def __init__(self, metrics: Metrics, *, max_queue: int, timeout_s: float) -> None:
        self.metrics = metrics
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.pending = 0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmlingstral")
        self.lanes = {"compute": self.executor,
                      "prepare": ThreadPoolExecutor(max_workers=1,
                                                    thread_name_prefix="llmlingstral-prepare")}
        self._job_seconds = 0.05  # running mean, for Retry-After

    def admit(self) -> None:
        """Count one more job in, or raise :class:`Overloaded`."""
        if self.pending >= self.max_queue:
            self.metrics.rejected.inc()
            raise Overloaded(self.retry_after())
        self.pending += 1
        self.metrics.queue_depth.set(self.pending)

    def release(self, seconds: float | None = None) -> None:
        self.pending -= 1
        self.metrics.queue_depth.set(self.pending)
        if seconds is not None:
            self._job_seconds = 0.9 * self._job_seconds + 0.1 * seconds

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained enough to take a job."""
        return max(1, math.ceil(self.pending * self._job_seconds))

    async def run(self, function: Callable[[], T], *, lane: str = "compute") -> T:
        """Run ``function`` on the thread of ``lane`` (``"compute"`` for models,
        ``"prepare"`` for reading requests), admitted and bounded by the timeout.

        If the caller gives up (timeout, or its task is cancelled because the client left),
        the work is cancelled: skipped if it has not started, else stopped at its next
        forward pass (:mod:`llmlingstral.cancel`).
        """
        self.admit()
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        token = CancelToken()
        work: Future = self.lanes[lane].submit(_run_cancellable, token, function)
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(
            self.release, time.perf_counter() - started))
        return await self.wait(asyncio.wrap_future(work, loop=loop), on_abandon=token.cancel)

    async def wait(self, future: asyncio.Future,
                   on_abandon: Callable[[], None] | None = None) -> Any:
        """Await ``future`` for at most the request timeout (cancelling it after); call
        ``on_abandon`` when the caller stops waiting before it is done."""
        try:
            return await asyncio.wait_for(future, self.timeout_s or None)
        except TimeoutError as error:
            if on_abandon is not None:
                on_abandon()
            raise JobTimeout(f"compression did not finish within the request timeout of "
                             f"{self.timeout_s:g} s; send a shorter prompt or retry later") \
                from error
        except asyncio.CancelledError:
            if on_abandon is not None:
                on_abandon()
            raise

    async def shutdown(self) -> None:
        """Let the jobs already admitted finish, then stop the compute thread."""
        for executor in self.lanes.values():
            await asyncio.to_thread(executor.shutdown, wait=True)


def _run_cancellable(token: CancelToken, function: Callable[[], T]) -> T:
    with cancellable(token):
        check_cancelled()  # abandoned while it waited for the thread: skip it entirely
        return function()


@dataclass
class _Item:
    payload: Any
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Groups jobs that arrive together into one call of ``batch_function``.

    ``batch_function`` takes a list of payloads and returns one outcome per payload: its
    result, or the exception raised for that payload alone (which fails only its caller).
    If the whole call raises, every caller of the batch gets that error; nothing is rerun.
    """

    def __init__(self, scheduler: Scheduler, batch_function: BatchFunction, *,
                 window_s: float, max_batch_size: int) -> None:
        self.scheduler = scheduler
        self.batch_function = batch_function
        self.window_s = window_s
        self.max_batch_size = max_batch_size
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._outstanding = 0  # jobs submitted and not yet answered or skipped

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish the jobs already queued or running, then stop."""
        if self._task is None:
            return
        while self._outstanding:
            await asyncio.sleep(0.01)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def submit(self, payload: Any) -> Any:
        """Queue ``payload``; its result once its batch has run."""
        if self._task is None:
            raise RuntimeError("the batcher is not running")
        self.scheduler.admit()
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(payload, future))
        self._outstanding += 1
        return await self.scheduler.wait(future)

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            live = []
            for item in batch:
                if item.future.done():  # its caller timed out while it waited
                    self.scheduler.release()
                    self._outstanding -= 1
                else:
                    live.append(item)
            if live:
                await self._run(live)

    async def _collect(self) -> list[_Item]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.window_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        self.scheduler.metrics.batch_size.observe(len(items))
        token = _cancelled_when_all_gone(items)
        outcomes = await loop.run_in_executor(self.scheduler.executor, self._outcomes,
                                              [item.payload for item in items], token)
        seconds = (time.perf_counter() - started) / len(items)
        for item, (ok, value) in zip(items, outcomes):
            self.scheduler.release(seconds)
            self._outstanding -= 1
            if item.future.done():
                continue
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    def _outcomes(self, payloads: list[Any], token: CancelToken) -> list[tuple[bool, Any]]:
        """(ok, result or exception) per payload; runs on the compute thread, and stops at
        the next forward pass once every caller of the batch has gone."""
        with cancellable(token):
            try:
                results = self.batch_function(payloads)
            except (Exception, Cancelled) as error:  # noqa: BLE001 - to every caller
                return [(False, error)] * len(payloads)
        return [(not isinstance(r, Exception), r) for r in results]


def _cancelled_when_all_gone(items: list[_Item]) -> CancelToken:
    """A token cancelled once no caller of ``items`` waits any more."""
    token = CancelToken()

    def gone(_: asyncio.Future) -> None:
        if all(item.future.done() for item in items):
            token.cancel()

    for item in items:
        item.future.add_done_callback(gone)
    return token
