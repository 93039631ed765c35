"""Iterative token-level compression (the fine pass of LLMLingua and LongLLMLingua).

The text is cut into windows of about ``iterative_size`` tokens, made of whole units
(a word with the whitespace before it). Each window is scored given the part of the text
already kept, then the units with the highest score per token are kept within the running
token budget (:class:`..budget.WindowBudgets` decides how much each window spends). Budgets
are cumulative, so what one window leaves unused carries to the next and the whole text
lands on the requested size, the last window included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..budget import WindowBudgets, repaid_shares, unit_quotas
from ..fact_budget import warn_if_dropped
from ..kept import lstripped, merged, seamed
from ..options import LLMLinguaOptions
from ..progress import bar_disable
from ..scoring.protocol import TokenStream
from ..prompt import CONTEXT_SEPARATOR, Range, Segment, context_text, join_contexts
from ..text.scripts import ShiftedStarts, token_start_set
from ..text.protect import DEFAULT_PROTECTION, Protection, covered, protected_spans
from ..text.units import Units, fused, owner_of_tokens, split_units
from ..tokenization import MistralTextTokenizer
from .fact_pins import Needs, pinned_facts, question_pins
from .steps import Steps

# Show a progress bar from this many windows on (about 8k tokens at the default size).
_PROGRESS_MIN_WINDOWS = 40
# How many times the output is counted again while trimming it to the target.
_TRIM_PASSES = 4


@dataclass
class _Layout:
    """The joined text cut into units, with each unit's cost and budget role."""

    text: str
    units: Units
    context_of_unit: np.ndarray
    cost: np.ndarray          # tokens per unit
    pinned: np.ndarray        # kept whatever the budget: force tokens, text not to compress
    fact: np.ndarray          # holds a protected fact: pinned if the budget affords it
    follows: np.ndarray       # whitespace and markers that go with their context's words
    fixed_rate: np.ndarray    # NaN where the unit follows the global rate
    budget_group: np.ndarray  # units sharing one running budget: a context's free text, or a segment with its own rate
    token_ids: list[int]
    unit_of_token: np.ndarray
    context_starts: list[int]
    n_contexts: int
    # Set by _charge_facts: kept whatever the budget (pinned units, the facts it affords and
    # the whitespace of contexts sure to be shown), and kept only with other kept text of
    # their context.
    forced: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    tied: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def token_level_steps(stream: TokenStream, tokenizer: MistralTextTokenizer,
                      contexts: Sequence[Sequence[Segment]], target_tokens: float,
                      options: LLMLinguaOptions, *,
                      context_deltas: Sequence[float] | None = None, needs: Needs = Needs(),
                      first_pass: TokenStream | None = None) -> Steps[list[list[Range]]]:
    """Compress ``contexts`` to about ``target_tokens`` tokens in all, one window at a
    time: yields ``(stream, ids)`` and expects the scores of ``ids`` sent back (see
    :mod:`.steps`). Returns the kept character ranges of each context's text; joined with
    :func:`..kept.seamed`, they are its compressed text.

    ``context_deltas`` shifts each context's keep rate around the global one
    (LongLLMLingua's dynamic compression ratio). Of ``options``: windows of about
    ``iterative_size`` tokens, ``keep_split``, ``show_progress``; what ``protection``
    protects is kept or dropped whole: force tokens (and with ``force_reserve_digit`` digit
    words) always kept, facts charged first (:mod:`.fact_pins`, most needed first by
    ``needs``); ``budget_placement`` is how each context's budget is spread over its
    windows (one of :data:`..budget.PLACEMENTS`, see :class:`..budget.WindowBudgets`);
    ``"prompt"`` first scores the whole uncompressed text on ``first_pass``, a fresh
    stream like ``stream``.
    """
    keep_split, placement = options.keep_split, options.budget_placement
    layout = _build_layout(tokenizer, contexts, keep_split, options.protection)
    deltas = np.zeros(len(contexts)) if context_deltas is None else np.asarray(context_deltas)
    quota = _charge_facts(layout, float(target_tokens), deltas[layout.context_of_unit], needs)
    windows = _windows(layout, max(1, int(options.iterative_size)), stream.chunk_limit)
    prior = None
    if placement == "prompt":
        if first_pass is None:
            raise ValueError("budget placement 'prompt' needs a first_pass stream")
        prior = yield from _first_pass_values(first_pass, layout, windows)
    budgets = WindowBudgets(quota, layout.cost, layout.forced, layout.budget_group, placement,
                            prior=prior, tied=layout.tied, chain=len(contexts))
    keep, values = yield from _select_units(stream, layout, budgets, windows,
                                            options.show_progress)
    keep = _trimmed(layout, budgets.settled(keep), values, float(target_tokens), contexts,
                    tokenizer)
    return _kept_ranges(layout, keep, contexts)


