"""Every budget decision, for every method: how many tokens go where.

* the target: tokens to keep in all (:func:`target_tokens`), what is left for the contexts
  once the instruction and question are counted (:func:`context_target`), and the keep
  rate that stands for a token target (:func:`rate_for_target`, :func:`blended_rate`);
* coarse selection: which contexts survive (:func:`apply_context_budget`,
  :func:`select_contexts`, :func:`lingua2_context_budget`), their order
  (:func:`reorder`) and rate shifts (:func:`dynamic_deltas`), which sentences survive
  (:func:`keep_by_priority`);
* split across contexts: the base rate that spends a budget over units with their own
  shifts (:func:`solve_base_rate`, :func:`unit_quotas`), one share of every context's size
  (:func:`context_shares`);
* top within budget: the most probable words whose costs fit (:func:`top_within`,
  :func:`keep_best`, :func:`keep_fixed_rates`, :func:`keep_within`), re-aimed until the
  re-tokenised output lands on the target (:func:`aim`);
* windows: the running budget of each group of units as an iterative pass walks its
  windows (:class:`WindowBudgets`, :func:`pooled_threshold`).

Pure array functions: no model, no tokenizer.
"""

from __future__ import annotations

import ast
import math
import operator
import warnings
from typing import Callable, Sequence, TypeVar

import numpy as np

from .errors import caller_stacklevel

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv}
REORDER_CHOICES = ("original", "sort", "two_stage")
# How an iterative pass places a group's budget over its windows (see WindowBudgets).
PLACEMENTS = ("window", "pooled", "prompt")
# Costs are whole tokens; this tolerance keeps float sums from refusing an exact fit.
_EPSILON = 1e-9
# Re-tokenising an output shifts counts slightly; this many attempts re-aim the budget.
AIM_PASSES = 4
T = TypeVar("T")


# --------------------------------------------------------------------------- targets


def target_tokens(origin: int, rate: float, target_token: float) -> float:
    """Tokens to keep in all: ``target_token`` when set (> 0), else ``origin * rate``."""
    return float(target_token) if target_token and target_token > 0 else origin * rate


def context_target(target: float, fixed: float, *, required: bool = True) -> float:
    """Tokens left for the contexts once ``fixed`` (instruction, question) is counted.

    When nothing is left and ``required`` (a rate-driven compression), the contexts get 0
    tokens, so they are compressed as far as they go (to their protected text), and a
    warning says why; llmlingua likewise returns a prompt rather than fail. Otherwise the
    (possibly negative) difference is returned.
    """
    left = target - fixed
    if left <= 0 and required:
        warnings.warn(
            f"the target of {int(target)} tokens leaves no room for the contexts: the "
            f"instruction and question alone take {int(fixed)} tokens, so the contexts are "
            f"compressed as far as they go. Raise rate/target_token, or pass part of that "
            f"text as context", UserWarning, stacklevel=caller_stacklevel())
        return 0.0
    return left


def coarse_target(target: float) -> float:
    """The token target a coarse (context or sentence) filter works to: llmlingua's coarse
    filters read a negative target (nothing left for the contexts) as 100 tokens."""
    return 100.0 if target < 0 else float(target)


def rate_for_target(rate: float, target_token: float, total: float) -> float:
    """The keep rate a token target stands for over ``total`` tokens (``rate`` if unset)."""
    if target_token is None or target_token == -1:
        return rate
    if total <= 0:
        return 1.0
    return min(1.0, target_token / total)


def blended_rate(fixed: float, sizes: Sequence[float], rates: Sequence[float]) -> float:
    """The overall keep rate of pieces of ``sizes`` tokens kept at ``rates``, plus ``fixed``
    tokens always kept (never 0, so compression still runs)."""
    expected = fixed + sum(n * r for n, r in zip(sizes, rates))
    return min(1.0, max(1e-3, expected / max(fixed + sum(sizes), 1)))


# --------------------------------------------------------------------------- coarse


