"""The budget functions on plain arrays: no model, no tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from llmlingstral import budget


# ----------------------------------------------------------------------------- targets


def test_target_is_the_token_target_when_set_else_the_rate():
    assert budget.target_tokens(1000, 0.3, -1) == pytest.approx(300)
    assert budget.target_tokens(1000, 0.3, 120) == 120


def test_context_target_leaves_the_fixed_part_out_and_says_when_nothing_is_left():
    assert budget.context_target(300, 50) == 250
    with pytest.warns(UserWarning, match="no room for the contexts.*take 300 tokens") as caught:
        assert budget.context_target(200, 300) == 0
    assert caught[0].filename == __file__  # the warning points at the caller
    assert budget.context_target(200, 300, required=False) == -100


@pytest.mark.parametrize("rate,target,total,expected", [
    (0.4, -1, 1000, 0.4), (0.4, 250, 1000, 0.25), (0.4, 5000, 1000, 1.0), (0.4, 10, 0, 1.0)])
def test_rate_for_target(rate, target, total, expected):
    assert budget.rate_for_target(rate, target, total) == pytest.approx(expected)


def test_blended_rate_counts_fixed_tokens_and_never_reaches_zero():
    assert budget.blended_rate(10, [50, 40], [0.2, 0.5]) == pytest.approx((10 + 10 + 20) / 100)
    assert budget.blended_rate(0, [10], [0.0]) == pytest.approx(1e-3)
    assert budget.blended_rate(0, [], []) == pytest.approx(1e-3)


# ----------------------------------------------------------------------------- coarse


@pytest.mark.parametrize("expression,expected", [("+100", 400), ("*1.5", 450), ("-50", 250),
                                                 ("/2", 150), (" + 10 * 2", 320)])
def test_context_budget_expressions(expression, expected):
    assert budget.apply_context_budget(300, expression) == pytest.approx(expected)


@pytest.mark.parametrize("expression,error", [("import os", ValueError), ("+x", ValueError),
                                              ("/0", ValueError), (100, TypeError)])
def test_context_budget_rejects_anything_but_arithmetic(expression, error):
    with pytest.raises(error, match="context_budget"):
        budget.apply_context_budget(300, expression)


def test_select_contexts_keeps_rank_order_until_the_budget_is_crossed():
    lengths = [100, 100, 100, 100]
    assert budget.select_contexts([2, 0, 3, 1], lengths, 150) == [2, 0]
    assert budget.select_contexts([2, 0, 3, 1], lengths, 200) == [2, 0]
    assert budget.select_contexts([2, 0, 3, 1], lengths, 201) == [2, 0, 3]
    assert budget.select_contexts([2, 0, 3, 1], lengths, 0) == []


def test_forced_contexts_stay_whatever_the_budget():
    lengths = [100, 100, 100, 100]
    assert budget.select_contexts([2, 0, 3, 1], lengths, 50, forced=[1]) == [1]
    assert budget.select_contexts([2, 0, 3, 1], lengths, 150, forced=[1]) == [1, 2]
    assert budget.select_contexts([2, 0, 3, 1], lengths, 0, forced=[1], force_number=2) == [1, 2, 0]
    assert budget.select_top_contexts([2, 0, 3, 1], 1, forced=[3]) == [2, 3]


def test_empty_contexts_select_nothing():
    assert budget.select_contexts([], [], 100) == []
    assert budget.select_top_contexts([], 3) == []
    assert budget.reorder([], "two_stage") == []
    assert budget.dynamic_deltas(0, 0.3).shape == (0,)


def test_reorder_and_deltas():
    assert budget.reorder([3, 1, 2, 0], "original") == [0, 1, 2, 3]
    assert budget.reorder([3, 1, 2, 0], "sort") == [3, 1, 2, 0]
    assert budget.reorder([3, 1, 2, 0, 4], "two_stage") == [3, 2, 4, 0, 1]
    with pytest.raises(ValueError, match="reorder_context"):
        budget.reorder([0], "random")
    assert np.allclose(budget.dynamic_deltas(3, 0.2), [0.2, 0.0, -0.2])
    assert np.allclose(budget.dynamic_deltas(1, 0.2), [0.0])


def test_keep_by_priority_keeps_infinite_priority_and_the_crossing_piece():
    priority = np.array([1.0, np.inf, 3.0, 2.0])
    keep = budget.keep_by_priority(priority, [10, 10, 10, 10], 15)
    assert keep.tolist() == [False, True, True, False]
    assert budget.keep_by_priority(priority, [10] * 4, 0).tolist() == [False, True, False, False]


def test_lingua2_context_budget_follows_llmlingua():
    common = dict(rate=0.5, target_token=-1, target_context=-1, context_level_rate=1.0,
                  context_level_target_token=-1, token_level=True, threshold_mode=False)
    lengths = [100, 100, 200]
    assert budget.lingua2_context_budget(lengths, 200, **common) == ("tokens", 300.0)
    assert budget.lingua2_context_budget(lengths, 200, **{**common, "target_context": 2}) == \
        ("contexts", 2.0)
    # With a token target: twice the context target, never more than everything.
    assert budget.lingua2_context_budget(lengths, 150, **{**common, "target_token": 90}) == \
        ("tokens", 300.0)
    assert budget.lingua2_context_budget(lengths, 250, **{**common, "target_token": 90}) == \
        ("tokens", 400.0)
    assert budget.lingua2_context_budget(lengths, 200, **{**common, "token_level": False}) == \
        ("tokens", 200.0)
    assert budget.lingua2_context_budget(lengths, 200, **{**common, "threshold_mode": True}) \
        is None


# ----------------------------------------------------------------------------- split


@pytest.mark.parametrize("seed", range(5))
def test_base_rate_meets_the_budget(seed):
    rng = np.random.default_rng(seed)
    cost = rng.integers(1, 6, size=200).astype(float)
    delta = rng.uniform(-0.3, 0.3, size=200)
    target = cost.sum() * rng.uniform(0.1, 0.9)
    tau = budget.solve_base_rate(cost, delta, target)
    assert (cost * np.clip(tau + delta, 0, 1)).sum() == pytest.approx(target, rel=1e-6)


def test_base_rate_at_the_edges():
    cost, delta = np.array([3.0, 2.0]), np.zeros(2)
    assert budget.solve_base_rate(cost, delta, 0) == -np.inf
    assert budget.solve_base_rate(cost, delta, 5) == np.inf
    assert budget.solve_base_rate(cost, delta, 50) == np.inf
    assert budget.solve_base_rate(np.zeros(0), np.zeros(0), 10) == -np.inf


def test_unit_quotas_meet_the_rate_with_forced_and_fixed_units():
    cost = np.array([4.0, 4.0, 4.0, 4.0, 4.0])
    forced = np.array([True, False, False, False, False])
    fixed = np.array([np.nan, 0.5, np.nan, np.nan, np.nan])
    quota = budget.unit_quotas(cost, forced, fixed, np.zeros(5), target=10)
    assert quota.sum() == pytest.approx(10)
    assert quota[0] == 4 and quota[1] == 2  # forced whole, fixed at its rate
    assert np.allclose(quota[2:], 4 / 3)


def test_unit_quotas_when_forced_text_exceeds_the_target():
    cost = np.array([10.0, 4.0, 4.0])
    forced = np.array([True, False, False])
    quota = budget.unit_quotas(cost, forced, np.full(3, np.nan), np.zeros(3), target=5)
    assert quota.tolist() == [10.0, 0.0, 0.0]


def test_unit_quotas_with_no_free_or_no_units():
    assert budget.unit_quotas(np.array([2.0]), np.array([True]), np.array([np.nan]),
                              np.zeros(1), 0).tolist() == [2.0]
    assert budget.unit_quotas(np.zeros(0), np.zeros(0, bool), np.zeros(0), np.zeros(0),
                              10).shape == (0,)


# ----------------------------------------------------------------------------- top within


def test_top_within_rounds_at_the_budget_edge():
    probs = np.array([0.9, 0.8, 0.7])
    costs = np.array([2.0, 3.0, 1.0])
    everything = np.ones(3, dtype=bool)
    assert budget.top_within(probs, costs, everything, 5).tolist() == [True, True, False]
    # The item that does not fit is skipped; a cheaper, less probable one fills the rest.
    assert budget.top_within(probs, costs, everything, 4.999).tolist() == [True, False, True]
    assert budget.top_within(probs, costs, everything, 2.5).tolist() == [True, False, False]
    assert budget.top_within(probs, costs, everything, 6).tolist() == [True, True, True]
    assert not budget.top_within(probs, costs, everything, 0).any()
    assert not budget.top_within(probs, costs, np.zeros(3, dtype=bool), 10).any()


def test_top_within_breaks_ties_by_position():
    probs = np.array([0.5, 0.5, 0.5])
    assert budget.top_within(probs, np.ones(3), np.ones(3, dtype=bool), 2).tolist() == \
        [True, True, False]


def test_keep_fixed_rates_keeps_each_group_at_its_rate():
    probs = np.array([0.1, 0.9, 0.5, 0.4, 0.3, 0.2])
    costs = np.ones(6)
    rates = np.array([0.5, 0.5, 0.5, 0.5, np.nan, np.nan])
    keep = budget.keep_fixed_rates(probs, costs, rates, np.ones(6, dtype=bool))
    assert keep.tolist() == [False, True, True, False, False, False]


def test_keep_within_pools_the_budget_across_contexts():
    probs = [np.array([0.9, 0.1, 0.2]), np.array([0.8, 0.7])]
    costs = [np.ones(3), np.ones(2)]
    forced = [np.array([False, True, False]), np.zeros(2, dtype=bool)]
    fixed = [np.full(3, np.nan), np.full(2, np.nan)]
    selectable = [np.ones(3, dtype=bool), np.ones(2, dtype=bool)]
    keeps = budget.keep_within(probs, costs, forced, fixed, selectable, budget=3)
    assert [k.tolist() for k in keeps] == [[True, True, False], [True, False]]
    assert budget.keep_within([], [], [], [], [], 10) == []
    empty = budget.keep_within([np.zeros(0)], [np.zeros(0)], [np.zeros(0, bool)],
                               [np.zeros(0)], [np.zeros(0, bool)], 10)
    assert [k.tolist() for k in empty] == [[]]


def test_aim_re_aims_until_the_measured_size_lands():
    seen = []

    def attempt(budget):  # the measured size runs 10 % over the budget
        seen.append(budget)
        return budget * 1.1, budget

    assert budget.aim(attempt, 100) * 1.1 == pytest.approx(100, abs=2)
    assert seen[0] == 100 and len(seen) <= budget.AIM_PASSES
    assert budget.aim(lambda b: (b + 50, b), 100, passes=1) == 100


def test_keep_best_keeps_forced_items_then_the_best_that_fit():
    values = np.array([0.1, 0.9, 0.5, np.inf, 0.7])
    costs = np.array([2.0, 2.0, 1.0, 0.0, 3.0])
    forced = np.array([True, False, False, False, False])
    # 2 forced tokens leave 3: the 0.9 item (2) fits, the 0.7 item (3) not, the 0.5 item (1) does.
    assert budget.keep_best(values, costs, forced, 5).tolist() == [True, True, True, True, False]
    # Forced items stay even when they overdraw the budget; then nothing else is kept.
    assert budget.keep_best(values, costs, forced, 1).tolist() == [True, False, False, False, False]
    # A budget spent to the token still keeps items that cost nothing.
    assert budget.keep_best(values, costs, forced, 2).tolist() == [True, False, False, True, False]
    assert budget.keep_best(np.zeros(0), np.zeros(0), np.zeros(0, bool), 5).shape == (0,)


def test_pooled_threshold_keeps_the_rate_of_the_tokens():
    values = np.array([0.1, 0.9, 0.5, 0.7])
    costs = np.array([1.0, 2.0, 1.0, 4.0])
    assert budget.pooled_threshold(values, costs, 0.25) == 0.9   # 2 of 8 tokens
    assert budget.pooled_threshold(values, costs, 0.8) == 0.7    # 6 of 8 tokens fit 6.4
    assert budget.pooled_threshold(values, costs, 1.0) == 0.1
    assert budget.pooled_threshold(values, costs, 0.1) == np.inf  # not even the best fits
    assert budget.pooled_threshold(np.zeros(0), np.zeros(0), 0.5) == np.inf


def _walk(budgets, values, windows):
    """Keep masks for consecutive windows of one group, as the iterative pass asks."""
    return np.concatenate([budgets.keep(w, values[w]) for w in windows])


@pytest.mark.parametrize("placement", budget.PLACEMENTS)
@pytest.mark.parametrize("seed", range(5))
def test_window_budgets_land_each_group_on_its_total(placement, seed):
    rng = np.random.default_rng(seed)
    n = 400
    cost = rng.integers(1, 4, n).astype(float)
    forced = rng.random(n) < 0.1
    group = np.repeat([0, 1], n // 2)
    rate = np.where(group == 0, 0.3, 0.6)
    quota = np.where(forced, cost, cost * rate)
    # One window of each group is far more surprising than the others.
    windows = [np.arange(s, s + 25) for s in range(0, n, 25)]
    surprising = [windows[2], windows[10]]
    values = rng.random(n)
    values[np.concatenate(surprising)] += 5
    # "prompt" reads the windows not reached yet at their first-pass values (here: the same).
    budgets = budget.WindowBudgets(quota, cost, forced, group, placement, prior=values)
    keep = _walk(budgets, values, windows)
    assert keep[forced].all()
    for g in (0, 1):
        members = group == g
        assert abs(cost[keep & members].sum() - quota[members].sum()) < 3  # within one unit
    for w in surprising:
        kept, share = cost[w][keep[w]].sum(), quota[w].sum()
        if placement != "window":   # a surprising window takes more than its share
            assert kept > 1.4 * share
        else:                       # every window keeps its own share
            assert abs(kept - share) < 3


def test_window_budgets_edges():
    with pytest.raises(ValueError, match="budget placement must be one of"):
        budget.WindowBudgets(np.zeros(1), np.ones(1), np.zeros(1, bool), np.zeros(1), "best")
    empty = budget.WindowBudgets(np.zeros(0), np.zeros(0), np.zeros(0, bool),
                                 np.zeros(0, dtype=np.int64), "pooled")
    assert empty.keep(np.zeros(0, dtype=np.int64), np.zeros(0)).shape == (0,)
    two = budget.WindowBudgets(np.ones(2), np.ones(2), np.zeros(2, bool), np.array([0, 1]))
    with pytest.raises(ValueError, match="one budget group at a time"):
        two.keep(np.array([0, 1]), np.zeros(2))
    with pytest.raises(ValueError, match="prior value for every unit"):
        budget.WindowBudgets(np.zeros(2), np.ones(2), np.zeros(2, bool), np.zeros(2), "prompt")
    # Nothing to keep: only forced units stay, in every placement.
    for placement in budget.PLACEMENTS:
        budgets = budget.WindowBudgets(np.array([1.0, 0.0, 0.0]), np.ones(3),
                                       np.array([True, False, False]), np.zeros(3), placement,
                                       prior=np.zeros(3))
        assert budgets.keep(np.arange(3), np.array([0.0, 5.0, 9.0])).tolist() == \
            [True, False, False]


def test_pooled_threshold_rounds_to_the_nearest_item():
    # 0.99 of two one-token words is 1.98 tokens: both words, not one.
    assert budget.pooled_threshold(np.array([0.2, 0.8]), np.ones(2), 0.99) == 0.2
    assert budget.pooled_threshold(np.array([0.2, 0.8]), np.ones(2), 0.6) == 0.8
    assert budget.pooled_threshold(np.array([0.2, 0.8]), np.ones(2), 0.2) == np.inf


def _walk_groups(budgets, values, group):
    """Each group's units as one window, in group order (as the token pass meets contexts)."""
    keep = np.zeros(len(group), dtype=bool)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        keep[members] = budgets.keep(members, values[members])
    return budgets.settled(keep)


