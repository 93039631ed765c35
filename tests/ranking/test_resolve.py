"""One reading of ``rank_method``: every caller that ranks gets the same answer from
``ranking.resolve.choose_ranking``."""

from __future__ import annotations

import warnings

import pytest

from llmlingstral import InvalidArgumentError
from llmlingstral.ranking.resolve import choose_ranking

QUESTION = "What is the capital city of France?"
DOCS = [
    "Bananas are a yellow fruit rich in potassium and grown in the tropics.",
    "Paris is the capital city of France and sits on the river Seine.",
    "東京は日本の首都であり、人口が最も多い都市です。",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "القاهرة هي عاصمة مصر وأكبر مدنها.",
]


# ----------------------------------------------------------------------------- the policy


@pytest.mark.parametrize("name, method", [
    ("bm25", "bm25"), (" gzip ", "gzip"), ("mistral", "e5-mistral"),
    ("mistral_embed", "mistral-embed"), ("hybrid", "hybrid")])
def test_names_become_canonical_and_rank_through_a_built_ranker(name, method):
    choice = choose_ranking(name)
    assert (choice.kind, choice.method) == ("registry", method)
    assert choice.ascending is (method == "gzip")
    assert choice.needs_ranker_object


def test_inside_a_compression_each_perplexity_method_keeps_its_own_condition():
    assert choose_ranking("llmlingua", "after").condition == "none"
    assert choose_ranking("longllmlingua", "none").condition == "after"
    assert choose_ranking("longllmlingua", "before_condition").condition == "before"
    after = choose_ranking("longllmlingua", "none")
    assert (after.kind, after.ascending) == ("perplexity", True)
    assert choose_ranking("llmlingua").ascending is False


def test_a_direct_call_honours_the_condition_as_given_and_none_means_the_methods_own():
    assert choose_ranking("llmlingua", "after", as_called=True).condition == "after"
    assert choose_ranking("longllmlingua", "none", as_called=True).condition == "none"
    assert choose_ranking("longllmlingua", None, as_called=True).condition == "after"
    assert choose_ranking(" longllmlingua ", None, as_called=True).condition == "after"


def test_nothing_is_conditioned_on_a_missing_question():
    assert choose_ranking("longllmlingua", "after", question="").condition == "none"
    assert choose_ranking("longllmlingua", "after", question=QUESTION).condition == "after"


def test_a_classifier_ranks_llmlingua_by_keep_probability_and_cannot_rank_longllmlingua():
    own = choose_ranking(None, causal=False)
    assert (own.kind, own.ascending, own.needs_ranker_object) == \
        ("keep_probability", False, False)
    assert choose_ranking("llmlingua", "after", causal=False).kind == "keep_probability"
    with pytest.raises(ValueError, match="causal LM"):
        choose_ranking("longllmlingua", causal=False)
    # LLMLingua-2's compression ignores both perplexity names, as llmlingua's does.
    assert choose_ranking("longllmlingua", causal=False,
                          ignore_perplexity=True).kind == "keep_probability"


def test_a_ready_ranker_is_used_as_given():
    class Fixed:
        def rank(self, documents, question):
            return [(i, 0.0) for i in range(len(documents))]

    ranker = Fixed()
    choice = choose_ranking(ranker, causal=False)
    assert (choice.kind, choice.given, choice.ascending) == ("given", ranker, None)


def test_legacy_names_warn_unless_the_caller_only_looks():
    with pytest.warns(DeprecationWarning, match="e5-mistral"):
        assert choose_ranking("bge").method == "e5-mistral"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert choose_ranking("bge", warn=False).method == "e5-mistral"


@pytest.mark.parametrize("name, error", [("nonsense", ValueError), (3, TypeError)])
def test_bad_names_are_refused(name, error):
    with pytest.raises(error, match="rank_method"):
        choose_ranking(name)


# ----------------------------------------------------------------------------- the callers


def test_a_padded_name_ranks_as_the_name_in_a_direct_call(nano):
    plain = nano.get_rank_results(DOCS, QUESTION, "longllmlingua")
    assert nano.get_rank_results(DOCS, QUESTION, " longllmlingua ") == plain


def test_a_padded_longllmlingua_without_a_question_is_refused_as_the_name_is(nano):
    with pytest.raises(InvalidArgumentError, match="question"):
        nano.compress_prompt(DOCS, rate=0.5, rank_method=" longllmlingua ")


def test_no_rank_method_on_a_causal_compressor_is_its_perplexity_ranking(nano):
    assert nano.get_rank_results(DOCS, QUESTION, None) == \
        nano.get_rank_results(DOCS, QUESTION, "llmlingua")

