"""Where compression work runs: two lanes, one run at a time in each, fair turns, batching.

Every CPU job of a request waits for its turn in its lane's :class:`~.fairness.FairQueue`:
models run in the ``compute`` lane, and reading requests (finding the texts of a chat,
counting their tokens, assembling the reply) in the ``prepare`` lane. Each lane works one
run at a time, and the two lanes work side by side: torch spreads one forward pass over
the cores, so two model runs at once only fight over them, but reading a request is
Python work that fits beside a forward pass (between its operations, while torch's
threads wait). Every job is admitted against ``max_queue`` first: a full queue raises
:class:`Overloaded`, which the service answers with 429. No CPU work of a request runs on
the event loop.

Each request gets its turn, charged by the characters it reads, so one request with many
texts or one huge text cannot make the small requests queued behind it wait for all of it.
A run keeps its lane's turn to its end, unless a far smaller job of another request waits
(:mod:`.turns`): then, after one slice, it hands the turn back at its next checkpoint and
waits for its next turn, charged for the time it worked. So a long job started while
nobody waited (the queue is work-conserving) holds the CPU for one slice while a small
request waits, and requests of similar size never interrupt each other. A job whose caller
gives up (timeout, or the client left) leaves the queue at once; if it runs already, it
stops at its next check (:mod:`llmlingstral.cancel`), even while it waits for its turn.

Token-classifier jobs are batched: the job whose turn it is opens a short window, then the
batch takes the jobs waiting by then (one per request while several wait, at most
``max_batch_size`` jobs and ``batch_chars`` characters) and runs as one call that shares
forward passes. Each job of a batch can be cancelled alone: its caller's part stops, the
others' continue.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from ..cancel import CancelToken, Cancelled, all_of, cancellable, check_cancelled
from .fairness import FairQueue, Owner, Ticket, current_owner
from .metrics import Metrics
from .turns import Running

T = TypeVar("T")
# (payloads, one cancel token per payload) -> one outcome per payload: a result or the
# exception raised for that payload alone.
BatchFunction = Callable[[Sequence[Any], Sequence[CancelToken]], list[Any]]
logger = logging.getLogger("llmlingstral.serve")
# Characters of text one batch reads at most (a job larger than this runs alone): about
# 16k tokens, a few forward passes on a CPU, so that rows sharing a batch with a long
# text are not held up by it.
BATCH_CHARS = 64_000
# Runs the scheduler remembers (see Scheduler.history).
HISTORY = 1000
LANES = ("compute", "prepare")


class Overloaded(Exception):
    """The queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the compression queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class JobTimeout(Exception):
    """A job did not finish within the request timeout."""


@dataclass(frozen=True)
class Run:
    """One job as it started: its ``lane`` (``"compute"`` or ``"prepare"``), its request
    (``owner``), its ``batch`` (runs started together share it), its ``cost``, its
    ``arrival`` (jobs are numbered as they are queued) and ``arrived_before``: how many
    jobs had been queued when it started."""

    lane: str
    owner: int
    batch: int
    cost: int
    arrival: int
    arrived_before: int


@dataclass
class BatchSettings:
    """How token-classifier jobs are grouped (see the module's description)."""

    function: BatchFunction
    window_s: float = 0.0
    max_size: int = 1
    max_chars: int = BATCH_CHARS


class _Lane:
    """One kind of work: its fair queue, its threads (a paused run keeps its thread) and
    its pace, characters worked per second (a running mean of its own runs only: reading
    a chat is far faster per character than running a model on it)."""

    def __init__(self, name: str, threads: int) -> None:
        self.name = name
        self.queue = FairQueue()
        self.executor = ThreadPoolExecutor(max_workers=threads,
                                           thread_name_prefix=f"llmlingstral-{name}")
        self.arrived = asyncio.Event()
        self.resumes: dict[Running, Ticket] = {}  # the queued next turns of paused runs
        self.pace = 20_000.0
        self.task: asyncio.Task | None = None

    def push(self, ticket: Ticket) -> None:
        self.queue.push(ticket)
        self.arrived.set()

    async def next(self) -> Ticket:
        while True:
            ticket = self.queue.pop()
            if ticket is not None:
                self.resumes.pop(ticket.extra.get("resume"), None)
                return ticket
            self.arrived.clear()
            await self.arrived.wait()

    def learn_pace(self, cost: int, seconds: float) -> None:
        if seconds > 0:
            self.pace = 0.9 * self.pace + 0.1 * (cost / seconds)


