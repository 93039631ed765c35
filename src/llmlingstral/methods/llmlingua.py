"""LLMLingua and LongLLMLingua: coarse-to-fine compression with a causal Mistral LM.

1. budget: the token target for the contexts (the instruction and question are never cut);
2. context filter: rank contexts (perplexity, question-aware perplexity or any ranker) and
   keep the best within ``target`` adjusted by ``context_budget``;
3. sentence filter (optional): keep the best sentences within ``target * token_budget_ratio``;
4. token level: iterative, word-level selection conditioned on the kept prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..ranking.perplexity import PerplexityRanker
from ..scoring.causal import CausalScorer, ContrastiveStream
from ..segment import split_sentences
from ..tokenization import MistralTextTokenizer
from .budget import apply_context_budget, dynamic_deltas, reorder, select_contexts
from .steps import Steps, run_or_defer
from .token_level import CONTEXT_SEPARATOR, Segment, token_level_steps

CONDITION_CHOICES = ("none", "before", "after")


@dataclass
class LLMLinguaSettings:
    """Every knob of ``compress_prompt`` that the LLMLingua path reads."""

    rate: float = 0.5
    target_token: float = -1
    iterative_size: int = 200
    force_context_ids: Sequence[int] | None = None
    force_context_number: int | None = None
    use_sentence_level_filter: bool = False
    use_context_level_filter: bool = True
    use_token_level_filter: bool = True
    keep_split: bool = False
    keep_first_sentence: int = 0
    keep_last_sentence: int = 0
    keep_sentence_number: int = 0
    high_priority_bonus: float = 100
    context_budget: str = "+100"
    token_budget_ratio: float = 1.4
    condition_in_question: str = "none"
    reorder_context: str = "original"
    dynamic_context_compression_ratio: float = 0.0
    condition_compare: bool = False
    add_instruction: bool = False
    rank_method: str = "llmlingua"
    concate_question: bool = True
    strict_preserve_uncompressed: bool = True
    show_progress: bool | None = None


@dataclass
class Condition:
    """How the question conditions ranking and token scoring."""

    mode: str            # "none", "before" or "after"
    token_level: bool    # prefix the token-level pass with the question
    contrastive: bool    # score tokens by the question's effect (condition_compare)

    @classmethod
    def from_settings(cls, settings: LLMLinguaSettings) -> "Condition":
        raw = settings.condition_in_question
        if not isinstance(raw, str):
            raise TypeError("condition_in_question must be a string such as 'after_condition'")
        token_level = raw.endswith("_condition") or settings.condition_compare
        mode = raw[: -len("_condition")] if raw.endswith("_condition") else raw
        if mode not in CONDITION_CHOICES:
            raise ValueError(f"condition_in_question must be one of 'none', 'before', 'after', "
                             f"optionally with '_condition', got {raw!r}")
        if settings.rank_method == "longllmlingua" and mode == "none":
            mode = "after"  # LongLLMLingua ranks by -log p(question | document)
        elif settings.rank_method == "llmlingua":
            mode = "none"
        return cls(mode=mode, token_level=token_level, contrastive=settings.condition_compare)


@dataclass
class CompressionOutcome:
    """What compression produced, before it is formatted as llmlingua's result dict."""

    compressed_prompt: str
    origin_tokens: int
    compressed_tokens: int
    kept_context_ids: list[int] = field(default_factory=list)
    compressed_contexts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return result_dict(self.compressed_prompt, self.origin_tokens, self.compressed_tokens)


def result_dict(compressed_prompt: str, origin: int, compressed: int) -> dict[str, Any]:
    """llmlingua's result keys, counted in Mistral tokens; safe for empty prompts."""
    ratio = origin / compressed if compressed else (1.0 if origin == 0 else float("inf"))
    rate = compressed / origin if origin else 1.0
    return {"compressed_prompt": compressed_prompt, "origin_tokens": origin,
            "compressed_tokens": compressed, "ratio": f"{ratio:.1f}x",
            "rate": f"{100 * rate:.1f}%", "saving": f", Saving {origin - compressed} tokens."}


def join_prompt(instruction: str, context: str, question: str) -> str:
    return CONTEXT_SEPARATOR.join(p for p in (instruction, context, question) if p)


