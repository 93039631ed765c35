"""LLMLingua and LongLLMLingua: coarse-to-fine compression with a causal Mistral LM.

1. budget: the token target for the contexts (the instruction and question are never cut);
2. context filter: rank contexts (perplexity, question-aware perplexity or any ranker) and
   keep the best within ``target`` adjusted by ``context_budget``;
3. sentence filter (optional): keep the best sentences within ``target * token_budget_ratio``;
4. token level: iterative, word-level selection conditioned on the kept prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..budget import (apply_context_budget, context_target, dynamic_deltas,
                      keep_by_priority, reorder, select_contexts, target_tokens)
from ..fact_budget import warn_if_dropped
from ..kept import block_ranges, merged, prompt_kept, seamed, through, whole
from ..prompt import (CONTEXT_SEPARATOR, CompressionOutcome, Range, Segment, context_text,
                      join_contexts, join_prompt)
from ..ranking.base import Ranker
from ..ranking.perplexity import PerplexityRanker, parse_condition
from ..ranking.resolve import choose_ranking
from ..scoring.causal import CausalScorer
from ..scoring.stream import ContrastiveStream
from ..options import LLMLinguaOptions
from ..text.bidi import balanced
from ..text.protect import DIGITS, FORCE_TOKENS, protected_spans
from ..text.sentences import split_sentences
from ..tokenization import MistralTextTokenizer
from ..validate import check_context_ids
from .fact_pins import Needs, pinned_facts
from .steps import Steps, run_or_defer
from .token_level import token_level_steps


# The name these options had before they moved to :mod:`..options`.
LLMLinguaSettings = LLMLinguaOptions


@dataclass
class Condition:
    """How the question conditions token scoring."""

    token_level: bool    # prefix the token-level pass with the question
    contrastive: bool    # score tokens by the question's effect (condition_compare)

    @classmethod
    def from_settings(cls, settings: LLMLinguaOptions) -> "Condition":
        _, token_level = parse_condition(settings.condition_in_question)
        return cls(token_level=token_level or settings.condition_compare,
                   contrastive=settings.condition_compare)


# --------------------------------------------------------------------------- entry point


def compress(scorer: CausalScorer, contexts: list[list[Segment]], instruction: str,
             question: str, settings: LLMLinguaOptions,
             ranker: Ranker | None = None) -> CompressionOutcome:
    """Compress with LLMLingua / LongLLMLingua.

    ``ranker`` orders the contexts (default: LLMLingua's perplexity ranking); a
    :class:`PerplexityRanker` is used without its question condition when there is no
    question. Under :func:`.steps.deferring` the unstarted :func:`compress_steps` are
    raised to the batch driver instead (see :mod:`llmlingstral.execution.lockstep`).
    """
    return run_or_defer(compress_steps(scorer, contexts, instruction, question, settings,
                                       ranker))


def compress_steps(scorer: CausalScorer, contexts: list[list[Segment]], instruction: str,
                   question: str, settings: LLMLinguaOptions,
                   ranker: Ranker | None = None) -> Steps[CompressionOutcome]:
    """:func:`compress`, yielding each token-level window to be scored (see :mod:`.steps`);
    the outcome names the scorer's dtype."""
    outcome = yield from _compress_steps(scorer, contexts, instruction, question, settings,
                                         ranker)
    outcome.dtype = scorer.dtype
    return outcome


def _compress_steps(scorer: CausalScorer, contexts: list[list[Segment]], instruction: str,
                    question: str, settings: LLMLinguaOptions,
                    ranker: Ranker | None) -> Steps[CompressionOutcome]:
    tokenizer = scorer.tokenizer
    texts = [context_text(c) for c in contexts]
    origin_prompt = join_prompt(instruction, CONTEXT_SEPARATOR.join(texts), question)
    origin = tokenizer.count(origin_prompt)
    target = target_tokens(origin, settings.rate, settings.target_token)
    own_rates = any(s.rate is not None and s.rate < 1 for c in contexts for s in c)
    if (target >= origin and not own_rates) or not any(t.strip() for t in texts):
        prompt = join_prompt(instruction, join_contexts(texts),
                             question if settings.concate_question else "")
        kept_text = prompt_kept(instruction, texts, question, whole(texts),
                                show_question=settings.concate_question)
        return CompressionOutcome(prompt, origin, tokenizer.count(prompt),
                                  list(range(len(texts))), texts, kept=kept_text)
    fixed = origin - tokenizer.count(CONTEXT_SEPARATOR.join(texts))
    if not settings.concate_question:
        fixed -= tokenizer.count(question) if question else 0
    budget = context_target(target, fixed)
    kept, deltas, ranks = _filter_contexts(scorer, contexts, texts, question, settings, budget,
                                           ranker)
    ranges = yield from _fine(scorer, [contexts[i] for i in kept], instruction, settings,
                              budget, deltas, Needs(question, ranks))
    ranges = [balanced(texts[i], r) for i, r in zip(kept, ranges)]
    compressed = [seamed(texts[i], r) for i, r in zip(kept, ranges)]
    prompt = join_prompt(instruction, join_contexts(compressed),
                         question if settings.concate_question else "")
    kept_text = prompt_kept(instruction, texts, question,
                            block_ranges(texts, dict(zip(kept, ranges))),
                            show_question=settings.concate_question)
    return CompressionOutcome(prompt, origin, tokenizer.count(prompt), kept, compressed,
                              kept=kept_text)


def _fine(scorer, chosen, instruction, settings, budget, deltas,
          needs: Needs) -> Steps[list[list[Range]]]:
    """The sentence filter and token-level pass over the kept contexts: the kept ranges of
    each one's text, carried back through the sentences the filter kept."""
    pieces = [[(0, len(context_text(c)))] for c in chosen]
    if settings.use_sentence_level_filter:
        chosen, pieces = filter_sentences(scorer, chosen, needs.question, settings, budget,
                                          ranks=needs.context_rank)
    if not settings.use_token_level_filter:
        return pieces
    ranges = yield from _token_level(scorer, chosen, instruction, settings, budget, deltas,
                                     needs)
    return [through(r, p) for r, p in zip(ranges, pieces)]


# --------------------------------------------------------------------------- coarse


def filter_contexts(scorer, contexts, texts, question, settings, target, ranker, lengths=None):
    """Kept context ids in prompt order, and each kept context's keep-rate shift.

    ``lengths`` (tokens per context) default to the scorer's counts of ``texts``.
    """
    kept, shifts, _ = _filter_contexts(scorer, contexts, texts, question, settings, target,
                                       ranker, lengths)
    return kept, shifts


def _filter_contexts(scorer, contexts, texts, question, settings, target, ranker,
                     lengths=None) -> tuple[list[int], list[float], list[int]]:
    """:func:`filter_contexts`, with each kept context's rank among them (0 = the best)."""
    n = len(contexts)
    forced = set(check_context_ids("force_context_ids", settings.force_context_ids, n))
    if settings.strict_preserve_uncompressed:
        forced |= {i for i, c in enumerate(contexts)
                   if any(not s.compress and not s.attached for s in c)}
    if not settings.use_context_level_filter or n <= 1:
        ranked = list(range(n))
        kept = ranked
    else:
        ranked = [index for index, _ in _ranker(scorer, ranker).rank(texts, question)]
        budget = apply_context_budget(target, settings.context_budget)
        lengths = scorer.tokenizer.count_batch(texts) if lengths is None else list(lengths)
        kept = select_contexts(ranked, lengths, budget, sorted(forced),
                               settings.force_context_number)
    rank_position = {c: r for r, c in enumerate(i for i in ranked if i in set(kept))}
    ordered = reorder([i for i in ranked if i in set(kept)], settings.reorder_context)
    shifts = dynamic_deltas(len(kept), settings.dynamic_context_compression_ratio)
    return (ordered, [float(shifts[rank_position[i]]) for i in ordered],
            [rank_position[i] for i in ordered])


def _ranker(scorer: CausalScorer, ranker: Ranker | None) -> Ranker:
    """The context ranker for this call (the caller's comes from
    :func:`..ranking.resolve.choose_ranking`, which conditions nothing on a missing
    question); by default LLMLingua's perplexity ranking."""
    return PerplexityRanker(scorer, "none") if ranker is None else ranker


# --------------------------------------------------------------------------- sentences


def filter_sentences(scorer, contexts, question, settings, target, ranks=None):
    """Keep the best sentences (per word of budget) within target * token_budget_ratio.

    Sentences holding a force token (or a digit, with ``force_reserve_digit``) are kept;
    those holding a fact the budget affords (see :mod:`.fact_pins`; ``ranks``: each
    context's rank, 0 = the best) get ``high_priority_bonus``.
    Returns the kept pieces of each context and their character ranges in its text.
    """
    tokenizer: MistralTextTokenizer = scorer.tokenizer
    pieces = [_sentence_pieces(c) for c in contexts]
    flat = [(c, p, seg) for c, segs in enumerate(pieces) for p, seg in enumerate(segs)]
    free = [k for k, (_, _, seg) in enumerate(flat) if seg.compress and seg.text.strip()]
    goodness = np.full(len(flat), np.inf)
    if free:
        mode = choose_ranking(settings.rank_method, settings.condition_in_question,
                              question=question, warn=False).condition
        scores = _sentence_ranker(scorer, mode, settings.sentence_strings).scores(
            [flat[k][2].text for k in free], question)
        goodness[free] = scores
    goodness += _sentence_bonus(pieces, settings)
    goodness += _top_sentence_bonus(flat, goodness, settings)
    forced, facts = _protected_sentences(flat, settings, target, Needs(question, ranks),
                                         tokenizer)
    goodness += np.where(facts, settings.high_priority_bonus, 0.0)
    goodness[forced] = np.inf
    lengths = tokenizer.count_batch([seg.text for _, _, seg in flat])
    keep = keep_by_priority(goodness, lengths, target * settings.token_budget_ratio)
    result: list[list[Segment]] = [[] for _ in contexts]
    ranges: list[list[Range]] = [[] for _ in contexts]
    offsets = [0] * len(contexts)
    for k, (c, _, seg) in enumerate(flat):
        if keep[k]:
            result[c].append(seg)
            ranges[c].append((offsets[c], offsets[c] + len(seg.text)))
        offsets[c] += len(seg.text)
    return result, [merged(r) for r in ranges]


def _sentence_ranker(scorer: CausalScorer, mode: str, strings: str) -> PerplexityRanker:
    """``"joined"``: llmlingua's strings, sentence and question tokenised together with no
    bridging sentence; ``"separate"``: tokenised apart, the bridge after the question in
    "after" mode."""
    if strings == "joined":
        return PerplexityRanker(scorer, mode, joined=True, bridge=False)
    return PerplexityRanker(scorer, mode)


def _protected_sentences(flat, settings: LLMLinguaOptions, target: float, needs: Needs,
                         tokenizer: MistralTextTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Which sentences hold text kept whatever the budget (a visible force token, or with
    ``force_reserve_digit`` a digit word), and which hold a fact the budget affords.
    Dropping either here would lose what the token pass keeps."""
    protection = settings.protection
    named = protection.forced_only()
    forced = np.zeros(len(flat), dtype=bool)
    facts: list[tuple[int, int, int]] = []  # (sentence, start, end) in the joined text
    offset = 0
    for k, (_, _, seg) in enumerate(flat):
        if seg.compress and seg.text.strip():
            if named.force_tokens or named.force_reserve_digit:
                forced[k] = any(seg.text[a:b].strip()
                                for a, b, _ in protected_spans(seg.text, named))
            if protection.classes or protection.patterns:
                facts.extend((k, offset + a, offset + b)
                             for a, b, kind in protected_spans(seg.text, protection)
                             if kind not in (FORCE_TOKENS, DIGITS))
        offset += len(seg.text)
    return forced, _affordable_sentences(flat, facts, settings, target, needs, tokenizer)


def _affordable_sentences(flat, facts: list[tuple[int, int, int]],
                          settings: LLMLinguaOptions, target: float, needs: Needs,
                          tokenizer: MistralTextTokenizer) -> np.ndarray:
    """The sentences holding a fact the budget affords (the most needed first)."""
    holds = np.zeros(len(flat), dtype=bool)
    if not facts:
        return holds
    text = "".join(seg.text for _, _, seg in flat)
    pieces = [(a, b) for _, a, b in facts]
    costs = tokenizer.count_batch([text[a:b] for a, b in pieces])
    pinned = pinned_facts(costs, target, text, pieces, [flat[k][0] for k, _, _ in facts], needs)
    if not settings.use_token_level_filter:  # else the token pass says it, once
        warn_if_dropped(pinned, costs, target)
    holds[[k for (k, _, _), p in zip(facts, pinned) if p]] = True
    return holds


def _sentence_pieces(context: list[Segment]) -> list[Segment]:
    pieces = []
    for segment in context:
        if not segment.compress:
            pieces.append(segment)
            continue
        pieces.extend(Segment(s, segment.rate, True) for s in split_sentences(segment.text))
    return pieces


def _sentence_bonus(pieces: list[list[Segment]], settings: LLMLinguaOptions) -> np.ndarray:
    """high_priority_bonus for the first/last sentences of each context: always upwards."""
    bonus = []
    for segs in pieces:
        n = len(segs)
        for p in range(n):
            priority = p < settings.keep_first_sentence or p >= n - settings.keep_last_sentence
            bonus.append(settings.high_priority_bonus if priority else 0.0)
    return np.array(bonus, dtype=np.float64)


def _top_sentence_bonus(flat, goodness: np.ndarray, settings: LLMLinguaOptions) -> np.ndarray:
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


def _token_level(scorer, contexts, instruction, settings, target, deltas, needs: Needs):
    condition = Condition.from_settings(settings)
    question = needs.question
    prefix_text = question if condition.token_level and question else ""
    if settings.add_instruction and instruction:
        prefix_text = CONTEXT_SEPARATOR.join(p for p in (prefix_text, instruction) if p)
    return (yield from token_level_pass(scorer, contexts, target, settings,
                                        prefix_text=prefix_text, deltas=deltas, needs=needs))


def token_level_pass(scorer: CausalScorer, contexts: Sequence[Sequence[Segment]], target: float,
                     options: LLMLinguaOptions, *, prefix_text: str = "",
                     deltas: Sequence[float] | None = None,
                     needs: Needs = Needs()) -> Steps[list[list[Range]]]:
    """The fine pass, one window at a time (see :mod:`.steps`): the kept character ranges
    of each context's text, about ``target`` tokens in all, scored given ``prefix_text``
    (and by the prefix's effect with ``options.condition_compare``); what
    ``options.protection`` protects is kept or dropped whole, force tokens always kept and
    facts charged first, the most needed first by ``needs`` (see
    :func:`.token_level.token_level_steps`); ``options.budget_placement`` spreads each
    context's budget over its windows (see :class:`..budget.WindowBudgets`);
    ``options.token_level_bos=False`` reads the text without BOS, as llmlingua does."""
    contrastive, bos = options.condition_compare, options.token_level_bos
    tokenizer = scorer.tokenizer
    prefix = tokenizer.encode(prefix_text + CONTEXT_SEPARATOR) if prefix_text else []

    def new_stream():
        if contrastive and prefix:
            return ContrastiveStream(scorer.stream(bos=bos), scorer.stream(prefix, bos=bos))
        return scorer.stream(prefix, bos=bos)

    # llmlingua's placement scores the whole uncompressed prompt first, on a stream of its own.
    first_pass = new_stream() if options.budget_placement == "prompt" else None
    return (yield from token_level_steps(new_stream(), tokenizer, contexts, target, options,
                                         context_deltas=deltas, needs=needs,
                                         first_pass=first_pass))
