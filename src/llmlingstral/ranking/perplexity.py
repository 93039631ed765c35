"""Rankers built on the compressor's own causal LM (LLMLingua and LongLLMLingua)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..scoring.causal import CausalScorer
from ..validate import CONDITIONS, parse_condition  # noqa: F401  (their home is validate)
from .base import RankResults


# Appended to the question when a document is scored by how well it predicts the question.
RESTRICT_SENTENCE = " We can get the answer to this question in the given documents."


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
    ``"before"``: by -log p(document | question). The question carries the bridging
    sentence :data:`RESTRICT_SENTENCE` in "after" mode, and with ``joined`` in both modes.

    ``joined=True`` (the context ranking of ``compress_prompt`` and ``get_rank_results``)
    scores exactly llmlingua 0.2.2's strings: document and question concatenated with no
    separator and tokenised together. ``joined=False`` tokenises them apart, so the second
    starts a new word. ``bridge`` overrides whether the bridging sentence is appended
    (llmlingua's sentence filter joins the strings without it).
    """

    def __init__(self, scorer: CausalScorer, condition: str = "none", *,
                 joined: bool = False, bridge: bool | None = None) -> None:
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be 'none', 'after' or 'before', got {condition!r}")
        self.scorer = scorer
        self.condition = condition
        self.joined = joined
        self.bridge = (joined or condition == "after") if bridge is None else bool(bridge)

    def rank(self, documents: Sequence[str], question: str) -> RankResults:
        """``[(index, perplexity)]``, best first, as llmlingua returns them: the mean
        surprisal, highest first for "none", lowest first when conditioned on the question."""
        means = [_mean(s, empty=self.condition != "none")
                 for s in self.surprisals(documents, question)]
        ascending = self.condition != "none"
        order = sorted(range(len(means)), key=lambda i: (means[i] if ascending else -means[i], i))
        return [(i, means[i]) for i in order]

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Higher is more worth keeping."""
        surprisals = self.surprisals(documents, question)
        if self.condition == "none":
            return [_mean(s) for s in surprisals]
        return [-_mean(s) if len(s) else float("-inf") for s in surprisals]

    def surprisals(self, documents: Sequence[str], question: str) -> list[np.ndarray]:
        """The per-token surprisals each document's perplexity averages."""
        return condition_surprisal(self.scorer, documents, question, self.condition,
                                   joined=self.joined, bridge=self.bridge)


def condition_surprisal(scorer: CausalScorer, texts: Sequence[str], question: str,
                        condition: str, *, joined: bool = True,
                        bridge: bool = False) -> list[np.ndarray]:
    """Surprisal of the scored tokens of each text: all its tokens ("none"), the question's
    tokens after it ("after"), or its tokens after the question ("before").

    ``joined``: one string per text (text + question, or question + text), its scored part
    being the tokens past the length of the first piece on its own, as llmlingua counts.
    ``bridge`` appends :data:`RESTRICT_SENTENCE` to the question.
    """
    tokenizer = scorer.tokenizer
    texts = list(texts)
    if condition == "none":
        return scorer.sequence_surprisal(tokenizer.encode_batch(texts))
    if bridge:
        question = question + RESTRICT_SENTENCE
    if joined:
        pairs = [t + question for t in texts] if condition == "after" else \
            [question + t for t in texts]
        sequences = tokenizer.encode_batch(pairs)
        first = tokenizer.count_batch(texts) if condition == "after" else \
            [tokenizer.count(question)] * len(texts)
        tails = [max(0, len(q) - f) for q, f in zip(sequences, first)]
    else:
        query, doc_ids = tokenizer.encode(question), tokenizer.encode_batch(texts)
        sequences = [d + query for d in doc_ids] if condition == "after" else \
            [query + d for d in doc_ids]
        tails = [len(query)] * len(texts) if condition == "after" else [len(d) for d in doc_ids]
    return scorer.sequence_surprisal(sequences, tails=tails)


def _mean(values: np.ndarray, *, empty: bool = False) -> float:
    """The mean surprisal; nothing to average is 0, or +inf (the worst) with ``empty``."""
    if len(values):
        return float(values.mean())
    return float("inf") if empty else 0.0
