"""LLMLingua-2: keep or drop each word by a Mistral token classifier's keep-probability.

1. score: every word of every context gets p(keep) (:class:`..scoring.classifier.TokenClassifier`);
2. coarse (optional): keep the best contexts, by mean word probability or, given a question,
   by a ranker, within a context-level budget;
3. fine: keep the most probable words until the token budget is spent (or, in threshold
   mode, every word with p(keep) >= the threshold). Forced words (force tokens, inside
   words too, ``force_reserve_digit`` words, ``compress=False`` segments) are always kept;
   segments with their own rate get it.

The protection rule (:mod:`..text.protect`, the ``protect`` option) decides what stays
whole: the words one protected span covers are one unit, kept or dropped together, scored
by their best word and costing their summed tokens. Protected facts are charged to the
budget first (in threshold mode they are all kept). Every context keeps the same share of
its tokens (as llmlingua's per-context percentile does), so a script the classifier scores
lower is not emptied for another, and each pays for its facts out of its own share: within
:data:`..fact_budget.FACT_SHARE` of it, and when they need more, the ones nearest the
question and mentioned first are kept, and one :class:`..fact_budget.FactsOverBudgetWarning`
says so. A context dense in facts so keeps the rate too; only a fact near the question
that its context cannot afford may take it a little over (the best-ranked contexts'
first), within :data:`..fact_budget.FAIR_SHARE_TOLERANCE`.

Budgets and counts are Mistral tokens of the classifier's tokenizer. The requested size is
met on the re-tokenised output, not on a per-word estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from ..budget import (aim, context_shares, context_target, keep_fixed_rates, keep_within,
                      lingua2_context_budget, select_contexts, select_top_contexts,
                      target_tokens)
from ..errors import InvalidArgumentError
from ..fact_budget import first_mentions, question_facts, warn_if_dropped
from ..kept import block_ranges, prompt_kept, whole
from ..options import LLMLingua2Options
from ..prompt import (CONTEXT_SEPARATOR, CompressionOutcome, KeptText, Range, Segment,
                      context_text, join_contexts, join_prompt)
from ..ranking.base import Ranker
from ..scoring.classifier import TokenClassifier, WordScores
from ..text.nearness import nearness, question_terms
from ..text.protect import FORCE_TOKENS, Protection, covered, protected_spans
from ..text.words import SPACE, Words, join_kept, kept_ranges, span_groups, split_words
from ..validate import check_context_ids, check_non_negative_int
from .fact_pins import Needs, pinned_facts


# The name these options had before they moved to :mod:`..options`.
LLMLingua2Settings = LLMLingua2Options


@dataclass
class _Context:
    """One context's words with the per-word constraints compression must respect, and
    the units (single words, or the words of one protected span) it keeps or drops."""

    index: int
    scores: WordScores
    forced: np.ndarray        # kept whatever the budget
    force_word: np.ndarray    # forced because it is a force token (drop_consecutive)
    fixed_rate: np.ndarray    # NaN where the word follows the global budget
    selectable: np.ndarray    # may be kept (not a free-standing whitespace run)
    starts_with_space: bool
    attached: np.ndarray      # kept only with other words of the context (markers)
    unit: np.ndarray          # the unit of each word (units numbered in text order)
    fact: np.ndarray          # per unit: a protected fact, charged to the budget first
    rank: int = 0             # the context's place in the ranking (0: best or unranked)

    def units(self, values: np.ndarray, how: str = "any") -> np.ndarray:
        """Per-word ``values`` gathered per unit: ``"sum"``, ``"max"`` or ``"any"``."""
        n = len(self.fact)
        if how == "sum":
            return np.bincount(self.unit, weights=values, minlength=n)
        if how == "max":
            out = np.full(n, -np.inf)
            np.maximum.at(out, self.unit, values)
            return out
        return np.bincount(self.unit, weights=values.astype(bool), minlength=n) > 0

    def first(self, values: np.ndarray) -> np.ndarray:
        """Per-word ``values`` taken from the first word of each unit."""
        out = np.empty(len(self.fact), dtype=values.dtype)
        out[self.unit[::-1]] = values[::-1]
        return out

    def words_of(self, unit_keep: np.ndarray) -> np.ndarray:
        """A keep mask over units as a keep mask over words."""
        return unit_keep[self.unit]


# --------------------------------------------------------------------------- construction

CONFIG_KEYS = ("max_batch_size", "max_batch_tokens", "max_force_token", "max_seq_len",
               "bidirectional")


def build_classifier(loaded, config: dict[str, Any]) -> TokenClassifier:
    """The classifier of a ``PromptCompressor`` from its ``llmlingua2_config``.

    Keys: ``max_batch_size`` (chunks per forward pass, default 50), ``max_batch_tokens``
    (padded tokens per pass, default 2048 on a CPU, unlimited elsewhere), ``max_force_token``
    (default 100), ``max_seq_len`` (window, default: the trained one, else 512) and
    ``bidirectional`` (full attention, for classifiers trained with it).
    """
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown llmlingua2_config keys {unknown}; known: {list(CONFIG_KEYS)}")
    return TokenClassifier(loaded, max_seq_len=config.get("max_seq_len"),
                           max_batch_size=config.get("max_batch_size", 50),
                           max_batch_tokens=config.get("max_batch_tokens"),
                           bidirectional=config.get("bidirectional"))


def max_force_token(config: dict[str, Any]) -> int:
    """The most force tokens a call may pass (``llmlingua2_config['max_force_token']``)."""
    return check_non_negative_int("max_force_token", config.get("max_force_token", 100))


def check_force_token_count(options: LLMLingua2Options, config: dict[str, Any]) -> None:
    """Refuse more ``force_tokens`` than the compressor's ``max_force_token`` allows (an
    assert in llmlingua)."""
    limit = max_force_token(config)
    if len(options.force_tokens) > limit:
        raise InvalidArgumentError(
            f"{len(options.force_tokens)} force_tokens given, at most {limit} are allowed; "
            f"pass fewer, or raise llmlingua2_config['max_force_token']")


# --------------------------------------------------------------------------- entry point


def compress(classifier: TokenClassifier, contexts: list[list[Segment]],
             settings: LLMLingua2Options, *, instruction: str = "", question: str = "",
             ranker: Ranker | None = None) -> CompressionOutcome:
    """Compress ``contexts`` with LLMLingua-2; ``ranker`` orders contexts for ``question``
    (default: by mean keep-probability). The outcome names the classifier's dtype."""
    outcome = _compress(classifier, contexts, settings, instruction, question, ranker)
    outcome.dtype = classifier.dtype
    return outcome


