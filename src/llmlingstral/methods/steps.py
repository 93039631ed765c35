"""Compression that advances one scoring step at a time.

LLMLingua's token-level pass scores a window, decides, and moves on. Written as a generator
that yields ``(stream, ids)`` and is sent the scores back, the same code runs alone
(:func:`run_steps` scores each request directly) or in lockstep with other prompts, whose
requests a batch driver scores in one forward pass (:mod:`llmlingstral.execution.lockstep`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generator, Iterator, TypeVar

import numpy as np

T = TypeVar("T")
# A stream (see ``scoring.protocol.TokenStream``) and the token ids it should score next.
ScoreRequest = tuple[Any, list[int]]
Steps = Generator[ScoreRequest, np.ndarray, T]


def run_steps(steps: Steps[T]) -> T:
    """Drive ``steps`` to the end, scoring each request on its own stream."""
    try:
        stream, ids = next(steps)
        while True:
            stream, ids = steps.send(stream.score(ids))
    except StopIteration as finished:
        return finished.value


class Deferred(Exception):
    """Carries unstarted steps out of a call made under :func:`deferring`."""

    def __init__(self, steps: Steps[Any]) -> None:
        super().__init__("compression deferred to a batch driver")
        self.steps = steps


_DEFERRING: ContextVar[bool] = ContextVar("llmlingstral_deferring", default=False)


@contextmanager
def deferring() -> Iterator[None]:
    """Within this block, :func:`run_or_defer` raises :class:`Deferred` instead of running.

    A batch driver calls the ordinary entry point (which checks arguments and prepares the
    steps) and receives the steps to advance together with other prompts.
    """
    token = _DEFERRING.set(True)
    try:
        yield
    finally:
        _DEFERRING.reset(token)


def run_or_defer(steps: Steps[T]) -> T:
    """:func:`run_steps`, or hand ``steps`` to the batch driver under :func:`deferring`."""
    if _DEFERRING.get():
        _DEFERRING.set(False)  # only the outermost compression is deferred
        raise Deferred(steps)
    return run_steps(steps)
