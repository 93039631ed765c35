"""Compressed messages, remembered: a content-addressed cache bounded by memory.

A conversation sends its earlier messages again on every turn. The proxy compresses each
long message once and keeps the result under a key that covers everything the result
depends on (the text, the method, every setting of the call, the question and the model):
:func:`cache_key`. A later turn that carries the same message gets the same bytes back,
so the upstream sees a stable prefix (its prefix cache stays warm) and the compression
work of a conversation grows with its length, not with its square. The proxy keeps the
token counts of long compressed texts here too, under keys of their own (a text that is
not compressed is neither counted nor kept).

The cache holds at most ``max_bytes`` (its entries measured with :func:`sys.getsizeof`,
plus a fixed overhead per entry for the bookkeeping) and evicts the least recently used
entries. Requests that need the same new message at the same time share one computation
("single flight"): the first starts it, the others wait for it. The computation is
cancelled once every request waiting for it has gone (clients that disconnected); a
caller that only stops waiting (a timeout) can leave it to finish and fill the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Mapping

from .metrics import Metrics

# Bytes of bookkeeping per entry beyond the key and value strings: the ordered dict's
# slot and link node (measured near 100 bytes on CPython 3.11), rounded up.
ENTRY_OVERHEAD = 160


def cache_key(parts: Mapping[str, Any]) -> str:
    """A digest of ``parts`` (the call and what it runs on) as canonical JSON: equal
    settings give equal keys whatever their order, and any new setting is covered."""
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=repr)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def entry_size(key: str, value: str) -> int:
    """Bytes an entry holds in memory."""
    return sys.getsizeof(key) + sys.getsizeof(value) + ENTRY_OVERHEAD


@dataclass
class _Flight:
    """One computation in progress and how many callers wait for it."""

    task: asyncio.Task
    waiters: int = 0
    detached: bool = False  # a caller left it to finish: never cancelled for lack of waiters


@dataclass
class Lookup:
    """What :meth:`MessageCache.get_or_compute` returns: the text and where it came from
    (``"hit"``: the cache; ``"shared"``: another request's computation; ``"computed"``)."""

    text: str
    source: str


@dataclass
class MessageCache:
    """Least-recently-used compressed texts, at most ``max_bytes`` in all (0: none kept,
    though concurrent requests still share computations)."""

    max_bytes: int
    metrics: Metrics | None = None
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    shared: int = 0
    _entries: OrderedDict = field(default_factory=OrderedDict)
    _flights: dict = field(default_factory=dict)  # used on the event loop only
    # get and put also run on the thread that reads requests (token counts)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> str | None:
        """The cached text for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``, evicting the least recently used entries to stay
        within the bound; a value larger than the whole bound is not kept."""
        size = entry_size(key, value)
        with self._lock:
            if key in self._entries:
                self.bytes -= entry_size(key, self._entries.pop(key))
            if size <= self.max_bytes:
                while self.bytes + size > self.max_bytes:
                    old_key, old_value = self._entries.popitem(last=False)
                    self.bytes -= entry_size(old_key, old_value)
                self._entries[key] = value
                self.bytes += size
            self._report()

    async def get_or_compute(self, key: str, compute: Callable[[], Awaitable[str]]) -> Lookup:
        """The text for ``key``: cached, shared with a request computing it now, or computed
        by ``compute()`` and kept. A failed computation fails every caller waiting for it
        and is not kept; the next request tries again."""
        value = self.get(key)
        if value is not None:
            self._count("hits")
            return Lookup(value, "hit")
        flight = self._flights.get(key)
        source = "shared"
        if flight is None:
            flight = _Flight(asyncio.ensure_future(compute()))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda task: self._land(key, flight, task))
            source = "computed"
        self._count("misses" if source == "computed" else "shared")
        return Lookup(await self._wait(key, flight), source)

    def detach(self, keys: Iterable[str]) -> None:
        """Let the computations of ``keys`` in progress finish even once their callers
        leave (a caller that stops waiting on a timeout: the result serves the next turn)."""
        for key in keys:
            flight = self._flights.get(key)
            if flight is not None:
                flight.detached = True

    async def _wait(self, key: str, flight: _Flight) -> str:
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if not flight.waiters and not flight.task.done() and not flight.detached:
                # Nobody wants it any more: stop the work, and let a later request start
                # afresh rather than join a computation being cancelled.
                self._flights.pop(key, None)
                flight.task.cancel()

    def _land(self, key: str, flight: _Flight, task: asyncio.Task) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if task.cancelled():
            return
        error = task.exception()  # retrieved, so an unwatched failure is not logged
        if error is None:
            self.put(key, task.result())

    def _count(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + 1)
        if self.metrics is not None:
            getattr(self.metrics, f"cache_{name}").inc()

    def _report(self) -> None:
        if self.metrics is not None:
            self.metrics.cache_bytes.set(self.bytes)
            self.metrics.cache_entries.set(len(self._entries))
