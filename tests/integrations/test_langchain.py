"""The LangChain document compressor, with langchain-core and langchain-classic installed."""

from __future__ import annotations

import asyncio
import json

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from llmlingstral import PromptCompressor
from llmlingstral.integrations.langchain import LLMLingstralCompressor
from llmlingstral.recipes import LONGLLMLINGUA
from multilingual import PARAGRAPHS
from texts import documents, multilingual_documents

QUERY = "When does the harbour festival open?"


def _documents() -> list[Document]:
    texts = multilingual_documents() + documents(4, 500)
    return [Document(page_content=t, id=f"doc-{i}",
                     metadata={"title": f"title {i}", "page": i, "tags": ["a", str(i)]})
            for i, t in enumerate(texts)]


def _is_subsequence(part: str, whole: str) -> bool:
    remaining = iter("".join(whole.split()))
    return all(c in remaining for c in "".join(part.split()))


def _assert_identity(inputs: list[Document], outputs: list[Document]) -> None:
    sources = [d.metadata["source_index"] for d in outputs]
    assert len(set(sources)) == len(sources)
    for document in outputs:
        source = inputs[document.metadata["source_index"]]
        assert document.id == source.id
        assert {k: v for k, v in document.metadata.items() if k != "source_index"} == \
            source.metadata
        assert document.page_content.strip()
        assert _is_subsequence(document.page_content, source.page_content)


def _tokens(compressor, texts: list[str]) -> int:
    return compressor.tokenizer.count("\n\n".join(texts))


def test_every_document_keeps_its_metadata_and_id(nano):
    inputs = _documents()
    outputs = LLMLingstralCompressor(compressor=nano, rate=0.4).compress_documents(inputs, QUERY)
    assert 0 < len(outputs) < len(inputs)  # the coarse pass dropped some
    _assert_identity(inputs, outputs)
    assert [d.metadata["source_index"] for d in outputs] == \
        sorted(d.metadata["source_index"] for d in outputs)
    assert all("source_index" not in d.metadata for d in inputs)  # inputs untouched


@pytest.mark.parametrize("rate", [0.3, 0.6])
def test_the_rate_is_met_over_the_documents(nano, rate):
    inputs = _documents()  # scripts written without spaces included
    outputs = LLMLingstralCompressor(compressor=nano, rate=rate).compress_documents(inputs, QUERY)
    achieved = _tokens(nano, [d.page_content for d in outputs]) / \
        _tokens(nano, [d.page_content for d in inputs])
    assert abs(achieved - rate) <= 0.05 * rate + 0.01


@pytest.mark.parametrize("method", ["llmlingua", "llmlingua2"])
def test_unspaced_documents_are_shortened_not_kept_whole(nano, nano_lingua2, method):
    """docs/integrations.md: text without spaces is cut into pieces, not kept or dropped
    whole, so each such document comes back shorter and the rate holds over them."""
    compressor = nano_lingua2 if method == "llmlingua2" else nano
    inputs = [Document(page_content=PARAGRAPHS[language] * 2) for language in ("zh", "ja", "th")]
    outputs = LLMLingstralCompressor(compressor=compressor, method=method, rate=0.5,
                                     compress_kwargs={"use_context_level_filter": False}
                                     ).compress_documents(inputs, QUERY)
    assert len(outputs) == len(inputs)
    for document in outputs:
        source = inputs[document.metadata["source_index"]].page_content
        kept = _tokens(compressor, [document.page_content]) / _tokens(compressor, [source])
        assert 0.1 < kept < 0.95, (kept, document.page_content)
    achieved = _tokens(compressor, [d.page_content for d in outputs]) / \
        _tokens(compressor, [d.page_content for d in inputs])
    assert abs(achieved - 0.5) <= 0.05


def test_the_token_target_is_met_over_the_documents(nano):
    inputs = [d for d in _documents() if " " in d.page_content]
    outputs = LLMLingstralCompressor(compressor=nano, target_token=200,
                                     method="llmlingua").compress_documents(inputs, QUERY)
    assert abs(_tokens(nano, [d.page_content for d in outputs]) - 200) <= 10


def test_rank_order_follows_the_coarse_ranking(nano):
    inputs = _documents()
    outputs = LLMLingstralCompressor(compressor=nano, rate=0.5, order="rank",
                                     source_key="from").compress_documents(inputs, QUERY)
    ranked = [i for i, _ in nano.get_rank_results([d.page_content for d in inputs], QUERY,
                                                  LONGLLMLINGUA.rank_method)]
    kept = [d.metadata["from"] for d in outputs]
    assert kept == [i for i in ranked if i in kept]


def test_sync_and_async_agree(nano):
    component = LLMLingstralCompressor(compressor=nano, rate=0.4)
    inputs = _documents()
    synchronous = component.compress_documents(inputs, QUERY)

    async def both():
        return await asyncio.gather(component.acompress_documents(inputs, QUERY),
                                    component.acompress_documents(inputs, QUERY))

    for result in asyncio.run(both()):
        assert result == synchronous


