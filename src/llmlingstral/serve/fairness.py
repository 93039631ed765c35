"""Whose job runs next on the shared CPU: each request in turn, charged by its text.

Every job belongs to the request it was submitted for, its :class:`Owner`. The service
starts one owner per HTTP request (:func:`begin_request`, a context variable, so that the
many texts of one chat share it); a job submitted outside a request is its own owner.

Jobs wait in a :class:`FairQueue` ordered by self-clocked fair queuing: a job's tag is
where its owner's previous job ended (or the queue's clock, if later) plus the job's cost,
the characters of text it reads; the smallest tag runs next and sets the clock. So

* a small request waits behind at most about one job of a heavy one, however many texts
  the heavy one holds: the heavy owner's later jobs carry ever larger tags;
* a job far larger than the others waits until the others have had as much work done,
  instead of holding the thread whenever it arrives (and a caller who gives up meanwhile
  costs nothing);
* with one owner alone, its jobs run in order, at once.

A batch (:meth:`FairQueue.take_companions`) takes one job per owner while several owners
wait, so that rows of one request do not slow down the others' rows sharing the batch.
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

_numbers = itertools.count(1)


class Owner:
    """The request a job works for (identity only; numbered for the scheduler's records)."""

    __slots__ = ("number",)

    def __init__(self) -> None:
        self.number = next(_numbers)

    def __repr__(self) -> str:
        return f"Owner({self.number})"


_current: ContextVar[Owner | None] = ContextVar("llmlingstral_request_owner", default=None)


def begin_request() -> Owner:
    """Make the running task (and the tasks it starts) work for a new owner."""
    owner = Owner()
    _current.set(owner)
    return owner


def current_owner() -> Owner:
    """The owner of the running request; a fresh one outside any request."""
    return _current.get() or Owner()


@dataclass(eq=False)
class Ticket:
    """One job waiting for a worker: ``work`` is a function, or a payload of a batch."""

    owner: Owner
    cost: int
    work: Any
    batched: bool = False
    # Whether it may make a run with far more work left hand its turn back (see
    # :mod:`.turns`); the next turn of a paused run may not: it waits its turn.
    preempts: bool = True
    tag: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # what the scheduler attaches


class FairQueue:
    """Jobs waiting for one worker, in fair order (see the module's description). Holds at
    most the service's queue of jobs, so plain scans are fast enough."""

    def __init__(self) -> None:
        self._tickets: list[Ticket] = []
        self._ends: dict[Owner, float] = {}  # tag of each owner's latest job
        self.clock = 0.0
        # Each waiting owner's smallest job that may take a running job's turn (its cost),
        # replaced whole on every change so that a worker thread can read it while the
        # event loop changes the queue.
        self.waiting: Mapping[Owner, int] = MappingProxyType({})

    def __len__(self) -> int:
        return len(self._tickets)

    def push(self, ticket: Ticket) -> None:
        start = max(self.clock, self._ends.get(ticket.owner, 0.0))
        ticket.tag = start + max(1, ticket.cost)
        self._ends[ticket.owner] = ticket.tag
        self._tickets.append(ticket)
        self._changed()

    def remove(self, ticket: Ticket) -> bool:
        """Take ``ticket`` out if it still waits; True if it did."""
        try:
            self._tickets.remove(ticket)
        except ValueError:
            return False
        self._changed()
        return True

    def pop(self) -> Ticket | None:
        """The job to run next (None if none waits)."""
        if not self._tickets:
            return None
        ticket = min(self._tickets, key=_order)
        self._tickets.remove(ticket)
        self._advance(ticket.tag)
        self._changed()
        return ticket

    def take_companions(self, first: Ticket, *, limit: int, budget: int) -> list[Ticket]:
        """Batched jobs to run with ``first``: in fair order, at most ``limit`` of them and
        ``budget`` characters in all, one per owner unless ``first``'s owner waits alone."""
        candidates = sorted((t for t in self._tickets if t.batched), key=_order)
        alone = all(t.owner is first.owner for t in candidates)
        taken: list[Ticket] = []
        owners = {first.owner}
        for ticket in candidates:
            if len(taken) >= limit:
                break
            if ticket.cost > budget or (ticket.owner in owners and not alone):
                continue
            taken.append(ticket)
            owners.add(ticket.owner)
            budget -= ticket.cost
        for ticket in taken:
            self._tickets.remove(ticket)
        if taken:
            self._advance(max(t.tag for t in taken))
            self._changed()
        return taken

    def _changed(self) -> None:
        smallest: dict[Owner, int] = {}
        for ticket in self._tickets:
            if ticket.preempts:
                smallest[ticket.owner] = min(ticket.cost, smallest.get(ticket.owner, ticket.cost))
        self.waiting = MappingProxyType(smallest)

    def _advance(self, tag: float) -> None:
        self.clock = max(self.clock, tag)
        # An owner whose latest job ended before the clock starts from the clock anyway.
        for owner in [o for o, end in self._ends.items() if end <= self.clock]:
            del self._ends[owner]


def _order(ticket: Ticket) -> tuple[float, int]:
    return ticket.tag, ticket.owner.number