def _compress(classifier: TokenClassifier, contexts: list[list[Segment]],
              settings: LLMLingua2Options, instruction: str, question: str,
              ranker: Ranker | None) -> CompressionOutcome:
    tokenizer = classifier.tokenizer
    texts = [context_text(c) for c in contexts]
    rank_question = question
    place = _Placement(instruction, texts, question, settings)
    if not settings.with_instruction_and_question:
        instruction = question = ""
    origin_prompt = join_prompt(instruction, CONTEXT_SEPARATOR.join(texts), question)
    origin = tokenizer.count(origin_prompt)
    threshold_mode = settings.keep_threshold is not None
    target = target_tokens(origin, settings.rate, settings.target_token)
    nothing_to_cut = target >= origin and not threshold_mode and not _explicit_context_filter(
        settings)
    if nothing_to_cut or not any(t.strip() for t in texts):
        prompt = join_prompt(instruction, join_contexts(texts),
                             question if settings.concate_question else "")
        return _unchanged(prompt, origin, tokenizer.count(prompt), texts, settings,
                          place.kept(whole(texts)))
    fixed = origin - tokenizer.count(CONTEXT_SEPARATOR.join(texts))
    shown_question = question if settings.concate_question else ""
    if not settings.concate_question and question:
        fixed -= tokenizer.count(question)
    budget = context_target(target, fixed, required=not threshold_mode)
    forced_ids = _forced_context_ids(settings, contexts)
    kept_ids, scored = _coarse(classifier, contexts, texts, rank_question, settings, forced_ids,
                               ranker, budget, threshold_mode)
    keep = _fine(scored, settings, budget, threshold_mode, tokenizer, instruction,
                 shown_question, fixed, rank_question)
    compressed = [join_kept(c.scores.words, k, strip_start=not c.starts_with_space)
                  for c, k in zip(scored, keep)]
    prompt = join_prompt(instruction, join_contexts(compressed), shown_question)
    labels = _word_labels(texts, scored, keep, settings) if settings.return_word_label else None
    ranges = {c.index: kept_ranges(c.scores.words, k, strip_start=not c.starts_with_space)
              for c, k in zip(scored, keep)}
    return CompressionOutcome(prompt, origin, tokenizer.count(prompt), kept_ids, compressed,
                              labels, with_list=True,
                              kept=place.kept(block_ranges(texts, ranges)))


