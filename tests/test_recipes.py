"""The named recipes: one definition, the same output from every entry point.

The same documents and question, with the same budget, go through ``llmlingstral compress``,
``compress-batch``, the HTTP service (on 127.0.0.1), the LangChain and LlamaIndex
components and Ray, for LongLLMLingua with a question and for LLMLingua-2 with and without
one; each must give the command line's output. With a question, LLMLingua-2's result is
``compress_prompt_llmlingua2``'s everywhere: the question kept verbatim after the compressed
contexts, as every method's recipe keeps it. The components return documents, not one prompt,
and count their budget over the documents only: they are given the same budget in tokens, in
most-relevant-first order, and their texts are compared with the compressed documents of the
command's prompt.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
from pathlib import Path

import pytest

from llmlingstral.cli import main
from llmlingstral.execution.jsonl_job import BatchSettings, run_jsonl_job
from llmlingstral.options import LLMLingua2Options, LLMLinguaOptions, PromptOptions
from llmlingstral.prompt import CONTEXT_SEPARATOR, join_prompt
from llmlingstral.recipes import (LLMLINGUA, LLMLINGUA2, LONGLLMLINGUA, OPTIONS_OF, RECIPES, Recipe,
                                  recipe_for)
from multilingual import PARAGRAPHS

BOAT_RACE = "When does the boat race start?"
# Each case: the method, the question, the documents and the budget (Mistral tokens of the
# whole prompt). LongLLMLingua ranks several documents; LLMLingua-2's command compresses its
# input as one text.
LINGUA2_TEXT = [" ".join(PARAGRAPHS[k] for k in ("ja", "en", "th", "ar"))]
METHOD = {"longllmlingua": "longllmlingua", "llmlingua2": "llmlingua2",
          "llmlingua2+question": "llmlingua2"}
QUESTION = {"longllmlingua": BOAT_RACE, "llmlingua2": "", "llmlingua2+question": BOAT_RACE}
DOCUMENTS = {"longllmlingua": [PARAGRAPHS[k] for k in ("en", "zh", "ja", "th", "ar")],
             "llmlingua2": LINGUA2_TEXT, "llmlingua2+question": LINGUA2_TEXT}
TARGET = {"longllmlingua": 420, "llmlingua2": 260, "llmlingua2+question": 270}
CASES = tuple(METHOD)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _cli(tmp_path: Path, case: str, *extra: str) -> str:
    source = _write(tmp_path / f"{case}.txt", CONTEXT_SEPARATOR.join(DOCUMENTS[case]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["compress", str(source), "--method", METHOD[case], "--question",
                     QUESTION[case], "--target-token", str(TARGET[case]), "--device", "cpu",
                     "--quiet", "--json", *extra])
    assert code == 0
    return json.loads(out.getvalue())["compressed_prompt"]


@pytest.fixture(scope="module")
def cli_output(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli")
    return {case: _cli(folder, case) for case in CASES}


# --------------------------------------------------------------------------- the values


def test_recipes_are_frozen_values_of_the_option_types():
    """A recipe holds an options object: its names, types, defaults and checks are those of
    :mod:`llmlingstral.options`, and nothing else declares them."""
    assert set(RECIPES) == {"llmlingua", "longllmlingua", "llmlingua2"}
    assert [RECIPES[m] for m in ("llmlingua", "longllmlingua", "llmlingua2")] == \
        [LLMLINGUA, LONGLLMLINGUA, LLMLINGUA2]
    assert isinstance(LONGLLMLINGUA.options, PromptOptions)
    assert isinstance(LLMLINGUA2.options, LLMLingua2Options)
    assert LLMLINGUA.options == PromptOptions()  # compress_prompt's own defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        LONGLLMLINGUA.method = "llmlingua"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LONGLLMLINGUA.options.rank_method = "bm25"  # type: ignore[misc]
    with pytest.raises(TypeError):
        RECIPES["mine"] = LLMLINGUA  # type: ignore[index]
    with pytest.raises(ValueError, match="llmlingua2"):
        recipe_for("llmlingua-3")


def test_each_recipe_method_reads_the_options_class_its_method_class_reads():
    from llmlingstral.methods.base import LLMLingua2Method, LLMLinguaMethod, LongLLMLinguaMethod

    methods = (LLMLinguaMethod, LongLLMLinguaMethod, LLMLingua2Method)
    assert {m.name: m.options_type for m in methods} == dict(OPTIONS_OF)


def test_a_recipe_holds_its_methods_options_checked_when_built():
    with pytest.raises(TypeError, match="LLMLingua2Options"):
        Recipe("llmlingua2", LLMLinguaOptions())
    with pytest.raises(TypeError, match="LLMLinguaOptions"):
        Recipe("longllmlingua", {"rank_method": "bm25"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="llmlingua2"):
        Recipe("lingua", PromptOptions())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dynamic_context_compression_ratio"):
        LONGLLMLINGUA.with_options(dynamic_context_compression_ratio=2.0)


def test_an_unknown_option_is_a_type_error_naming_the_valid_ones():
    with pytest.raises(TypeError, match=r"rank_metod.*'rank_method'"):
        LONGLLMLINGUA.with_options(rank_metod="bm25")
    with pytest.raises(TypeError, match=r"reorder_context.*'rank_method'"):
        LLMLINGUA2.with_options(reorder_context="sort")  # a LongLLMLingua option


def test_an_option_the_caller_sets_wins_over_the_recipe():
    keywords = LONGLLMLINGUA.keywords({"rank_method": "bm25", "context_budget": "+50"})
    assert keywords["rank_method"] == "bm25" and keywords["context_budget"] == "+50"
    assert keywords["condition_in_question"] == "after_condition"
    chosen = LONGLLMLINGUA.with_options(rank_method="bm25")
    assert chosen.rank_method == "bm25" and chosen.keywords()["condition_compare"] is True
    assert LONGLLMLINGUA.rank_method == "hybrid"  # the recipe itself is unchanged


def test_the_keywords_make_compress_prompt_the_recipe():
    """``compress_prompt(**recipe.keywords())`` builds the recipe's own options: the keywords
    are what the recipe sets beyond compress_prompt's defaults, and nothing else (the
    budget, ``protect`` and progress stay the caller's)."""
    for recipe in RECIPES.values():
        built = PromptOptions(**recipe.keywords())
        assert recipe.options.differences(built) == {}
        assert {"rate", "target_token", "protect", "show_progress"}.isdisjoint(recipe.keywords())
    assert LLMLINGUA.keywords() == {}
    assert LLMLINGUA2.keywords()["use_context_level_filter"] is False