# --------------------------------------------------------------------------- entry point


def compress(scorer: CausalScorer, contexts: list[list[Segment]], instruction: str,
             question: str, settings: LLMLinguaSettings, ranker=None) -> CompressionOutcome:
    """Compress with LLMLingua / LongLLMLingua. ``ranker`` overrides the perplexity ranking.

    Under :func:`.steps.deferring` the unstarted :func:`compress_steps` are raised to the
    batch driver instead (see :mod:`llmlingstral.lockstep`).
    """
    return run_or_defer(compress_steps(scorer, contexts, instruction, question, settings,
                                       ranker))


def compress_steps(scorer: CausalScorer, contexts: list[list[Segment]], instruction: str,
                   question: str, settings: LLMLinguaSettings,
                   ranker=None) -> Steps[CompressionOutcome]:
    """:func:`compress`, yielding each token-level window to be scored (see :mod:`.steps`)."""
    tokenizer = scorer.tokenizer
    texts = ["".join(s.text for s in c) for c in contexts]
    origin_prompt = join_prompt(instruction, CONTEXT_SEPARATOR.join(texts), question)
    origin = tokenizer.count(origin_prompt)
    target = settings.target_token if settings.target_token and settings.target_token > 0 \
        else origin * settings.rate
    own_rates = any(s.rate is not None and s.rate < 1 for c in contexts for s in c)
    if (target >= origin and not own_rates) or not any(t.strip() for t in texts):
        return CompressionOutcome(origin_prompt, origin, origin, list(range(len(texts))), texts)
    fixed = origin - tokenizer.count(CONTEXT_SEPARATOR.join(texts))
    if not settings.concate_question:
        fixed -= tokenizer.count(question) if question else 0
    context_target = target - fixed
    if context_target <= 0:
        raise ValueError(
            f"the target of {int(target)} tokens leaves no room for the contexts: the instruction "
            f"and question alone take {fixed} tokens. Raise rate/target_token, or pass part of "
            f"that text as context")
    condition = Condition.from_settings(settings)
    kept, deltas = _filter_contexts(scorer, contexts, texts, question, condition, settings,
                                    context_target, ranker)
    chosen = [contexts[i] for i in kept]
    if settings.use_sentence_level_filter:
        chosen = _filter_sentences(scorer, chosen, question, condition, settings, context_target)
    if settings.use_token_level_filter:
        compressed = yield from _token_level(scorer, chosen, instruction, question, condition,
                                             settings, context_target, deltas)
    else:
        compressed = ["".join(s.text for s in c) for c in chosen]
    final_context = CONTEXT_SEPARATOR.join(c for c in compressed if c)
    prompt = join_prompt(instruction, final_context, question if settings.concate_question else "")
    return CompressionOutcome(prompt, origin, tokenizer.count(prompt), kept, compressed)


# --------------------------------------------------------------------------- coarse


def _filter_contexts(scorer, contexts, texts, question, condition, settings, target, ranker):
    """Kept context ids in prompt order, and each kept context's keep-rate shift."""
    n = len(contexts)
    forced = set(_validated_ids(settings.force_context_ids, n))
    if settings.strict_preserve_uncompressed:
        forced |= {i for i, c in enumerate(contexts) if any(not s.compress for s in c)}
    if not settings.use_context_level_filter or n <= 1:
        ranked = list(range(n))
        kept = ranked
    else:
        ranked = _rank(scorer, texts, question, condition, ranker)
        budget = apply_context_budget(target, settings.context_budget)
        lengths = scorer.tokenizer.count_batch(texts)
        kept = select_contexts(ranked, lengths, budget, sorted(forced),
                               settings.force_context_number)
    rank_position = {c: r for r, c in enumerate(i for i in ranked if i in set(kept))}
    ordered = reorder([i for i in ranked if i in set(kept)], settings.reorder_context)
    shifts = dynamic_deltas(len(kept), settings.dynamic_context_compression_ratio)
    return ordered, [float(shifts[rank_position[i]]) for i in ordered]


def _rank(scorer, texts, question, condition, ranker) -> list[int]:
    if ranker is None:
        ranker = PerplexityRanker(scorer, condition.mode if question else "none")
    return [index for index, _ in ranker.rank(texts, question)]


