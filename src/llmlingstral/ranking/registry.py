"""Rank methods by name: validation, legacy names, and building rankers.

Names: ``llmlingua`` and ``longllmlingua`` (the compressor's own perplexity, built by the
caller), ``bm25``, ``gzip``, ``hybrid`` (bm25 fused with the compressor's LongLLMLingua
scores), ``e5-mistral`` (also
``mistral``), ``mistral-embed`` and ``mistral-rerank``.
llmlingua's third-party rankers map to their Mistral replacement with a DeprecationWarning.

Rankers read their settings from the compressor's ``open_api_config`` mapping:

* ``api_key`` (default: ``MISTRAL_API_KEY``), ``server_url``, ``timeout_ms`` (60000: the
  deadline of each request, every attempt and every wait between attempts together);
* ``max_attempts`` (5) tries per request on 429/5xx/network errors, waiting
  ``retry_base_delay`` seconds (1.0), doubled each retry up to ``retry_max_delay`` (30), or
  as long as the server's ``Retry-After`` asks when that fits in the deadline;
* hybrid: ``hybrid_model_weight`` (weight of the LM's z-scores against bm25's, default
  :data:`~llmlingstral.ranking.hybrid.DEFAULT_MODEL_WEIGHT`);
* mistral-embed: ``embed_model`` (``mistral-embed``), ``embed_batch_size`` (64);
* e5-mistral: ``e5_model`` (the ``embedding`` preset, or a local folder), ``e5_task``,
  ``e5_batch_size`` (8), ``e5_max_length`` (4096), ``e5_device``;
* mistral-rerank: ``rerank_backend`` (``"local"`` or ``"api"``), ``rerank_model`` (local:
  a preset, hub id or folder, default the compressor's own model; api: a chat model, default
  ``mistral-small-latest``), ``rerank_device``, ``rerank_max_passage_tokens`` (1024),
  ``rerank_concurrency`` (4, api).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, MutableMapping, Mapping

from ..errors import caller_stacklevel
from ..models.loader import LoadedModel, load_model
from .base import Ranker

PERPLEXITY_METHODS = ("llmlingua", "longllmlingua")
RANK_METHODS = (*PERPLEXITY_METHODS, "bm25", "gzip", "hybrid", "e5-mistral", "mistral-embed",
                "mistral-rerank")
LEGACY_RANK_METHODS = {
    "sentbert": "e5-mistral", "bge": "e5-mistral", "bge_llmembedder": "e5-mistral",
    "jinza": "e5-mistral", "bge_reranker": "mistral-rerank", "cohere": "mistral-rerank",
    "openai": "mistral-embed", "voyageai": "mistral-embed",
}
# Short names accepted without a warning.
RANK_METHOD_ALIASES = {"mistral": "e5-mistral"}


def resolve_rank_method(name: object, *, stacklevel: int | None = None,
                        warn: bool = True) -> str:
    """The canonical rank method for ``name``; warns for legacy names (unless ``warn`` is
    False: a caller looking at a name before the call that ranks with it, which warns).

    The warning points at the first caller outside the package unless ``stacklevel`` says
    otherwise. Raises ValueError for unknown names (listing the valid ones) and TypeError
    for non-strings.
    """
    if not isinstance(name, str):
        raise TypeError(f"rank_method must be a string such as 'longllmlingua' or 'bm25', "
                        f"got {type(name).__name__}")
    key = name.strip()
    if key in LEGACY_RANK_METHODS:
        replacement = LEGACY_RANK_METHODS[key]
        if not warn:
            return replacement
        warnings.warn(f"rank_method={key!r} is llmlingua's third-party ranker; llmlingstral "
                      f"uses its Mistral replacement {replacement!r}. Pass "
                      f"rank_method={replacement!r} to silence this warning.",
                      DeprecationWarning,
                      stacklevel=caller_stacklevel() if stacklevel is None else stacklevel + 1)
        return replacement
    if key in RANK_METHODS:
        return key
    if key in RANK_METHOD_ALIASES:
        return RANK_METHOD_ALIASES[key]
    if key.replace("_", "-") in RANK_METHODS:  # e5_mistral, mistral_embed, mistral_rerank
        return key.replace("_", "-")
    raise ValueError(f"unknown rank_method {name!r}; valid: {', '.join(RANK_METHODS)} "
                     f"(legacy names {', '.join(LEGACY_RANK_METHODS)} map to these)")


def build_ranker(method: str, *, config: Mapping[str, Any] | None = None,
                 loaded: LoadedModel | None = None) -> Ranker:
    """A ranker for a canonical, non-perplexity ``method``.

    ``config`` holds the settings listed in this module's docstring; ``loaded`` is the
    causal LM ``mistral-rerank`` uses when no ``rerank_model`` is configured.
    """
    config = dict(config or {})
    builders: dict[str, Callable[[dict, LoadedModel | None], Ranker]] = {
        "bm25": _bm25, "gzip": _gzip, "hybrid": _hybrid, "e5-mistral": _e5,
        "mistral-embed": _embed, "mistral-rerank": _rerank}
    if method not in builders:
        raise ValueError(f"{method!r} has no ranker object; perplexity methods "
                         f"({', '.join(PERPLEXITY_METHODS)}) are built by the compressor")
    return builders[method](config, loaded)


def cached_ranker(cache: MutableMapping[tuple, Ranker], method: str,
                  config: Mapping[str, Any] | None = None,
                  loaded: LoadedModel | None = None) -> Ranker:
    """:func:`build_ranker`, built once per ``cache`` (a compressor's), method and settings.

    Rankers hold models and clients, so their owner keeps them for its next calls.
    """
    key = ranker_cache_key(method, config)
    if key not in cache:
        cache[key] = build_ranker(method, config=config, loaded=loaded)
    return cache[key]


def ranker_cache_key(method: str, config: Mapping[str, Any] | None) -> tuple:
    """Where :func:`cached_ranker` keeps the ranker of ``method`` built with ``config``."""
    return (method, repr(sorted((config or {}).items())))


# --------------------------------------------------------------------------- builders


def _bm25(config: dict, loaded: LoadedModel | None) -> Ranker:
    from .bm25 import BM25Ranker

    return BM25Ranker()


def _gzip(config: dict, loaded: LoadedModel | None) -> Ranker:
    from .gzip import GzipRanker

    return GzipRanker()


def _hybrid(config: dict, loaded: LoadedModel | None) -> Ranker:
    from ..scoring.causal import CausalScorer
    from .hybrid import DEFAULT_MODEL_WEIGHT, HybridRanker

    if loaded is None:
        raise ValueError("rank_method='hybrid' fuses bm25 with the compressor's own causal "
                         "LM, and this compressor holds a token classifier: use "
                         "rank_method='bm25' here")
    return HybridRanker(CausalScorer(loaded),
                        model_weight=config.get("hybrid_model_weight", DEFAULT_MODEL_WEIGHT))


def _e5(config: dict, loaded: LoadedModel | None) -> Ranker:
    from .e5_mistral import DEFAULT_E5_MODEL, DEFAULT_TASK, E5MistralRanker

    return E5MistralRanker(config.get("e5_model", DEFAULT_E5_MODEL),
                           task=config.get("e5_task", DEFAULT_TASK),
                           batch_size=int(config.get("e5_batch_size", 8)),
                           max_length=int(config.get("e5_max_length", 4096)),
                           device=config.get("e5_device"))


def _embed(config: dict, loaded: LoadedModel | None) -> Ranker:
    from ..api import MistralAPI
    from .mistral_embed import DEFAULT_EMBED_MODEL, MistralEmbedRanker

    return MistralEmbedRanker(MistralAPI.from_config(config),
                              model=config.get("embed_model", DEFAULT_EMBED_MODEL),
                              batch_size=int(config.get("embed_batch_size", 64)))


def _rerank(config: dict, loaded: LoadedModel | None) -> Ranker:
    from .mistral_rerank import (DEFAULT_API_RERANK_MODEL, APIMistralReranker,
                                 LocalMistralReranker)

    backend = config.get("rerank_backend", "local")
    if backend == "api":
        from ..api import MistralAPI

        return APIMistralReranker(MistralAPI.from_config(config),
                                  model=config.get("rerank_model", DEFAULT_API_RERANK_MODEL),
                                  concurrency=int(config.get("rerank_concurrency", 4)))
    if backend != "local":
        raise ValueError(f"open_api_config['rerank_backend'] must be 'local' or 'api', "
                         f"got {backend!r}")
    name = config.get("rerank_model")
    if name is not None:
        loaded = load_model(name, task="causal-lm",
                            device_map=config.get("rerank_device", "auto"))
    if loaded is None:
        raise ValueError("rank_method='mistral-rerank' needs a causal Mistral LM: this "
                         "compressor holds a token classifier. Set "
                         "open_api_config['rerank_model'] to a Mistral instruct model, or "
                         "open_api_config['rerank_backend'] = 'api'")
    return LocalMistralReranker(loaded,
                                max_passage_tokens=int(config.get("rerank_max_passage_tokens",
                                                                  1024)))
