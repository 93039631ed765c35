"""The ranker protocol: order documents by relevance to a question."""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

from ..validate import check_str, check_text

RankResults = list[tuple[int, float]]


class Ranker(Protocol):
    """Anything that ranks documents for a question, best first, as (index, score) pairs."""

    def rank(self, documents: Sequence[str], question: str) -> RankResults: ...


def sort_by_score(scores: Sequence[float]) -> RankResults:
    """(index, score) pairs, highest score first; ties keep the original order."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [(i, float(scores[i])) for i in order]


def sort_by_distance(distances: Sequence[float]) -> RankResults:
    """(index, distance) pairs, smallest distance first; ties keep the original order."""
    order = sorted(range(len(distances)), key=lambda i: (distances[i], i))
    return [(i, float(distances[i])) for i in order]


def relevance_scores(ranking: RankResults, ascending: bool | None = None) -> dict[int, float]:
    """``{index: score}`` oriented so that higher is more relevant.

    ``get_rank_results`` pairs carry each method's own quantity, best first: similarities
    descend, but distances and question-conditioned perplexities ascend; those are negated.
    Pass ``ascending`` where the method is known (:attr:`.resolve.RankChoice.ascending`); left out,
    it is read off the ranking, which cannot tell for one document or equal scores.
    """
    scores = [s for _, s in ranking]
    if ascending is None:
        ascending = len(scores) > 1 and scores[0] < scores[-1]
    return {int(i): -float(s) if ascending else float(s) for i, s in ranking}


def check_inputs(documents: Sequence[str], question: str) -> tuple[list[str], str]:
    """Documents and question as plain strings; a clear TypeError otherwise."""
    if isinstance(documents, str) or not isinstance(documents, Sequence):
        raise TypeError(f"documents must be a list of str, got {type(documents).__name__}")
    for i, document in enumerate(documents):
        check_str(f"documents[{i}]", document)
    return list(documents), check_text("question", question)


def blank_last(documents: Sequence[str], scores: Sequence[float]) -> list[float]:
    """Scores with empty or whitespace-only documents moved below every real document."""
    return [float(s) if d.strip() else float("-inf") for d, s in zip(documents, scores)]


class ScoreRanker:
    """Base for rankers defined by one score per document: :meth:`rank` sorts :meth:`scores`."""

    def rank(self, documents: Sequence[str], question: str) -> RankResults:
        documents, question = check_inputs(documents, question)
        return sort_by_score(self.scores(documents, question))

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Higher is more relevant to ``question``."""
        raise NotImplementedError


def score_non_blank(documents: Sequence[str],
                    score: Callable[[list[int]], Sequence[float]]) -> list[float]:
    """``score(indices)`` for the documents with text; blank documents get -inf unscored."""
    real = [i for i, d in enumerate(documents) if d.strip()]
    values = np.full(len(documents), -np.inf)
    if real:
        values[real] = score(real)
    return values.tolist()
