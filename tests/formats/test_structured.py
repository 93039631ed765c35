"""Structured prompts (<llmlingua> tags) compressed on a tiny Mistral replica
(formats/structured.py)."""

from __future__ import annotations

import pytest

from texts import CODE, documents, is_subsequence, words


def test_unbalanced_tags_through_the_compressor(compressor):
    with pytest.raises(ValueError, match=r"context\[1\].*never closed"):
        compressor.structured_compress_prompt(["fine", "<llmlingua, rate=0.4>oops"], rate=0.5)


def test_uncompressed_segments_survive_verbatim(compressor):
    prose = " ".join(documents(2, 700))
    context = (f"{prose[:700]} <llmlingua, compress=False>{CODE}</llmlingua> {prose[700:]}"
               f"<llmlingua, compress=False>\nKEEP: 42 < 43</llmlingua>")
    result = compressor.structured_compress_prompt([context], rate=0.4)
    out = result["compressed_prompt"]
    assert CODE in out and "KEEP: 42 < 43" in out
    assert result["compressed_tokens"] < 0.7 * result["origin_tokens"]
    assert is_subsequence(words(out), words(context.replace("<llmlingua, compress=False>", " ")
                                            .replace("</llmlingua>", " ")))


def test_segment_rates_and_global_rate(compressor):
    tokenizer = compressor.tokenizer
    prose = documents(2, 900)
    low = compressor.structured_compress_prompt(
        [f"<llmlingua, rate=0.2>{prose[0]}</llmlingua>\n\n{prose[1]}"], rate=0.8,
        use_context_level_filter=False)["compressed_prompt"]
    high = compressor.structured_compress_prompt(
        [f"<llmlingua, rate=0.8>{prose[0]}</llmlingua>\n\n{prose[1]}"], rate=0.2,
        use_context_level_filter=False)["compressed_prompt"]
    # The tagged half follows its own rate, the untagged half the global one.
    total = tokenizer.count(prose[0]) + tokenizer.count(prose[1])
    assert tokenizer.count(low) == pytest.approx(0.5 * total, rel=0.15)
    assert tokenizer.count(high) == pytest.approx(0.5 * total, rel=0.15)
    first_low = tokenizer.count(low[: len(low) // 2])
    first_high = tokenizer.count(high[: len(high) // 2])
    assert first_low < first_high  # rate=0.2 text is shorter than rate=0.8 text


def test_structured_call_with_llmlingua_keywords(compressor):
    docs = [f"<llmlingua, rate=0.5>{d}</llmlingua>" for d in documents(3, 500)]
    docs[1] = f"<llmlingua, compress=False>{CODE}</llmlingua>"
    result = compressor.structured_compress_prompt(
        docs, instruction="Answer.", question="How is html checked?", rate=0.5,
        iterative_size=100, use_sentence_level_filter=False, use_context_level_filter=True,
        condition_in_question="after_condition", rank_method="longllmlingua",
        concate_question=False, context_budget="+100")
    assert CODE in result["compressed_prompt"]
    assert not result["compressed_prompt"].endswith("How is html checked?")


def test_structured_prompts_take_protect(compressor):
    from llmlingstral.text.protect import Protection
    from texts import example_prompt

    tagged = f"<llmlingua, rate=0.5>{example_prompt()}</llmlingua>"
    with pytest.raises(TypeError, match="protect must be True"):
        compressor.structured_compress_prompt([tagged], protect=["numbers"])
    off = compressor.structured_compress_prompt([tagged], protect=Protection.off())
    assert off["compressed_tokens"] < off["origin_tokens"]


def test_structured_prompts_keep_the_facts_by_default(compressor):
    from texts import example_prompt, missing_facts

    tagged = f"<llmlingua, rate=0.5>{example_prompt()}</llmlingua>"
    kept = compressor.structured_compress_prompt([tagged])["compressed_prompt"]
    assert not missing_facts(kept), missing_facts(kept)
