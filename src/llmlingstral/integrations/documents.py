"""The framework-neutral core of the integrations: compress retrieved texts for a query.

Each input text is one document; the result says, for every document that survives, which
input it came from (``source``), its compressed text and, when the coarse pass ranked the
documents, its relevance to the query. Identity comes from the compressor's
``kept_context_ids`` / ``compressed_contexts`` result keys, never from markers in the text.
Budgets (``rate``, ``target_token``) count the documents' Mistral tokens only: the query is
used for ranking and conditioning but is not part of what is kept.

Relevance comes in two scales (``SCORE_MODES``): ``"ranking"``, the ranker's own quantity
turned so that higher is more relevant (minus the question's mean surprisal in nats per
token for LongLLMLingua, a keep probability for LLMLingua-2, a bm25 score, a similarity,
minus a gzip distance, ...), and ``"normalized"``, the same order rescaled to [0, 1] over
the documents of one call.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from ..compressor import PromptCompressor
from ..models.registry import MISTRAL_MODELS
from ..options import PromptOptions
from ..prompt import CONTEXT_SEPARATOR, join_prompt
from ..protect_options import protection_from_spec, protection_spec
from ..ranking.base import RankResults, relevance_scores
from ..ranking.resolve import choose_ranking
from ..recipes import OPTIONS_OF, RECIPES
from ..text.protect import ProtectOption, resolve_protection
from ..validate import check_choice, check_mapping, check_rate, check_str, check_target

METHODS = ("llmlingua", "longllmlingua", "llmlingua2")
ORDERS = ("original", "rank")
SCORE_MODES = ("ranking", "normalized")
# compress_prompt keywords that the settings own; anything else passes through.
_OWNED_KEYWORDS = {"context": "the documents", "question": "the query", "rate": "rate",
                   "target_token": "target_token", "rank_method": "rank_method",
                   "reorder_context": "order", "protect": "protect",
                   "concate_question": "the documents' budget, which never counts the query"}
# What the components do beyond their method's recipe (:mod:`..recipes`): they drop whole
# documents that rank low for the query, also with LLMLingua-2, whose recipe for one prompt
# keeps every context. The order of the survivors is the ``order`` setting's.
_DOCUMENT_OPTIONS: dict[str, dict[str, Any]] = {"llmlingua2": {"use_context_level_filter": True}}
# One call at a time per compressor: models and rankers are not made for concurrent use.
_LOCKS: "weakref.WeakKeyDictionary[PromptCompressor, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class CompressedText:
    """One surviving document: its input position, compressed text and relevance."""

    source: int
    text: str
    relevance: float | None  # the ranking's score for the query (higher: more relevant)
    normalized: float | None = None  # relevance rescaled to [0, 1] over the call's documents

    def score(self, mode: str) -> float | None:
        """The relevance on the scale ``mode`` names (one of ``SCORE_MODES``)."""
        return self.relevance if check_choice("score_mode", mode, SCORE_MODES) == "ranking" \
            else self.normalized


@dataclass(frozen=True)
class CompressionSettings:
    """How a framework component compresses its documents.

    ``method``: ``"llmlingua"``, ``"longllmlingua"`` or ``"llmlingua2"`` (None: LLMLingua-2
    for a token-classifier compressor, LongLLMLingua otherwise), compressed with that
    method's recipe (:mod:`llmlingstral.recipes`). ``rate`` is the fraction of the documents'
    tokens to keep; ``target_token`` (if positive) the tokens to keep over all documents.
    ``rank_method`` ranks documents in the coarse pass (None: the recipe's).
    ``order``: ``"original"`` (input order) or ``"rank"`` (most relevant first).
    ``protect``: what compression keeps whole, as ``compress_prompt``'s (True: numbers,
    dates, amounts, URLs, paths, identifiers and code; False: llmlingua's behaviour; or a
    :class:`~llmlingstral.text.protect.Protection`). ``compress_kwargs``: further
    ``compress_prompt`` keywords.
    """

    method: str | None = None
    rate: float = 0.5
    target_token: float = -1
    rank_method: str | None = None
    order: str = "original"
    protect: ProtectOption = True
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
        if self.rank_method is not None:
            check_str("rank_method", self.rank_method)
        resolve_protection(self.protect)  # TypeError naming what protect accepts
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


def component_compressor(compressor: PromptCompressor | None, model_name: str | None,
                         device_map: Any, method: str | None) -> PromptCompressor:
    """The compressor a component runs: ``compressor`` when given, else one built for
    ``model_name``; ValueError when neither is given, or when both are and they name
    different models (a saved component is reloaded by model name, or with ``compressor=``
    of that model)."""
    if compressor is None:
        if model_name is None:
            raise ValueError("pass compressor=PromptCompressor(...) or model_name= (for "
                             "example 'nano', or 'default' for Mistral-7B-v0.3)")
        compressor = build_compressor(model_name, device_map, method)
    elif model_name is not None and isinstance(compressor, PromptCompressor) and \
            str(model_name) != saved_model_name(None, compressor):
        raise ValueError(f"model_name={model_name!r} is not the model of the compressor "
                         f"given ({compressor.model_name!r}); pass only one of them")
    resolve_method(compressor, method)
    return compressor


def saved_model_name(model_name: str | None, compressor: PromptCompressor) -> str:
    """``model_name`` as a component writes it: the model its compressor holds, so that
    loading the component rebuilds that model. The compressor itself is never written (it
    holds weights, and its ``open_api_config`` may hold API keys)."""
    return str(compressor.model_name) if model_name is None else model_name


def read_protect(value: Any) -> ProtectOption:
    """A component's ``protect`` as given in Python or read back from JSON (a saved
    component writes it with :func:`saved_protect`)."""
    return protection_from_spec(value)


def saved_protect(protect: ProtectOption) -> Any:
    """``protect`` as a component writes it: JSON that :func:`read_protect` reads back."""
    return protection_spec(protect)


def saved_method(method: str | None, compressor: PromptCompressor) -> str:
    """``method`` as a component writes it: the method it runs, so that a token classifier
    loaded from a folder or hub id is loaded as one again."""
    return resolve_method(compressor, method)


def resolve_method(compressor: PromptCompressor, method: str | None) -> str:
    """The method to run on ``compressor``; ValueError when the two do not fit."""
    if not isinstance(compressor, PromptCompressor):
        raise TypeError(f"compressor must be an llmlingstral.PromptCompressor, got "
                        f"{type(compressor).__name__}")
    classifier = compressor.method.family == "llmlingua2"
    if method is None:
        return "llmlingua2" if classifier else "longllmlingua"
    if (method == "llmlingua2") != classifier:
        held = "a token classifier" if classifier else "a causal LM"
        raise ValueError(f"method={method!r} does not fit this compressor, which holds {held} "
                         f"({compressor.model_name!r}); pass method=None to follow the model")
    return method


def compress_texts(compressor: PromptCompressor, texts: Sequence[str], query: str,
                   settings: CompressionSettings, *, scored: bool = False
                   ) -> list[CompressedText]:
    """Compress ``texts`` for ``query``; the survivors, in ``settings.order``.

    Documents dropped by the coarse pass, or compressed to nothing, are not returned. With
    ``scored`` (or ``order="rank"``) the documents are ranked even where the coarse pass
    would not rank them (one document, no context-level filter, LLMLingua-2's own
    ranking), so every survivor carries its relevance.
    """
    settings.validate()
    texts = _checked_texts(texts)
    query = "" if query is None else query
    if not isinstance(query, str):
        raise TypeError(f"the query must be a str, got {type(query).__name__}")
    if not any(t.strip() for t in texts):
        return []
    method = resolve_method(compressor, settings.method)
    wanted = scored or settings.order == "rank"
    with _lock_for(compressor):
        ranking = _rank(compressor, texts, query, method, settings, wanted)
        result = _compress(compressor, texts, query, method, settings, ranking)
    return _survivors(result, ranking, texts, settings.order)


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


def _rank(compressor, texts, query, method, settings, wanted) -> _Ranking | None:
    """The ranking of ``texts`` with scores, or None when neither the coarse pass nor the
    caller (``wanted``) needs one."""
    options = _method_options(method, settings)
    filtering = len(texts) >= 2 and options.get("use_context_level_filter", True)
    if not wanted and not filtering:
        return None  # not ranked at all
    rank_method = _rank_method(method, settings.rank_method, query)
    # The method's own condition, given explicitly so that the scores' direction follows
    # from it; a classifier's "llmlingua" ranking is its keep probability, unconditioned.
    choice = choose_ranking(rank_method, None, causal=compressor.method.family == "llmlingua",
                            as_called=True, warn=False)
    if not wanted and method == "llmlingua2" and choice.kind == "keep_probability":
        return None  # ranked inside the compression
    results = compressor.get_rank_results(texts, query, rank_method,
                                          condition_in_question=choice.condition)
    return _Ranking(results, bool(choice.ascending))


def _method_options(method: str, settings: CompressionSettings) -> dict[str, Any]:
    """The method's recipe, the components' own document options, then the caller's; an
    option of another method in ``compress_kwargs`` is a TypeError (it would do nothing)."""
    foreign = sorted(set(settings.compress_kwargs)
                     & (PromptOptions.names() - OPTIONS_OF[method].names()))
    if foreign:
        raise TypeError(f"compress_kwargs {foreign} are not options of method={method!r} "
                        f"(see {OPTIONS_OF[method].__name__})")
    return RECIPES[method].keywords({**_DOCUMENT_OPTIONS.get(method, {}),
                                     **settings.compress_kwargs})


def _rank_method(method: str, rank_method: str | None, query: str) -> str:
    """The rank method the coarse pass uses: the caller's, else the recipe's; without a
    query, ``"llmlingua"`` (question-blind). ``"llmlingua"`` on a classifier is its keep
    probability, which is what LLMLingua-2 ranks by unless a ranker is named."""
    if rank_method is not None and (query.strip() or method != "llmlingua2"):
        return rank_method.strip()
    if not query.strip():
        return "llmlingua"
    return RECIPES[method].rank_method or "llmlingua"


@dataclass(frozen=True)
class _Ranking:
    """``get_rank_results`` pairs (best first) and the direction their scores run."""

    results: RankResults
    ascending: bool

    def relevance(self, texts: Sequence[str]) -> tuple[dict[int, float], dict[int, float]]:
        """``({index: relevance}, {index: relevance in [0, 1]})``, higher: more relevant."""
        relevance = relevance_scores(self.results, self.ascending)
        return relevance, _rescaled(relevance, texts)


def _rescaled(relevance: Mapping[int, float], texts: Sequence[str]) -> dict[int, float]:
    """``relevance`` mapped linearly onto [0, 1] over the documents with text: the most
    relevant 1.0, the least 0.0, all 1.0 when they tie; order kept."""
    finite = [v for i, v in relevance.items() if texts[i].strip() and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)

    def scale(value: float) -> float:
        if not math.isfinite(value):
            return 1.0 if value > 0 else 0.0
        if high == low:
            return 1.0
        return min(1.0, max(0.0, (value - low) / (high - low)))

    return {i: scale(v) for i, v in relevance.items()}


def _compress(compressor, texts, query, method, settings, ranking) -> dict[str, Any]:
    keywords = {**_method_options(method, settings), "protect": settings.protect}
    keywords["target_token"] = _target_tokens(compressor, texts, query, settings)
    if ranking is not None:
        keywords["rank_method"] = _FixedRanking(ranking.results, len(texts))
    elif method != "llmlingua2":  # nothing left to rank
        keywords["rank_method"] = _rank_method(method, settings.rank_method, query)
    if method != "llmlingua2":
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


def _survivors(result: Mapping[str, Any], ranking: _Ranking | None, texts: Sequence[str],
               order: str) -> list[CompressedText]:
    relevance, normalized = ranking.relevance(texts) if ranking is not None else ({}, {})
    kept = [CompressedText(int(i), text, relevance.get(int(i)), normalized.get(int(i)))
            for i, text in zip(result["kept_context_ids"], result["compressed_contexts"])
            if text.strip()]
    if order == "original" or ranking is None:  # order="rank" always has a ranking
        return sorted(kept, key=lambda k: k.source)
    position = {index: p for p, (index, _) in enumerate(ranking.results)}
    return sorted(kept, key=lambda k: position[k.source])
