"""Ranking by normalised compression distance (the "gzip" ranker).

NCD(d, q) = (C(d q) - min(C(d), C(q))) / max(C(d), C(q)), with C the size of the gzip
output and ``d q`` the document, a space and the question: the distance llmlingua's gzip
ranking computes, so both order documents alike. A document that shares long strings with
the question compresses well together with it and gets a small distance. Needs no model.
"""

from __future__ import annotations

import gzip
from typing import Sequence

from .base import RankResults, ScoreRanker, blank_last, check_inputs, sort_by_distance


def compressed_size(text: str) -> int:
    return len(gzip.compress(text.encode("utf-8")))


def ncd(document: str, question: str, size_question: int | None = None) -> float:
    """Normalised compression distance between two texts (about 0 = same, 1 = unrelated)."""
    cd = compressed_size(document)
    cq = compressed_size(question) if size_question is None else size_question
    # gzip output is never empty, so the denominator is positive.
    return (compressed_size(document + " " + question) - min(cd, cq)) / max(cd, cq)


class GzipRanker(ScoreRanker):
    """Ranks documents by how little the question adds when compressed after them."""

    def rank(self, documents: Sequence[str], question: str) -> RankResults:
        """``[(index, distance)]``, nearest first: the pairs carry the normalised compression
        distance itself, the quantity llmlingua's gzip ranking sorts by (blank documents
        last, at +inf)."""
        documents, question = check_inputs(documents, question)
        return sort_by_distance([-s for s in self.scores(documents, question)])

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Negated distance: higher is more related."""
        size_q = compressed_size(question)
        return blank_last(documents, [-ncd(d, question, size_q) for d in documents])
