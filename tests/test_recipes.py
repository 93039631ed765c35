"""The named recipes: one definition, the same output from every entry point.

The same documents and question, with the same budget, go through ``llmlingstral compress``,
``compress-batch``, the HTTP service (on 127.0.0.1), the LangChain and LlamaIndex
components and Ray, for LongLLMLingua with a question and for LLMLingua-2 without one (the
command's LLMLingua-2 keeps a question around its result, as ``compress_prompt_llmlingua2``
does, where the batch paths return the contexts alone, as ``compress_prompt`` on an
LLMLingua-2 model does); each must give the command line's output. The components return documents, not one prompt, and count their budget over the
documents only: they are given the same budget in tokens, in most-relevant-first order, and
their texts are compared with the compressed documents of the command's prompt.
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
from llmlingstral.recipes import LLMLINGUA, LLMLINGUA2, LONGLLMLINGUA, RECIPES, Recipe, recipe_for
from multilingual import PARAGRAPHS

QUESTION = {"longllmlingua": "When does the boat race start?",
            "llmlingua2": ""}
# LongLLMLingua ranks several documents; LLMLingua-2's command compresses its input as one text.
DOCUMENTS = {"longllmlingua": [PARAGRAPHS[k] for k in ("en", "zh", "ja", "th", "ar")],
             "llmlingua2": [" ".join(PARAGRAPHS[k] for k in ("ja", "en", "th", "ar"))]}
TARGET = {"longllmlingua": 420, "llmlingua2": 260}  # Mistral tokens of the whole prompt
METHODS = tuple(DOCUMENTS)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _cli(tmp_path: Path, method: str, *extra: str) -> str:
    source = _write(tmp_path / f"{method}.txt", CONTEXT_SEPARATOR.join(DOCUMENTS[method]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["compress", str(source), "--method", method, "--question",
                     QUESTION[method], "--target-token", str(TARGET[method]), "--device", "cpu",
                     "--quiet", "--json", *extra])
    assert code == 0
    return json.loads(out.getvalue())["compressed_prompt"]


@pytest.fixture(scope="module")
def cli_output(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli")
    return {method: _cli(folder, method) for method in METHODS}


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


# --------------------------------------------------------------------------- compress-batch


@pytest.mark.parametrize("method", METHODS)
def test_compress_batch_gives_the_command_line_output(method, cli_output, tmp_path):
    record = {"id": "r", "context": CONTEXT_SEPARATOR.join(DOCUMENTS[method]),
              "question": QUESTION[method]}
    source = _write(tmp_path / "in.jsonl", json.dumps(record, ensure_ascii=False) + "\n")
    output = tmp_path / "out.jsonl"
    assert main(["compress-batch", str(source), str(output), "--method", method,
                 "--target-token", str(TARGET[method]), "--device", "cpu", "--quiet"]) == 0
    (row,) = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert row["compressed_prompt"] == cli_output[method]


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


@pytest.mark.parametrize("method", METHODS)
def test_the_service_gives_the_command_line_output(method, cli_output, service):
    import httpx

    body = {"method": method, "context": DOCUMENTS[method], "question": QUESTION[method],
            "target_token": TARGET[method]}
    reply = httpx.post(f"{service.url}/v1/compress", json=body, timeout=300)
    assert reply.status_code == 200, reply.text
    assert reply.json()["compressed_prompt"] == cli_output[method]


# --------------------------------------------------------------------------- components


def _component_target(compressor, method: str) -> float:
    """The components' budget (documents only) that is the command's whole-prompt target."""
    docs, question = DOCUMENTS[method], QUESTION[method]
    joined = CONTEXT_SEPARATOR.join(docs)
    around = compressor.tokenizer.count(join_prompt("", joined, question)) - \
        compressor.tokenizer.count(joined)
    return TARGET[method] - around


def _as_prompt(texts: list[str], method: str) -> str:
    return join_prompt("", CONTEXT_SEPARATOR.join(texts), QUESTION[method])


@pytest.mark.parametrize("method", METHODS)
def test_langchain_component_compresses_the_documents_alike(method, cli_output, nano,
                                                            nano_lingua2):
    from langchain_core.documents import Document

    from llmlingstral.integrations.langchain import LLMLingstralCompressor

    compressor = nano_lingua2 if method == "llmlingua2" else nano
    component = LLMLingstralCompressor(compressor=compressor, method=method, order="rank",
                                       target_token=_component_target(compressor, method))
    kept = component.compress_documents([Document(page_content=d) for d in DOCUMENTS[method]],
                                        QUESTION[method])
    assert _as_prompt([d.page_content for d in kept], method) == cli_output[method]


@pytest.mark.parametrize("method", METHODS)
def test_llama_index_component_compresses_the_documents_alike(method, cli_output, nano,
                                                              nano_lingua2):
    from llama_index.core.schema import NodeWithScore, TextNode

    from llmlingstral.integrations.llama_index import LLMLingstralPostprocessor

    compressor = nano_lingua2 if method == "llmlingua2" else nano
    component = LLMLingstralPostprocessor(compressor=compressor, method=method, order="rank",
                                          target_token=_component_target(compressor, method))
    nodes = [NodeWithScore(node=TextNode(text=d)) for d in DOCUMENTS[method]]
    kept = component.postprocess_nodes(nodes, query_str=QUESTION[method])
    assert _as_prompt([n.node.get_content() for n in kept], method) == cli_output[method]


# --------------------------------------------------------------------------- Ray


def test_ray_gives_the_command_line_output(cli_output):
    ray = pytest.importorskip("ray")
    from llmlingstral.integrations.ray import compress_dataset

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        for method in METHODS:
            rows = [{"text": DOCUMENTS[method], "question": QUESTION[method]}]
            model = "nano-lingua2" if method == "llmlingua2" else "nano"
            out = compress_dataset(ray.data.from_items(rows), model, method=method,
                                   question_column="question", target_token=TARGET[method],
                                   compressor_options={"device_map": "cpu",
                                                       "use_llmlingua2": method == "llmlingua2"})
            (row,) = out.take_all()
            assert row["compressed_prompt"] == cli_output[method], method
    finally:
        ray.shutdown()
