"""The ranker protocol: order documents by relevance to a question."""

from __future__ import annotations

from typing import Protocol, Sequence

RankResults = list[tuple[int, float]]


class Ranker(Protocol):
    """Anything that ranks documents for a question, best first, as (index, score) pairs."""

    def rank(self, documents: Sequence[str], question: str) -> RankResults: ...


def sort_by_score(scores: Sequence[float]) -> RankResults:
    """(index, score) pairs, highest score first; ties keep the original order."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [(i, float(scores[i])) for i in order]