def apply_context_budget(target: float, context_budget: str) -> float:
    """``target`` adjusted by an llmlingua budget expression such as ``"+100"`` or ``"*1.5"``.

    Only numbers and + - * / are accepted: the expression is parsed, never evaluated as code.
    """
    if not isinstance(context_budget, str):
        raise TypeError(f"context_budget must be a string such as '+100' or '*1.5', "
                        f"got {type(context_budget).__name__}")
    expression = f"({target!r}){context_budget.strip()}"
    try:
        tree = ast.parse(expression, mode="eval")
        budget = float(_evaluate(tree.body))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as error:
        raise ValueError(f"context_budget={context_budget!r} is not an arithmetic adjustment "
                         f"such as '+100' or '*1.5'") from error
    if not math.isfinite(budget):
        raise ValueError(f"context_budget={context_budget!r} gives a budget of {budget}: use "
                         f"finite numbers such as '+100' or '*1.5'")
    return budget


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("unsupported expression")


def select_contexts(ranked: Sequence[int], lengths: Sequence[int], budget: float,
                    forced: Sequence[int] = (), force_number: int | None = None) -> list[int]:
    """Contexts to keep, in rank order.

    Forced contexts always stay. ``force_number`` keeps exactly the best N others;
    otherwise contexts are added in rank order until the token budget is spent
    (the context that crosses the budget is kept, so the fine pass has room to work).
    """
    forced_set = set(forced)
    kept = [i for i in ranked if i in forced_set]
    remaining = budget - sum(lengths[i] for i in kept)
    others = [i for i in ranked if i not in forced_set]
    if force_number is not None:
        return kept + others[: max(0, int(force_number))]
    for index in others:
        if remaining <= 0:
            break
        kept.append(index)
        remaining -= lengths[index]
    return kept


def select_top_contexts(ranked: Sequence[int], count: int, forced: Sequence[int] = ()) -> list[int]:
    """The ``count`` best contexts and the forced ones, in prompt (index) order."""
    return sorted(set(list(ranked)[:int(count)]) | set(forced))


def lingua2_context_budget(lengths: Sequence[int], context_target: float, *, rate: float,
                           target_token: float, target_context: int,
                           context_level_rate: float, context_level_target_token: float,
                           token_level: bool, threshold_mode: bool
                           ) -> tuple[str, float] | None:
    """LLMLingua-2's context filter: ``("contexts", n)``, ``("tokens", budget)`` or None.

    Without explicit context-level settings, llmlingua keeps ``(rate+1)/2`` of the tokens
    (twice the target) so the word pass has room to choose. Threshold mode has no rate to
    derive that from, so it filters contexts only when told how.
    """
    total = float(sum(lengths))
    if target_context > 0:
        return "contexts", float(target_context)
    if context_level_target_token > 0:
        return "tokens", float(context_level_target_token)
    if context_level_rate < 1:
        return "tokens", context_level_rate * total
    if threshold_mode:
        return None
    if not token_level:
        return "tokens", float(context_target)
    if target_token > 0:
        return "tokens", min(total, 2.0 * context_target)
    return "tokens", total * (rate + 1) / 2


def reorder(kept_in_rank_order: Sequence[int], how: str) -> list[int]:
    """Order of the kept contexts in the prompt.

    ``original``: as given; ``sort``: best first; ``two_stage``: best at both ends and the
    weakest in the middle, where long-context models attend least.
    """
    if how == "original":
        return sorted(kept_in_rank_order)
    if how == "sort":
        return list(kept_in_rank_order)
    if how == "two_stage":
        ranked = list(kept_in_rank_order)
        return ranked[0::2] + ranked[1::2][::-1]
    raise ValueError(f"reorder_context must be one of {REORDER_CHOICES}, got {how!r}")


def dynamic_deltas(n_contexts: int, ratio: float) -> np.ndarray:
    """Keep-rate shifts by rank: +ratio for the best context down to -ratio for the worst."""
    if n_contexts <= 1 or ratio == 0:
        return np.zeros(n_contexts)
    return np.linspace(ratio, -ratio, n_contexts)


def keep_by_priority(priority: np.ndarray, lengths: Sequence[int], budget: float) -> np.ndarray:
    """Pieces kept best first while ``budget`` tokens last; infinite priority always stays.

    The piece that crosses the budget is kept (the fine pass trims afterwards).
    """
    keep = np.zeros(len(priority), dtype=bool)
    for k in np.argsort(-priority, kind="stable"):
        if budget <= 0 and np.isfinite(priority[k]):
            continue
        keep[k] = True
        budget -= lengths[k]
    return keep


