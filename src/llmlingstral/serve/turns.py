"""One run at a time per lane; a long run hands its turn back only when that is worth it.

A run (one job, or one batch of jobs) works on a thread of its own, but only while it has
its lane's turn: the scheduler gives the turn to one run at a time, in the fair queue's
order (:mod:`.fairness`). A run keeps the turn to its end unless a job of another owner
waits that is far smaller than what the run still has to do for each of its owners
(:data:`HAND_BACK_RATIO`). Then, once it has worked at least :data:`SLICE_S`, it hands the
turn back at its next checkpoint (:func:`llmlingstral.cancel.check_cancelled`: before each
layer of a forward pass, between the pieces of a long text) and waits, its thread blocked,
until its next turn comes round in the queue. So a small request waits behind about one
slice of a huge job, however long that job is, while jobs of similar size (many small
requests, batched together) never interrupt each other: every hand-back costs a thread
switch and cold caches, and splits the batch that would have formed. A run cancelled while
it waits is woken to stop at once.

What a run has left is its cost (characters of text) less what it has worked through at
its lane's pace (characters per second, learned from that lane's runs). The state of a
paused run stays on its thread's stack: nothing is recomputed on resuming.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Collection, Mapping

from ..cancel import pausable

# The least a run works before it hands the turn back: a few forward passes of a
# classifier on a CPU.
SLICE_S = 0.05
# A waiting job takes the turn from a run only if the run has at least this many times
# the job's characters left to do for each of its owners.
HAND_BACK_RATIO = 4


class Running:
    """A run started on a worker thread, which works only while it has the turn."""

    def __init__(self, owners: Collection[Any], cost: int,
                 waiting: Callable[[], Mapping[Any, int]], pace: Callable[[], float],
                 on_pause: Callable[["Running", float], None]) -> None:
        self.owners = frozenset(owners)
        self.cost = cost             # characters of text the run reads, all jobs together
        self._waiting = waiting      # the waiting owners' smallest jobs (read on the thread)
        self._pace = pace            # characters per second of the lane
        self._on_pause = on_pause    # on the loop: queue the run's next turn, charged its slice
        self._go = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._handed_back: asyncio.Future | None = None
        self._since = 0.0
        self.ended = False
        self.worked = 0.0  # seconds it held the turn, summed over its slices

    async def start(self, executor: Any, function: Callable[[], Any]) -> asyncio.Future:
        """Start ``function`` on ``executor`` with the turn; returns (once it pauses or
        ends) the future of its outcome."""
        self._handed_back = self._loop.create_future()
        outcome = self._loop.run_in_executor(executor, self._work, function)
        outcome.add_done_callback(self._end)
        await self._handed_back
        return outcome

    async def resume(self) -> bool:
        """Give the paused run the turn again; True once it ends, False if it pauses."""
        if self.ended:
            return True
        self._handed_back = self._loop.create_future()
        self._go.set()
        return await self._handed_back

    def wake(self) -> None:
        """Let a run whose callers all left go on without the turn: it stops at its
        check right after waking (it is cancelled), so it only unwinds."""
        self._go.set()

    def left_per_owner(self, worked: float) -> float:
        """Characters the run still has to read for each of its owners, estimated after
        ``worked`` seconds."""
        return max(0.0, self.cost - worked * self._pace()) / max(1, len(self.owners))

    def worth_handing_back(self, worked: float) -> bool:
        """Whether a job of another owner waits that is far smaller than what the run has
        left for each of its owners after ``worked`` seconds."""
        left = self.left_per_owner(worked)
        return any(cost * HAND_BACK_RATIO <= left for owner, cost in self._waiting().items()
                   if owner not in self.owners)

    # ------------------------------------------------------------------ on the worker thread

    def _work(self, function: Callable[[], Any]) -> Any:
        self._since = time.perf_counter()
        try:
            with pausable(self._checkpoint):
                return function()
        finally:
            self.worked += time.perf_counter() - self._since

    def _checkpoint(self) -> None:
        worked = time.perf_counter() - self._since
        if worked < SLICE_S or not self.worth_handing_back(self.worked + worked):
            return
        self.worked += worked
        self._go.clear()
        self._loop.call_soon_threadsafe(self._pause, worked)
        self._go.wait()
        self._since = time.perf_counter()

    # ------------------------------------------------------------------ on the event loop

    def _pause(self, worked: float) -> None:
        self._on_pause(self, worked)
        self._hand_back(False)

    def _end(self, _: asyncio.Future) -> None:
        self.ended = True
        self._hand_back(True)

    def _hand_back(self, ended: bool) -> None:
        if self._handed_back is not None and not self._handed_back.done():
            self._handed_back.set_result(ended)