@pytest.mark.parametrize("placement", budget.PLACEMENTS)
def test_chained_groups_pass_on_what_short_groups_cannot_spend(placement):
    # Ten contexts of two one-token words at 0.99: each group's 1.98 tokens used to round
    # down to one word, keeping half of the text.
    group = np.repeat(np.arange(10), 2)
    cost, forced = np.ones(20), np.zeros(20, bool)
    values = np.linspace(0, 1, 20)
    budgets = budget.WindowBudgets(cost * 0.99, cost, forced, group, placement, prior=values,
                                   chain=10)
    keep = _walk_groups(budgets, values, group)
    assert keep.sum() >= 19
    # One-word contexts at 0.5 keep every other word instead of none.
    group = np.arange(20)
    budgets = budget.WindowBudgets(cost * 0.5, cost, forced, group, placement,
                                   prior=np.ones(20), chain=20)
    keep = _walk_groups(budgets, np.ones(20), group)
    assert keep.sum() == 10 and not (keep[:-1] & keep[1:]).any()


@pytest.mark.parametrize("placement", budget.PLACEMENTS)
def test_tied_units_are_paid_for_and_kept_only_with_their_group(placement):
    # Per group: a tied two-token separator, then a one-token word; 60 tokens in all.
    group = np.repeat(np.arange(20), 2)
    tied = np.tile([True, False], 20)
    cost = np.tile([2.0, 1.0], 20)
    budgets = budget.WindowBudgets(cost * 0.5, cost, np.zeros(40, bool), group, placement,
                                   prior=np.ones(40), tied=tied, chain=20)
    keep = _walk_groups(budgets, np.ones(40), group)
    shown = keep[~tied]
    assert (keep[tied] == shown).all()           # a separator only with its word
    assert 8 <= shown.sum() <= 12                # about half of the 60 tokens: 10 contexts
    assert abs(cost[keep].sum() - 30) <= 3


