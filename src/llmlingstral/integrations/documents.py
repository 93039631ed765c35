"""The framework-neutral core of the integrations: compress retrieved texts for a query.

Each input text is one document; the result says, for every document that survives, which
input it came from (``source``), its compressed text and, when the coarse pass ranked the
documents, its relevance to the query. Identity comes from the compressor's
``kept_context_ids`` / ``compressed_contexts`` result keys, never from markers in the text.
Budgets (``rate``, ``target_token``) count the documents' Mistral tokens only: the query is
used for ranking and conditioning but is not part of what is kept.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from ..compressor import PromptCompressor
from ..models.registry import MISTRAL_MODELS
from ..prompt import CONTEXT_SEPARATOR, join_prompt
from ..ranking.base import RankResults, relevance_scores
from ..validate import check_choice, check_mapping, check_rate, check_target

METHODS = ("llmlingua", "longllmlingua", "llmlingua2")
ORDERS = ("original", "rank")
# compress_prompt keywords that the settings own; anything else passes through.
_OWNED_KEYWORDS = {"context": "the documents", "question": "the query", "rate": "rate",
                   "target_token": "target_token", "rank_method": "rank_method",
                   "reorder_context": "order",
                   "concate_question": "the documents' budget, which never counts the query"}
# llmlingua's recommended LongLLMLingua settings for question-aware RAG compression.
_METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "llmlingua": {"condition_in_question": "none"},
    "longllmlingua": {"condition_in_question": "after_condition", "condition_compare": True,
                      "dynamic_context_compression_ratio": 0.3, "context_budget": "+100"},
    "llmlingua2": {"use_context_level_filter": True},
}
# One call at a time per compressor: models and rankers are not made for concurrent use.
_LOCKS: "weakref.WeakKeyDictionary[PromptCompressor, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class CompressedText:
    """One surviving document: its input position, compressed text and relevance."""

    source: int
    text: str
    relevance: float | None  # the coarse pass's score for the query (higher: more relevant)


@dataclass(frozen=True)
class CompressionSettings:
    """How a framework component compresses its documents.

    ``method``: ``"llmlingua"``, ``"longllmlingua"`` or ``"llmlingua2"`` (None: LLMLingua-2
    for a token-classifier compressor, LongLLMLingua otherwise). ``rate`` is the fraction of
    the documents' tokens to keep; ``target_token`` (if positive) the tokens to keep over all
    documents. ``rank_method`` ranks documents in the coarse pass (None: the method's own).
    ``order``: ``"original"`` (input order) or ``"rank"`` (most relevant first).
    ``compress_kwargs``: further ``compress_prompt`` keywords.
    """

    method: str | None = None
    rate: float = 0.5
    target_token: float = -1
    rank_method: str | None = None
    order: str = "original"
    compress_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, component: Any) -> "CompressionSettings":
        """The settings a component's fields of the same names describe."""
        return cls(**{f.name: getattr(component, f.name) for f in fields(cls)})

    def validate(self) -> None:
        """Raise TypeError (a value of the wrong type) or ValueError (out of range) naming the
        setting to change."""
        if self.method is not None:
            check_choice("method", self.method, METHODS)
        check_choice("order", self.order, ORDERS)
        check_number_setting("rate", self.rate)
        check_number_setting("target_token", self.target_token)
        for key in check_mapping("compress_kwargs", self.compress_kwargs):
            if key in _OWNED_KEYWORDS:
                raise ValueError(f"compress_kwargs may not set {key!r}: it is set from "
                                 f"{_OWNED_KEYWORDS[key]}")


def check_number_setting(name: str, value: Any) -> Any:
    """``rate`` or ``target_token`` checked as the library checks them: a value that is no
    number is a TypeError, one out of range a ValueError. Components call this before their
    framework would turn a string such as ``"0.5"`` into a number."""
    if name == "rate":
        return check_rate(name, value, "the fraction of the documents' tokens to keep")
    return check_target(name, value)


def build_compressor(model_name: str, device_map: Any = "auto",
                     method: str | None = None) -> PromptCompressor:
    """A compressor for ``model_name``: a token classifier for ``method="llmlingua2"`` or,
    with no method, for a classifier preset such as ``"nano-lingua2"``."""
    preset = MISTRAL_MODELS.get(model_name) if isinstance(model_name, str) else None
    classifier = method == "llmlingua2" or (
        method is None and preset is not None and preset.kind == "token-classifier")
    return PromptCompressor(model_name, device_map=device_map, use_llmlingua2=classifier)


def resolve_method(compressor: PromptCompressor, method: str | None) -> str:
    """The method to run on ``compressor``; ValueError when the two do not fit."""
    if not isinstance(compressor, PromptCompressor):
        raise TypeError(f"compressor must be an llmlingstral.PromptCompressor, got "
                        f"{type(compressor).__name__}")
    classifier = compressor.classifier is not None
    if method is None:
        return "llmlingua2" if classifier else "longllmlingua"
    if (method == "llmlingua2") != classifier:
        held = "a token classifier" if classifier else "a causal LM"
        raise ValueError(f"method={method!r} does not fit this compressor, which holds {held} "
                         f"({compressor.model_name!r}); pass method=None to follow the model")
    return method


def compress_texts(compressor: PromptCompressor, texts: Sequence[str], query: str,
                   settings: CompressionSettings) -> list[CompressedText]:
    """Compress ``texts`` for ``query``; the survivors, in ``settings.order``.

    Documents dropped by the coarse pass, or compressed to nothing, are not returned.
    """
    settings.validate()
    texts = _checked_texts(texts)
    query = "" if query is None else query
    if not isinstance(query, str):
        raise TypeError(f"the query must be a str, got {type(query).__name__}")
    if not any(t.strip() for t in texts):
        return []
    method = resolve_method(compressor, settings.method)
    with _lock_for(compressor):
        ranking = _rank(compressor, texts, query, method, settings)
        result = _compress(compressor, texts, query, method, settings, ranking)
    return _survivors(result, ranking, settings.order)


def _checked_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a list of documents, not a single string")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"document {i} has {type(text).__name__} content; its text must be a "
                            f"str")
    return list(texts)


