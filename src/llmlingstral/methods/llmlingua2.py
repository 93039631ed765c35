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

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..budget import (aim, context_target, keep_fixed_rates, keep_within, lingua2_context_budget,
                      select_contexts, select_top_contexts, target_tokens)
from ..errors import InvalidArgumentError, UnsupportedOptionError
from ..kept import block_ranges, prompt_kept, whole
from ..prompt import (CONTEXT_SEPARATOR, DEFAULT_LABEL_SEP, DEFAULT_WORD_SEP, CompressionOutcome,
                      KeptText, Range, Segment, context_text, join_contexts, join_prompt)
from ..ranking.base import Ranker
from ..scoring.classifier import TOKEN_TO_WORD, TokenClassifier, WordScores
from ..settings import INTERNAL
from ..text.protect import ProtectOption, Protection, resolve_protection
from ..text.words import SPACE, join_kept, kept_ranges, split_words
from ..validate import (check_context_ids, check_count_or_unset,
                        check_non_negative_int, check_probability, check_rate, check_string_list,
                        check_target, check_text)

_DIGIT = re.compile(r"\d")


@dataclass
class LLMLingua2Settings:
    """Every option of ``compress_prompt_llmlingua2`` (llmlingua 0.2.2 names and defaults;
    the one declaration, which the public signature repeats).

    Beyond llmlingua: ``keep_threshold`` (keep words with p(keep) >= it, ignoring rate),
    ``strict_preserve_uncompressed`` (a context holding a ``compress=False`` segment
    survives the context filter) and, set by the compressor, ``max_force_token`` (the limit
    on ``force_tokens``), ``concate_question`` (False: the question conditions ranking
    but is left out of the result and its budget, as in ``compress_prompt``) and
    ``with_instruction_and_question``: False is llmlingua 0.2.2's LLMLingua-2 result, the
    compressed contexts alone (the question only guides a ranker chosen by name);
    ``compress_prompt_llmlingua2`` sets it to keep the instruction and question around them.
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
    word_sep: str = DEFAULT_WORD_SEP
    label_sep: str = DEFAULT_LABEL_SEP
    token_to_word: str = "mean"
    force_tokens: Sequence[str] = ()
    force_reserve_digit: bool = False
    drop_consecutive: bool = False
    chunk_end_tokens: Sequence[str] = (".", "\n")
    keep_threshold: float | None = None
    strict_preserve_uncompressed: bool = True
    protect: ProtectOption = True
    max_force_token: int = field(default=100, metadata=INTERNAL)
    concate_question: bool = field(default=True, metadata=INTERNAL)
    with_instruction_and_question: bool = field(default=False, metadata=INTERNAL)

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the bad setting and what to pass instead."""
        check_rate("rate", self.rate)
        check_target("target_token", self.target_token)
        check_target("context_level_target_token", self.context_level_target_token)
        check_rate("context_level_rate", self.context_level_rate)
        check_count_or_unset("target_context", self.target_context, "a number of contexts to keep")
        if self.token_to_word not in TOKEN_TO_WORD:  # llmlingua: NotImplementedError
            raise UnsupportedOptionError(f"token_to_word must be one of {list(TOKEN_TO_WORD)}, "
                                         f"got {self.token_to_word!r}")
        self.force_tokens = check_string_list("force_tokens", self.force_tokens)
        self.chunk_end_tokens = check_string_list("chunk_end_tokens", self.chunk_end_tokens)
        if len(self.force_tokens) > self.max_force_token:  # llmlingua: an assert
            raise InvalidArgumentError(
                f"{len(self.force_tokens)} force_tokens given, at most {self.max_force_token} "
                f"are allowed; pass fewer, or raise llmlingua2_config['max_force_token']")
        if self.keep_threshold is not None:
            check_probability("keep_threshold", self.keep_threshold)
        check_text("word_sep", self.word_sep)
        check_text("label_sep", self.label_sep)
        self.protection  # raises on a malformed protect

    @property
    def protection(self) -> Protection:
        """What this call keeps whole: ``protect`` with ``force_tokens`` and
        ``force_reserve_digit`` added."""
        return resolve_protection(self.protect, self.force_tokens, self.force_reserve_digit)


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
    attached: np.ndarray      # kept only with other words of the context (markers)


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


