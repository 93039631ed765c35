"""LangChain: a document compressor that shortens retrieved documents with llmlingstral.

Install with ``pip install 'llmlingstral[langchain]'``. Use it on its own
(``compress_documents`` / ``acompress_documents``) or as the ``base_compressor`` of
``langchain_classic.retrievers.ContextualCompressionRetriever``.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Sequence

try:
    from langchain_core.callbacks import Callbacks
    from langchain_core.documents import BaseDocumentCompressor, Document
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("llmlingstral.integrations.langchain needs langchain-core: "
                      "pip install 'llmlingstral[langchain]'") from error
from pydantic import ConfigDict, Field, field_serializer, model_validator

from ..compressor import PromptCompressor
from .documents import CompressedText, CompressionSettings, component_compressor, \
    compress_texts, saved_method, saved_model_name
from .fields import NumberSetting, ProtectSetting

__all__ = ["LLMLingstralCompressor"]


class LLMLingstralCompressor(BaseDocumentCompressor):
    """Compress each retrieved document for the query; metadata and ids are kept.

    Give either ``compressor`` (a ready :class:`llmlingstral.PromptCompressor`) or
    ``model_name`` (a preset such as ``"nano"``, a Hugging Face id or a folder, loaded on
    ``device_map``). ``method`` is ``"llmlingua"``, ``"longllmlingua"`` or ``"llmlingua2"``
    (None: follow the model). ``rate`` is the fraction of the documents' tokens to keep,
    ``target_token`` (if positive) the tokens to keep over all documents. Documents the
    coarse pass drops are not returned; the others come back in their input order
    (``order="original"``) or most relevant first (``order="rank"``). Each returned document
    carries its input position under ``metadata[source_key]`` (None: not added).
    ``score_mode="ranking"`` adds ``metadata["relevance_score"]``, the relevance of the
    documents' ranking for the query on the ranker's own scale (higher: more relevant), as
    LangChain's rerankers do; ``"normalized"`` that relevance rescaled to [0, 1] over the
    call's documents (order unchanged); None adds no score. ``protect`` is what compression
    keeps whole (True: numbers, dates, amounts, URLs, paths, identifiers and code; False:
    llmlingua's behaviour; a :class:`~llmlingstral.text.protect.Protection`; saved as JSON).
    ``compress_kwargs`` passes further ``compress_prompt`` keywords. ``model_dump`` / ``model_dump_json`` write the
    settings and the compressor's model name, never the compressor; ``model_validate``
    rebuilds the model, or takes ``compressor`` in the data to re-attach a loaded one.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid",
                              protected_namespaces=())

    compressor: Optional[PromptCompressor] = Field(default=None, exclude=True)
    model_name: Optional[str] = None
    device_map: Any = "auto"
    method: Optional[Literal["llmlingua", "longllmlingua", "llmlingua2"]] = None
    rate: NumberSetting = 0.5
    target_token: NumberSetting = -1
    rank_method: Optional[str] = None
    order: Literal["original", "rank"] = "original"
    protect: ProtectSetting = True
    source_key: Optional[str] = "source_index"
    score_mode: Optional[Literal["ranking", "normalized"]] = None
    compress_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _load_and_check(self) -> "LLMLingstralCompressor":
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

    @property
    def settings(self) -> CompressionSettings:
        """The compression settings these fields describe."""
        return CompressionSettings.of(self)

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """The documents that survive compression for ``query``, each with its metadata.

        ``acompress_documents`` (inherited) runs this in a worker thread.
        """
        documents = list(documents)
        kept = compress_texts(self.compressor, [d.page_content for d in documents], query,
                              self.settings, scored=self.score_mode is not None)
        return [self._compressed_document(documents[k.source], k) for k in kept]

    def _compressed_document(self, original: Document, kept: CompressedText) -> Document:
        metadata = dict(original.metadata)
        if self.source_key is not None:
            if self.source_key in metadata:
                raise ValueError(f"document {kept.source} already has metadata key "
                                 f"{self.source_key!r}; pass source_key=<another name> "
                                 f"(or None to add no key)")
            metadata[self.source_key] = kept.source
        if self.score_mode is not None:
            metadata["relevance_score"] = kept.score(self.score_mode)
        return Document(page_content=kept.text, metadata=metadata, id=original.id)
