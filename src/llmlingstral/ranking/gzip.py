"""Ranking by normalised compression distance (the "gzip" ranker).

NCD(q, d) = (C(q d) - min(C(q), C(d))) / max(C(q), C(d)), with C the DEFLATE-compressed size
(gzip's codec, without its fixed-size header) and ``q d`` the question, a space and the
document. A document that shares long strings with the question compresses well together
with it and gets a small distance. Needs no model. llmlingua computes the same distance with
gzip's header and the document first; on NQ-open dev (100 questions, 20 documents) that
variant found the gold document first 13 times where this one does 20 (BENCHMARKS.md).
"""

from __future__ import annotations

import zlib
from typing import Sequence

from .base import RankResults, ScoreRanker, blank_last, check_inputs, sort_by_distance


def compressed_size(text: str) -> int:
    return len(zlib.compress(text.encode("utf-8"), 9))


def ncd(x: str, y: str, size_x: int | None = None) -> float:
    """Normalised compression distance between two texts (about 0 = same, 1 = unrelated)."""
    cx = compressed_size(x) if size_x is None else size_x
    cy = compressed_size(y)
    # DEFLATE output is never empty, so the denominator is positive.
    return (compressed_size(x + " " + y) - min(cx, cy)) / max(cx, cy)


class GzipRanker(ScoreRanker):
    """Ranks documents by how little they add when compressed after the question."""

    def rank(self, documents: Sequence[str], question: str) -> RankResults:
        """``[(index, distance)]``, nearest first: the pairs carry the normalised compression
        distance itself, as llmlingua's gzip ranking sorts by it (blank documents last, at
        +inf)."""
        documents, question = check_inputs(documents, question)
        return sort_by_distance([-s for s in self.scores(documents, question)])

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Negated distance: higher is more related."""
        size_q = compressed_size(question)
        return blank_last(documents, [-ncd(question, d, size_q) for d in documents])