# --------------------------------------------------------------------------- layout


class _UnitLists:
    """The units of the joined contexts, added piece by piece (a segment's text, or the
    separator between two contexts), with what the budget needs to know of each."""

    def __init__(self, text: str, token_starts: frozenset[int], protection: Protection):
        self.text, self.token_starts, self.protection = text, token_starts, protection
        # Force tokens and digit words are kept whatever the budget; when facts are
        # protected too, they are found apart (a fact span may hold a force token).
        named = protection.force_tokens or protection.force_reserve_digit
        self.facts_too = bool(protection.classes or protection.patterns)
        self.forced_only = protection.forced_only() if named and self.facts_too else None
        self.starts, self.ends, self.separator, self.context = [], [], [], []
        self.pinned, self.fact, self.follows, self.fixed_rate, self.group = [], [], [], [], []

    def add(self, offset: int, piece: str, context: int, segment: Segment | None,
            keep_split: bool, budget_group: int) -> None:
        units = split_units(piece, keep_split=keep_split,
                            token_starts=ShiftedStarts(self.token_starts, offset))
        free = segment is not None and segment.compress and not segment.attached
        units, hit, forced = self._protect(piece, units) if free else \
            (units, np.zeros(len(units), dtype=bool), np.zeros(len(units), dtype=bool))
        self.starts.extend((units.starts + offset).tolist())
        self.ends.extend((units.ends + offset).tolist())
        self.separator.extend(units.separator.tolist())
        self.context.extend([context] * len(units))
        # Whitespace-only units join the words around them and markers label them: both
        # stay while their context keeps a word, as does the blank line before it.
        blank = np.array([piece[a:b].isspace() for a, b in zip(units.starts, units.ends)],
                         dtype=bool)
        attached = segment is None or segment.attached
        self.follows.extend((units.separator | blank | attached).tolist())
        self.pinned.extend((forced | (not attached and not segment.compress)).tolist())
        self.fact.extend((hit & ~forced).tolist())
        rate = None if segment is None else segment.rate
        self.fixed_rate.extend([np.nan if rate is None else rate] * len(units))
        self.group.extend([budget_group] * len(units))

    def _protect(self, piece: str, units: Units) -> tuple[Units, np.ndarray, np.ndarray]:
        """The units with each protected span made one, which hold a span, and which hold
        what is kept whatever the budget (force tokens, digit words)."""
        spans = protected_spans(piece, self.protection)
        units, hit = fused(units, spans)
        if not self.facts_too:  # nothing but force tokens and digit words
            return units, hit, hit
        if self.forced_only is None or not spans:
            return units, hit, np.zeros(len(units), dtype=bool)
        named = protected_spans(piece, self.forced_only)
        return units, hit, covered(named, units.starts, units.ends)


def _build_layout(tokenizer: MistralTextTokenizer, contexts: Sequence[Sequence[Segment]],
                  keep_split: bool, protection: Protection = DEFAULT_PROTECTION) -> _Layout:
    n_groups = len(contexts)  # groups 0..n-1: each context's free text
    text = CONTEXT_SEPARATOR.join("".join(s.text for s in c) for c in contexts)
    encoding = tokenizer.encode_with_offsets(text)
    lists = _UnitLists(text, token_start_set(encoding.offsets), protection)
    context_starts, offset = [], 0
    for c, segments in enumerate(contexts):
        if c:
            lists.add(offset, CONTEXT_SEPARATOR, c, None, False, c)
            offset += len(CONTEXT_SEPARATOR)
        context_starts.append(offset)
        for segment in segments:
            budget_group = c
            if segment.compress and segment.rate is not None:
                budget_group, n_groups = n_groups, n_groups + 1
            lists.add(offset, segment.text, c, segment, keep_split, budget_group)
            offset += len(segment.text)
    units = Units(np.array(lists.starts, dtype=np.int64), np.array(lists.ends, dtype=np.int64),
                  np.array(lists.separator, dtype=bool))
    token_begin = np.array([s for s, _ in encoding.offsets], dtype=np.int64)
    unit_of_token = owner_of_tokens(units.starts, token_begin)
    return _Layout(text=text, units=units, context_of_unit=np.array(lists.context, np.int64),
                   cost=np.bincount(unit_of_token, minlength=len(units)).astype(np.float64),
                   pinned=np.array(lists.pinned, dtype=bool),
                   fact=np.array(lists.fact, dtype=bool),
                   follows=np.array(lists.follows, dtype=bool),
                   fixed_rate=np.array(lists.fixed_rate, dtype=np.float64),
                   budget_group=np.array(lists.group, dtype=np.int64), token_ids=encoding.ids,
                   unit_of_token=unit_of_token, context_starts=context_starts,
                   n_contexts=len(contexts))


