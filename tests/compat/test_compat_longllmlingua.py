"""The calls of llmlingua 0.2.2's tests/test_longllmlingua.py, on the embedded ``nano``
model: question-aware ranking, sorting, dynamic ratios and contrastive token scores."""

from __future__ import annotations

import json

from compat_prompts import (JSON_PROMPT, MATH_DEMOS, MATH_QUESTION, MEETING_PROMPT, PROFILE,
                            STRUCTURED_QUESTION, parses_as_json)
from test_compat_llmlingua import check_result

LONGLLMLINGUA = dict(condition_in_question="after_condition", reorder_context="sort",
                     dynamic_context_compression_ratio=0.4, condition_compare=True,
                     context_budget="+100", rank_method="longllmlingua")


def test_general_compress_prompt_single_context(llm_lingua):
    context = MATH_DEMOS.split("\n\n")[0]
    result = llm_lingua.compress_prompt(context, question=MATH_QUESTION, target_token=250,
                                        **LONGLLMLINGUA)
    check_result(result, context + " " + MATH_QUESTION)
    assert result["compressed_prompt"].endswith("\n\n" + MATH_QUESTION)


def test_general_compress_prompt_multiple_contexts(llm_lingua):
    contexts = MATH_DEMOS.split("\n\n")
    result = llm_lingua.compress_prompt(contexts, question=MATH_QUESTION, target_token=250,
                                        **LONGLLMLINGUA)
    check_result(result, MATH_DEMOS + " " + MATH_QUESTION)
    assert result["compressed_prompt"].endswith("\n\n" + MATH_QUESTION)


def test_general_structured_compress_prompt_single(llm_lingua):
    result = llm_lingua.structured_compress_prompt(
        [JSON_PROMPT], question=STRUCTURED_QUESTION, target_token=150,
        use_sentence_level_filter=False, concate_question=False, **LONGLLMLINGUA)
    assert list(json.loads(result["compressed_prompt"])) == list(PROFILE)
    assert STRUCTURED_QUESTION not in result["compressed_prompt"]
    check_result(result)


def test_general_structured_compress_prompt_multiple(llm_lingua):
    result = llm_lingua.structured_compress_prompt(
        [JSON_PROMPT, MEETING_PROMPT], question=STRUCTURED_QUESTION, target_token=650,
        use_sentence_level_filter=False, concate_question=False, **LONGLLMLINGUA)
    prompt = result["compressed_prompt"]
    assert STRUCTURED_QUESTION not in prompt
    # Both contexts hold compress=False text, so both survive the context filter; sorted by
    # rank, the JSON may come first or second.
    start = prompt.index("{") if prompt.lstrip().startswith("{") else prompt.index("\n\n{") + 2
    assert list(parses_as_json(prompt[start:])) == list(PROFILE)
    assert prompt.count("Speaker ") == MEETING_PROMPT.count("Speaker ")
    assert result["origin_tokens"] >= result["compressed_tokens"]
