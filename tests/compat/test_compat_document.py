"""The examples of llmlingua 0.2.2's DOCUMENT.md and docstrings, as written there (the model
name aside), on the embedded models."""

from __future__ import annotations

import json

from compat_prompts import DOCUMENTS, DOCUMENT_QUESTION, MATH_DEMOS, MATH_QUESTION, MEETING_PROMPT
from test_compat_llmlingua import KEYS, check_result
from test_compat_llmlingua2 import check_lingua2
from llmlingstral import PromptCompressor

JSON_DATA = {
    "id": 987654,
    "name": "Amira Haddad",
    "skills": ["Steel design", "Timber design", "Finite element analysis", "Site inspection"],
    "biography": ("Amira Haddad, born in Marseille in 1988, is a structural engineer with "
                  "twelve years of experience designing bridges and stadium roofs. She studied "
                  "civil engineering in Lyon and later led the design office of a large "
                  "construction firm. She teaches a night class on timber structures."),
}
JSON_CONFIG = {
    "id": {"rate": 1, "compress": False, "value_type": "int", "pair_remove": True},
    "name": {"rate": 0.7, "compress": False, "value_type": "str", "pair_remove": False},
    "skills": {"rate": 0.2, "compress": True, "value_type": "list", "pair_remove": True},
    "biography": {"rate": 0.3, "compress": True, "value_type": "str", "pair_remove": True},
}


def test_initialization_with_every_documented_parameter():
    compressor = PromptCompressor(model_name="nano", device_map="cpu", model_config={},
                                  open_api_config={}, use_llmlingua2=False)
    result = compressor.compress_prompt(MATH_DEMOS, instruction="", question="", target_token=200)
    check_result(result, MATH_DEMOS)


def test_basic_usage_and_call(llm_lingua):
    result = llm_lingua.compress_prompt(MATH_DEMOS, instruction="", question="", target_token=200)
    check_result(result, MATH_DEMOS)
    assert llm_lingua(MATH_DEMOS, instruction="", question="", target_token=200) == result


def test_longllmlingua_usage(llm_lingua):
    result = llm_lingua.compress_prompt(
        MATH_DEMOS.split("\n\n"), question=MATH_QUESTION, rate=0.55,
        condition_in_question="after_condition", reorder_context="sort",
        dynamic_context_compression_ratio=0.3, condition_compare=True, context_budget="+100",
        rank_method="longllmlingua")
    check_result(result)
    assert result["compressed_prompt"].endswith(MATH_QUESTION)


def test_llmlingua2_usage(llm_lingua2):
    result = llm_lingua2.compress_prompt(MATH_DEMOS, rate=0.33, force_tokens=["\n", "?"])
    check_lingua2(result)
    assert result["compressed_prompt"].count("?") == MATH_DEMOS.count("?")


def test_structured_prompt_compression(llm_lingua):
    result = llm_lingua.structured_compress_prompt(MEETING_PROMPT, instruction="", question="",
                                                   rate=0.5)
    check_result(result)
    assert result["compressed_prompt"].startswith("Speaker 1:")


def test_compress_json(llm_lingua):
    result = llm_lingua.compress_json(JSON_DATA, JSON_CONFIG, use_keyvalue_level_filter=True)
    assert KEYS <= set(result)
    compressed = result["compressed_prompt"]
    assert isinstance(compressed, dict)
    json.dumps(compressed)
    assert compressed["name"] == JSON_DATA["name"]       # pair_remove False, compress False
    # The per-key rates bring the object under the target: no pair needs to go.
    assert result["compressed_tokens"] <= 0.5 * result["origin_tokens"]
    assert compressed["id"] == JSON_DATA["id"]           # compress False: verbatim


def test_recover(llm_lingua):
    original = "The harbour festival is held every year in the second week of May."
    compressed = llm_lingua.compress_prompt(original, rate=0.5)["compressed_prompt"]
    recovered = llm_lingua.recover(original, compressed, compressed.split()[0])
    assert isinstance(recovered, str) and recovered


def test_docstring_example_llmlingua(llm_lingua):
    context = ["This is the first context sentence.", "Here is another context sentence."]
    result = llm_lingua.compress_prompt(context)
    assert KEYS <= set(result) and isinstance(result["compressed_prompt"], str)


def test_docstring_example_llmlingua2(llm_lingua2):
    context = ["This is the first context sentence.", "Here is another context sentence."]
    result = llm_lingua2.compress_prompt(context, use_context_level_filter=True, target_token=5)
    check_lingua2(result)


def test_llamaindex_postprocessor_arguments(llm_lingua):
    result = llm_lingua.compress_prompt(
        DOCUMENTS, instruction="Given the context, please answer the final question",
        question=DOCUMENT_QUESTION, target_token=60, rank_method="longllmlingua",
        condition_compare=True, condition_in_question="after", context_budget="+100",
        reorder_context="sort", dynamic_context_compression_ratio=0.4)
    check_result(result)
    assert result["compressed_prompt"].startswith("Given the context")