@dataclass
class _Placement:
    """The uncompressed prompt a call's spans refer to, and which of its parts the result
    shows: llmlingua's LLMLingua-2 result leaves out the instruction and the question."""

    instruction: str
    texts: list[str]
    question: str
    settings: LLMLingua2Options

    def kept(self, block: list[Range]) -> KeptText:
        """The :class:`KeptText` of a result whose contexts kept ``block``."""
        shown = self.settings.with_instruction_and_question
        return prompt_kept(self.instruction, self.texts, self.question, block,
                           show_instruction=shown,
                           show_question=shown and self.settings.concate_question)


def _explicit_context_filter(settings: LLMLingua2Options) -> bool:
    return settings.use_context_level_filter and (
        settings.target_context > 0 or settings.context_level_rate < 1
        or settings.context_level_target_token > 0)


def _unchanged(prompt: str, origin: int, compressed: int, texts: list[str],
               settings, kept: KeptText) -> CompressionOutcome:
    labels = None
    if settings.return_word_label:
        labels = [(w, 1) for t in texts for w in split_words(t).as_list() if w.strip()]
    return CompressionOutcome(prompt, origin, compressed, list(range(len(texts))), list(texts),
                              labels, with_list=True, kept=kept)


# --------------------------------------------------------------------------- coarse


def _forced_context_ids(settings: LLMLingua2Options, contexts) -> set[int]:
    forced = set(check_context_ids("force_context_ids", settings.force_context_ids,
                                   len(contexts)))
    if settings.strict_preserve_uncompressed:
        forced |= {i for i, c in enumerate(contexts)
                   if any(not s.compress and not s.attached for s in c)}
    return forced


def _coarse(classifier, contexts, texts, question, settings, forced_ids, ranker, context_target,
            threshold_mode) -> tuple[list[int], list[_Context]]:
    """Kept context ids (prompt order) and the scored words of each kept context."""
    n = len(contexts)
    if not settings.use_context_level_filter or n < 2:
        return list(range(n)), _score(classifier, contexts, range(n), settings)
    lengths = classifier.tokenizer.count_batch(texts)
    budget = lingua2_context_budget(
        lengths, context_target, rate=settings.rate, target_token=settings.target_token,
        target_context=settings.target_context, context_level_rate=settings.context_level_rate,
        context_level_target_token=settings.context_level_target_token,
        token_level=settings.use_token_level_filter, threshold_mode=threshold_mode)
    if budget is None:
        return list(range(n)), _score(classifier, contexts, range(n), settings)
    if ranker is not None and question.strip():
        order = [i for i, _ in ranker.rank(list(texts), question)]
        scored = None
    else:
        scored = _score(classifier, contexts, range(n), settings)
        means = [_mean_probability(c) for c in scored]
        order = sorted(range(n), key=lambda i: (-means[i], i))
    unit, amount = budget
    if unit == "contexts":
        kept = select_top_contexts(order, int(amount), sorted(forced_ids))
    else:
        kept = sorted(select_contexts(order, lengths, amount, sorted(forced_ids)))
    kept_scored = _score(classifier, contexts, kept, settings) if scored is None \
        else [scored[i] for i in kept]
    place = {index: rank for rank, index in enumerate(order)}
    for context in kept_scored:
        context.rank = place.get(context.index, len(order))
    return kept, kept_scored