# --------------------------------------------------------------------------- split


def solve_base_rate(cost: np.ndarray, delta: np.ndarray, budget: float) -> float:
    """The base rate tau with sum(cost * clip(tau + delta, 0, 1)) == budget (bisection).

    -inf when nothing can be kept, +inf when everything fits.
    """
    total = cost.sum()
    if budget <= 0 or total <= 0:
        return -np.inf
    if budget >= total:
        return np.inf
    low, high = -1.0 - np.abs(delta).max(), 1.0 + np.abs(delta).max()
    for _ in range(60):
        mid = (low + high) / 2
        if (cost * np.clip(mid + delta, 0.0, 1.0)).sum() < budget:
            low = mid
        else:
            high = mid
    return high


def unit_quotas(cost: np.ndarray, forced: np.ndarray, fixed_rate: np.ndarray,
                delta: np.ndarray, target: float) -> np.ndarray:
    """Expected kept tokens per unit, summing to ``target`` where the budget allows.

    Forced units keep all their tokens, units with a fixed rate (not NaN) keep that share,
    and the free units share what is left at one base rate shifted by their ``delta``.
    """
    quota = np.where(forced, cost, 0.0)
    has_fixed = ~forced & ~np.isnan(fixed_rate)
    quota[has_fixed] = cost[has_fixed] * np.clip(fixed_rate[has_fixed], 0.0, 1.0)
    free = ~forced & np.isnan(fixed_rate)
    if not free.any():
        return quota
    tau = solve_base_rate(cost[free], delta[free], target - quota.sum())
    quota[free] = cost[free] * np.clip(tau + delta[free], 0.0, 1.0)
    return quota


# --------------------------------------------------------------------------- top within


def top_within(probs: np.ndarray, costs: np.ndarray, eligible: np.ndarray,
               budget: float) -> np.ndarray:
    """The most probable eligible items whose summed cost fits ``budget`` (ties: earlier).

    Items are taken best first; one that does not fit is skipped and cheaper ones after it
    may still fill what is left, so words of many tokens (compounds, long numbers) do not
    leave the budget short.
    """
    chosen = np.zeros(len(probs), dtype=bool)
    candidates = np.flatnonzero(eligible)
    if budget <= 0 or len(candidates) == 0:
        return chosen
    order = candidates[np.argsort(-probs[candidates], kind="stable")]
    spent = np.cumsum(costs[order])
    count = int(np.searchsorted(spent, budget + _EPSILON, side="right"))
    chosen[order[:count]] = True
    left = budget - (float(spent[count - 1]) if count else 0.0)
    rest = order[count + 1:]
    for item in rest[costs[rest] <= left + _EPSILON]:
        if left < 1 - _EPSILON:
            break
        if costs[item] <= left + _EPSILON:
            chosen[item] = True
            left -= float(costs[item])
    return chosen


def keep_best(values: np.ndarray, costs: np.ndarray, forced: np.ndarray,
              allowed: float) -> np.ndarray:
    """Forced items, then the most valuable others whose costs fit what ``allowed`` leaves.

    Items costing nothing (no token of their own) are kept unless the forced items alone
    overdraw ``allowed``.
    """
    rest = allowed - float(costs[forced].sum())
    chosen = forced | top_within(values, costs, ~forced, rest)
    if rest >= -_EPSILON:
        chosen |= costs == 0
    return chosen


def keep_fixed_rates(probs: np.ndarray, costs: np.ndarray, fixed_rate: np.ndarray,
                     eligible: np.ndarray, forced: np.ndarray | None = None) -> np.ndarray:
    """Each group of eligible items sharing a fixed rate, kept at that rate (best first).

    ``forced`` items with the rate (kept anyway) count towards their group's rate: the
    group keeps that share of all its tokens, forced ones included."""
    keep = np.zeros(len(probs), dtype=bool)
    with_rate = eligible & ~np.isnan(fixed_rate)
    paid = np.zeros(len(probs), dtype=bool) if forced is None else forced & ~np.isnan(fixed_rate)
    for rate in np.unique(fixed_rate[with_rate]):
        group = with_rate & (fixed_rate == rate)
        spent = float(costs[paid & (fixed_rate == rate)].sum())
        keep |= top_within(probs, costs, group, rate * (costs[group].sum() + spent) - spent)
    return keep


