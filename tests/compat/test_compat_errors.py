"""Code written for llmlingua catches its exceptions; the same ``except`` clauses catch ours
(which keep their own messages), and llmlingua's result strings keep their shape."""

from __future__ import annotations

import re
import warnings

import pytest

from compat_prompts import DIALOGUE, DOCUMENTS, DOCUMENT_QUESTION, MATH_DEMOS, MATH_QUESTION
from test_compat_document import JSON_CONFIG, JSON_DATA
from llmlingstral.prompt import SAVING_MODEL, SAVING_USD_PER_TOKEN


def test_rate_above_one_is_an_assertion_error(llm_lingua, llm_lingua2):
    for call in (lambda: llm_lingua.compress_prompt(MATH_DEMOS, rate=1.5),
                 lambda: llm_lingua2.compress_prompt(DIALOGUE, rate=1.5)):
        with pytest.raises(AssertionError, match="rate must be in") as raised:
            call()
        assert isinstance(raised.value, ValueError)


def test_too_many_force_tokens_is_an_assertion_error(llm_lingua2):
    with pytest.raises(AssertionError, match="at most 100 .*max_force_token") as raised:
        llm_lingua2.compress_prompt(DIALOGUE, force_tokens=[f"w{i}" for i in range(101)])
    assert isinstance(raised.value, ValueError)


def test_unknown_token_to_word_is_not_implemented(llm_lingua2):
    with pytest.raises(NotImplementedError, match="token_to_word must be one of") as raised:
        llm_lingua2.compress_prompt(DIALOGUE, rate=0.5, token_to_word="max")
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("keyword", [{"ratio": 0.55}, {"bogus_kw": 1}])
def test_unknown_keywords_are_a_type_error(llm_lingua, keyword):
    with pytest.raises(TypeError, match=next(iter(keyword))):
        llm_lingua.compress_prompt(MATH_DEMOS.split("\n\n"), question=MATH_QUESTION, **keyword)


def test_longllmlingua_ranking_needs_a_question(llm_lingua):
    with pytest.raises(AssertionError, match="pass question="):
        llm_lingua.compress_prompt(DOCUMENTS, rate=0.5, rank_method="longllmlingua")


def test_json_config_key_the_data_lacks_is_an_assertion_error(llm_lingua):
    config = {**JSON_CONFIG, "email": {"rate": 0.5, "compress": True, "value_type": "str",
                                       "pair_remove": True}}
    with pytest.raises(AssertionError, match=r"json_config names key\(s\) \['email'\]"):
        llm_lingua.compress_json(JSON_DATA, config)
    misspelt = {k if k != "name" else "nme": v for k, v in JSON_CONFIG.items()}
    with pytest.raises(ValueError, match="its keys are"):
        llm_lingua.compress_json(JSON_DATA, misspelt)


def test_json_config_missing_a_key_is_an_assertion_error(llm_lingua):
    config = {k: v for k, v in JSON_CONFIG.items() if k != "skills"}
    with pytest.raises(AssertionError, match="skills"):
        llm_lingua.compress_json(JSON_DATA, config)


def test_saving_has_llmlingua_shape(llm_lingua, llm_lingua2):
    for result in (llm_lingua.compress_prompt(MATH_DEMOS, rate=0.5),
                   llm_lingua2.compress_prompt(DIALOGUE, rate=0.5)):
        match = re.fullmatch(r", Saving \$(\d+\.\d) in (.+)\.", result["saving"])
        assert match, result["saving"]
        assert match.group(2) == SAVING_MODEL == "mistral-large-latest"
        removed = result["origin_tokens"] - result["compressed_tokens"]
        assert float(match.group(1)) == round(removed * SAVING_USD_PER_TOKEN, 1)


def test_no_room_for_the_contexts_still_returns_a_prompt(llm_lingua):
    instruction = "Answer from the documents."
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = llm_lingua.compress_prompt(["first document ...", "second document ..."],
                                            instruction=instruction,
                                            question=DOCUMENT_QUESTION, rate=0.4)
    prompt = result["compressed_prompt"]
    assert prompt.startswith(instruction) and prompt.endswith(DOCUMENT_QUESTION)
