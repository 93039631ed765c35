"""One behaviour per mistake and per feature, whichever method or format runs."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

import replicas
from llmlingstral import MISTRAL_MODELS, PromptCompressor, load_tokenizer
from llmlingstral.errors import InvalidArgumentError
from llmlingstral.prompt import CONTEXT_SEPARATOR
from llmlingstral.ranking.registry import cached_ranker
from llmlingstral.scoring.forward_inputs import attention_limit, padded_batch
from llmlingstral.text.units import owner_of_tokens
from llmlingstral.tokenization import tokenizer_for_checkpoint
from texts import documents, multilingual_documents

CALLS = {
    "compress_prompt": lambda c, **k: c.compress_prompt(documents(2), **k),
    "structured": lambda c, **k: c.structured_compress_prompt(documents(2), **k),
    "compress_json": lambda c, **k: c.compress_json({"a": documents(1)[0]}, **k),
}


@pytest.fixture(scope="module")
def lingua2(tmp_path_factory):
    folder = replicas.mistral_token_classifier(tmp_path_factory.mktemp("tokcls_one"))
    return PromptCompressor(str(folder), device_map="cpu", use_llmlingua2=True)


@pytest.fixture(params=["llmlingua", "llmlingua2"])
def any_compressor(request, compressor, lingua2):
    return compressor if request.param == "llmlingua" else lingua2


# ----------------------------------------------------------------------------- validation


# One exception per kind of mistake: a value that is no number is a TypeError; NaN, an
# infinity or a number out of range an InvalidArgumentError (a ValueError, and the
# AssertionError llmlingua raises for a rate above 1).
WRONG_TYPES = ["0.5", None, True, [0.5]]
BAD_RATES = [float("nan"), float("inf"), 1.5, 0, -0.1]
BAD_TARGETS = [float("nan"), float("inf"), 0, -5]


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("target", WRONG_TYPES[:3] + ["100"])
def test_a_target_token_of_the_wrong_type_is_a_type_error(any_compressor, call, target):
    with pytest.raises(TypeError, match="target_token"):
        CALLS[call](any_compressor, target_token=target)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("target", BAD_TARGETS)
def test_a_target_token_out_of_range_is_a_value_error(any_compressor, call, target):
    with pytest.raises(InvalidArgumentError, match="target_token"):
        CALLS[call](any_compressor, target_token=target)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("rate", WRONG_TYPES)
def test_a_rate_of_the_wrong_type_is_a_type_error(any_compressor, call, rate):
    with pytest.raises(TypeError, match="rate"):
        CALLS[call](any_compressor, rate=rate)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("rate", BAD_RATES)
def test_a_rate_out_of_range_is_one_error_everywhere(any_compressor, call, rate):
    with pytest.raises(InvalidArgumentError, match=r"rate must be (in \(0, 1\]|a number)"):
        CALLS[call](any_compressor, rate=rate)


def test_llmlingua2_entry_point_validates_like_compress_prompt(lingua2):
    call = lingua2.compress_prompt_llmlingua2
    for keyword in ({"target_token": "100"}, {"rate": "0.5"}, {"rate": None}):
        with pytest.raises(TypeError, match=next(iter(keyword))):
            call(documents(2), **keyword)
    for keyword in ({"target_token": 0}, {"target_token": float("nan")},
                    {"rate": float("nan")}, {"rate": 1.5}, {"rate": 0}):
        with pytest.raises(InvalidArgumentError, match=next(iter(keyword))):
            call(documents(2), **keyword)


COMPONENTS = {"langchain": ("langchain_core", "llmlingstral.integrations.langchain",
                            "LLMLingstralCompressor"),
              "llama_index": ("llama_index.core", "llmlingstral.integrations.llama_index",
                              "LLMLingstralPostprocessor")}


@pytest.mark.parametrize("framework", sorted(COMPONENTS))
@pytest.mark.parametrize("keyword, value, error", [
    *[("rate", v, TypeError) for v in WRONG_TYPES],
    *[("target_token", v, TypeError) for v in WRONG_TYPES[:3] + ["100"]],
    *[("rate", v, ValueError) for v in BAD_RATES],
    *[("target_token", v, ValueError) for v in BAD_TARGETS]])
def test_framework_components_refuse_like_compress_prompt(compressor, framework, keyword,
                                                         value, error):
    package, module, name = COMPONENTS[framework]
    pytest.importorskip(package)
    component = getattr(importlib.import_module(module), name)
    with pytest.raises(error, match=keyword) as raised:
        component(compressor=compressor, **{keyword: value})
    if error is TypeError:  # not the framework's own ValidationError (a ValueError)
        assert not isinstance(raised.value, ValueError)


@pytest.mark.parametrize("options, message", [
    (["--rate", "nan"], "rate"), (["--rate", "1.5"], "rate"), (["--rate", "0"], "rate"),
    (["--rate", "half"], "--rate"), (["--target-token", "0"], "target_token"),
    (["--target-token", "-5"], "target_token"), (["--target-token", "many"], "--target-token")])
def test_the_command_line_refuses_bad_budgets_with_exit_code_2(tmp_path, capsys, options,
                                                               message):
    from llmlingstral.cli import main

    source = tmp_path / "prompt.txt"
    source.write_text(documents(1)[0])
    try:
        code = main(["compress", str(source), "--model", "nano", "--device", "cpu", "--quiet",
                     *options])
    except SystemExit as exit:  # argparse refuses what is no number
        code = exit.code
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("ids", [[True], [False], [0, True]])
def test_boolean_context_ids_are_rejected_by_every_method(any_compressor, ids):
    with pytest.raises(ValueError, match="force_context_ids holds"):
        any_compressor.compress_prompt(documents(3), rate=0.3, force_context_ids=ids,
                                       use_context_level_filter=True)


# ----------------------------------------------------------------------------- tags


def test_tags_are_parsed_by_compress_prompt_for_both_methods(any_compressor):
    kept = "The vault code is 4417-alpha and must stay."
    text = documents(1, 1500)[0] + f" <llmlingua, compress=False>{kept}</llmlingua>"
    result = any_compressor.compress_prompt(text, rate=0.3)
    assert kept in result["compressed_prompt"]
    assert "<llmlingua" not in result["compressed_prompt"]
    assert result["compressed_tokens"] < result["origin_tokens"]


def test_malformed_tags_name_the_context_for_both_methods(any_compressor):
    with pytest.raises(ValueError, match=r"context\[1\].*never closed"):
        any_compressor.compress_prompt(["fine", "<llmlingua, rate=0.5>open"], rate=0.5)


# ----------------------------------------------------------------------------- result keys


def _check_kept(result, contexts, question=""):
    ids, texts = result["kept_context_ids"], result["compressed_contexts"]
    assert len(ids) == len(texts) and len(set(ids)) == len(ids)
    assert all(0 <= i < len(contexts) for i in ids)
    assert all(t for t in texts)
    body = result["compressed_prompt"]
    if question:
        assert body.endswith(question)
        body = body[: -len(question)].rstrip("\n")
    assert body == CONTEXT_SEPARATOR.join(texts)  # in prompt order, nothing else
    for i, text in zip(ids, texts):  # each text comes from the context its id names
        assert _subsequence("".join(text.split()), "".join(contexts[i].split()))
    return ids


def _subsequence(part: str, whole: str) -> bool:
    characters = iter(whole)
    return all(c in characters for c in part)


@pytest.mark.parametrize("reorder", ["original", "sort"])
def test_kept_contexts_in_prompt_order_llmlingua(compressor, reorder):
    docs = documents(6, 600)
    question = "What does the module do?"
    result = compressor.compress_prompt(docs, question=question, rate=0.25,
                                        rank_method="longllmlingua", reorder_context=reorder,
                                        force_context_ids=[4])
    ids = _check_kept(result, docs, question)
    assert 4 in ids and len(ids) < len(docs)
    if reorder == "original":
        assert ids == sorted(ids)


def test_kept_contexts_in_prompt_order_llmlingua2(lingua2):
    docs = documents(6, 600)
    result = lingua2.compress_prompt(docs, rate=0.3, force_context_ids=[5])
    ids = _check_kept(result, docs)
    assert 5 in ids and len(ids) < len(docs) and ids == sorted(ids)
    assert result["compressed_contexts"] == [t for t in result["compressed_prompt_list"] if t]
    direct = lingua2.compress_prompt_llmlingua2(docs, rate=0.3)
    assert _check_kept(direct, docs) == list(range(6))


def test_kept_contexts_when_nothing_is_cut(any_compressor):
    docs = ["first document", "second document", *multilingual_documents()]
    result = any_compressor.compress_prompt(docs, rate=1.0, use_context_level_filter=False)
    assert result["kept_context_ids"] == list(range(len(docs)))
    assert result["compressed_contexts"] == docs


# ----------------------------------------------------------------------------- rankers


def test_rankers_are_cached_per_compressor_not_globally():
    first, second = {}, {}
    ranker = cached_ranker(first, "bm25")
    assert cached_ranker(first, "bm25") is ranker
    assert cached_ranker(second, "bm25") is not ranker
    assert cached_ranker(first, "bm25", {"api_key": "x"}) is not ranker


def test_one_ranker_serves_both_methods(compressor, lingua2):
    class Counting:
        calls = 0

        def rank(self, docs, question):
            Counting.calls += 1
            return [(i, float(-i)) for i in range(len(docs))]

    docs = documents(4, 600)
    for method in (compressor, lingua2):
        before = Counting.calls
        result = method.compress_prompt(docs, question="anything", rate=0.3,
                                        rank_method=Counting())
        assert Counting.calls == before + 1
        assert result["kept_context_ids"][0] == 0


# ----------------------------------------------------------------------------- plumbing


def test_padded_batch_right_and_left():
    ids, mask = padded_batch([[5, 6, 7], [8]], pad_id=None)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = padded_batch([[5, 6, 7], [8]], pad_id=2, left=True)
    assert ids.tolist() == [[5, 6, 7], [2, 2, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == torch.long


def test_attention_limit_clamps_to_the_sliding_window():
    class Config:
        sliding_window = 4096

    assert attention_limit(Config(), 32768) == 4096
    assert attention_limit(Config(), 32768, margin=1) == 4095
    assert attention_limit(object(), 2048) == 2048


def test_owner_of_tokens_maps_tokens_to_pieces():
    starts = np.array([0, 5, 9])
    assert owner_of_tokens(starts, np.array([0, 2, 5, 8, 9, 20])).tolist() == [0, 0, 1, 1, 2, 2]
    assert owner_of_tokens(np.zeros(0, dtype=np.int64), np.array([0, 1])).tolist() == [0, 0]


def test_presets_name_a_bundled_tokenizer_used_when_a_folder_has_none(tmp_path):
    for preset in MISTRAL_MODELS.values():
        assert load_tokenizer(preset.tokenizer).count("bonjour") > 0
    tekken = tokenizer_for_checkpoint(tmp_path, 32768, fallback="tekken")
    assert tekken.count("héllo wörld 你好") == load_tokenizer("tekken").count("héllo wörld 你好")
    assert tokenizer_for_checkpoint(tmp_path, 32768).count("你好") == \
        load_tokenizer("v3").count("你好")
