"""Which contexts survive compression, and reference markers that callers use to find them."""

from __future__ import annotations

import re

import pytest

from llmlingstral.markers import REFERENCE_MARKER
from texts import documents, multilingual_documents

QUESTION = "When does the harbour festival open?"


def _assert_identity(result: dict, contexts: list[str], instruction: str = "",
                     question: str = "") -> None:
    ids, compressed = result["kept_context_ids"], result["compressed_contexts"]
    assert len(ids) == len(compressed) == len(set(ids))
    assert all(compressed)  # only contexts that appear in the prompt
    assert all(0 <= i < len(contexts) for i in ids)
    body = "\n\n".join(t for t in compressed if t)
    expected = "\n\n".join(p for p in (instruction, body, question) if p)
    assert result["compressed_prompt"] == expected
    for i, text in zip(ids, compressed):
        assert _is_subsequence("".join(text.split()), "".join(contexts[i].split())), i


def _is_subsequence(part: str, whole: str) -> bool:
    """True when ``part``'s characters appear in ``whole`` in order (kept from that text)."""
    remaining = iter(whole)
    return all(c in remaining for c in part)


def test_llmlingua_reports_kept_contexts_in_prompt_order(nano):
    contexts = documents(6, 500)
    result = nano.compress_prompt(contexts, question="What does argparse parse?", rate=0.3,
                                  rank_method="longllmlingua", reorder_context="sort")
    assert 0 < len(result["kept_context_ids"]) < len(contexts)
    _assert_identity(result, contexts, question="What does argparse parse?")
    ranked = [i for i, _ in nano.get_rank_results(contexts, "What does argparse parse?",
                                                  "longllmlingua")]
    kept = result["kept_context_ids"]
    assert kept == [i for i in ranked if i in kept]


def test_llmlingua2_reports_kept_contexts(nano_lingua2):
    contexts = documents(5, 500)
    result = nano_lingua2.compress_prompt_llmlingua2(contexts, rate=0.4,
                                                     use_context_level_filter=True)
    assert 0 < len(result["kept_context_ids"]) < len(contexts)
    assert result["compressed_contexts"] == [t for t in result["compressed_prompt_list"] if t]
    _assert_identity(result, contexts)


@pytest.mark.parametrize("rate", [0.5, 0.2])
def test_reference_markers_survive_llmlingua(nano, rate):
    contexts = [f"<#ref{i}#> {text} <#ref{i}#>" for i, text in
                enumerate(multilingual_documents() + documents(3, 400))]
    result = nano.compress_prompt(contexts, instruction="Answer from the documents.",
                                  question=QUESTION, rate=rate, rank_method="longllmlingua",
                                  condition_compare=True, condition_in_question="after",
                                  reorder_context="sort", dynamic_context_compression_ratio=0.4)
    _assert_markers_intact(result, contexts)
    assert len(result["kept_context_ids"]) < len(contexts)  # markers do not pin documents


def test_reference_markers_survive_llmlingua2(nano_lingua2):
    contexts = [f"<#ref{i}#> {text} <#ref{i}#>" for i, text in
                enumerate(multilingual_documents() + documents(3, 400))]
    result = nano_lingua2.compress_prompt_llmlingua2(contexts, rate=0.2)
    _assert_markers_intact(result, contexts)


def test_reference_markers_survive_the_sentence_filter(nano):
    contexts = [f"<#ref{i}#> {text} <#ref{i}#>" for i, text in enumerate(documents(4, 600))]
    result = nano.compress_prompt(contexts, rate=0.3, use_sentence_level_filter=True,
                                  use_context_level_filter=False)
    _assert_markers_intact(result, contexts)


def _assert_markers_intact(result: dict, contexts: list[str]) -> None:
    assert result["kept_context_ids"]
    for i, text in zip(result["kept_context_ids"], result["compressed_contexts"]):
        assert REFERENCE_MARKER.findall(text) == [f"<#ref{i}#>", f"<#ref{i}#>"]
    found = re.findall(r"<#ref(\d+)#>", result["compressed_prompt"])
    assert sorted(set(map(int, found))) == sorted(result["kept_context_ids"])


def test_caller_protected_text_still_pins_its_context(nano):
    contexts = documents(5, 400)
    segs = [[c] for c in contexts]
    segs[4] = ["keep me verbatim <#ref4#>", contexts[4]]
    result = nano.compress_prompt(contexts[:4] + ["".join(segs[4])], context_segs=segs,
                                  context_segs_compress=[[True]] * 4 + [[False, True]],
                                  rate=0.2, question="argparse?", rank_method="longllmlingua")
    assert 4 in result["kept_context_ids"]
    assert "keep me verbatim <#ref4#>" in result["compressed_prompt"]


def test_llmlingua2_compress_prompt_leaves_the_question_out_when_asked(nano_lingua2):
    contexts = documents(4, 400)
    for concate_question in (False, True):  # llmlingua 0.2.2's LLMLingua-2 result: contexts only
        result = nano_lingua2.compress_prompt(contexts, instruction="Answer.", question=QUESTION,
                                              rate=0.5, rank_method="gzip",
                                              concate_question=concate_question)
        assert QUESTION not in result["compressed_prompt"]
        assert not result["compressed_prompt"].startswith("Answer.")
        assert result["compressed_tokens"] == \
            nano_lingua2.tokenizer.count(result["compressed_prompt"])
    kept = nano_lingua2.compress_prompt_llmlingua2(contexts, question=QUESTION, rate=0.5,
                                                   rank_method="gzip")
    assert kept["compressed_prompt"].endswith("\n\n" + QUESTION)


def test_classifier_with_perplexity_ranking_says_what_to_pass(nano_lingua2):
    with pytest.raises(ValueError, match="needs a causal LM compressor; pick another rank_method"):
        nano_lingua2.compress_prompt_llmlingua2(documents(3, 300), question=QUESTION,
                                                rank_method="longllmlingua")
    # compress_prompt, as llmlingua's, leaves LongLLMLingua ranking to the classifier
    assert nano_lingua2.compress_prompt(documents(3, 300), question=QUESTION,
                                        rank_method="longllmlingua")["compressed_prompt"]


@pytest.mark.parametrize("rate", [1.0, 0.5])
def test_llmlingua_leaves_the_question_out_when_asked(nano, rate):
    contexts = documents(3, 300)
    result = nano.compress_prompt(contexts, instruction="Answer.", question=QUESTION, rate=rate,
                                  concate_question=False)
    assert QUESTION not in result["compressed_prompt"]
    assert result["compressed_prompt"] == "\n\n".join(["Answer.", *result["compressed_contexts"]])
    assert result["compressed_tokens"] == nano.tokenizer.count(result["compressed_prompt"])
