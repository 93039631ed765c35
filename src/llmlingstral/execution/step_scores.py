"""One lockstep step: the next chunk of several streams scored together, whatever their scorers.

A batch driver (:mod:`.lockstep`) asks for the next scores of many prompts' streams at
once. Each stream says how it is batched (:mod:`llmlingstral.scoring.protocol`): the parts
its score sums and, for each part, the scorer that scores its streams together. Parts of one
scorer go to it in one call (``StreamScorer.score_streams``: one forward pass over every
stream's own KV cache locally, see :mod:`llmlingstral.scoring.local_batch`; one request to
a server); a stream with a part no scorer batches is scored on its own.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..scoring.protocol import TokenStream


def score_together(requests: Sequence[tuple[TokenStream, Sequence[int]]]) -> list[np.ndarray]:
    """``stream.score(ids)`` for each ``(stream, ids)``, sharing forward passes."""
    parts: list[tuple[TokenStream, list[int]]] = []
    plan: list[tuple[int, list[float]] | None] = []  # None: scored on its own
    for stream, ids in requests:
        members = stream.batch_parts()
        if all(member.batch_scorer is not None for member, _ in members):
            plan.append((len(parts), [weight for _, weight in members]))
            parts.extend((member, list(ids)) for member, _ in members)
        else:
            plan.append(None)
    scores = _score_parts(parts)
    results = []
    for (stream, ids), entry in zip(requests, plan):
        if entry is None:
            results.append(stream.score(list(ids)))
        else:
            first, weights = entry
            results.append(_weighted(scores[first:first + len(weights)], weights))
    return results


def _weighted(scores: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """The parts' scores summed with their weights (one part of weight 1: itself)."""
    total = scores[0] if weights[0] == 1 else scores[0] * weights[0]
    for values, weight in zip(scores[1:], weights[1:]):
        total = total - values if weight == -1 else total + values * weight
    return total


def _score_parts(parts: list[tuple[TokenStream, list[int]]]) -> list[np.ndarray]:
    """Scores of each part; parts of the same scorer share one call to it."""
    scores: list[Any] = [None] * len(parts)
    groups: dict[int, list[int]] = {}
    for index, (stream, _) in enumerate(parts):
        groups.setdefault(id(stream.batch_scorer), []).append(index)
    for indices in groups.values():
        group = [parts[i] for i in indices]
        scorer = group[0][0].batch_scorer
        for index, values in zip(indices, scorer.score_streams(group)):
            scores[index] = values
    return scores
