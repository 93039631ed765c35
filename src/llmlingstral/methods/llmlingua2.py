"""LLMLingua-2: keep or drop each word by a Mistral token classifier's keep-probability.

1. score: every word of every context gets p(keep) (:class:`..scoring.classifier.TokenClassifier`);
2. coarse (optional): keep the best contexts, by mean word probability or, given a question,
   by a ranker, within a context-level budget;
3. fine: keep the most probable words until the token budget is spent (or, in threshold
   mode, every word with p(keep) >= the threshold). Forced words (force tokens, digits,
   ``compress=False`` segments) are always kept; segments with their own rate get it.

Budgets and counts are Mistral tokens of the classifier's tokenizer. The requested size is
met on the re-tokenised output, not on a per-word estimate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..ranking.base import RankResults
from ..scoring.classifier import TOKEN_TO_WORD, TokenClassifier, WordScores
from ..words import SPACE, join_kept, split_words
from .budget import select_contexts
from .llmlingua import join_prompt, result_dict
from .token_level import CONTEXT_SEPARATOR, Segment

RankFunction = Callable[[list[str], str], RankResults]
# Re-tokenising the output shifts counts slightly; this many passes re-aim the budget.
_BUDGET_PASSES = 4
_DIGIT = re.compile(r"\d")


@dataclass
class LLMLingua2Settings:
    """Every knob of ``compress_prompt_llmlingua2`` (llmlingua 0.2.2 names and defaults).

    Beyond llmlingua: ``keep_threshold`` (keep words with p(keep) >= it, ignoring rate),
    ``max_force_token`` (the limit on ``force_tokens``) and ``strict_preserve_uncompressed``
    (a context holding a ``compress=False`` segment survives the context filter).
    """

    rate: float = 0.5
    target_token: float = -1
    use_context_level_filter: bool = False
    use_token_level_filter: bool = True
    target_context: int = -1
    context_level_rate: float = 1.0
    context_level_target_token: float = -1
    force_context_ids: Sequence[int] | None = None
    return_word_label: bool = False
    word_sep: str = "\t\t|\t\t"
    label_sep: str = " "
    token_to_word: str = "mean"
    force_tokens: Sequence[str] = ()
    force_reserve_digit: bool = False
    drop_consecutive: bool = False
    chunk_end_tokens: Sequence[str] = (".", "\n")
    keep_threshold: float | None = None
    max_force_token: int = 100
    strict_preserve_uncompressed: bool = True

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the bad setting and what to pass instead."""
        _check_fraction("rate", self.rate)
        _check_target("target_token", self.target_token)
        _check_target("context_level_target_token", self.context_level_target_token)
        _check_fraction("context_level_rate", self.context_level_rate)
        if isinstance(self.target_context, bool) or not isinstance(self.target_context, int) \
                or (self.target_context != -1 and self.target_context <= 0):
            raise ValueError(f"target_context is a number of contexts to keep (or -1), got "
                             f"{self.target_context!r}")
        if self.token_to_word not in TOKEN_TO_WORD:
            raise ValueError(f"token_to_word must be 'mean' or 'first', got {self.token_to_word!r}")
        self.force_tokens = _string_list("force_tokens", self.force_tokens)
        self.chunk_end_tokens = _string_list("chunk_end_tokens", self.chunk_end_tokens)
        if len(self.force_tokens) > self.max_force_token:
            raise ValueError(
                f"{len(self.force_tokens)} force_tokens given, at most {self.max_force_token} "
                f"are allowed; pass fewer, or raise llmlingua2_config['max_force_token']")
        if self.keep_threshold is not None:
            value = self.keep_threshold
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or math.isnan(value) or not 0 <= value <= 1:
                raise ValueError(f"keep_threshold is a probability in [0, 1], got {value!r}")
        for name in ("word_sep", "label_sep"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str")


@dataclass
class LLMLingua2Outcome:
    """What compression produced, before it is formatted as llmlingua's result dict."""

    compressed_prompt: str
    compressed_prompt_list: list[str]
    origin_tokens: int
    compressed_tokens: int
    kept_context_ids: list[int] = field(default_factory=list)
    word_labels: list[tuple[str, int]] | None = None

    def as_dict(self, word_sep: str = "\t\t|\t\t", label_sep: str = " ") -> dict[str, Any]:
        result = result_dict(self.compressed_prompt, self.origin_tokens, self.compressed_tokens)
        result["compressed_prompt_list"] = list(self.compressed_prompt_list)
        if self.word_labels is not None:
            result["fn_labeled_original_prompt"] = word_sep.join(
                f"{word}{label_sep}{label}" for word, label in self.word_labels)
        return result


@dataclass
class _Context:
    """One context's words with the per-word constraints compression must respect."""

    index: int
    scores: WordScores
    forced: np.ndarray        # kept whatever the budget
    force_word: np.ndarray    # forced because it is a force token (drop_consecutive)
    fixed_rate: np.ndarray    # NaN where the word follows the global budget
    selectable: np.ndarray    # may be kept (not a free-standing whitespace run)
    starts_with_space: bool


# --------------------------------------------------------------------------- construction

CONFIG_KEYS = ("max_batch_size", "max_force_token", "max_seq_len", "bidirectional")


def build_classifier(loaded, config: dict[str, Any]) -> TokenClassifier:
    """The classifier of a ``PromptCompressor`` from its ``llmlingua2_config``.

    Keys: ``max_batch_size`` (chunks per forward pass, default 50), ``max_force_token``
    (default 100), ``max_seq_len`` (window, default: the trained one, else 512) and
    ``bidirectional`` (full attention, for classifiers trained with it).
    """
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown llmlingua2_config keys {unknown}; known: {list(CONFIG_KEYS)}")
    return TokenClassifier(loaded, max_seq_len=config.get("max_seq_len"),
                           max_batch_size=config.get("max_batch_size", 50),
                           bidirectional=config.get("bidirectional"))


def max_force_token(config: dict[str, Any]) -> int:
    """The most force tokens a call may pass (``llmlingua2_config['max_force_token']``)."""
    value = config.get("max_force_token", 100)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_force_token must be a non-negative integer, got {value!r}")
    return value


def parse_tags(contexts: list[list[Segment]]) -> list[list[Segment]]:
    """Contexts whose text holds ``<llmlingua, ...>`` tags, split into tagged segments.

    Tag-free contexts are returned as they are; see :mod:`..structured` for the syntax.
    """
    from ..structured import parse_structured

    result = []
    for i, segments in enumerate(contexts):
        if len(segments) == 1 and "<llmlingua" in segments[0].text.lower():
            parsed = parse_structured(segments[0].text, where=f"context[{i}]")
            segments = [Segment(s.text, s.rate, s.compress) for s in parsed] or [Segment("")]
        result.append(segments)
    return result


# --------------------------------------------------------------------------- entry point


def compress(classifier: TokenClassifier, contexts: list[list[Segment]],
             settings: LLMLingua2Settings,
             *, instruction: str = "", question: str = "",
             rank: RankFunction | None = None) -> LLMLingua2Outcome:
    """Compress ``contexts`` with LLMLingua-2; ``rank`` orders contexts for ``question``."""
    settings.validate()
    tokenizer = classifier.tokenizer
    texts = ["".join(s.text for s in c) for c in contexts]
    if not any(t.strip() for t in texts) and not (instruction.strip() or question.strip()):
        raise ValueError("the prompt is empty: pass a non-empty context to compress")
    origin_prompt = join_prompt(instruction, CONTEXT_SEPARATOR.join(texts), question)
    origin = tokenizer.count(origin_prompt)
    threshold_mode = settings.keep_threshold is not None
    target = settings.target_token if settings.target_token > 0 else origin * settings.rate
    nothing_to_cut = target >= origin and not threshold_mode and not _explicit_context_filter(
        settings)
    if nothing_to_cut or not any(t.strip() for t in texts):
        return _unchanged(origin_prompt, origin, texts, settings)
    fixed = origin - tokenizer.count(CONTEXT_SEPARATOR.join(texts))
    context_target = target - fixed
    if context_target <= 0 and not threshold_mode:
        raise ValueError(
            f"the target of {int(target)} tokens leaves no room for the contexts: the instruction "
            f"and question alone take {fixed} tokens. Raise rate/target_token")
    forced_ids = _forced_context_ids(settings, contexts)
    kept_ids, scored = _coarse(classifier, contexts, texts, question, settings, forced_ids, rank,
                               context_target, threshold_mode)
    keep = _fine(scored, settings, context_target, threshold_mode, tokenizer, instruction, question,
                 fixed)
    compressed = [join_kept(c.scores.words, k, strip_start=not c.starts_with_space)
                  for c, k in zip(scored, keep)]
    prompt = join_prompt(instruction, CONTEXT_SEPARATOR.join(t for t in compressed if t), question)
    labels = _word_labels(texts, scored, keep, settings) if settings.return_word_label else None
    return LLMLingua2Outcome(prompt, compressed, origin, tokenizer.count(prompt), kept_ids, labels)


def _explicit_context_filter(settings: LLMLingua2Settings) -> bool:
    return settings.use_context_level_filter and (
        settings.target_context > 0 or settings.context_level_rate < 1
        or settings.context_level_target_token > 0)


def _unchanged(prompt: str, origin: int, texts: list[str], settings) -> LLMLingua2Outcome:
    labels = None
    if settings.return_word_label:
        labels = [(w, 1) for t in texts for w in split_words(t).as_list() if w.strip()]
    return LLMLingua2Outcome(prompt, list(texts), origin, origin, list(range(len(texts))), labels)


# --------------------------------------------------------------------------- coarse


def _forced_context_ids(settings: LLMLingua2Settings, contexts) -> set[int]:
    n = len(contexts)
    forced = set()
    for i in settings.force_context_ids or []:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < n:
            raise ValueError(f"force_context_ids holds {i!r}, but there are {n} contexts "
                             f"(valid ids: 0..{n - 1})")
        forced.add(int(i))
    if settings.strict_preserve_uncompressed:
        forced |= {i for i, c in enumerate(contexts) if any(not s.compress for s in c)}
    return forced


def _coarse(classifier, contexts, texts, question, settings, forced_ids, rank, context_target,
            threshold_mode) -> tuple[list[int], list[_Context]]:
    """Kept context ids (prompt order) and the scored words of each kept context."""
    n = len(contexts)
    if not settings.use_context_level_filter or n < 2:
        return list(range(n)), _score(classifier, contexts, range(n), settings)
    lengths = classifier.tokenizer.count_batch(texts)
    budget = _context_budget(settings, lengths, context_target, threshold_mode)
    if budget is None:
        return list(range(n)), _score(classifier, contexts, range(n), settings)
    if rank is not None and question.strip():
        order = [i for i, _ in rank(list(texts), question)]
        scored = None
    else:
        scored = _score(classifier, contexts, range(n), settings)
        means = [_mean_probability(c) for c in scored]
        order = sorted(range(n), key=lambda i: (-means[i], i))
    unit, amount = budget
    if unit == "contexts":
        kept = sorted(set(order[:int(amount)]) | forced_ids)
    else:
        kept = sorted(select_contexts(order, lengths, amount, sorted(forced_ids)))
    if scored is None:
        return kept, _score(classifier, contexts, kept, settings)
    return kept, [scored[i] for i in kept]


def _context_budget(settings: LLMLingua2Settings, lengths: list[int], context_target: float,
                    threshold_mode: bool) -> tuple[str, float] | None:
    """``("contexts", n)``, ``("tokens", budget)``, or None for no context filter.

    Without explicit context-level settings, llmlingua keeps ``(rate+1)/2`` of the tokens
    (twice the target) so the word pass has room to choose. Threshold mode has no rate to
    derive that from, so it filters contexts only when told how.
    """
    total = float(sum(lengths))
    if settings.target_context > 0:
        return "contexts", float(settings.target_context)
    if settings.context_level_target_token > 0:
        return "tokens", float(settings.context_level_target_token)
    if settings.context_level_rate < 1:
        return "tokens", settings.context_level_rate * total
    if threshold_mode:
        return None
    if not settings.use_token_level_filter:
        return "tokens", float(context_target)
    if settings.target_token > 0:
        return "tokens", min(total, 2.0 * context_target)
    return "tokens", total * (settings.rate + 1) / 2


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
                 settings: LLMLingua2Settings) -> _Context:
    words = scores.words
    n = len(words)
    force_word = _force_token_words(words, settings.force_tokens)
    forced = force_word.copy()
    if settings.force_reserve_digit:
        forced |= np.array([bool(_DIGIT.search(words.word(i))) for i in range(n)], dtype=bool)
    fixed_rate = np.full(n, np.nan)
    offset = 0
    for segment in segments:
        end = offset + len(segment.text)
        inside = (words.ends > offset) & (words.word_starts < end)
        if not segment.compress:
            forced |= inside
        elif segment.rate is not None:
            fixed_rate[inside & np.isnan(fixed_rate)] = float(segment.rate)
        offset = end
    selectable = (words.role != SPACE) | forced
    text = scores.text
    return _Context(index, scores, forced, force_word, fixed_rate, selectable,
                    starts_with_space=text[:1].isspace())