def rank_by_keep_probability(classifier: TokenClassifier, texts: Sequence[str]
                             ) -> list[tuple[int, float]]:
    """``[(index, mean keep-probability)]`` of ``texts``, best first: LLMLingua-2's own
    context ranking, which needs no question."""
    contexts = [[Segment(t)] for t in texts]
    scored = _score(classifier, contexts, range(len(texts)), LLMLingua2Options(protect=False))
    means = [_mean_probability(c) for c in scored]
    return sorted(((i, m) for i, m in enumerate(means)), key=lambda pair: (-pair[1], pair[0]))


def _mean_probability(context: _Context) -> float:
    words = context.selectable & ~context.forced
    if not words.any():
        return 1.0
    return float(context.scores.probs[words].mean())


def _score(classifier: TokenClassifier, contexts, ids, settings) -> list[_Context]:
    ids = list(ids)
    texts = ["".join(s.text for s in contexts[i]) for i in ids]
    spaces = [t for t in settings.force_tokens if not t.strip()]
    scores = classifier.score_words(texts, token_to_word=settings.token_to_word,
                                    chunk_end_tokens=settings.chunk_end_tokens,
                                    space_tokens=spaces)
    return [_constraints(i, contexts[i], s, settings) for i, s in zip(ids, scores)]


def _constraints(index: int, segments: Sequence[Segment], scores: WordScores,
                 settings: LLMLingua2Options) -> _Context:
    words = scores.words
    n = len(words)
    protection = settings.protection
    force_word, forced = _forced_words(words, protection)
    fixed_rate = np.full(n, np.nan)
    attached = np.zeros(n, dtype=bool)
    offset = 0
    for segment in segments:
        end = offset + len(segment.text)
        inside = (words.ends > offset) & (words.word_starts < end)
        if segment.attached:
            attached |= inside
        if not segment.compress:
            forced |= inside
        elif segment.rate is not None:
            fixed_rate[inside & np.isnan(fixed_rate)] = float(segment.rate)
        offset = end
    selectable = (words.role != SPACE) | forced
    unit, fact = _units(words, protected_spans(words.text, _facts_only(protection)))
    text = scores.text
    return _Context(index, scores, forced, force_word, fixed_rate, selectable,
                    starts_with_space=text[:1].isspace(), attached=attached & ~force_word,
                    unit=unit, fact=fact)


def _facts_only(protection: Protection) -> Protection:
    """``protection`` without force tokens and digit words: the facts a budget pays for."""
    return replace(protection, force_tokens=(), force_reserve_digit=False)


def _forced_words(words: Words, protection: Protection) -> tuple[np.ndarray, np.ndarray]:
    """Words holding a force token (inside a word too: the "@" of an e-mail address keeps
    the address) and, with ``force_reserve_digit``, words holding a digit: the force-token
    words, and every forced word."""
    nothing = np.zeros(len(words), dtype=bool)
    if not protection.force_tokens and not protection.force_reserve_digit:
        return nothing, nothing.copy()
    spans = protected_spans(words.text, Protection.off(
        force_tokens=protection.force_tokens,
        force_reserve_digit=protection.force_reserve_digit))
    forced = covered(spans, words.word_starts, words.ends)
    tokens = [s for s in spans if s.kind == FORCE_TOKENS]
    return covered(tokens, words.word_starts, words.ends), forced


