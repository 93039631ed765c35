"""Which protected facts a LLMLingua pass keeps whatever their scores.

Facts (numbers, dates, amounts, identifiers...; :mod:`..text.protect`) are charged to the
budget first: all of them when they fit in :data:`..fact_budget.FACT_SHARE` of it, else the
ones a reader most needs (:func:`need_order`), and the rest compete with ordinary words.
The facts near the question come before any other, across the call (:func:`question_pins`).
What the user named (force tokens, patterns, ``force_reserve_digit``) is kept in any case,
as in llmlingua, and is not decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..fact_budget import FACT_SHARE, affordable, by_need, first_mentions, question_facts
from ..text.nearness import nearness, question_terms


@dataclass(frozen=True)
class Needs:
    """What tells which facts a reader needs most: the question, and each context's rank
    (0 = the best; None: the contexts are equal)."""

    question: str = ""
    context_rank: Sequence[int] | None = None


def pinned_facts(costs: Sequence[float], budget: float, text: str,
                 pieces: Sequence[tuple[int, int]], contexts: Sequence[int],
                 needs: Needs = Needs(), fees: Sequence[float] | None = None) -> np.ndarray:
    """Which facts (``pieces`` of ``text``, in order, costing ``costs`` tokens, in
    ``contexts``) to keep whatever their scores: all if they fit in the facts' share of
    ``budget``, else the most needed that do.

    ``fees`` (per context) are paid once by the first fact pinned in a context: what
    showing the context costs besides its words (the blank line before it)."""
    costs = np.asarray(costs, dtype=np.float64)
    contexts = np.asarray(contexts, dtype=np.int64)
    fees = np.zeros(int(contexts.max(initial=-1)) + 1) if fees is None \
        else np.asarray(fees, dtype=np.float64)
    shown = np.unique(contexts)
    if costs.sum() + fees[shown].sum() <= max(float(budget), 0.0) * FACT_SHARE:
        return np.ones(len(costs), dtype=bool)
    order = need_order(text, pieces, contexts, needs)
    if not fees.any():
        return affordable(costs, order, budget)
    return _affordable_with_fees(costs, order, budget, contexts, fees)


def question_pins(costs: Sequence[float], text: str, pieces: Sequence[tuple[int, int]],
                  contexts: Sequence[int], needs: Needs, rooms: Sequence[float],
                  sizes: Sequence[float], fees: Sequence[float]) -> np.ndarray:
    """Which facts (``pieces`` of ``text`` in ``contexts``, costing ``costs``) near the
    question to pin before any other, across the call: the rule of
    :func:`..fact_budget.question_facts`, each context having ``rooms`` tokens for its free
    words and ``sizes`` tokens in all, and paying its ``fees`` with its first fact."""
    if not needs.question or len(pieces) == 0:
        return np.zeros(len(pieces), dtype=bool)
    order = need_order(text, pieces, contexts, needs)
    near = nearness(text, pieces, question_terms(needs.question))
    room = float(np.maximum(np.asarray(rooms, dtype=np.float64), 0.0).sum())
    return question_facts(costs, order, near, contexts, rooms, sizes, room, fees)


def _affordable_with_fees(costs: np.ndarray, order: np.ndarray, budget: float,
                          contexts: np.ndarray, fees: np.ndarray) -> np.ndarray:
    """:func:`..fact_budget.affordable`, a context's fee charged with its first fact."""
    keep = np.zeros(len(costs), dtype=bool)
    allowance, spent = max(float(budget), 0.0) * FACT_SHARE, 0.0
    paid = np.zeros(len(fees), dtype=bool)
    for index in by_need(costs, order):
        context = contexts[index]
        cost = costs[index] + (0.0 if paid[context] else fees[context])
        if spent + cost <= allowance:
            keep[index], paid[context] = True, True
            spent += cost
    return keep


def need_order(text: str, pieces: Sequence[tuple[int, int]], contexts: Sequence[int],
               needs: Needs = Needs()) -> np.ndarray:
    """Each fact's place in the order of need (0 = the most needed): facts of better-ranked
    contexts first, then those with more of the question's words in their sentence, then
    first mentions before repeats. Facts needed alike share a place (the budget then takes
    the cheapest first, see :func:`..fact_budget.by_need`)."""
    contexts = np.asarray(contexts, dtype=np.int64)
    if len(pieces) == 0:
        return np.zeros(0, dtype=np.int64)
    rank = contexts if needs.context_rank is None \
        else np.asarray(needs.context_rank, dtype=np.int64)[contexts]
    near = nearness(text, pieces, question_terms(needs.question)) if needs.question \
        else np.zeros(len(pieces), dtype=np.int64)
    repeated = ~first_mentions([text[a:b] for a, b in pieces])
    keys = np.stack([rank, -np.asarray(near, dtype=np.int64), repeated.astype(np.int64)], axis=1)
    _, order = np.unique(keys, axis=0, return_inverse=True)
    return order.reshape(-1).astype(np.int64)