def _force_token_words(words, tokens: Sequence[str]) -> np.ndarray:
    """Words that are (part of) a force token.

    A force token with letters or digits of the same word on both sides (the "." of "3.14",
    the "-" of "well-known") is part of that word and forces nothing; otherwise the words it
    touches are forced.
    """
    forced = np.zeros(len(words), dtype=bool)
    spaces = [t for t in tokens if t and not t.strip()]
    if spaces:
        forced |= words.is_space & np.array(
            [any(t in words.word(i) for t in spaces) for i in range(len(words))], dtype=bool)
    visible = sorted({t for t in tokens if t.strip()}, key=len, reverse=True)
    if not visible or len(words) == 0:
        return forced
    pattern = re.compile("|".join(re.escape(t) for t in visible))
    for match in pattern.finditer(words.text):
        a, b = match.span()
        first = int(np.searchsorted(words.ends, a, side="right"))
        last = int(np.searchsorted(words.word_starts, b, side="left")) - 1
        if first > last:
            continue
        if first == last and _inside_word(words, first, a, b):
            continue
        span = np.arange(first, last + 1)
        forced[span[~words.is_space[span]]] = True
    return forced


def _inside_word(words, index: int, a: int, b: int) -> bool:
    """True when ``[a, b)`` has letters or digits of word ``index`` on both sides."""
    text = words.text
    before = text[words.word_starts[index]:a]
    after = text[b:words.ends[index]]
    return any(c.isalnum() for c in before) and any(c.isalnum() for c in after)