# --------------------------------------------------------------------------- entry point


def compress(classifier: TokenClassifier, contexts: list[list[Segment]],
             settings: LLMLingua2Settings, *, instruction: str = "", question: str = "",
             ranker: Ranker | None = None) -> CompressionOutcome:
    """Compress ``contexts`` with LLMLingua-2; ``ranker`` orders contexts for ``question``
    (default: by mean keep-probability). The outcome names the classifier's dtype."""
    outcome = _compress(classifier, contexts, settings, instruction, question, ranker)
    outcome.dtype = classifier.dtype
    return outcome


def _compress(classifier: TokenClassifier, contexts: list[list[Segment]],
              settings: LLMLingua2Settings, instruction: str, question: str,
              ranker: Ranker | None) -> CompressionOutcome:
    settings.validate()
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
                 shown_question, fixed)
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
    settings: LLMLingua2Settings

    def kept(self, block: list[Range]) -> KeptText:
        """The :class:`KeptText` of a result whose contexts kept ``block``."""
        shown = self.settings.with_instruction_and_question
        return prompt_kept(self.instruction, self.texts, self.question, block,
                           show_instruction=shown,
                           show_question=shown and self.settings.concate_question)


def _explicit_context_filter(settings: LLMLingua2Settings) -> bool:
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


def _forced_context_ids(settings: LLMLingua2Settings, contexts) -> set[int]:
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
    if scored is None:
        return kept, _score(classifier, contexts, kept, settings)
    return kept, [scored[i] for i in kept]


def rank_by_keep_probability(classifier: TokenClassifier, texts: Sequence[str]
                             ) -> list[tuple[int, float]]:
    """``[(index, mean keep-probability)]`` of ``texts``, best first: LLMLingua-2's own
    context ranking, which needs no question."""
    contexts = [[Segment(t)] for t in texts]
    scored = _score(classifier, contexts, range(len(texts)), LLMLingua2Settings())
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
                 settings: LLMLingua2Settings) -> _Context:
    words = scores.words
    n = len(words)
    force_word = _force_token_words(words, settings.force_tokens)
    forced = force_word.copy()
    if settings.force_reserve_digit:
        forced |= np.array([bool(_DIGIT.search(words.word(i))) for i in range(n)], dtype=bool)
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
    text = scores.text
    return _Context(index, scores, forced, force_word, fixed_rate, selectable,
                    starts_with_space=text[:1].isspace(), attached=attached & ~force_word)


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
        return _settled([_keep_above(c, settings.keep_threshold) for c in scored],
                        scored, settings)
    def attempt(budget: float) -> tuple[float, list[np.ndarray]]:
        keep = _settled(keep_within([c.scores.probs for c in scored],
                                    [c.scores.costs for c in scored],
                                    [c.forced for c in scored],
                                    [c.fixed_rate for c in scored],
                                    [c.selectable for c in scored], budget),
                        scored, settings)
        texts = [join_kept(c.scores.words, k, strip_start=not c.starts_with_space)
                 for c, k in zip(scored, keep)]
        prompt = join_prompt(instruction, join_contexts(texts), question)
        return tokenizer.count(prompt) - fixed, keep

    return aim(attempt, context_target)


def _keep_above(context: _Context, threshold: float) -> np.ndarray:
    """Forced words, every word at or above ``threshold``, and fixed-rate segments at their
    rate whatever the threshold."""
    probs, costs = context.scores.probs, context.scores.costs
    keep = context.forced | (context.selectable & (probs >= threshold))
    fixed = ~np.isnan(context.fixed_rate) & ~context.forced
    keep[fixed] = keep_fixed_rates(probs, costs, context.fixed_rate, fixed)[fixed]
    return keep


def _settled(keeps: list[np.ndarray], scored: list[_Context],
             settings: LLMLingua2Settings) -> list[np.ndarray]:
    """The final keep masks: repeats dropped, and the markers of a context that kept no
    other visible word dropped with it."""
    keeps = _drop_repeats(keeps, scored, settings)
    for keep, c in zip(keeps, scored):
        others = keep & ~c.attached & (c.scores.words.role != SPACE)
        if not others.any():
            keep &= ~c.attached
    return keeps


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