def test_the_command_line_ranks_with_the_recipe_unless_told(tmp_path, nano):
    """``compress`` is compress_prompt with the recipe; ``--rank-method`` replaces only the
    ranking (with nano, bm25 and the recipe's fusion order these documents differently)."""
    docs, question = DOCUMENTS["longllmlingua"], QUESTION["longllmlingua"]
    for rank_method, extra in ((None, ()), ("gzip", ("--rank-method", "gzip"))):
        options = LONGLLMLINGUA.keywords({} if rank_method is None
                                         else {"rank_method": rank_method})
        direct = nano.compress_prompt(docs, question=question,
                                      target_token=TARGET["longllmlingua"],
                                      show_progress=False, **options)
        assert _cli(tmp_path, "longllmlingua", *extra) == direct["compressed_prompt"]


def test_llmlingua2_with_a_question_is_compress_prompt_llmlingua2(cli_output, nano_lingua2):
    """The LLMLingua-2 recipe is ``compress_prompt_llmlingua2``'s call: the question stays
    verbatim after the compressed text, in the result and its budget; ``compress_prompt``
    with the recipe's keywords (what the batch paths call) gives the same."""
    case = "llmlingua2+question"
    direct = nano_lingua2.compress_prompt_llmlingua2(
        DOCUMENTS[case], question=QUESTION[case], target_token=TARGET[case])
    assert cli_output[case] == direct["compressed_prompt"]
    assert cli_output[case].endswith(CONTEXT_SEPARATOR + QUESTION[case])
    recipe = nano_lingua2.compress_prompt(DOCUMENTS[case], question=QUESTION[case],
                                          target_token=TARGET[case], **LLMLINGUA2.keywords())
    assert recipe == direct


# --------------------------------------------------------------------------- compress-batch


@pytest.mark.parametrize("case", CASES)
def test_compress_batch_gives_the_command_line_output(case, cli_output, tmp_path):
    record = {"id": "r", "context": CONTEXT_SEPARATOR.join(DOCUMENTS[case]),
              "question": QUESTION[case]}
    source = _write(tmp_path / "in.jsonl", json.dumps(record, ensure_ascii=False) + "\n")
    output = tmp_path / "out.jsonl"
    assert main(["compress-batch", str(source), str(output), "--method", METHOD[case],
                 "--target-token", str(TARGET[case]), "--device", "cpu", "--quiet"]) == 0
    (row,) = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert row["compressed_prompt"] == cli_output[case]


