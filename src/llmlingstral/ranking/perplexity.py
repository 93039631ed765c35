"""Rankers built on the compressor's own causal LM (LLMLingua and LongLLMLingua)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..scoring.causal import CausalScorer
from .base import RankResults, sort_by_score

CONDITIONS = ("none", "before", "after")

# Appended to the question when a document is scored by how well it predicts the question.
RESTRICT_SENTENCE = " We can get the answer to this question in the given documents."


def parse_condition(condition_in_question: object) -> tuple[str, bool]:
    """``(mode, token_level)`` of llmlingua's ``condition_in_question``.

    ``mode`` is "none", "before" or "after"; a ``_condition`` suffix also conditions the
    token-level pass on the question (``token_level``).
    """
    if not isinstance(condition_in_question, str):
        raise TypeError("condition_in_question must be a string such as 'after_condition'")
    token_level = condition_in_question.endswith("_condition")
    mode = condition_in_question[: -len("_condition")] if token_level else condition_in_question
    if mode not in CONDITIONS:
        raise ValueError(f"condition_in_question must be one of 'none', 'before', 'after', "
                         f"optionally with '_condition', got {condition_in_question!r}")
    return mode, token_level


def perplexity_condition(method: str, condition_in_question: object) -> str:
    """How the perplexity rank ``method`` conditions on the question.

    ``llmlingua`` ignores the question; ``longllmlingua`` ranks by -log p(question |
    document) unless ``condition_in_question`` says "before".
    """
    mode, _ = parse_condition(condition_in_question)
    if method == "llmlingua":
        return "none"
    if method == "longllmlingua" and mode == "none":
        return "after"
    return mode


class PerplexityRanker:
    """Ranks by language-model surprisal.

    ``condition="none"``: documents the model finds most surprising first (LLMLingua's
    demonstration ranking). ``"after"``: by -log p(question | document) (LongLLMLingua).
    ``"before"``: by -log p(document | question).
    """

    def __init__(self, scorer: CausalScorer, condition: str = "none") -> None:
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be 'none', 'after' or 'before', got {condition!r}")
        self.scorer = scorer
        self.condition = condition

    def rank(self, documents: Sequence[str], question: str) -> RankResults:
        return sort_by_score(self.scores(documents, question))

    def for_question(self, question: str) -> "PerplexityRanker":
        """This ranker, or without a question one that ignores it."""
        return self if question or self.condition == "none" else \
            PerplexityRanker(self.scorer, "none")

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