def _charge_facts(layout: _Layout, target: float, deltas: np.ndarray,
                  needs: Needs) -> np.ndarray:
    """Each unit's quota of the ``target`` (expected kept tokens, see
    :func:`..budget.unit_quotas`), with the facts charged first: each context pins the
    facts that fit in their share of its own budget (the most needed first), and its free
    words share what is left, so a context dense in facts keeps its rate too. Settles
    which units are forced and which are tied to their context's other kept units, and
    warns once if some facts could not be pinned."""
    context, has_rate = layout.context_of_unit, ~np.isnan(layout.fixed_rate)
    facts = np.flatnonzero(layout.fact)
    if has_rate[facts].any():  # a part with its own rate pays for its facts itself
        _charge_part_facts(layout, facts[has_rate[facts]], needs)
        facts = facts[~has_rate[facts]]
    layout.forced, layout.tied = _ties(context, layout.pinned, layout.follows, has_rate,
                                       layout.n_contexts)
    quota = unit_quotas(layout.cost, layout.forced, layout.fixed_rate, deltas, target)
    if len(facts) == 0:
        return quota
    share = np.bincount(context, weights=quota, minlength=layout.n_contexts)
    pinned = layout.pinned.copy()
    pinned[_affordable_facts(layout, facts, share, needs)] = True
    layout.forced, layout.tied = _ties(context, pinned, layout.follows, has_rate,
                                       layout.n_contexts)
    # A context the question's fact took over its share is paid for by the others.
    must = np.bincount(context, weights=layout.cost * layout.forced, minlength=layout.n_contexts)
    repaid = repaid_shares(share, must)
    redo = np.union1d(np.unique(context[facts]), np.flatnonzero(~np.isclose(repaid, share)))
    # Units are in context order: each context's units are one slice.
    bounds = np.searchsorted(context, np.arange(layout.n_contexts + 1))
    for c in redo:
        part = slice(bounds[c], bounds[c + 1])
        quota[part] = unit_quotas(layout.cost[part], layout.forced[part],
                                  layout.fixed_rate[part], deltas[part], float(repaid[c]))
    return quota


def _charge_part_facts(layout: _Layout, facts: np.ndarray, needs: Needs) -> None:
    """Pin the facts of parts with their own rate (``<llmlingua, rate=...>`` segments)
    within each part's budget, and lower the rate of the part's other units so that the
    part still keeps its share: its facts never take budget from the rest of the prompt."""
    group, cost = layout.budget_group, layout.cost
    for g in np.unique(group[facts]):
        members = facts[group[facts] == g]
        part = np.flatnonzero(group == g)
        free = part[~layout.pinned[part]]
        budget = float(np.dot(cost[free], layout.fixed_rate[free]))
        pieces = [_stripped(layout.text, layout.units.starts[u], layout.units.ends[u])
                  for u in members]
        chosen = pinned_facts(cost[members], budget, layout.text, pieces,
                              np.zeros(len(members), dtype=np.int64), Needs(needs.question))
        warn_if_dropped(chosen, cost[members], budget)
        layout.pinned[members[chosen]] = True
        rest = free[~np.isin(free, members[chosen])]
        if cost[rest].sum() > 0:
            left = budget - cost[members[chosen]].sum()
            layout.fixed_rate[rest] = np.clip(left / cost[rest].sum(), 0.0, 1.0)


def _affordable_facts(layout: _Layout, facts: np.ndarray, share: np.ndarray,
                      needs: Needs) -> np.ndarray:
    """The fact units to pin: first those near the question, across contexts
    (:func:`.fact_pins.question_pins`: one may take its context a little over its share);
    then in each context, those that fit in the facts' share of what its forced units and
    those first facts leave of its budget ``share``."""
    context, cost, n = layout.context_of_unit, layout.cost, layout.n_contexts
    budget = share - np.bincount(context, weights=cost * layout.forced, minlength=n)
    fees = _fees(layout, layout.pinned)
    pieces = [_stripped(layout.text, layout.units.starts[u], layout.units.ends[u])
              for u in facts]
    chosen = question_pins(cost[facts], layout.text, pieces, context[facts], needs, budget,
                           np.bincount(context, weights=cost, minlength=n), fees)
    spent = np.bincount(context[facts], weights=cost[facts] * chosen, minlength=n)
    spent += np.where(spent > 0, fees, 0.0)
    for c in np.unique(context[facts]):
        members = np.flatnonzero((context[facts] == c) & ~chosen)
        if len(members) == 0:
            continue
        fee = fees[c:c + 1] * (spent[c] == 0)
        chosen[members] = pinned_facts(cost[facts[members]], float(budget[c] - spent[c]),
                                       layout.text, [pieces[m] for m in members],
                                       np.zeros(len(members), dtype=np.int64),
                                       Needs(needs.question), fee)
    # One warning, over the contexts whose facts did not all fit.
    short = np.unique(context[facts][~chosen])
    among = np.isin(context[facts], short)
    warn_if_dropped(chosen[among], cost[facts][among], float(np.maximum(budget[short], 0).sum()))
    return facts[chosen]


