"""The calls of llmlingua 0.2.2's tests/test_llmlingua2.py, on the embedded ``nano-lingua2``
classifier: force tokens, forced digits, dropped repeats, the context filter, Chinese text,
and the per-context list and word labels llmlingua returns."""

from __future__ import annotations

import re

import pytest

from compat_prompts import (CHINESE_FORCE_TOKENS, CHINESE_NEWS, DIALOGUE, MATH_DEMOS,
                            MATH_FORCE_TOKENS, MEETING_TRANSCRIPT)
from test_compat_llmlingua import check_result

PUNCTUATION = ["\n", ".", "!", "?"]


def check_lingua2(result: dict) -> None:
    check_result(result)
    assert isinstance(result["compressed_prompt_list"], list)
    # llmlingua joins the compressed contexts with a blank line.
    assert result["compressed_prompt"] == "\n\n".join(result["compressed_prompt_list"])


def test_single_context_rate_with_force_tokens(llm_lingua2):
    result = llm_lingua2.compress_prompt(DIALOGUE, rate=0.33, force_tokens=PUNCTUATION,
                                         drop_consecutive=False, force_reserve_digit=False)
    check_lingua2(result)
    assert len(result["compressed_prompt_list"]) == 1
    for token in ("?", "\n"):
        assert result["compressed_prompt"].count(token) == DIALOGUE.count(token)


def test_context_filter_with_a_target(llm_lingua2):
    result = llm_lingua2.compress_prompt(DIALOGUE.split("\n\n"), target_token=40,
                                         use_context_level_filter=True, force_tokens=PUNCTUATION,
                                         drop_consecutive=False, force_reserve_digit=False)
    check_lingua2(result)
    assert 1 <= len(result["compressed_prompt_list"]) <= 2


def test_math_force_tokens_and_digits(llm_lingua2):
    context = MATH_DEMOS.split("\n\n")[0]
    result = llm_lingua2.compress_prompt(context, target_token=170,
                                         force_tokens=MATH_FORCE_TOKENS + ["Question:"],
                                         drop_consecutive=False, force_reserve_digit=True)
    check_lingua2(result)
    prompt = result["compressed_prompt"]
    assert "The answer is" in prompt and prompt.startswith("Question:")
    for number in set(re.findall(r"\d+", context)):
        assert number in prompt  # every word holding a digit is kept


def test_meeting_transcript_drop_consecutive(llm_lingua2):
    result = llm_lingua2.compress_prompt(MEETING_TRANSCRIPT.split("\n\n")[0], target_token=150,
                                         force_tokens=["\n", ".", "?", "!"],
                                         drop_consecutive=True, force_reserve_digit=False)
    check_lingua2(result)
    assert ". ." not in result["compressed_prompt"] and ".." not in result["compressed_prompt"]


def test_multiple_contexts_with_the_context_filter(llm_lingua2):
    result = llm_lingua2.compress_prompt(MATH_DEMOS.split("\n\n"), target_token=150,
                                         use_context_level_filter=True,
                                         force_tokens=MATH_FORCE_TOKENS,
                                         drop_consecutive=False, force_reserve_digit=True)
    check_lingua2(result)
    assert len(result["compressed_prompt_list"]) <= 3


def test_chinese_news_with_chinese_force_tokens(llm_lingua2):
    result = llm_lingua2.compress_prompt(CHINESE_NEWS, target_token=120,
                                         use_context_level_filter=True,
                                         force_tokens=CHINESE_FORCE_TOKENS,
                                         drop_consecutive=True, force_reserve_digit=False)
    check_lingua2(result)
    for kept in result["compressed_prompt_list"]:
        assert "类别：" in kept  # a force token survives in every kept item


@pytest.mark.parametrize("word_sep,label_sep", [("\t\t|\t\t", " "), (" || ", "=")])
def test_word_labels(llm_lingua2, word_sep, label_sep):
    result = llm_lingua2.compress_prompt_llmlingua2(
        DIALOGUE, rate=0.5, return_word_label=True, word_sep=word_sep, label_sep=label_sep)
    check_lingua2(result)
    items = result["fn_labeled_original_prompt"].split(word_sep)
    pairs = [item.rsplit(label_sep, 1) for item in items]
    assert all(len(p) == 2 and p[1] in ("0", "1") for p in pairs)
    # The words, in order, spell the prompt; those labelled 1 spell the compressed prompt
    # (punctuation may be a word of its own, so whitespace is left out of the comparison).
    def spelled(texts):
        return "".join("".join(texts).split())

    assert spelled(w for w, _ in pairs) == spelled(DIALOGUE)
    assert spelled(w for w, label in pairs if label == "1") == spelled(result["compressed_prompt"])


def test_compress_prompt_llmlingua2_positional(llm_lingua2):
    result = llm_lingua2.compress_prompt_llmlingua2(DIALOGUE.split("\n\n"), 0.5, -1, True)
    check_lingua2(result)