def context_shares(sizes: Sequence[float], must: Sequence[float], budget: float) -> np.ndarray:
    """Tokens each context may keep: one share ``r`` of every context's size, never less
    than what it must keep nor more than its size, summing to ``budget`` where it can.

    Every context keeps the same rate, so contexts a scorer rates lower as a whole (another
    script, another style) are not emptied for the others."""
    sizes = np.asarray(sizes, dtype=float)
    must = np.minimum(np.asarray(must, dtype=float), sizes)
    if budget <= must.sum():
        return must
    if budget >= sizes.sum():
        return sizes
    low, high = 0.0, 1.0
    for _ in range(50):  # sum(clip(r * sizes, must, sizes)) grows with r
        middle = (low + high) / 2
        if np.clip(middle * sizes, must, sizes).sum() < budget:
            low = middle
        else:
            high = middle
    return np.clip(low * sizes, must, sizes)


def repaid_shares(shares: Sequence[float], must: Sequence[float]) -> np.ndarray:
    """The contexts' ``shares`` of one budget once each gets at least what it ``must`` keep:
    the others pay what those go over, each in proportion to what its share leaves beyond
    its own ``must``, as far as that goes."""
    shares = np.asarray(shares, dtype=float)
    must = np.asarray(must, dtype=float)
    owed = float(np.maximum(must - shares, 0.0).sum())
    spare = np.maximum(shares - must, 0.0)
    raised = np.maximum(shares, must)
    if owed <= 0 or spare.sum() <= 0:
        return raised
    return raised - spare * min(owed / float(spare.sum()), 1.0)


def keep_within(probs: Sequence[np.ndarray], costs: Sequence[np.ndarray],
                forced: Sequence[np.ndarray], fixed_rate: Sequence[np.ndarray],
                selectable: Sequence[np.ndarray], budget: float) -> list[np.ndarray]:
    """Keep masks for several contexts sharing one budget, each at the same rate.

    Forced items and each fixed-rate group at its rate first; then each context keeps its
    most probable free items within its share of ``budget`` (:func:`context_shares`, over
    its selectable tokens); what whole items leave of the budget goes to the most probable
    free items left in any context.
    """
    keeps = [f | keep_fixed_rates(p, c, r, ~f & s, f)
             for p, c, f, r, s in zip(probs, costs, forced, fixed_rate, selectable)]
    if not keeps:
        return []
    free = [np.isnan(r) & ~f & s for f, r, s in zip(forced, fixed_rate, selectable)]
    must = [float(c[k].sum()) for c, k in zip(costs, keeps)]
    shares = context_shares([float(c[s | f].sum()) for c, s, f in zip(costs, selectable, forced)],
                            must, budget)
    for keep, p, c, m, share, paid in zip(keeps, probs, costs, free, shares, must):
        keep |= top_within(p, c, m, share - paid)
    left = budget - sum(float(c[k].sum()) for c, k in zip(costs, keeps))
    rest = [m & ~k for m, k in zip(free, keeps)]
    pooled = top_within(np.concatenate([p[m] for p, m in zip(probs, rest)]),
                        np.concatenate([c[m] for c, m in zip(costs, rest)]),
                        np.ones(sum(int(m.sum()) for m in rest), dtype=bool), left)
    position = 0
    for keep, mask in zip(keeps, rest):
        count = int(mask.sum())
        keep[np.flatnonzero(mask)] |= pooled[position:position + count]
        position += count
    return keeps


def aim(attempt: Callable[[float], tuple[float, T]], target: float,
        passes: int = AIM_PASSES) -> T:
    """The result of ``attempt(budget) -> (tokens, result)`` closest to ``target`` tokens.

    Starts with the budget of ``target`` rounded to whole tokens (rounded down, 0.99 of a
    one-token word would keep nothing) and shifts the budget by each miss; stops once within
    2 tokens or 2 % of the target.
    """
    budget, best = math.floor(target + 0.5), None
    for _ in range(max(1, passes)):
        tokens, result = attempt(budget)
        miss = tokens - target
        if best is None or abs(miss) < best[0]:
            best = (abs(miss), result)
        if abs(miss) <= max(2.0, 0.02 * target):
            break
        budget -= miss
    return best[1]