def _units(words: Words, spans) -> tuple[np.ndarray, np.ndarray]:
    """The unit of each word (the words of one protected span share one) and, per unit,
    whether it is a protected fact."""
    group = span_groups(words, spans)
    n = len(words)
    if not (group >= 0).any():
        return np.arange(n, dtype=np.int64), np.zeros(n, dtype=bool)
    in_group = np.flatnonzero(group >= 0)
    groups, first = np.unique(group[in_group], return_index=True)
    key = np.arange(n, dtype=np.int64)  # a word's key: the first word of its group
    key[in_group] = in_group[first[np.searchsorted(groups, group[in_group])]]
    starts, unit = np.unique(key, return_inverse=True)
    return unit.astype(np.int64), group[starts] >= 0


# --------------------------------------------------------------------------- fine


@dataclass
class _Units:
    """One context's units (see :class:`_Context`) with what selection needs of each."""

    probs: np.ndarray       # the best keep-probability of the unit's words
    costs: np.ndarray       # the unit's tokens
    forced: np.ndarray
    fixed_rate: np.ndarray
    selectable: np.ndarray
    starts: np.ndarray      # where the unit starts and ends in the context's text
    ends: np.ndarray

    @classmethod
    def of(cls, c: _Context) -> _Units:
        words = c.scores.words
        ends = np.zeros(len(c.fact), dtype=np.int64)
        np.maximum.at(ends, c.unit, words.ends)
        return cls(c.units(c.scores.probs, "max"), c.units(c.scores.costs, "sum"),
                   c.units(c.forced), c.first(c.fixed_rate), c.units(c.selectable),
                   c.first(words.word_starts), ends)


def _fine(scored: list[_Context], settings: LLMLingua2Options, context_target: float,
          threshold_mode: bool, tokenizer, instruction: str, question: str,
          fixed: float, rank_question: str) -> list[np.ndarray]:
    """Keep masks per context, landing on ``context_target`` tokens after re-tokenising."""
    if not settings.use_token_level_filter:
        return [c.selectable.copy() for c in scored]
    units = [_Units.of(c) for c in scored]
    if threshold_mode:
        return _settled([c.words_of(_keep_above(c, u, settings.keep_threshold))
                         for c, u in zip(scored, units)], scored, settings)
    pinned = _pin_facts(scored, units, context_target, rank_question)
    forced = [u.forced | p for u, p in zip(units, pinned)]

    def attempt(budget: float) -> tuple[float, list[np.ndarray]]:
        chosen = keep_within([u.probs for u in units], [u.costs for u in units], forced,
                             [u.fixed_rate for u in units], [u.selectable for u in units],
                             budget)
        keep = _settled([c.words_of(k) for c, k in zip(scored, chosen)], scored, settings)
        texts = [join_kept(c.scores.words, k, strip_start=not c.starts_with_space)
                 for c, k in zip(scored, keep)]
        prompt = join_prompt(instruction, join_contexts(texts), question)
        return tokenizer.count(prompt) - fixed, keep

    return aim(attempt, context_target)


def _keep_above(context: _Context, units: _Units, threshold: float) -> np.ndarray:
    """Per unit: forced ones, protected facts, every unit whose best word is at or above
    ``threshold``, and fixed-rate segments at their rate whatever the threshold."""
    forced = units.forced | (context.fact & units.selectable)
    keep = forced | (units.selectable & (units.probs >= threshold))
    fixed = ~np.isnan(units.fixed_rate) & ~forced
    keep[fixed] = keep_fixed_rates(units.probs, units.costs, units.fixed_rate, fixed)[fixed]
    return keep


