"""Iterative token-level compression (the fine pass of LLMLingua and LongLLMLingua).

The text is cut into windows of about ``iterative_size`` tokens, made of whole units
(a word with the whitespace before it). Each window is scored given the part of the text
already kept, then the units with the highest score per token are kept within the running
token budget (:class:`..budget.WindowBudgets` decides how much each window spends). Budgets
are cumulative, so what one window leaves unused carries to the next and the whole text
lands on the requested size, the last window included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..budget import WindowBudgets, unit_quotas
from ..kept import cut, lstripped, merged
from ..progress import bar_disable
from ..prompt import CONTEXT_SEPARATOR, Range, Segment, context_text
from ..text.scripts import ShiftedStarts, token_start_set
from ..text.units import Units, owner_of_tokens, protected_units, split_units
from ..tokenization import MistralTextTokenizer
from .steps import Steps, run_steps

# Show a progress bar from this many windows on (about 8k tokens at the default size).
_PROGRESS_MIN_WINDOWS = 40


class TokenStream(Protocol):
    """Scores chunks of tokens given what was kept before (higher = more worth keeping)."""

    chunk_limit: int

    def score(self, ids: Sequence[int]) -> np.ndarray: ...

    def commit(self, keep: np.ndarray) -> None: ...


@dataclass
class _Layout:
    """The joined text cut into units, with each unit's cost and budget role."""

    text: str
    units: Units
    context_of_unit: np.ndarray
    cost: np.ndarray          # tokens per unit
    forced: np.ndarray        # kept whatever the budget
    tied: np.ndarray          # kept only with other kept text of its context
    fixed_rate: np.ndarray    # NaN where the unit follows the global rate
    budget_group: np.ndarray  # units sharing one running budget: a context's free text, or a segment with its own rate
    token_ids: list[int]
    unit_of_token: np.ndarray
    context_starts: list[int]


def compress_token_level(stream: TokenStream, tokenizer: MistralTextTokenizer,
                         contexts: Sequence[Sequence[Segment]], target_tokens: float, *,
                         iterative_size: int = 200, keep_split: bool = False,
                         context_deltas: Sequence[float] | None = None,
                         show_progress: bool | None = None, force_tokens: Sequence[str] = (),
                         force_reserve_digit: bool = False, placement: str = "pooled",
                         first_pass: TokenStream | None = None) -> list[str]:
    """Compress ``contexts`` to about ``target_tokens`` tokens in all; returns each context's text.

    ``context_deltas`` shifts each context's keep rate around the global one
    (LongLLMLingua's dynamic compression ratio). Words touching one of ``force_tokens``,
    and with ``force_reserve_digit`` words holding a digit, are always kept.
    ``placement`` is how each context's budget is spread over its windows (one of
    :data:`..budget.PLACEMENTS`, see :class:`..budget.WindowBudgets`); ``"prompt"`` first
    scores the whole uncompressed text on ``first_pass``, a fresh stream like ``stream``.
    """
    ranges = run_steps(token_level_steps(
        stream, tokenizer, contexts, target_tokens, iterative_size=iterative_size,
        keep_split=keep_split, context_deltas=context_deltas, show_progress=show_progress,
        force_tokens=force_tokens, force_reserve_digit=force_reserve_digit,
        placement=placement, first_pass=first_pass))
    return [cut(context_text(c), r) for c, r in zip(contexts, ranges)]


def token_level_steps(stream: TokenStream, tokenizer: MistralTextTokenizer,
                      contexts: Sequence[Sequence[Segment]], target_tokens: float, *,
                      iterative_size: int = 200, keep_split: bool = False,
                      context_deltas: Sequence[float] | None = None,
                      show_progress: bool | None = None, force_tokens: Sequence[str] = (),
                      force_reserve_digit: bool = False, placement: str = "pooled",
                      first_pass: TokenStream | None = None) -> Steps[list[list[Range]]]:
    """:func:`compress_token_level` one window at a time: yields ``(stream, ids)`` and
    expects the scores of ``ids`` sent back (see :mod:`.steps`). Returns the kept
    character ranges of each context's text; joined, they are its compressed text."""
    protect = _Protection(tuple(force_tokens), bool(force_reserve_digit))
    layout = _build_layout(tokenizer, contexts, keep_split, protect)
    deltas = np.zeros(len(contexts)) if context_deltas is None else np.asarray(context_deltas)
    quota = unit_quotas(layout.cost, layout.forced, layout.fixed_rate,
                        deltas[layout.context_of_unit], float(target_tokens))
    windows = _windows(layout, max(1, int(iterative_size)), stream.chunk_limit)
    prior = None
    if placement == "prompt":
        if first_pass is None:
            raise ValueError("budget placement 'prompt' needs a first_pass stream")
        prior = yield from _first_pass_values(first_pass, layout, windows)
    budgets = WindowBudgets(quota, layout.cost, layout.forced, layout.budget_group, placement,
                            prior=prior, tied=layout.tied, chain=len(contexts))
    keep = yield from _select_units(stream, layout, budgets, windows, show_progress)
    return _kept_ranges(layout, budgets.settled(keep), contexts)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Protection:
    phrases: tuple[str, ...] = ()
    digits: bool = False