# --------------------------------------------------------------------------- windows


def pooled_threshold(values: np.ndarray, costs: np.ndarray, rate: float) -> float:
    """The lowest value among the most valuable items whose summed cost comes closest to
    ``rate`` of all the costs (ties: fewer): items at or above it make up that share of the
    tokens (+inf if keeping none comes closest). Rounding to the nearest item, not down,
    lets a group of a few words kept at 0.99 keep them all.
    """
    if len(values) == 0:
        return np.inf
    order = np.argsort(-values, kind="stable")
    spent = np.cumsum(costs[order])
    wanted = rate * spent[-1]
    count = int(np.searchsorted(spent, wanted + _EPSILON, side="right"))
    below = float(spent[count - 1]) if count else 0.0
    if count < len(spent) and spent[count] - wanted < wanted - below - _EPSILON:
        count += 1
    return float(values[order[count - 1]]) if count else np.inf


class WindowBudgets:
    """The running budget of each group of units (a context's free text, or a segment with
    its own rate) as an iterative pass walks its windows in order.

    ``"window"``: a window may keep what the quotas of the group's units seen so far add up
    to, less what the group kept before, and spends all of it on its best units, so every
    window keeps its own share. ``"pooled"``: a window keeps its units at or above the
    group's pooled threshold (over the values of all the group's units seen so far, this
    window's included, the threshold that keeps the group's rate of their tokens), so a
    window more surprising than those before it takes more of the group's budget.
    ``"prompt"``: llmlingua's threshold, the one that keeps the group's rate of the tokens
    of the whole prompt's free units, every group and every window: those already passed
    (the kept ones only) and this one at their values, those not reached yet at their
    ``prior`` values (a first pass over the uncompressed prompt). The pooled placements
    never spend more than the group has left once its forced units to come are paid for,
    nor less than the later windows can still make up, so each group lands on its total
    either way.

    ``tied`` units (the blank line before a context, a reference marker) are kept only with
    other text of their group: their cost is paid once, when the group first keeps another
    unit (in a chain, the first group shown pays nothing: it is meant for the blank line
    before it, which the prompt leaves out), and :meth:`settled` drops them from a group that
    kept nothing else.
    The first ``chain`` groups (the contexts, in prompt order) pass on what they leave
    unspent: each may spend its share of the running total, rounded to whole tokens, less
    what the groups before it kept. Without it every short context would round its budget
    down to the word below, and a context whose words cost more than its share would
    waste it.
    """

    def __init__(self, quota: np.ndarray, cost: np.ndarray, forced: np.ndarray,
                 group: np.ndarray, placement: str = "pooled",
                 prior: np.ndarray | None = None, *,
                 tied: np.ndarray | None = None, chain: int = 0) -> None:
        if placement not in PLACEMENTS:
            raise ValueError(f"budget placement must be one of {PLACEMENTS}, got {placement!r}")
        if placement == "prompt" and (prior is None or len(prior) != len(cost)):
            raise ValueError("the 'prompt' budget placement needs a prior value for every unit")
        self.placement = placement
        self.quota, self.cost, self.forced = quota, cost, forced
        self.tied = np.zeros(len(cost), dtype=bool) if tied is None else np.asarray(tied, bool)
        self.group = np.asarray(group, dtype=np.int64)
        n = max(int(self.group.max()) + 1 if len(self.group) else 0, chain)
        own = ~self.tied
        self.total = np.bincount(self.group, weights=quota, minlength=n)
        self.fee = np.bincount(self.group, weights=cost * self.tied, minlength=n)
        self.unseen = np.bincount(self.group, weights=cost * own, minlength=n)
        self.unseen_forced = np.bincount(self.group, weights=cost * (forced & own), minlength=n)
        free_cost = np.bincount(self.group, weights=cost * (~forced & own), minlength=n)
        free_quota = np.bincount(self.group, weights=quota * (~forced & own), minlength=n)
        self.rate = np.divide(free_quota, free_cost, out=np.zeros(n), where=free_cost > 0)
        self.promised, self.kept = np.zeros(n), np.zeros(n)
        self.shown, self.entered = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        self.chain_ends = np.floor(np.cumsum(self.total[:chain]) + 0.5)
        self.pool: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        # "prompt": every unit's latest value, and the free units still in the prompt.
        self.value = None if prior is None else np.array(prior, dtype=np.float64)
        self.in_prompt = ~np.asarray(forced, dtype=bool) & ~self.tied

    def observe(self, units: np.ndarray, values: np.ndarray) -> None:
        """Record a window's values before its groups are kept (the "prompt" pool sees
        them all at once)."""
        if self.value is not None:
            self.value[units] = values

    def keep(self, units: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The keep mask over ``units`` (one group's units in the next window, all of one
        group) given each unit's value (higher = more worth keeping). Tied units come back
        kept; :meth:`settled` gives the final mask."""
        if len(units) == 0:
            return np.zeros(0, dtype=bool)
        g = int(self.group[units[0]])
        if np.any(self.group[units] != g):
            raise ValueError("WindowBudgets.keep takes the units of one budget group at a time")
        self._enter(g)
        self.promised[g] += float(self.quota[units].sum())
        chosen = self.tied[units].copy()
        own = ~chosen
        if own.any():
            chosen[own] = self._keep_own(g, units[own], values[own])
        return chosen

    def settled(self, keep: np.ndarray) -> np.ndarray:
        """``keep`` without the tied units of groups that kept nothing else."""
        return keep & ~(self.tied & ~self.shown[self.group])

    def _enter(self, g: int) -> None:
        """On a chained group's first window: its total becomes its share of the running
        total, in whole tokens, less what the chain kept before it."""
        if self.entered[g] or g >= len(self.chain_ends):
            return
        self.entered[g] = True
        total = float(self.chain_ends[g]) - float(self.kept[:g].sum())
        self.promised[g] += total - self.total[g]
        self.total[g] = total

    def _fee(self, g: int) -> float:
        """What showing group ``g`` costs in tied units: in a chain, nothing for the first
        group shown, whose separator the prompt leaves out."""
        if g < len(self.chain_ends) and not self.shown[:g].any():
            return 0.0
        return float(self.fee[g])

    def _keep_own(self, g: int, units: np.ndarray, values: np.ndarray) -> np.ndarray:
        cost, forced = self.cost[units], self.forced[units]
        self.unseen[g] -= float(cost.sum())
        self.unseen_forced[g] -= float(cost[forced].sum())
        fee = 0.0 if self.shown[g] else self._fee(g)
        allowed = self.promised[g] - self.kept[g] - fee
        if self.placement == "pooled":
            self.pool[g].append((values[~forced], cost[~forced]))
            allowed = self._bounded(g, self._group_threshold(g), values, cost, forced, fee)
        elif self.placement == "prompt":
            self.observe(units, values)
            allowed = self._bounded(g, self._prompt_threshold(g), values, cost, forced, fee)
        chosen = keep_best(values, cost, forced, allowed)
        if chosen.any() and not self.shown[g]:
            self.shown[g] = True
            self.kept[g] += fee
        self.kept[g] += float(cost[chosen].sum())
        self.in_prompt[units[~chosen]] = False
        return chosen

    def _group_threshold(self, g: int) -> float:
        """The threshold keeping group ``g``'s rate of its units seen so far."""
        return pooled_threshold(np.concatenate([v for v, _ in self.pool[g]]),
                                np.concatenate([c for _, c in self.pool[g]]),
                                float(self.rate[g]))

    def _prompt_threshold(self, g: int) -> float:
        """The threshold keeping group ``g``'s rate of the whole prompt's free units."""
        pool = self.in_prompt
        return pooled_threshold(self.value[pool], self.cost[pool], float(self.rate[g]))

    def _bounded(self, g: int, threshold: float, values: np.ndarray, cost: np.ndarray,
                 forced: np.ndarray, fee: float) -> float:
        """What a window of group ``g`` spends under ``threshold``, between what the later
        windows could not make up and what the group has left for free units."""
        wanted = float(cost[forced].sum() + cost[~forced & (values >= threshold)].sum())
        left = self.total[g] - self.kept[g] - fee
        return min(left - self.unseen_forced[g], max(left - self.unseen[g], wanted))
