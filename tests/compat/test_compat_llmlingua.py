"""The calls of llmlingua 0.2.2's tests/test_llmlingua.py, on the embedded ``nano`` model.

llmlingua's test compares golden strings from a hub model; here each call runs as written
and the result is checked for what code relies on: the keys, the formats of ``ratio`` and
``rate``, counts that shrink, text drawn from the prompt, and JSON that still parses.
"""

from __future__ import annotations

import json
import re

from compat_prompts import JSON_PROMPT, MATH_DEMOS, MEETING_PROMPT, PROFILE, parses_as_json

KEYS = {"compressed_prompt", "origin_tokens", "compressed_tokens", "ratio", "rate", "saving"}


def check_result(result: dict, original: str | None = None) -> None:
    """llmlingua's keys and formats; with ``original`` (an untagged prompt), every word of
    the result is a word of it, since words are kept or dropped whole."""
    assert KEYS <= set(result)
    assert isinstance(result["compressed_prompt"], str)
    assert isinstance(result["origin_tokens"], int) and isinstance(result["compressed_tokens"], int)
    assert 0 < result["compressed_tokens"] < result["origin_tokens"]
    assert re.fullmatch(r"\d+\.\dx", result["ratio"])
    assert re.fullmatch(r"\d+\.\d%", result["rate"])
    ratio = result["origin_tokens"] / result["compressed_tokens"]
    assert result["ratio"] == f"{ratio:.1f}x"
    assert result["rate"] == f"{100 / ratio:.1f}%"
    if original is not None:
        assert set(result["compressed_prompt"].split()) <= set(original.split())


def test_general_compress_prompt_single_context(llm_lingua):
    context = MATH_DEMOS.split("\n\n")[0]
    result = llm_lingua.compress_prompt(context, target_token=150)
    check_result(result, context)
    assert result["compressed_tokens"] <= 150 * 1.1


def test_general_compress_prompt_multiple_contexts(llm_lingua):
    contexts = MATH_DEMOS.split("\n\n")
    result = llm_lingua.compress_prompt(contexts, target_token=150)
    check_result(result, MATH_DEMOS)
    assert result["compressed_tokens"] <= 150 * 1.1


def test_segment_structured_context_gives_parsable_json(llm_lingua):
    context, segs, rates, compress = llm_lingua.segment_structured_context([JSON_PROMPT], 0.5)
    assert json.loads(context[0]) == PROFILE
    assert "".join(segs[0]) == context[0]
    assert len(segs[0]) == len(rates[0]) == len(compress[0])
    assert rates[0][0] == 1.0 and compress[0][0] is False      # the "{" line, kept verbatim
    assert rates[0][1] == 0.8 and compress[0][1] is True       # the id value


def test_general_structured_compress_prompt_single(llm_lingua):
    result = llm_lingua.structured_compress_prompt(
        [JSON_PROMPT], rate=0.5, use_sentence_level_filter=True, use_token_level_filter=True)
    check_result(result)
    compressed = json.loads(result["compressed_prompt"])
    assert list(compressed) == list(PROFILE)


def test_general_structured_compress_prompt_multiple(llm_lingua):
    result = llm_lingua.structured_compress_prompt(
        [JSON_PROMPT, MEETING_PROMPT], rate=0.5, use_sentence_level_filter=False,
        use_token_level_filter=True)
    check_result(result)
    prompt = result["compressed_prompt"]
    assert list(parses_as_json(prompt)) == list(PROFILE)
    for speaker in re.findall(r"compress=False>\n?(Speaker \d:)", MEETING_PROMPT):
        assert speaker in prompt  # compress=False text survives
    assert prompt.count("Speaker ") == MEETING_PROMPT.count("Speaker ")


def test_structured_compress_prompt_positional(llm_lingua):
    result = llm_lingua.structured_compress_prompt([JSON_PROMPT], "", "", 0.5, -1, 200)
    assert list(json.loads(result["compressed_prompt"])) == list(PROFILE)
