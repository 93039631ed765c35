"""How much of a compression budget protected facts may take, and which facts fit.

Protected facts (see :mod:`llmlingstral.text.protect`) are charged to the budget before any
other word. Facts can be dense (a third or more of a technical text), and a prompt made only
of numbers answers nothing: facts may take at most :data:`FACT_SHARE` of the budget, which
leaves room for the words that say what they are. When they would take more, the ones a
reader most needs are kept (the caller orders them: nearest the question, in the
highest-ranked contexts, first mentions), the others compete with ordinary words, the rate
is still met, and :class:`FactsOverBudgetWarning` is issued once per call.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .errors import caller_stacklevel

FACT_SHARE = 0.8
"""The largest share of a budget that protected facts are guaranteed."""

FAIR_SHARE_TOLERANCE = 0.1
"""How far (a share of its tokens) a context compressed beside others in one call may keep
more than the rate: room for the fact a question needs when its context cannot afford it."""


class FactsOverBudgetWarning(UserWarning):
    """Protected facts needed more than :data:`FACT_SHARE` of the budget; some were left to
    compete with ordinary words."""


def affordable(costs: Sequence[float], order: Sequence[float], budget: float,
               share: float = FACT_SHARE) -> np.ndarray:
    """Which facts (of token ``costs``) to pin within ``share`` of ``budget``: all of them
    when they fit, else the most needed ones first (see :func:`by_need`), skipping any
    that would overflow and trying the next."""
    costs = np.asarray(costs, dtype=float)
    keep = np.zeros(len(costs), dtype=bool)
    allowance = max(float(budget), 0.0) * share
    if costs.sum() <= allowance:
        keep[:] = True
        return keep
    spent = 0.0
    for index in by_need(costs, order):
        if spent + costs[index] <= allowance:
            keep[index] = True
            spent += costs[index]
    return keep


def question_facts(costs: Sequence[float], order: Sequence[float], near: Sequence[int],
                   contexts: Sequence[int], rooms: Sequence[float], sizes: Sequence[float],
                   room: float, fees: Sequence[float] | None = None) -> np.ndarray:
    """Which facts near the question (``near`` > 0) to pin before any other fact.

    The most needed of the call come first (:func:`by_need` over ``order``), within
    :data:`FACT_SHARE` of the call's ``room``; each may take its context (``contexts``)
    over that context's own ``rooms`` by :data:`FAIR_SHARE_TOLERANCE` of its ``sizes``:
    the fact that answers the question is worth its context keeping a little more than the
    rate, and the call's other contexts pay for it. ``fees`` (per context) are paid once,
    by the first fact pinned in a context."""
    costs = np.asarray(costs, dtype=float)
    contexts = np.asarray(contexts, dtype=np.int64)
    fees = np.zeros(len(rooms)) if fees is None else np.asarray(fees, dtype=float)
    caps = np.maximum(np.asarray(rooms, dtype=float), 0.0) + \
        FAIR_SHARE_TOLERANCE * np.asarray(sizes, dtype=float)
    paid = np.zeros(len(caps), dtype=bool)
    keep = np.zeros(len(costs), dtype=bool)
    left = FACT_SHARE * max(float(room), 0.0)
    for index in by_need(costs, order):
        context = contexts[index]
        cost = costs[index] + (0.0 if paid[context] else fees[context])
        if near[index] > 0 and cost <= min(left, caps[context]):
            keep[index], paid[context] = True, True
            left -= cost
            caps[context] -= cost
    return keep


def by_need(costs: Sequence[float], order: Sequence[float]) -> np.ndarray:
    """Fact indices in the order they are afforded: the most needed first (smallest
    ``order``), the cheapest first among facts needed alike (so that a budget too small
    for all of them keeps as many as it can), then in text order."""
    costs = np.asarray(costs, dtype=float)
    return np.lexsort((np.arange(len(costs)), costs, np.asarray(order, dtype=float)))


def first_mentions(texts: Sequence[str]) -> np.ndarray:
    """For facts in text order, whether each is the first with its text (a repeated fact
    is needed less than its first mention)."""
    seen: set[str] = set()
    first = np.zeros(len(texts), dtype=bool)
    for index, text in enumerate(texts):
        key = " ".join(text.split())
        first[index] = key not in seen
        seen.add(key)
    return first


def warn_if_dropped(pinned: np.ndarray, costs: Sequence[float], budget: float) -> None:
    """Issue :class:`FactsOverBudgetWarning` when some facts could not be pinned."""
    if len(pinned) and not pinned.all():
        total = float(np.sum(costs))
        warnings.warn(
            f"protected facts need {total:.0f} tokens, more than {FACT_SHARE:.0%} of the "
            f"budget of {budget:.0f}; {int((~pinned).sum())} of {len(pinned)} were not "
            "guaranteed (the ones nearest the question and in the best contexts were). "
            "Raise rate or target_token to keep them all, or narrow protect=Protection(...)",
            FactsOverBudgetWarning, stacklevel=caller_stacklevel())