def _pin_facts(scored: list[_Context], units: list[_Units], budget: float,
               question: str) -> list[np.ndarray]:
    """Per context, the facts charged to ``budget`` first (see :mod:`..fact_budget`).

    Each context pays for its facts out of its own fair share of ``budget`` (the one
    :func:`..budget.keep_within` gives it): all of them when they fit in
    :data:`..fact_budget.FACT_SHARE` of what its forced units and parts with their own rate
    leave of it, else the most needed (:func:`.fact_pins.need_order`); facts in a part with
    its own rate, within that part's budget. A context dense in facts so keeps the call's
    rate instead of taking the others' budget. Facts near the question come first, across
    contexts (:func:`_pin_near_question`). One warning for all, its numbers those of the
    contexts that fell short."""
    committed = [_committed(u) for u in units]
    sizes = [float(u.costs[u.selectable | u.forced].sum()) for u in units]
    rooms = context_shares(sizes, committed, budget) - np.array(committed)
    candidates = [c.fact & u.selectable & ~u.forced for c, u in zip(scored, units)]
    room = max(budget - sum(committed), 0.0)
    near = _pin_near_question(scored, units, candidates, sizes, rooms, room, question)
    pinned = [n | _pin_own(c, u, m & ~n, float(r) - float(u.costs[n].sum()), question)
              for c, u, m, r, n in zip(scored, units, candidates, rooms, near)]
    # One warning, over the contexts whose facts did not all fit.
    short = [c for c, (p, m) in enumerate(zip(pinned, candidates)) if not p[m].all()]
    if short:
        warn_if_dropped(np.concatenate([pinned[c][candidates[c]] for c in short]),
                        np.concatenate([units[c].costs[candidates[c]] for c in short]),
                        float(np.maximum(rooms[short], 0.0).sum()))
    return pinned


def _pin_own(context: _Context, units: _Units, candidates: np.ndarray, room: float,
             question: str) -> np.ndarray:
    """The facts one context affords: in ``room`` (its share less what it keeps anyway)
    for its free words, in each part with its own rate within that part's budget."""
    chosen = np.zeros(len(candidates), dtype=bool)
    for part, budget in _fact_parts(units, candidates, room):
        pieces = list(zip(units.starts[part].tolist(), units.ends[part].tolist()))
        chosen[part] = pinned_facts(units.costs[part], budget, context.scores.text, pieces,
                                    np.zeros(len(part), dtype=np.int64), Needs(question))
    return chosen


def _pin_near_question(scored: list[_Context], units: list[_Units],
                       candidates: list[np.ndarray], sizes: Sequence[float],
                       rooms: np.ndarray, room: float, question: str) -> list[np.ndarray]:
    """Per context, the facts near the question pinned before any other, by
    :func:`..fact_budget.question_facts` (in the call's order of need, :func:`_fact_order`):
    a context may go over its share (``rooms``) by
    :data:`..fact_budget.FAIR_SHARE_TOLERANCE` of its size for them; its other facts, and
    the other contexts' words, then pay for it."""
    near_facts = [m & np.isnan(u.fixed_rate) for m, u in zip(candidates, units)]
    chosen = [np.zeros(len(m), dtype=bool) for m in candidates]
    if not question or not any(m.any() for m in near_facts):
        return chosen
    order, near = _fact_order(scored, units, near_facts, question)
    where = [(c, unit) for c, mask in enumerate(near_facts) for unit in np.flatnonzero(mask)]
    costs = [units[c].costs[unit] for c, unit in where]
    picked = question_facts(costs, order, near, [c for c, _ in where], rooms, sizes, room)
    for index in np.flatnonzero(picked):
        c, unit = where[index]
        chosen[c][unit] = True
    return chosen