# --------------------------------------------------------------------------- fine


def _fine(scored: list[_Context], settings: LLMLingua2Settings, context_target: float,
          threshold_mode: bool, tokenizer, instruction: str, question: str,
          fixed: float) -> list[np.ndarray]:
    """Keep masks per context, landing on ``context_target`` tokens after re-tokenising."""
    if not settings.use_token_level_filter:
        return [c.selectable.copy() for c in scored]
    if threshold_mode:
        return _drop_repeats([_keep_above(c, settings.keep_threshold) for c in scored],
                             scored, settings)
    budget = context_target
    best: tuple[float, list[np.ndarray]] | None = None
    for _ in range(_BUDGET_PASSES):
        keep = _drop_repeats(_keep_within(scored, budget), scored, settings)
        texts = [join_kept(c.scores.words, k, strip_start=not c.starts_with_space)
                 for c, k in zip(scored, keep)]
        prompt = join_prompt(instruction, CONTEXT_SEPARATOR.join(t for t in texts if t), question)
        miss = tokenizer.count(prompt) - fixed - context_target
        if best is None or abs(miss) < best[0]:
            best = (abs(miss), keep)
        if abs(miss) <= max(2.0, 0.02 * context_target):
            break
        budget -= miss
    return best[1]


def _keep_above(context: _Context, threshold: float) -> np.ndarray:
    keep = context.forced | (context.selectable & (context.scores.probs >= threshold))
    fixed = ~np.isnan(context.fixed_rate) & ~context.forced
    for rate in np.unique(context.fixed_rate[fixed]):
        group = fixed & (context.fixed_rate == rate)
        keep[group] = _top_within(context.scores.probs, context.scores.costs, group,
                                  rate * context.scores.costs[group].sum())[group]
    return keep


