"""The LlamaIndex node postprocessor, with llama-index-core installed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from llama_index.core import SummaryIndex
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (NodeRelationship, NodeWithScore, QueryBundle,
                                     RelatedNodeInfo, TextNode)

from llmlingstral import PromptCompressor
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
                                        score_mode="ranking", rank_method="longllmlingua"
                                        ).postprocess_nodes(
        inputs, QueryBundle(QUERY))
    # get_rank_results gives -log p(query | node), lowest first; the score is its negation.
    ranking = relevance_scores(nano.get_rank_results([n.node.text for n in inputs], QUERY,
                                                     "longllmlingua"))
    for output in outputs:
        assert output.score == pytest.approx(ranking[int(output.node.id_.split("-")[1])])
    scores = [n.score for n in outputs]
    assert scores == sorted(scores, reverse=True)


def _position(node: NodeWithScore) -> int:
    return int(node.node.id_.split("-")[1])


def test_llmlingua2_ranks_by_keep_probability(nano_lingua2):
    """docs/integrations.md: with LLMLingua-2 and no rank_method the nodes are ranked by the
    classifier's keep probability; order="rank" and score_mode="ranking" follow it."""
    inputs = _nodes()
    plain = LLMLingstralPostprocessor(compressor=nano_lingua2, rate=0.4).postprocess_nodes(
        inputs, QueryBundle(QUERY))
    ranked = LLMLingstralPostprocessor(compressor=nano_lingua2, rate=0.4, order="rank",
                                       score_mode="ranking").postprocess_nodes(
        _nodes(), QueryBundle(QUERY))
    keep = dict(nano_lingua2.get_rank_results([n.node.text for n in inputs], QUERY, "llmlingua"))
    assert {n.node.id_ for n in ranked} == {n.node.id_ for n in plain}  # same survivors
    assert [n.score for n in ranked] == pytest.approx([keep[_position(n)] for n in ranked])
    assert [n.score for n in ranked] == sorted((n.score for n in ranked), reverse=True)
    assert [_position(n) for n in ranked] != sorted(_position(n) for n in ranked)
    assert all(0 <= n.score <= 1 for n in ranked)
    _assert_identity(inputs, ranked)


@pytest.mark.parametrize("fixture", ["nano", "nano_lingua2"])
def test_normalized_scores_lie_in_0_1_in_the_ranking_order(request, fixture):
    compressor = request.getfixturevalue(fixture)
    raw, normalized = (
        {n.node.id_: n.score for n in LLMLingstralPostprocessor(
            compressor=compressor, rate=0.5, score_mode=mode,
            rank_method="longllmlingua" if fixture == "nano" else None).postprocess_nodes(
            _nodes(), QueryBundle(QUERY))}
        for mode in ("ranking", "normalized"))
    assert raw.keys() == normalized.keys() and len(raw) > 2
    assert all(0.0 <= score <= 1.0 for score in normalized.values())
    ids = list(raw)
    assert sorted(ids, key=raw.get) == sorted(ids, key=normalized.get)
    if fixture == "nano":  # -log p(query | node), negated: below zero
        assert all(score < 0 for score in raw.values())


def test_a_score_cutoff_after_normalized_scores(nano):
    """A SimilarityPostprocessor cut-off placed after the component reads [0, 1] scores."""
    engine = SummaryIndex([n.node for n in _nodes()]).as_query_engine(
        llm=MockLLM(max_tokens=8), node_postprocessors=[
            LLMLingstralPostprocessor(compressor=nano, rate=0.5, score_mode="normalized"),
            SimilarityPostprocessor(similarity_cutoff=0.5)])
    without_cutoff = LLMLingstralPostprocessor(compressor=nano, rate=0.5,
                                               score_mode="normalized").postprocess_nodes(
        _nodes(), QueryBundle(QUERY))
    sources = engine.query(QUERY).source_nodes
    assert 0 < len(sources) < len(without_cutoff)
    assert {n.node.id_ for n in sources} == \
        {n.node.id_ for n in without_cutoff if n.score >= 0.5}