def _fact_order(scored: list[_Context], units: list[_Units], candidates: list[np.ndarray],
                question: str) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate fact's place in the call's order of need (lower first: facts of
    better-ranked contexts, then those with more question words near them, then first
    mentions; facts needed alike share one) and its nearness to the question."""
    terms = question_terms(question)
    rank, near, texts = [], [], []
    for c, u, mask in zip(scored, units, candidates):
        text = c.scores.text
        pieces = list(zip(u.starts[mask].tolist(), u.ends[mask].tolist()))
        near.extend(nearness(text, pieces, terms).tolist())
        texts.extend(text[start:end] for start, end in pieces)
        rank.extend([c.rank] * len(pieces))
    near = np.array(near, dtype=np.int64)
    repeated = ~first_mentions(texts)
    keys = np.stack([np.array(rank, dtype=np.int64), -near, repeated.astype(np.int64)], axis=1)
    _, order = np.unique(keys, axis=0, return_inverse=True)
    return order.reshape(-1), near


def _committed(units: _Units) -> float:
    """Tokens a context keeps before its free words compete: its forced units, and each
    part with its own rate at that rate."""
    fixed = ~units.forced & units.selectable & ~np.isnan(units.fixed_rate)
    return float(units.costs[units.forced].sum()
                 + (units.costs[fixed] * np.clip(units.fixed_rate[fixed], 0.0, 1.0)).sum())


def _fact_parts(units: _Units, candidates: np.ndarray,
                free_room: float) -> list[tuple[np.ndarray, float]]:
    """The candidate facts of one context by who pays for them, with that payer's budget:
    the context's free words (``free_room``), and each part with its own rate (that rate
    of the part's tokens, less what the part must keep anyway; see
    :func:`..budget.keep_fixed_rates`)."""
    free = np.isnan(units.fixed_rate)
    parts = [(np.flatnonzero(candidates & free), free_room)]
    for rate in np.unique(units.fixed_rate[~free]):
        group = units.fixed_rate == rate
        paid = float(units.costs[group & units.forced].sum())
        size = float(units.costs[group & units.selectable & ~units.forced].sum())
        parts.append((np.flatnonzero(candidates & group), rate * (size + paid) - paid))
    return [(part, room) for part, room in parts if len(part)]


def _settled(keeps: list[np.ndarray], scored: list[_Context],
             settings: LLMLingua2Options) -> list[np.ndarray]:
    """The final keep masks: repeats dropped, and the markers of a context that kept no
    other visible word dropped with it."""
    keeps = _drop_repeats(keeps, scored, settings)
    for keep, c in zip(keeps, scored):
        others = keep & ~c.attached & (c.scores.words.role != SPACE)
        if not others.any():
            keep &= ~c.attached
    return keeps


def _drop_repeats(keeps: list[np.ndarray], scored: list[_Context],
                  settings: LLMLingua2Options) -> list[np.ndarray]:
    """With ``drop_consecutive``, a force token equal to the previous kept word is dropped."""
    if not settings.drop_consecutive:
        return keeps
    for keep, c in zip(keeps, scored):
        previous = None
        shared = np.bincount(c.unit)[c.unit] > 1  # part of a protected span: stays whole
        for i in np.flatnonzero(keep):
            word = c.scores.words.word(i)
            normal = word if word.strip() else "\n" if "\n" in word else " "
            if c.force_word[i] and normal == previous and not shared[i]:
                keep[i] = False
                continue
            previous = normal
    return keeps


# --------------------------------------------------------------------------- labels


def _word_labels(texts: list[str], scored: list[_Context], keeps: list[np.ndarray],
                 settings: LLMLingua2Options) -> list[tuple[str, int]]:
    """``(word, 1 if kept else 0)`` for every word of every context, dropped contexts too."""
    kept = {c.index: (c.scores.words, k) for c, k in zip(scored, keeps)}
    spaces = [t for t in settings.force_tokens if not t.strip()]
    labels: list[tuple[str, int]] = []
    for i, text in enumerate(texts):
        words, keep = kept.get(i, (None, None))
        if words is None:
            words = split_words(text, space_tokens=spaces)
            keep = np.zeros(len(words), dtype=bool)
        labels.extend((words.word(w), int(keep[w])) for w in range(len(words))
                      if words.role[w] != SPACE)
    return labels