class Scheduler:
    """Admission, timeout, fair turns and the threads shared by every compression job."""

    def __init__(self, metrics: Metrics, *, max_queue: int, timeout_s: float,
                 batching: BatchSettings | None = None) -> None:
        self.metrics = metrics
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.batching = batching
        self.pending = 0
        # One thread for each job that may be admitted, and one more, in each lane.
        self.lanes = {name: _Lane(name, max_queue + 1) for name in LANES}
        self.history: deque[Run] = deque(maxlen=HISTORY)  # the latest runs, oldest first
        self.hand_backs = 0  # turns handed back by runs with far more left than a waiting job
        self._batches = 0
        self._arrivals = 0
        self._job_seconds = 0.05  # running mean, for Retry-After

    # ----------------------------------------------------------------------- admission

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

    # ----------------------------------------------------------------------- submitting

    async def run(self, function: Callable[[], T], *, lane: str = "compute",
                  cost: int = 1) -> T:
        """Run ``function`` in the request's fair turn in ``lane`` (``"compute"`` for
        models, ``"prepare"`` for reading requests), charged ``cost`` (characters of text
        it reads), admitted and bounded by the timeout.

        If the caller gives up (timeout, or its task is cancelled because the client left),
        the work is cancelled: dropped if it has not started, else stopped at its next
        check (:mod:`llmlingstral.cancel`).
        """
        return await self._submit(self.lanes[lane], function, cost, batched=False)

    async def run_batched(self, payload: Any, *, cost: int = 1) -> Any:
        """The outcome of ``payload`` once the batch it joins has run (see the module's
        description); without batching settings, a batch of one."""
        if self.batching is None:
            raise RuntimeError("the scheduler has no batch function")
        return await self._submit(self.lanes["compute"], payload, cost, batched=True)

    async def _submit(self, lane: _Lane, work: Any, cost: int, *, batched: bool) -> Any:
        if lane.task is None:
            raise RuntimeError("the scheduler is not running")
        self.admit()
        ticket = Ticket(current_owner(), max(1, int(cost)), work, batched)
        self._arrivals += 1
        ticket.extra.update(future=asyncio.get_running_loop().create_future(),
                            token=CancelToken(), arrival=self._arrivals)
        lane.push(ticket)
        return await self.wait(ticket.extra["future"],
                               on_abandon=lambda: self._abandon(lane, ticket))

    def _abandon(self, lane: _Lane, ticket: Ticket) -> None:
        ticket.extra["token"].cancel()
        if lane.queue.remove(ticket):  # it never started: its place is free at once
            self.release()

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

    # ----------------------------------------------------------------------- serving

    def start(self) -> None:
        """Start handing out turns in every lane (on the running event loop)."""
        loop = asyncio.get_running_loop()
        for lane in self.lanes.values():
            lane.task = loop.create_task(self._serve(lane))

    async def _serve(self, lane: _Lane) -> None:
        while True:
            first = await lane.next()
            paused = first.extra.get("resume")
            if paused is not None:
                await paused.resume()
                continue
            tickets = [first]
            if first.batched:
                tickets += await self._companions(lane, first)
            await self._start(lane, tickets)

    async def _companions(self, lane: _Lane, first: Ticket) -> list[Ticket]:
        settings = self.batching
        room = settings.max_size - 1
        if room <= 0:
            return []
        if settings.window_s > 0 and len(lane.queue) < room:
            await asyncio.sleep(settings.window_s)  # let the requests arriving now join
        return lane.queue.take_companions(first, limit=room,
                                          budget=max(0, settings.max_chars - first.cost))

    async def _start(self, lane: _Lane, tickets: list[Ticket]) -> None:
        """Start the run of ``tickets`` with the lane's turn; returns once it pauses or
        ends (its outcomes reach the callers when it ends)."""
        live = [t for t in tickets if not t.extra["token"].cancelled]
        for _ in range(len(tickets) - len(live)):
            self.release()  # its caller left during the batch window
        if not live:
            return
        self._remember(lane, live)
        tokens = [t.extra["token"] for t in live]
        joint = all_of(tokens)
        if live[0].batched:
            self.metrics.batch_size.observe(len(live))
            call = functools.partial(self._batch_outcomes, [t.work for t in live], tokens,
                                     joint)
        else:
            call = functools.partial(_single_outcome, live[0].work, tokens[0])
        running = Running({t.owner for t in live}, sum(t.cost for t in live),
                          lambda: lane.queue.waiting, lambda: lane.pace,
                          functools.partial(self._paused, lane, owner=live[0].owner,
                                            joint=joint))
        joint.on_cancel(lambda: self._wake(lane, running))
        outcome = await running.start(lane.executor, call)
        outcome.add_done_callback(functools.partial(self._deliver, lane, live, running))

    def _paused(self, lane: _Lane, running: Running, worked: float, *, owner: Owner,
                joint: CancelToken) -> None:
        """Queue the next turn of a run that handed its turn back, charged the characters
        it worked through at the lane's pace."""
        if joint.cancelled:
            running.wake()
            return
        self.hand_backs += 1
        ticket = Ticket(owner, max(1, int(worked * lane.pace)), None, preempts=False)
        ticket.extra["resume"] = running
        lane.resumes[running] = ticket
        lane.push(ticket)

    def _wake(self, lane: _Lane, running: Running) -> None:
        """Every caller of a run left: drop its next turn and let it stop now."""
        ticket = lane.resumes.pop(running, None)
        if ticket is not None:
            lane.queue.remove(ticket)
        running.wake()

    def _deliver(self, lane: _Lane, live: list[Ticket], running: Running,
                 outcome: asyncio.Future) -> None:
        if not any(t.extra["token"].cancelled for t in live):  # a stopped run says nothing
            lane.learn_pace(running.cost, running.worked)
        seconds = running.worked / len(live)
        for ticket, (ok, value) in zip(live, outcome.result()):
            self.release(seconds)
            future = ticket.extra["future"]
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _remember(self, lane: _Lane, tickets: list[Ticket]) -> None:
        self._batches += 1
        self.history.extend(Run(lane.name, t.owner.number, self._batches, t.cost,
                                t.extra["arrival"], self._arrivals) for t in tickets)

    def _batch_outcomes(self, payloads: list[Any], tokens: list[CancelToken],
                        joint: CancelToken) -> list[tuple[bool, Any]]:
        """(ok, result or exception) per payload; runs on a worker thread. The shared work
        stops once every caller of the batch has gone (``joint``); each payload's own work
        once its caller has."""
        with cancellable(joint):
            try:
                results = self.batching.function(payloads, tokens)
            except (Exception, Cancelled) as error:  # noqa: BLE001 - to every caller
                return [(False, error)] * len(payloads)
        return [(not isinstance(r, BaseException), r) for r in results]

    async def shutdown(self) -> None:
        """Let the jobs already admitted finish, then stop the threads."""
        while self.pending:
            await asyncio.sleep(0.01)
        for lane in self.lanes.values():
            if lane.task is not None:
                lane.task.cancel()
                await asyncio.gather(lane.task, return_exceptions=True)
                lane.task = None
            await asyncio.to_thread(lane.executor.shutdown, wait=True)


def _single_outcome(function: Callable[[], T], token: CancelToken) -> list[tuple[bool, Any]]:
    """[(ok, result or exception)] of ``function`` run under ``token``."""
    with cancellable(token):
        try:
            check_cancelled()  # abandoned in the instant before it started: skip it
            return [(True, function())]
        except (Exception, Cancelled) as error:  # noqa: BLE001 - to its caller
            return [(False, error)]