def _keep_within(scored: list[_Context], budget: float) -> list[np.ndarray]:
    """Forced words, each fixed-rate segment at its rate, then the most probable free words
    (across all contexts) while ``budget`` tokens last."""
    keeps = [c.forced.copy() for c in scored]
    spent = sum(float(c.scores.costs[c.forced].sum()) for c in scored)
    for c, keep in zip(scored, keeps):
        fixed = ~np.isnan(c.fixed_rate) & ~c.forced & c.selectable
        for rate in np.unique(c.fixed_rate[fixed]):
            group = fixed & (c.fixed_rate == rate)
            chosen = _top_within(c.scores.probs, c.scores.costs, group,
                                 rate * c.scores.costs[group].sum())
            keep |= chosen
            spent += float(c.scores.costs[chosen].sum())
    free = [np.isnan(c.fixed_rate) & ~c.forced & c.selectable for c in scored]
    probs = np.concatenate([c.scores.probs[f] for c, f in zip(scored, free)]) if scored else []
    costs = np.concatenate([c.scores.costs[f] for c, f in zip(scored, free)]) if scored else []
    chosen = _top_within(np.asarray(probs), np.asarray(costs), np.ones(len(probs), dtype=bool),
                         budget - spent)
    position = 0
    for keep, f in zip(keeps, free):
        count = int(f.sum())
        keep[np.flatnonzero(f)] |= chosen[position:position + count]
        position += count
    return keeps