def _validated_ids(ids: Sequence[int] | None, n: int) -> list[int]:
    if ids is None:
        return []
    checked = []
    for i in ids:
        if not isinstance(i, (int, np.integer)) or not 0 <= int(i) < n:
            raise ValueError(f"force_context_ids holds {i!r}, but there are {n} contexts "
                             f"(valid ids: 0..{n - 1})")
        checked.append(int(i))
    return checked


# --------------------------------------------------------------------------- sentences


def _filter_sentences(scorer, contexts, question, condition, settings, target):
    """Keep the best sentences (per word of budget) within target * token_budget_ratio."""
    tokenizer: MistralTextTokenizer = scorer.tokenizer
    pieces = [_sentence_pieces(c) for c in contexts]
    flat = [(c, p, seg) for c, segs in enumerate(pieces) for p, seg in enumerate(segs)]
    free = [k for k, (_, _, seg) in enumerate(flat) if seg.compress and seg.text.strip()]
    goodness = np.full(len(flat), np.inf)
    if free:
        mode = condition.mode if question else "none"
        scores = PerplexityRanker(scorer, mode).scores([flat[k][2].text for k in free], question)
        goodness[free] = scores
    goodness += _sentence_bonus(pieces, settings)
    goodness += _top_sentence_bonus(flat, goodness, settings)
    lengths = tokenizer.count_batch([seg.text for _, _, seg in flat])
    budget = target * settings.token_budget_ratio
    keep = np.zeros(len(flat), dtype=bool)
    for k in np.argsort(-goodness, kind="stable"):
        if budget <= 0 and np.isfinite(goodness[k]):
            continue
        keep[k] = True
        budget -= lengths[k]
    result: list[list[Segment]] = [[] for _ in contexts]
    for k, (c, _, seg) in enumerate(flat):
        if keep[k]:
            result[c].append(seg)
    return result


def _sentence_pieces(context: list[Segment]) -> list[Segment]:
    pieces = []
    for segment in context:
        if not segment.compress:
            pieces.append(segment)
            continue
        pieces.extend(Segment(s, segment.rate, True) for s in split_sentences(segment.text))
    return pieces


def _sentence_bonus(pieces: list[list[Segment]], settings: LLMLinguaSettings) -> np.ndarray:
    """high_priority_bonus for the first/last sentences of each context: always upwards."""
    bonus = []
    for segs in pieces:
        n = len(segs)
        for p in range(n):
            priority = p < settings.keep_first_sentence or p >= n - settings.keep_last_sentence
            bonus.append(settings.high_priority_bonus if priority else 0.0)
    return np.array(bonus, dtype=np.float64)


def _top_sentence_bonus(flat, goodness: np.ndarray, settings: LLMLinguaSettings) -> np.ndarray:
    """high_priority_bonus for the keep_sentence_number best sentences of each context."""
    bonus = np.zeros(len(flat))
    if settings.keep_sentence_number <= 0:
        return bonus
    for context in {c for c, _, _ in flat}:
        members = [k for k, (c, _, _) in enumerate(flat) if c == context]
        best = sorted(members, key=lambda k: -goodness[k])[: settings.keep_sentence_number]
        bonus[best] = settings.high_priority_bonus
    return bonus


# --------------------------------------------------------------------------- fine


def _token_level(scorer, contexts, instruction, question, condition, settings, target, deltas):
    tokenizer = scorer.tokenizer
    prefix_text = question if condition.token_level and question else ""
    if settings.add_instruction and instruction:
        prefix_text = CONTEXT_SEPARATOR.join(p for p in (prefix_text, instruction) if p)
    prefix = tokenizer.encode(prefix_text + CONTEXT_SEPARATOR) if prefix_text else []
    if condition.contrastive and prefix:
        stream = ContrastiveStream(scorer.stream(), scorer.stream(prefix))
    else:
        stream = scorer.stream(prefix)
    return (yield from token_level_steps(stream, tokenizer, contexts, target,
                                         iterative_size=settings.iterative_size,
                                         keep_split=settings.keep_split, context_deltas=deltas,
                                         show_progress=settings.show_progress))