def test_prompt_placement_counts_the_windows_not_reached_yet():
    """llmlingua's threshold: the rate of the whole prompt's tokens, the windows ahead at
    their first-pass values, so a window followed by more surprising text keeps less."""
    cost, forced, group = np.ones(8), np.zeros(8, bool), np.zeros(8, dtype=np.int64)
    quota = cost * 0.5
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    prior = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0])
    windows = [np.arange(4), np.arange(4, 8)]
    kept = {}
    for placement in ("pooled", "prompt"):
        budgets = budget.WindowBudgets(quota, cost, forced, group, placement, prior=prior)
        kept[placement] = _walk(budgets, values, windows)
        assert kept[placement].sum() == 4
    assert kept["pooled"].tolist() == [False, False, True, True, False, False, True, True]
    # The first window's values are all below the four best first-pass values ahead.
    assert kept["prompt"].tolist() == [False] * 4 + [True] * 4


def test_context_shares_keep_one_rate_within_each_contexts_bounds():
    shares = budget.context_shares([100, 50, 10], [0, 0, 8], 80)
    assert shares.sum() == pytest.approx(80)
    assert shares[0] / 100 == pytest.approx(shares[1] / 50)  # one rate for both
    assert shares[2] == pytest.approx(8)  # what it must keep is above that rate
    assert budget.context_shares([10, 10], [4, 6], 5).tolist() == [4, 6]  # at least must
    assert budget.context_shares([10, 10], [0, 0], 50).tolist() == [10, 10]  # at most size