def _top_within(probs: np.ndarray, costs: np.ndarray, eligible: np.ndarray,
                budget: float) -> np.ndarray:
    """The most probable eligible words whose summed cost fits ``budget`` (ties: earlier)."""
    chosen = np.zeros(len(probs), dtype=bool)
    candidates = np.flatnonzero(eligible)
    if budget <= 0 or len(candidates) == 0:
        return chosen
    order = candidates[np.argsort(-probs[candidates], kind="stable")]
    spent = np.cumsum(costs[order])
    count = int(np.searchsorted(spent, budget + 1e-9, side="right"))
    chosen[order[:count]] = True
    return chosen


def _drop_repeats(keeps: list[np.ndarray], scored: list[_Context],
                  settings: LLMLingua2Settings) -> list[np.ndarray]:
    """With ``drop_consecutive``, a force token equal to the previous kept word is dropped."""
    if not settings.drop_consecutive:
        return keeps
    for keep, c in zip(keeps, scored):
        previous = None
        for i in np.flatnonzero(keep):
            word = c.scores.words.word(i)
            normal = word if word.strip() else "\n" if "\n" in word else " "
            if c.force_word[i] and normal == previous:
                keep[i] = False
                continue
            previous = normal
    return keeps


# --------------------------------------------------------------------------- labels


def _word_labels(texts: list[str], scored: list[_Context], keeps: list[np.ndarray],
                 settings: LLMLingua2Settings) -> list[tuple[str, int]]:
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


# --------------------------------------------------------------------------- checks


def _check_fraction(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or not 0 < value <= 1:
        raise ValueError(f"{name} is the fraction of tokens to keep and must be in (0, 1], "
                         f"got {value!r}")


def _check_target(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value != -1 and value <= 0:
        raise ValueError(f"{name} must be positive (or -1 to use the rate), got {value!r}")


def _string_list(name: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"{name} must be a list of strings, e.g. ['\\n', '.'], got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold strings, got {item!r}")
    return [v for v in value if v]
