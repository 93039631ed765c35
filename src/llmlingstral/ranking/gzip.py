"""Ranking by normalised compression distance (the "gzip" ranker).

NCD(x, y) = (C(xy) - min(C(x), C(y))) / max(C(x), C(y)), with C the DEFLATE-compressed size
(the codec of gzip, without gzip's header). A document that shares long strings with the
question compresses well together with it and gets a small distance. Needs no model.
"""

from __future__ import annotations

import zlib
from typing import Sequence

from .base import ScoreRanker, blank_last


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

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Negated distance: higher is more related."""
        size_q = compressed_size(question)
        return blank_last(documents, [-ncd(question, d, size_q) for d in documents])