def test_llmlingua2_by_model_name(nano_lingua2):
    component = LLMLingstralCompressor(model_name="nano-lingua2", device_map="cpu", rate=0.4,
                                       rank_method="gzip", order="rank")
    assert component.compressor.classifier is not None
    inputs = _documents()
    outputs = component.compress_documents(inputs, QUERY)
    assert 0 < len(outputs) < len(inputs)
    _assert_identity(inputs, outputs)
    achieved = _tokens(nano_lingua2, [d.page_content for d in outputs]) / \
        _tokens(nano_lingua2, [d.page_content for d in inputs])
    assert abs(achieved - 0.4) <= 0.05


def test_llmlingua2_ranks_by_keep_probability(nano_lingua2):
    """docs/integrations.md: with LLMLingua-2 and no rank_method the documents are ranked by
    the classifier's keep probability; order="rank" and score_mode follow it."""
    inputs = _documents()
    plain = LLMLingstralCompressor(compressor=nano_lingua2, rate=0.4).compress_documents(
        inputs, QUERY)
    ranked = LLMLingstralCompressor(compressor=nano_lingua2, rate=0.4, order="rank",
                                    score_mode="ranking").compress_documents(inputs, QUERY)
    keep = dict(nano_lingua2.get_rank_results([d.page_content for d in inputs], QUERY,
                                              "llmlingua"))
    sources = [d.metadata["source_index"] for d in ranked]
    assert sorted(sources) == [d.metadata["source_index"] for d in plain]  # same survivors
    assert sources == sorted(sources, key=lambda i: -keep[i]) and sources != sorted(sources)
    assert [d.metadata["relevance_score"] for d in ranked] == \
        pytest.approx([keep[i] for i in sources])
    assert all("relevance_score" not in d.metadata for d in plain)


def test_normalized_scores_lie_in_0_1_in_the_ranking_order(nano):
    inputs = _documents()
    raw, normalized = (
        {d.id: d.metadata["relevance_score"] for d in LLMLingstralCompressor(
            compressor=nano, rate=0.5, score_mode=mode, rank_method="longllmlingua"
        ).compress_documents(inputs, QUERY)}
        for mode in ("ranking", "normalized"))
    assert raw.keys() == normalized.keys() and len(raw) > 2
    assert all(score < 0 for score in raw.values())  # minus the query's surprisal
    assert all(0.0 <= score <= 1.0 for score in normalized.values())
    ids = list(raw)
    assert sorted(ids, key=raw.get) == sorted(ids, key=normalized.get)


def test_model_dump_json_round_trips():
    compressor = PromptCompressor("nano", device_map="cpu",
                                  open_api_config={"api_key": "sk-do-not-write-me"})
    component = LLMLingstralCompressor(compressor=compressor, device_map="cpu", rate=0.4,
                                       order="rank", score_mode="normalized", source_key="at")
    saved = component.model_dump_json()
    assert "sk-do-not-write-me" not in saved
    data = json.loads(saved)
    assert (data["model_name"], data["method"]) == ("nano", "longllmlingua")
    rebuilt = LLMLingstralCompressor.model_validate_json(saved)
    reattached = LLMLingstralCompressor.model_validate({**data, "compressor": compressor})
    assert rebuilt.compressor is not compressor and reattached.compressor is compressor
    inputs = _documents()
    expected = component.compress_documents(inputs, QUERY)
    assert rebuilt.compress_documents(inputs, QUERY) == expected
    assert reattached.compress_documents(inputs, QUERY) == expected


class KeywordRetriever(BaseRetriever):
    """Documents sharing the most words with the query, best first."""

    documents: list[Document]
    k: int = 6

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        words = set(query.lower().split())
        overlap = [len(words & set(d.page_content.lower().split())) for d in self.documents]
        order = sorted(range(len(self.documents)), key=lambda i: -overlap[i])
        return [self.documents[i] for i in order[: self.k]]


def test_contextual_compression_retriever_end_to_end(nano):
    corpus = _documents()
    retriever = ContextualCompressionRetriever(
        base_compressor=LLMLingstralCompressor(compressor=nano, rate=0.5),
        base_retriever=KeywordRetriever(documents=corpus))
    retrieved = KeywordRetriever(documents=corpus).invoke(QUERY)
    outputs = retriever.invoke(QUERY)
    assert 0 < len(outputs) <= len(retrieved)
    for document in outputs:
        source = retrieved[document.metadata["source_index"]]
        assert document.id == source.id and document.metadata["page"] == source.metadata["page"]
        assert _is_subsequence(document.page_content, source.page_content)
    assert asyncio.run(retriever.ainvoke(QUERY)) == outputs


def test_empty_and_blank_inputs(nano):
    component = LLMLingstralCompressor(compressor=nano)
    assert component.compress_documents([], QUERY) == []
    assert component.compress_documents([Document(page_content="  ")], QUERY) == []