def test_a_context_over_its_share_is_paid_for_by_the_others():
    shares = budget.repaid_shares([7, 20, 13], [9, 0, 3])
    assert shares[0] == 9 and shares.sum() == pytest.approx(40)
    assert shares[1] == pytest.approx(20 - 2 * 20 / 30)  # in proportion to what each spares
    assert budget.repaid_shares([5, 5], [2, 1]).tolist() == [5, 5]  # nothing owed
    assert budget.repaid_shares([5, 5], [9, 5]).tolist() == [9, 5]  # no one can pay


def test_keep_within_gives_each_context_its_share_whatever_its_scores():
    # The second context's words all score below the first's: pooled, it would keep nothing.
    probs = [np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.3, 0.2, 0.1, 0.05])]
    costs = [np.ones(4), np.ones(4)]
    forced = [np.zeros(4, dtype=bool)] * 2
    fixed = [np.full(4, np.nan)] * 2
    selectable = [np.ones(4, dtype=bool)] * 2
    keeps = budget.keep_within(probs, costs, forced, fixed, selectable, budget=4)
    assert [k.tolist() for k in keeps] == [[True, True, False, False],
                                           [True, True, False, False]]


def test_forced_items_count_towards_their_fixed_rate():
    probs = np.array([0.9, 0.8, 0.7, 0.6])
    costs = np.ones(4)
    rate = np.full(4, 0.5)
    forced = np.array([False, False, False, True])
    keep = budget.keep_fixed_rates(probs, costs, rate, ~forced, forced)
    assert keep.tolist() == [True, False, False, False]  # 2 of 4 tokens, one of them forced