def test_compress_batch_takes_typed_settings(tmp_path, nano):
    source = _write(tmp_path / "in.jsonl", json.dumps({"context": "x"}) + "\n")
    with pytest.raises(TypeError, match="BatchSettings"):
        run_jsonl_job(nano, source, tmp_path / "o.jsonl", tmp_path / "e.jsonl",
                      argparse.Namespace(method="llmlingua", batch_size=1), lambda t: [t])
    with pytest.raises(ValueError, match="batch_size"):
        BatchSettings(batch_size=0)
    with pytest.raises(ValueError, match="rate"):
        BatchSettings(rate=1.5)
    with pytest.raises(ValueError, match="llmlingua2"):
        BatchSettings(method="longlingua")
    with pytest.raises(TypeError, match=r"rank_metod.*'rank_method'"):
        BatchSettings(method="longllmlingua", recipe_overrides={"rank_metod": "bm25"})


# --------------------------------------------------------------------------- the service


@pytest.fixture(scope="module")
def service():
    from live_server import LiveServer

    from llmlingstral.serve import ServeConfig, create_app

    config = ServeConfig(model="nano", llmlingua2_model="nano-lingua2", device="cpu")
    with LiveServer(create_app(config)) as server:
        yield server


@pytest.mark.parametrize("case", CASES)
def test_the_service_gives_the_command_line_output(case, cli_output, service):
    import httpx

    body = {"method": METHOD[case], "context": DOCUMENTS[case], "question": QUESTION[case],
            "target_token": TARGET[case]}
    reply = httpx.post(f"{service.url}/v1/compress", json=body, timeout=300)
    assert reply.status_code == 200, reply.text
    assert reply.json()["compressed_prompt"] == cli_output[case]


# --------------------------------------------------------------------------- components


def _component_target(compressor, case: str) -> float:
    """The components' budget (documents only) that is the command's whole-prompt target."""
    docs, question = DOCUMENTS[case], QUESTION[case]
    joined = CONTEXT_SEPARATOR.join(docs)
    around = compressor.tokenizer.count(join_prompt("", joined, question)) - \
        compressor.tokenizer.count(joined)
    return TARGET[case] - around


def _as_prompt(texts: list[str], case: str) -> str:
    return join_prompt("", CONTEXT_SEPARATOR.join(texts), QUESTION[case])


@pytest.mark.parametrize("case", CASES)
def test_langchain_component_compresses_the_documents_alike(case, cli_output, nano,
                                                            nano_lingua2):
    from langchain_core.documents import Document

    from llmlingstral.integrations.langchain import LLMLingstralCompressor

    compressor = nano_lingua2 if METHOD[case] == "llmlingua2" else nano
    component = LLMLingstralCompressor(compressor=compressor, method=METHOD[case], order="rank",
                                       target_token=_component_target(compressor, case))
    kept = component.compress_documents([Document(page_content=d) for d in DOCUMENTS[case]],
                                        QUESTION[case])
    assert _as_prompt([d.page_content for d in kept], case) == cli_output[case]


@pytest.mark.parametrize("case", CASES)
def test_llama_index_component_compresses_the_documents_alike(case, cli_output, nano,
                                                              nano_lingua2):
    from llama_index.core.schema import NodeWithScore, TextNode

    from llmlingstral.integrations.llama_index import LLMLingstralPostprocessor

    compressor = nano_lingua2 if METHOD[case] == "llmlingua2" else nano
    component = LLMLingstralPostprocessor(compressor=compressor, method=METHOD[case],
                                          order="rank",
                                          target_token=_component_target(compressor, case))
    nodes = [NodeWithScore(node=TextNode(text=d)) for d in DOCUMENTS[case]]
    kept = component.postprocess_nodes(nodes, query_str=QUESTION[case])
    assert _as_prompt([n.node.get_content() for n in kept], case) == cli_output[case]


# --------------------------------------------------------------------------- Ray


def test_ray_gives_the_command_line_output(cli_output):
    ray = pytest.importorskip("ray")
    from llmlingstral.integrations.ray import compress_dataset

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        for case in CASES:
            rows = [{"text": DOCUMENTS[case], "question": QUESTION[case]}]
            lingua2 = METHOD[case] == "llmlingua2"
            out = compress_dataset(ray.data.from_items(rows), "nano-lingua2" if lingua2 else "nano",
                                   method=METHOD[case], question_column="question",
                                   target_token=TARGET[case],
                                   compressor_options={"device_map": "cpu",
                                                       "use_llmlingua2": lingua2})
            (row,) = out.take_all()
            assert row["compressed_prompt"] == cli_output[case], case
    finally:
        ray.shutdown()