def _fees(layout: _Layout, pinned: np.ndarray) -> np.ndarray:
    """What a pinned fact makes its context pay besides its words: the whitespace units
    and blank line that are forced once a context is sure to be shown (see :func:`_ties`),
    nothing for a context already sure."""
    n = layout.n_contexts
    context = layout.context_of_unit
    sure = np.bincount(context, weights=pinned | ~np.isnan(layout.fixed_rate), minlength=n) > 0
    extra = layout.follows & ~pinned & ~sure[context]
    return np.bincount(context, weights=layout.cost * extra, minlength=n)


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` less the whitespace a unit starts with."""
    return end - len(text[start:end].lstrip()), end


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
                  windows: list[np.ndarray], show_progress: bool | None
                  ) -> Steps[tuple[np.ndarray, np.ndarray]]:
    """The keep mask over units and each unit's value; each window's scores are asked for
    with a yield."""
    keep = np.zeros(len(layout.units), dtype=bool)
    unit_values = np.full(len(layout.units), np.inf)
    token_bounds = np.concatenate([[0], np.cumsum(layout.cost)]).astype(np.int64)
    ids = layout.token_ids
    disable = bar_disable(show_progress, len(windows) >= _PROGRESS_MIN_WINDOWS)
    for window in tqdm(windows, desc="compressing", unit="window", disable=disable, leave=False):
        scored_ids, owner = _window_tokens(window, token_bounds, ids, stream.chunk_limit)
        values = yield stream, scored_ids
        unit_value = _mean_by_unit(values, owner, len(window))
        unit_values[window] = unit_value
        budgets.observe(window, unit_value)
        chosen = np.zeros(len(window), dtype=bool)
        groups = layout.budget_group[window]
        # Each budget group keeps its own running balance, so a segment's rate is its own.
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            chosen[members] = budgets.keep(window[members], unit_value[members])
        keep[window] = chosen
        stream.commit(chosen[owner])
    return keep, unit_values


def _trimmed(layout: _Layout, keep: np.ndarray, values: np.ndarray, target: float,
             contexts: Sequence[Sequence[Segment]], tokenizer: MistralTextTokenizer
             ) -> np.ndarray:
    """``keep`` less its least valuable free units while the text it gives tokenises to more
    than ``target`` (rounded): the units are charged their tokens in the whole text, but
    pieces joined across dropped text may tokenise into more (most in scripts written
    without spaces), and a seam between two numbers costs a token of its own. Pinned facts,
    forced units and parts with their own rate are never trimmed."""
    limit = math.floor(target + 0.5)
    free = keep & ~layout.forced & ~layout.tied & np.isnan(layout.fixed_rate)
    order = np.flatnonzero(free)[np.argsort(values[free], kind="stable")]
    for _ in range(_TRIM_PASSES):
        over = _output_tokens(layout, keep, contexts, tokenizer) - limit
        if over <= 0 or len(order) == 0:
            break
        count = int(np.searchsorted(np.cumsum(layout.cost[order]), over)) + 1
        keep[order[:count]] = False
        order = order[count:]
    # A context left with nothing but its blank line or markers shows none of them.
    shown = np.bincount(layout.context_of_unit, weights=keep & ~layout.tied,
                        minlength=layout.n_contexts) > 0
    return keep & ~(layout.tied & ~shown[layout.context_of_unit])


def _output_tokens(layout: _Layout, keep: np.ndarray, contexts: Sequence[Sequence[Segment]],
                   tokenizer: MistralTextTokenizer) -> int:
    """Tokens of the contexts' text as ``keep`` leaves it, seams included."""
    ranges = _kept_ranges(layout, keep, contexts)
    texts = [seamed(context_text(c), r) for c, r in zip(contexts, ranges)]
    return tokenizer.count(join_contexts(texts))


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
