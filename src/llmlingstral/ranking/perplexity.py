"""Rankers built on the compressor's own causal LM (LLMLingua and LongLLMLingua)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..scoring.causal import CausalScorer
from .base import RankResults, sort_by_score

# Appended to the question when a document is scored by how well it predicts the question.
RESTRICT_SENTENCE = " We can get the answer to this question in the given documents."


class PerplexityRanker:
    """Ranks by language-model surprisal.

    ``condition="none"``: documents the model finds most surprising first (LLMLingua's
    demonstration ranking). ``"after"``: by -log p(question | document) (LongLLMLingua).
    ``"before"``: by -log p(document | question).
    """

    def __init__(self, scorer: CausalScorer, condition: str = "none") -> None:
        if condition not in {"none", "after", "before"}:
            raise ValueError(f"condition must be 'none', 'after' or 'before', got {condition!r}")
        self.scorer = scorer
        self.condition = condition

    def rank(self, documents: Sequence[str], question: str) -> RankResults:
        return sort_by_score(self.scores(documents, question))

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Higher is more worth keeping."""
        tokenizer = self.scorer.tokenizer
        doc_ids = tokenizer.encode_batch(list(documents))
        if self.condition == "none":
            surprisal = self.scorer.sequence_surprisal(doc_ids)
            return [_mean(s) for s in surprisal]
        query = tokenizer.encode(question + (RESTRICT_SENTENCE if self.condition == "after" else ""))
        if self.condition == "after":
            sequences = [d + query for d in doc_ids]
            tail = [len(query)] * len(doc_ids)
        else:
            sequences = [query + d for d in doc_ids]
            tail = [len(d) for d in doc_ids]
        surprisal = self.scorer.sequence_surprisal(sequences, tails=tail)
        return [-_mean(s) if t else float("-inf") for s, t in zip(surprisal, tail)]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0