def _build_layout(tokenizer: MistralTextTokenizer, contexts: Sequence[Sequence[Segment]],
                  keep_split: bool, protect: _Protection = _Protection()) -> _Layout:
    starts, ends, separator, context_of_unit, pinned, follows = [], [], [], [], [], []
    fixed_rate, group, context_starts, offset = [], [], [], 0
    n_groups = len(contexts)  # groups 0..n-1: each context's free text
    text = CONTEXT_SEPARATOR.join("".join(s.text for s in c) for c in contexts)
    encoding = tokenizer.encode_with_offsets(text)
    token_starts = token_start_set(encoding.offsets)

    def add_units(piece: str, context: int, segment: Segment | None, split: bool,
                  budget_group: int):
        units = split_units(piece, keep_split=split,
                            token_starts=ShiftedStarts(token_starts, offset))
        starts.extend((units.starts + offset).tolist())
        ends.extend((units.ends + offset).tolist())
        separator.extend(units.separator.tolist())
        context_of_unit.extend([context] * len(units))
        # Whitespace-only units join the words around them and markers label them: both
        # stay while their context keeps a word, as does the blank line before it.
        blank = np.array([piece[a:b].isspace() for a, b in zip(units.starts, units.ends)],
                         dtype=bool)
        attached = segment is None or segment.attached
        follows.extend((units.separator | blank | attached).tolist())
        protected = protected_units(piece, units, protect.phrases, protect.digits)
        pinned.extend((protected | (not attached and not segment.compress)).tolist())
        rate = None if segment is None else segment.rate
        fixed_rate.extend([np.nan if rate is None else rate] * len(units))
        group.extend([budget_group] * len(units))

    for c, segments in enumerate(contexts):
        if c:
            add_units(CONTEXT_SEPARATOR, c, None, False, c)
            offset += len(CONTEXT_SEPARATOR)
        context_starts.append(offset)
        for segment in segments:
            budget_group = c
            if segment.compress and segment.rate is not None:
                budget_group, n_groups = n_groups, n_groups + 1
            add_units(segment.text, c, segment, keep_split, budget_group)
            offset += len(segment.text)
    units = Units(np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64),
                  np.array(separator, dtype=bool))
    token_begin = np.array([s for s, _ in encoding.offsets], dtype=np.int64)
    unit_of_token = owner_of_tokens(units.starts, token_begin)
    cost = np.bincount(unit_of_token, minlength=len(units)).astype(np.float64)
    context_of_unit = np.array(context_of_unit, dtype=np.int64)
    fixed_rate = np.array(fixed_rate, dtype=np.float64)
    forced, tied = _ties(context_of_unit, np.array(pinned, dtype=bool),
                         np.array(follows, dtype=bool), ~np.isnan(fixed_rate), len(contexts))
    return _Layout(text=text, units=units, context_of_unit=context_of_unit, cost=cost,
                   forced=forced, tied=tied, fixed_rate=fixed_rate,
                   budget_group=np.array(group, dtype=np.int64), token_ids=encoding.ids,
                   unit_of_token=unit_of_token, context_starts=context_starts)


def _ties(context_of_unit: np.ndarray, pinned: np.ndarray, follows: np.ndarray,
          has_rate: np.ndarray, n_contexts: int) -> tuple[np.ndarray, np.ndarray]:
    """The forced and the tied units. A unit that follows its context's words is forced
    where the context is sure to be shown (it holds protected text or a segment with its
    own rate), and tied to the context's other kept units elsewhere."""
    sure = np.bincount(context_of_unit, weights=pinned | has_rate, minlength=n_contexts) > 0
    tied = follows & ~sure[context_of_unit]
    return pinned | (follows & ~tied), tied


# --------------------------------------------------------------------------- selection


