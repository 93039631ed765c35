"""BM25 ranking (Okapi BM25 from the ``rank-bm25`` library)."""

from __future__ import annotations

import re
from typing import Sequence

from .base import ScoreRanker, blank_last

_WORD = re.compile(r"\w+")


def bm25_terms(text: str) -> list[str]:
    """Lower-cased word tokens; punctuation never sticks to a term ("Paris," == "paris")."""
    return _WORD.findall(text.lower())


class BM25Ranker(ScoreRanker):
    """Ranks documents by Okapi BM25 of the question's terms.

    ``k1`` and ``b`` are the usual BM25 parameters. The corpus is the documents being ranked,
    so term rarity is judged within them.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        try:
            from rank_bm25 import BM25Okapi
        except ImportError as error:
            raise ImportError("rank_method='bm25' needs rank-bm25, a dependency of "
                              "llmlingstral: pip install rank-bm25") from error
        self._bm25 = BM25Okapi
        self.k1 = k1
        self.b = b

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """BM25 score of each document (0 for documents sharing no term with the question)."""
        corpus = [bm25_terms(d) for d in documents]
        query = bm25_terms(question)
        if not documents:
            return []
        if not query or not any(corpus):
            return blank_last(documents, [0.0] * len(documents))
        model = self._bm25(corpus, k1=self.k1, b=self.b)
        return blank_last(documents, model.get_scores(query).tolist())