def test_one_node_is_ranked_too(nano):
    node = _nodes()[6:7]
    ranking = LLMLingstralPostprocessor(compressor=nano, rate=0.9, score_mode="ranking",
                                        rank_method="longllmlingua")
    normalized = LLMLingstralPostprocessor(compressor=nano, rate=0.9, score_mode="normalized",
                                           rank_method="longllmlingua")
    [ranked] = ranking.postprocess_nodes(node, QueryBundle(QUERY))
    [rescaled] = normalized.postprocess_nodes(_nodes()[6:7], QueryBundle(QUERY))
    [(_, surprisal)] = nano.get_rank_results([node[0].node.text], QUERY, "longllmlingua")
    assert ranked.score == pytest.approx(-surprisal) and ranked.score < 0
    assert rescaled.score == 1.0


# --------------------------------------------------------------------------- serialisation


def _same_output(first: LLMLingstralPostprocessor, second: LLMLingstralPostprocessor) -> None:
    def run(component):
        return [(n.node.id_, n.node.text, n.score)
                for n in component.postprocess_nodes(_nodes(), QueryBundle(QUERY))]

    assert run(first) == run(second)


def test_a_component_built_on_a_compressor_round_trips():
    compressor = PromptCompressor("nano", device_map="cpu",
                                  open_api_config={"api_key": "sk-do-not-write-me"})
    component = LLMLingstralPostprocessor(compressor=compressor, device_map="cpu", rate=0.4,
                                          order="rank", score_mode="normalized",
                                          compress_kwargs={"context_budget": "+50"})
    saved = component.to_json()
    assert "sk-do-not-write-me" not in saved
    data = json.loads(saved)
    assert (data["model_name"], data["method"]) == ("nano", "longllmlingua")
    rebuilt = LLMLingstralPostprocessor.from_json(saved)
    assert rebuilt.compressor is not compressor
    assert rebuilt.settings == replace(component.settings, method="longllmlingua")
    _same_output(component, rebuilt)
    reattached = LLMLingstralPostprocessor.from_dict(component.to_dict(), compressor=compressor)
    assert reattached.compressor is compressor
    _same_output(component, reattached)


def test_a_classifier_round_trips_as_a_classifier(nano_lingua2):
    component = LLMLingstralPostprocessor(compressor=nano_lingua2, device_map="cpu", rate=0.4,
                                          order="rank", score_mode="ranking")
    data = component.to_dict()
    assert data["method"] == "llmlingua2"
    rebuilt = LLMLingstralPostprocessor.from_dict(data)
    assert rebuilt.compressor.classifier is not None
    _same_output(component, rebuilt)


def test_a_compressor_of_another_model_is_refused(nano, nano_lingua2):
    data = LLMLingstralPostprocessor(compressor=nano).to_dict()
    with pytest.raises(ValueError, match="not the model of the compressor given"):
        LLMLingstralPostprocessor.from_dict(data, compressor=nano_lingua2)


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


# --------------------------------------------------------------------------- protection


def test_protect_reaches_the_compression_and_round_trips(nano):
    from llmlingstral.integrations.documents import compress_texts
    from llmlingstral.text.protect import Protection

    protect = Protection.off(force_tokens=["harbour"], patterns=[r"\d+"])
    component = LLMLingstralPostprocessor(compressor=nano, rate=0.4, protect=protect)
    nodes = _nodes()
    outputs = component.postprocess_nodes(nodes, QueryBundle(QUERY))
    expected = compress_texts(nano, [n.node.text for n in nodes], QUERY, component.settings)
    assert [n.node.text for n in outputs] == [k.text for k in expected]
    rebuilt = LLMLingstralPostprocessor.from_json(component.to_json())
    assert rebuilt.protect == protect and rebuilt.settings.protect == protect
    assert [n.node.text for n in rebuilt.postprocess_nodes(_nodes(), QueryBundle(QUERY))] == \
        [n.node.text for n in outputs]
    with pytest.raises(ValueError, match="'money' is not a class of facts"):
        LLMLingstralPostprocessor(compressor=nano, protect={"classes": ["money"]})


def test_nodes_keep_their_facts_by_default(nano_lingua2):
    from texts import example_prompt, missing_facts

    nodes = [NodeWithScore(node=TextNode(text=p, id_=f"p{i}"), score=1.0)
             for i, p in enumerate(example_prompt().split("\n\n"))]
    outputs = LLMLingstralPostprocessor(compressor=nano_lingua2, rate=0.5).postprocess_nodes(
        nodes, QueryBundle("When does the last bus leave?"))
    kept = "\n\n".join(n.node.text for n in outputs)
    assert not missing_facts(kept), missing_facts(kept)
