"""Hybrid ranking: bm25 fused with the compressor's own question-aware LM scores.

bm25 finds documents that share the question's words; the causal LM's LongLLMLingua score,
-log p(question | document), rewards documents that make the question likely even in other
words. Each score list is standardised over the documents being ranked (z-scores, so that
neither scale dominates by accident) and the two are summed, the LM's with ``model_weight``.
A ranking with no spread (bm25 when no document shares a word with the question) adds
nothing, so the other decides alone. Blank documents rank last.

``benchmarks/eval_ranking.py`` compares this fusion with each ranker alone and with other
fusions (reciprocal-rank fusion, min-max sums). With the embedded ``nano`` on NQ-open dev
prompts the LM's weight of 0.1 keeps bm25's recall@1 and adds a little at recall@5, where
reciprocal-rank fusion and larger weights lose recall@1 (BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..scoring.causal import CausalScorer
from ..validate import check_finite
from .base import ScoreRanker, score_non_blank
from .bm25 import BM25Ranker
from .perplexity import PerplexityRanker

DEFAULT_MODEL_WEIGHT = 0.1  # chosen on the first half of the NQ dev questions (BENCHMARKS.md)


def zscores(values: Sequence[float]) -> np.ndarray:
    """``values`` standardised to mean 0 and standard deviation 1 (all 0 when they are equal)."""
    array = np.asarray(values, dtype=np.float64)
    spread = array.std()
    return (array - array.mean()) / spread if spread > 0 else np.zeros_like(array)


def fuse(lexical: Sequence[float], model: Sequence[float],
         model_weight: float = DEFAULT_MODEL_WEIGHT) -> np.ndarray:
    """z(bm25) + ``model_weight`` * z(LM score), for documents that all have text."""
    return zscores(lexical) + model_weight * zscores(model)


class HybridRanker(ScoreRanker):
    """Ranks by :func:`fuse` of bm25 and the LM's -log p(question | document) scores.

    Args:
        scorer: the compressor's causal LM scorer.
        model_weight: weight of the LM's z-scores against bm25's (>= 0; 0 is bm25 alone).
    """

    def __init__(self, scorer: CausalScorer, *,
                 model_weight: float = DEFAULT_MODEL_WEIGHT) -> None:
        self.model_weight = check_finite("hybrid_model_weight", model_weight, allow_zero=True)
        self.lexical = BM25Ranker()
        self.model = PerplexityRanker(scorer, "after", joined=True)

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Fused score of each document; -inf for blank ones."""
        def fused(real: list[int]) -> np.ndarray:
            texts = [documents[i] for i in real]
            return fuse(self.lexical.scores(texts, question),
                        self.model.scores(texts, question), self.model_weight)

        return score_non_blank(documents, fused)
