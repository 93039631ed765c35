"""LlamaIndex: a node postprocessor that shortens retrieved nodes with llmlingstral.

Install with ``pip install 'llmlingstral[llama-index]'``. Pass it in
``node_postprocessors=[...]`` of a query engine, or call ``postprocess_nodes`` /
``apostprocess_nodes`` with a ``QueryBundle``.
"""

from __future__ import annotations

from typing import Any, List, Literal, Optional

try:
    from llama_index.core.bridge.pydantic import ConfigDict, Field, field_serializer, \
        model_validator
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("llmlingstral.integrations.llama_index needs llama-index-core: "
                      "pip install 'llmlingstral[llama-index]'") from error

from ..compressor import PromptCompressor
from .documents import CompressedText, CompressionSettings, component_compressor, \
    compress_texts, saved_method, saved_model_name
from .fields import NumberSetting, ProtectSetting

__all__ = ["LLMLingstralPostprocessor"]


class LLMLingstralPostprocessor(BaseNodePostprocessor):
    """Compress each retrieved node for the query; ids, metadata and scores are kept.

    Give either ``compressor`` (a ready :class:`llmlingstral.PromptCompressor`) or
    ``model_name`` (loaded on ``device_map``). ``method``, ``rate``, ``target_token``,
    ``rank_method``, ``order``, ``protect`` and ``compress_kwargs`` are as in
    :class:`llmlingstral.integrations.documents.CompressionSettings`. Each surviving node is
    a copy of its input node (same ``id_``, metadata, relationships) holding the compressed
    text; nodes the coarse pass drops are not returned. ``score_mode="retriever"`` keeps each
    node's score; ``"ranking"`` replaces it by the relevance of the documents' ranking for
    the query, on the ranker's own scale (higher: more relevant), as rerankers do;
    ``"normalized"`` by that relevance rescaled to [0, 1] over the call's nodes (order
    unchanged), for score cut-offs. ``to_dict``/``to_json`` write the settings and the
    compressor's model name, never the compressor; ``from_dict`` rebuilds the model, or
    takes ``compressor=`` to re-attach a loaded one.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    compressor: Optional[PromptCompressor] = Field(default=None, exclude=True)
    model_name: Optional[str] = None
    device_map: Any = "auto"
    method: Optional[Literal["llmlingua", "longllmlingua", "llmlingua2"]] = None
    rate: NumberSetting = 0.5
    target_token: NumberSetting = -1
    rank_method: Optional[str] = None
    order: Literal["original", "rank"] = "original"
    protect: ProtectSetting = True
    score_mode: Literal["retriever", "ranking", "normalized"] = "retriever"
    compress_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _load_and_check(self) -> "LLMLingstralPostprocessor":
        self.compressor = component_compressor(self.compressor, self.model_name,
                                               self.device_map, self.method)
        self.settings.validate()
        return self

    @field_serializer("model_name")
    def _save_model_name(self, model_name: Optional[str]) -> str:
        return saved_model_name(model_name, self.compressor)

    @field_serializer("method")
    def _save_method(self, method: Optional[str]) -> str:
        return saved_method(method, self.compressor)

    @classmethod
    def class_name(cls) -> str:
        return "LLMLingstralPostprocessor"

    @property
    def settings(self) -> CompressionSettings:
        """The compression settings these fields describe."""
        return CompressionSettings.of(self)

    def _postprocess_nodes(self, nodes: List[NodeWithScore],
                           query_bundle: Optional[QueryBundle] = None) -> List[NodeWithScore]:
        """The nodes that survive compression for the query (no query: no question)."""
        texts = []
        for position, item in enumerate(nodes):
            if not isinstance(item.node, TextNode):
                raise TypeError(f"node {position} ({item.node.id_}) is a "
                                f"{type(item.node).__name__}; only text nodes can be compressed")
            texts.append(item.node.get_content(metadata_mode=MetadataMode.NONE))
        query = query_bundle.query_str if query_bundle is not None else ""
        kept = compress_texts(self.compressor, texts, query, self.settings,
                              scored=self.score_mode != "retriever")
        return [self._compressed_node(nodes[k.source], k) for k in kept]

    def _compressed_node(self, original: NodeWithScore, kept: CompressedText) -> NodeWithScore:
        node = original.node.model_copy(deep=True)  # the caller's node stays as it was
        node.set_content(kept.text)
        score = original.score if self.score_mode == "retriever" else kept.score(self.score_mode)
        return NodeWithScore(node=node, score=score)
