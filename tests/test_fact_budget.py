"""The share of a budget that protected facts may take, and which facts fit."""

import warnings

import numpy as np
import pytest

from llmlingstral.fact_budget import (FACT_SHARE, FactsOverBudgetWarning, affordable,
                                      first_mentions, warn_if_dropped)


def test_facts_that_fit_are_all_pinned():
    assert affordable([3, 4, 1], [2, 1, 0], budget=10).all()


def test_dense_facts_keep_the_most_needed_within_the_share():
    costs, order = [4, 4, 4, 1], [3, 0, 1, 2]
    pinned = affordable(costs, order, budget=10)
    assert pinned.tolist() == [False, True, True, False]
    assert np.dot(costs, pinned) <= FACT_SHARE * 10


def test_no_budget_pins_nothing():
    assert not affordable([1, 2], [0, 1], budget=0).any()
    assert affordable([], [], budget=5).shape == (0,)


def test_first_mentions_ignore_spacing():
    assert first_mentions(["1874", "11:40", "1874", "3 km", "3  km"]).tolist() == \
        [True, True, False, True, False]


def test_warning_only_when_a_fact_was_left_out():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_dropped(np.array([True, True]), [1, 1], 10)
    with pytest.warns(FactsOverBudgetWarning, match="2 of 3"):
        warn_if_dropped(np.array([True, False, False]), [5, 5, 5], 10)


def test_facts_needed_alike_are_afforded_cheapest_first():
    # Three one-token facts fit where the three-token one before them would leave no room:
    # in text order, the budget kept one fact of four.
    pinned = affordable([3, 1, 1, 1], [0, 0, 0, 0], budget=3.75)
    assert pinned.tolist() == [False, True, True, True]
    # Need still comes first: a more needed fact is afforded before cheaper ones.
    assert affordable([3, 1, 1, 1], [0, 1, 1, 1], budget=5).tolist() == [True, True, False, False]


def test_need_order_ties_facts_needed_alike():
    from llmlingstral.methods.fact_pins import Needs, need_order

    text = "Built in 1874 for 3 km; rebuilt in 1874 at Pier 9. The last bus leaves at 11:40."
    pieces = [(text.index(f), text.index(f) + len(f)) for f in ("1874", "3 km")]
    pieces += [(text.rindex("1874"), text.rindex("1874") + 4)]
    pieces += [(text.index(f), text.index(f) + len(f)) for f in ("9", "11:40")]
    order = need_order(text, pieces, [0] * 5, Needs("When does the last bus leave?"))
    assert order[4] == 0                  # nearest the question
    assert order[0] == order[1] == order[3]  # first mentions, needed alike
    assert order[2] > order[0]            # a repeat comes after them


def test_the_questions_fact_may_take_its_context_over_its_share():
    from llmlingstral.fact_budget import FAIR_SHARE_TOLERANCE, question_facts

    # Context 0 has 7 tokens for 20 of text: its answer (8 tokens) overflows 80 % of 7, but
    # not 7 + 10 % of 20; the call (room 40) pays for it. A fact far from the question waits.
    costs, order, near, contexts = [8, 3], [0, 1], [2, 0], [0, 0]
    picked = question_facts(costs, order, near, contexts, rooms=[7, 33], sizes=[20, 80],
                            room=40)
    assert picked.tolist() == [True, False]
    assert 8 <= 7 + FAIR_SHARE_TOLERANCE * 20
    # Not beyond the tolerance, nor beyond the facts' share of the whole call.
    assert not question_facts([10], [0], [2], [0], rooms=[7, 33], sizes=[20, 80], room=40).any()
    assert not question_facts([8], [0], [2], [0], rooms=[7], sizes=[20], room=7).any()
    # A context's fee is paid with its first fact.
    assert not question_facts([8], [0], [2], [0], rooms=[7, 33], sizes=[20, 80], room=40,
                              fees=[2, 0]).any()
