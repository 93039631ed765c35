"""The LlamaIndex node postprocessor, with llama-index-core installed."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core import SummaryIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (NodeRelationship, NodeWithScore, QueryBundle,
                                     RelatedNodeInfo, TextNode)

from llmlingstral.integrations.llama_index import LLMLingstralPostprocessor
from llmlingstral.ranking.base import relevance_scores
from texts import documents, multilingual_documents

QUERY = "When does the harbour festival open?"


def _nodes() -> list[NodeWithScore]:
    texts = multilingual_documents() + documents(4, 500)
    nodes = []
    for i, text in enumerate(texts):
        node = TextNode(text=text, id_=f"node-{i}", metadata={"file": f"f{i}.txt", "page": i},
                        excluded_llm_metadata_keys=["page"])
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"file-{i}")
        nodes.append(NodeWithScore(node=node, score=1.0 - i / 100))
    return nodes


def _is_subsequence(part: str, whole: str) -> bool:
    remaining = iter("".join(whole.split()))
    return all(c in remaining for c in "".join(part.split()))


def _assert_identity(inputs: list[NodeWithScore], outputs: list[NodeWithScore]) -> None:
    by_id = {n.node.id_: n for n in inputs}
    assert len({n.node.id_ for n in outputs}) == len(outputs)
    for output in outputs:
        source = by_id[output.node.id_].node
        assert output.node.metadata == source.metadata
        assert output.node.excluded_llm_metadata_keys == ["page"]
        assert output.node.source_node.node_id == source.source_node.node_id
        assert output.node.text.strip() and _is_subsequence(output.node.text, source.text)


def test_ids_metadata_and_scores_are_kept(nano):
    inputs = _nodes()
    originals = [n.node.text for n in inputs]
    outputs = LLMLingstralPostprocessor(compressor=nano, rate=0.4).postprocess_nodes(
        inputs, QueryBundle(QUERY))
    assert 0 < len(outputs) < len(inputs)
    _assert_identity(inputs, outputs)
    scores = {n.node.id_: n.score for n in inputs}
    assert all(n.score == scores[n.node.id_] for n in outputs)
    assert [n.node.text for n in inputs] == originals  # inputs untouched
    positions = [int(n.node.id_.split("-")[1]) for n in outputs]
    assert positions == sorted(positions)


def test_ranking_scores_reflect_the_coarse_pass(nano):
    inputs = _nodes()
    outputs = LLMLingstralPostprocessor(compressor=nano, rate=0.5, order="rank",
                                        score_mode="ranking").postprocess_nodes(
        inputs, QueryBundle(QUERY))
    # get_rank_results gives -log p(query | node), lowest first; the score is its negation.
    ranking = relevance_scores(nano.get_rank_results([n.node.text for n in inputs], QUERY,
                                                     "longllmlingua"))
    for output in outputs:
        assert output.score == pytest.approx(ranking[int(output.node.id_.split("-")[1])])
    scores = [n.score for n in outputs]
    assert scores == sorted(scores, reverse=True)


def test_the_rate_is_met_over_the_nodes(nano_lingua2):
    inputs = _nodes()
    outputs = LLMLingstralPostprocessor(compressor=nano_lingua2, rate=0.4).postprocess_nodes(
        inputs, QueryBundle(QUERY))
    _assert_identity(inputs, outputs)
    count = nano_lingua2.tokenizer.count
    achieved = count("\n\n".join(n.node.text for n in outputs)) / \
        count("\n\n".join(n.node.text for n in inputs))
    assert abs(achieved - 0.4) <= 0.04


def test_sync_and_async_agree(nano):
    component = LLMLingstralPostprocessor(compressor=nano, rate=0.4)
    synchronous = component.postprocess_nodes(_nodes(), QueryBundle(QUERY))
    asynchronous = asyncio.run(component.apostprocess_nodes(_nodes(), QueryBundle(QUERY)))
    assert [(n.node.id_, n.node.text, n.score) for n in asynchronous] == \
        [(n.node.id_, n.node.text, n.score) for n in synchronous]


class ListRetriever(BaseRetriever):
    """Every node, with a score that falls with its position."""

    def __init__(self, nodes: list[TextNode]) -> None:
        self._nodes = nodes
        super().__init__()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=n, score=1.0 - i / 100) for i, n in enumerate(self._nodes)]


def test_query_engine_end_to_end(nano):
    nodes = [n.node for n in _nodes()]
    engine = RetrieverQueryEngine.from_args(
        ListRetriever(nodes), llm=MockLLM(max_tokens=16),
        node_postprocessors=[LLMLingstralPostprocessor(compressor=nano, rate=0.4)])
    response = engine.query(QUERY)
    assert str(response).strip()
    sources = response.source_nodes
    assert 0 < len(sources) < len(nodes)
    _assert_identity([NodeWithScore(node=n) for n in nodes], sources)
    asynchronous = asyncio.run(engine.aquery(QUERY))
    assert [n.node.text for n in asynchronous.source_nodes] == [n.node.text for n in sources]


def test_summary_index_query_engine_by_model_name():
    nodes = [n.node for n in _nodes()]
    postprocessor = LLMLingstralPostprocessor(model_name="nano", device_map="cpu",
                                              target_token=150, method="llmlingua")
    engine = SummaryIndex(nodes).as_query_engine(llm=MockLLM(max_tokens=16),
                                                 node_postprocessors=[postprocessor])
    sources = engine.query(QUERY).source_nodes
    assert 0 < len(sources) < len(nodes)
    assert {n.node.id_ for n in sources} <= {n.id_ for n in nodes}


def test_no_query_and_no_nodes(nano):
    component = LLMLingstralPostprocessor(compressor=nano, rate=0.5)
    assert component.postprocess_nodes([], QueryBundle(QUERY)) == []
    outputs = component.postprocess_nodes(_nodes()[:3])
    ids = [n.node.id_ for n in outputs]
    assert ids and ids == sorted(ids) and set(ids) <= {"node-0", "node-1", "node-2"}


def test_settings_are_checked(nano):
    with pytest.raises(ValueError, match="pass compressor="):
        LLMLingstralPostprocessor()
    with pytest.raises(ValueError, match="order must be|Input should be"):
        LLMLingstralPostprocessor(compressor=nano, order="random")