def _lock_for(compressor: PromptCompressor) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(compressor, threading.Lock())


# --------------------------------------------------------------------------- coarse ranking


class _FixedRanking:
    """A ranker that returns a ranking computed before, so documents are ranked once."""

    def __init__(self, results: RankResults, count: int) -> None:
        self.results, self.count = results, count

    def rank(self, documents: Sequence[str], question: str) -> RankResults:
        if len(documents) != self.count:
            raise ValueError(f"ranking computed for {self.count} documents, asked for "
                             f"{len(documents)}")
        return list(self.results)


def _rank(compressor, texts, query, method, settings) -> RankResults | None:
    """The coarse pass's ranking with scores, or None when that pass will not rank."""
    options = {**_METHOD_DEFAULTS[method], **settings.compress_kwargs}
    if len(texts) < 2 or not options.get("use_context_level_filter", True):
        return None
    rank_method = settings.rank_method
    if method == "llmlingua2":
        if rank_method in (None, "llmlingua") or not query.strip():
            return None  # the classifier ranks by its own keep probabilities
    elif rank_method is None:
        rank_method = method if query.strip() else "llmlingua"
    return compressor.get_rank_results(texts, query, rank_method)


def _compress(compressor, texts, query, method, settings, ranking) -> dict[str, Any]:
    keywords = {**_METHOD_DEFAULTS[method], **settings.compress_kwargs}
    keywords["target_token"] = _target_tokens(compressor, texts, query, settings)
    if ranking is not None:
        keywords["rank_method"] = _FixedRanking(ranking, len(texts))
    elif method != "llmlingua2":
        keywords["rank_method"] = settings.rank_method or method  # nothing left to rank
    if method == "llmlingua2":
        return compressor.compress_prompt_llmlingua2(texts, question=query, **keywords)
    keywords["reorder_context"] = "sort" if settings.order == "rank" else "original"
    return compressor.compress_prompt(texts, question=query, **keywords)


def _target_tokens(compressor, texts, query, settings) -> float:
    """``target_token`` for ``compress_prompt`` that leaves the documents their budget.

    The compressor's target covers the whole prompt; the instruction and query around the
    documents are kept whole, so their tokens are added to the documents' share.
    """
    tokenizer = compressor.tokenizer
    joined = CONTEXT_SEPARATOR.join(texts)
    document_tokens = tokenizer.count(joined)
    share = settings.target_token if settings.target_token > 0 \
        else settings.rate * document_tokens
    instruction = settings.compress_kwargs.get("instruction") or ""
    whole = tokenizer.count(join_prompt(instruction, joined, query))
    return float(share + whole - document_tokens)


# --------------------------------------------------------------------------- result


def _survivors(result: Mapping[str, Any], ranking: RankResults | None,
               order: str) -> list[CompressedText]:
    relevance = relevance_scores(ranking) if ranking is not None else {}
    kept = [CompressedText(int(i), text, relevance.get(int(i)))
            for i, text in zip(result["kept_context_ids"], result["compressed_contexts"])
            if text.strip()]
    if order == "original":
        return sorted(kept, key=lambda k: k.source)
    if ranking is not None:
        position = {index: p for p, (index, _) in enumerate(ranking)}
        return sorted(kept, key=lambda k: position[k.source])
    return kept