@pytest.mark.parametrize("fields, message", [
    ({}, "pass compressor="),
    ({"method": "llmlingua2"}, "does not fit this compressor"),
    ({"rate": 1.5}, r"rate must be in \(0, 1\] \(the fraction of the documents"),
    ({"target_token": 0}, "target_token must be a positive, finite token count"),
    ({"compress_kwargs": {"rate": 0.3}}, "may not set 'rate'"),
    ({"model_name": "nano-lingua2"}, "not the model of the compressor given"),
])
def test_bad_settings_are_named(nano, fields, message):
    if fields:
        fields = {"compressor": nano, **fields}
    with pytest.raises(ValueError, match=message):
        LLMLingstralCompressor(**fields)


@pytest.mark.parametrize("method, option", [("llmlingua2", "condition_compare"),
                                            ("longllmlingua", "target_context")])
def test_an_option_of_another_method_is_refused(nano, nano_lingua2, method, option):
    """compress_kwargs that the method would not read are named, not silently ignored."""
    compressor = nano_lingua2 if method == "llmlingua2" else nano
    value = True if option == "condition_compare" else 1
    component = LLMLingstralCompressor(compressor=compressor, method=method,
                                       compress_kwargs={option: value})
    with pytest.raises(TypeError, match=rf"{option}.*method='{method}'"):
        component.compress_documents(_documents(), QUERY)


def test_a_taken_source_key_is_reported(nano):
    inputs = [Document(page_content=t, metadata={"source_index": "mine"})
              for t in documents(2, 300)]
    with pytest.raises(ValueError, match="already has metadata key 'source_index'"):
        LLMLingstralCompressor(compressor=nano, rate=0.9).compress_documents(inputs, QUERY)
    outputs = LLMLingstralCompressor(compressor=nano, rate=0.9,
                                     source_key=None).compress_documents(inputs, QUERY)
    assert outputs and all(d.metadata == {"source_index": "mine"} for d in outputs)


def test_an_instruction_does_not_eat_the_documents_budget(nano):
    inputs = [d for d in _documents() if " " in d.page_content]
    component = LLMLingstralCompressor(compressor=nano, rate=0.5, compress_kwargs={
        "instruction": "Answer the question from the documents below, quoting them.",
        "add_instruction": True})
    outputs = component.compress_documents(inputs, QUERY)
    achieved = _tokens(nano, [d.page_content for d in outputs]) / \
        _tokens(nano, [d.page_content for d in inputs])
    assert abs(achieved - 0.5) <= 0.035


# --------------------------------------------------------------------------- protection


def test_protect_reaches_the_compression_and_is_saved_as_json(nano):
    from llmlingstral.integrations.documents import compress_texts
    from llmlingstral.text.protect import Protection

    protect = Protection(patterns=[r"(?i)harbour \w+"]).only("numbers", "dates_times")
    component = LLMLingstralCompressor(compressor=nano, rate=0.4, protect=protect)
    assert component.settings.protect == protect
    inputs = _documents()
    outputs = component.compress_documents(inputs, QUERY)
    expected = compress_texts(nano, [d.page_content for d in inputs], QUERY, component.settings)
    assert [d.page_content for d in outputs] == [k.text for k in expected]
    saved = json.loads(component.model_dump_json())
    assert saved["protect"] == {"classes": ["dates_times", "numbers"],
                                "patterns": [r"(?i)harbour \w+"]}
    rebuilt = LLMLingstralCompressor.model_validate(saved)
    assert rebuilt.protect == protect
    assert [d.page_content for d in rebuilt.compress_documents(inputs, QUERY)] == \
        [d.page_content for d in outputs]
    assert LLMLingstralCompressor(compressor=nano, protect=["urls_emails"]).protect == \
        Protection().only("urls_emails")
    assert json.loads(LLMLingstralCompressor(compressor=nano,
                                             protect=False).model_dump_json())["protect"] is False


@pytest.mark.parametrize("fields, error, message", [
    ({"protect": "yes"}, TypeError, "protect must be true, false, a list of classes"),
    ({"protect": ["numbers", "phone"]}, ValueError, "'phone' is not a class of facts"),
    ({"compress_kwargs": {"protect": False}}, ValueError, "may not set 'protect'"),
])
def test_a_bad_protect_is_named(nano, fields, error, message):
    with pytest.raises(error, match=message):
        LLMLingstralCompressor(compressor=nano, **fields)


@pytest.mark.parametrize("method", ["longllmlingua", "llmlingua2"])
def test_documents_keep_their_facts_by_default(nano, nano_lingua2, method):
    from texts import example_prompt, missing_facts

    compressor = nano_lingua2 if method == "llmlingua2" else nano
    inputs = [Document(page_content=p) for p in example_prompt().split("\n\n")]
    outputs = LLMLingstralCompressor(compressor=compressor, method=method, rate=0.5,
                                     compress_kwargs={"use_context_level_filter": False}
                                     ).compress_documents(inputs, "When does the last bus leave?")
    kept = "\n\n".join(d.page_content for d in outputs)
    assert not missing_facts(kept), missing_facts(kept)