def _windows(layout: _Layout, size: int, limit: int) -> list[np.ndarray]:
    """Consecutive unit indices, about ``size`` tokens each and never over ``limit``."""
    windows, current, tokens = [], [], 0
    for unit, cost in enumerate(np.minimum(layout.cost, limit)):
        if current and (tokens >= size or tokens + cost > limit):
            windows.append(np.array(current))
            current, tokens = [], 0
        current.append(unit)
        tokens += cost
    if current:
        windows.append(np.array(current))
    return windows


def _first_pass_values(stream: TokenStream, layout: _Layout,
                       windows: list[np.ndarray]) -> Steps[np.ndarray]:
    """Every unit's value in the uncompressed text (llmlingua's first pass over the whole
    prompt): the windows scored in turn on ``stream``, everything kept."""
    values = np.zeros(len(layout.units))
    token_bounds = np.concatenate([[0], np.cumsum(layout.cost)]).astype(np.int64)
    for window in windows:
        scored_ids, owner = _window_tokens(window, token_bounds, layout.token_ids,
                                           stream.chunk_limit)
        scores = yield stream, scored_ids
        values[window] = _mean_by_unit(scores, owner, len(window))
        stream.commit(np.ones(len(scored_ids), dtype=bool))
    return values


def _select_units(stream: TokenStream, layout: _Layout, budgets: WindowBudgets,
                  windows: list[np.ndarray], show_progress: bool | None) -> Steps[np.ndarray]:
    """The keep mask over units; each window's scores are asked for with a yield."""
    keep = np.zeros(len(layout.units), dtype=bool)
    token_bounds = np.concatenate([[0], np.cumsum(layout.cost)]).astype(np.int64)
    ids = layout.token_ids
    disable = bar_disable(show_progress, len(windows) >= _PROGRESS_MIN_WINDOWS)
    for window in tqdm(windows, desc="compressing", unit="window", disable=disable, leave=False):
        scored_ids, owner = _window_tokens(window, token_bounds, ids, stream.chunk_limit)
        values = yield stream, scored_ids
        unit_value = _mean_by_unit(values, owner, len(window))
        budgets.observe(window, unit_value)
        chosen = np.zeros(len(window), dtype=bool)
        groups = layout.budget_group[window]
        # Each budget group keeps its own running balance, so a segment's rate is its own.
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            chosen[members] = budgets.keep(window[members], unit_value[members])
        keep[window] = chosen
        stream.commit(chosen[owner])
    return keep


def _window_tokens(window: np.ndarray, token_bounds: np.ndarray, ids: list[int],
                   limit: int) -> tuple[list[int], np.ndarray]:
    """The ids fed to the model for a window, and the window position of each id's unit.

    A unit longer than ``limit`` tokens (a long unbroken string) is scored on its head.
    """
    scored, owner = [], []
    for position, unit in enumerate(window):
        start, end = token_bounds[unit], token_bounds[unit + 1]
        piece = ids[start:min(end, start + limit)]
        scored.extend(piece)
        owner.extend([position] * len(piece))
    return scored, np.array(owner, dtype=np.int64)


def _mean_by_unit(values: np.ndarray, owner: np.ndarray, n_units: int) -> np.ndarray:
    """Each unit's mean score over its scored tokens (NaN: a token with nothing before it
    to predict it from); +inf, always worth keeping, for a unit with none."""
    scored = ~np.isnan(values)
    sums = np.bincount(owner[scored], weights=values[scored], minlength=n_units)
    counts = np.bincount(owner[scored], minlength=n_units)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


# --------------------------------------------------------------------------- output


def _kept_ranges(layout: _Layout, keep: np.ndarray,
                 contexts: Sequence[Sequence[Segment]]) -> list[list[Range]]:
    """Each context's kept units as character ranges of its own text."""
    ranges: list[list[Range]] = [[] for _ in contexts]
    units = layout.units
    for unit in np.flatnonzero(keep):
        context = layout.context_of_unit[unit]
        base = layout.context_starts[context] if contexts else 0
        if units.starts[unit] < base:
            continue  # the separator before a context is not part of its text
        ranges[context].append((units.starts[unit] - base, units.ends[unit] - base))
    outputs = []
    for c, segments in enumerate(contexts):
        kept = merged(ranges[c])
        # A dropped first word leaves the next word's space in front; protected text stays.
        first_is_free = bool(segments) and segments[0].compress
        starts_with_space = bool(segments) and segments[0].text[:1].isspace()
        if first_is_free and not starts_with_space:
            kept = lstripped(context_text(segments), kept)
        outputs.append(kept)
    return outputs
