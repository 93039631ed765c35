"""The models a service instance holds, and how a compression job reaches them.

The engine keeps its compressors by the family of method their model runs (``Method.family``
of :mod:`..methods.base`: ``"llmlingua"`` for a causal LM, ``"llmlingua2"`` for a token
classifier) and answers which methods it serves (:meth:`Engine.serves`) and with which
compressor (:meth:`Engine.compressor_for`): callers never ask which models were loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping, Sequence

from .config import ServeConfig
from .jobs import (METHODS, CompressJob, RequestError, compressed_text, default_method,
                   family_of)
from .metrics import Metrics
from .scheduler import BatchSettings, Scheduler
from .spans import kept_spans, ranges_spans

logger = logging.getLogger("llmlingstral.serve")
# Rankers holding a model or an API client: built at start when enabled, never by a request.
PREBUILT_RANKERS = ("e5-mistral", "mistral-embed")
# The setting (of ServeConfig, and key of /readyz "models") naming the model of each family.
MODEL_SETTINGS = {"llmlingua": "model", "llmlingua2": "llmlingua2_model"}


def model_setting(method: str) -> str:
    """The setting that names the model running ``method``."""
    return MODEL_SETTINGS[family_of(method)]


def compress_batch(compressor: Any, prompts: Sequence[Mapping[str, Any]],
                   tokens: Sequence[Any] | None = None) -> list[Any]:
    """LLMLingua-2 outcomes for several requests (each a mapping of keyword arguments): a
    result, or the exception that request alone raised. The windows of all prompts are
    scored in shared forward passes; a bad request fails alone and reruns nothing; a
    request whose cancel token (``tokens``, one per prompt) is cancelled stops alone."""
    from ..execution.batch import compress_requests

    return compress_requests(compressor, list(prompts), show_progress=False,
                             cancel_tokens=tokens)


def result_spans(original: str, result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spans of ``original``: from the ranges the method kept, when it reports them for
    this very text; else aligned from the compressed prompt (see :mod:`.spans`)."""
    kept = getattr(result, "kept", None)
    if kept is not None and kept.source == original:
        return ranges_spans(original, kept.ranges)
    return kept_spans(original, compressed_text(result))


class Engine:
    """Loads the models once (in the background) and runs compression jobs on them."""

    def __init__(self, config: ServeConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.compressors: dict[str, Any] = {}  # the loaded compressors, by method family
        self.guard: Any = None
        self.load_error: str | None = None
        self._loaded = threading.Event()
        batching = BatchSettings(
            self._run_classifier_batch,
            window_s=config.batch_window_ms / 1000 if config.batching else 0.0,
            max_size=config.max_batch_size if config.batching else 1)
        self.scheduler = Scheduler(metrics, max_queue=config.max_queue,
                                   timeout_s=config.request_timeout_s, batching=batching)

    # ----------------------------------------------------------------------- lifecycle

    @property
    def ready(self) -> bool:
        return self._loaded.is_set() and self.load_error is None

    def load(self) -> None:
        """Load every configured model; on failure keep the message for ``/readyz``."""
        from ..compressor import PromptCompressor

        started = time.perf_counter()
        try:
            where = {"device_map": self.config.device,
                     "model_config": {"dtype": self.config.dtype}}
            for family, setting in MODEL_SETTINGS.items():
                name = getattr(self.config, setting)
                if name:
                    compressor = PromptCompressor(name, use_llmlingua2=family == "llmlingua2",
                                                  **where)
                    self.compressors[compressor.method.family] = compressor
            if self.config.guard_model:
                from ..methods.security import SecurityLingua

                self.guard = SecurityLingua(self.config.guard_model, **where)
            self._build_rankers()
        except Exception as error:  # noqa: BLE001 - reported by /readyz and the log
            self.load_error = f"{type(error).__name__}: {error}"
            logger.error("model loading failed: %s", self.load_error)
        else:
            logger.info("models loaded in %.1f s", time.perf_counter() - started)
        finally:
            self._loaded.set()

    def _build_rankers(self) -> None:
        """Build the enabled rankers that hold a model or an API client now, once, and share
        them: a ranker that cannot be built fails the start, not a request."""
        from ..ranking.registry import build_ranker

        for name in self.config.rankers:
            if name not in PREBUILT_RANKERS:
                continue
            ranker = build_ranker(name, config={})
            if name == "e5-mistral":
                ranker.model  # noqa: B018 - loads the weights now, not in a request
            for compressor in self.compressors.values():
                compressor.keep_ranker(name, ranker)

    def require_ready(self) -> None:
        """Raise a 503 :class:`RequestError` while the models load or after they failed."""
        if self.load_error is not None:
            raise RequestError(f"the models failed to load ({self.load_error}); see /readyz",
                               503)
        if not self.ready:
            raise RequestError("the models are still loading; retry when /readyz says ready",
                               503)

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.shutdown()

    def serves(self, method: str) -> bool:
        """Whether a model that runs ``method`` is loaded."""
        return family_of(method) in self.compressors

    def available(self) -> dict[str, bool]:
        """Which methods have a model."""
        return {method: self.serves(method) for method in METHODS}

    def compressor_for(self, method: str) -> Any:
        """The compressor that runs ``method``; a 422 :class:`RequestError` when none does."""
        try:
            return self.compressors[family_of(method)]
        except KeyError:
            raise RequestError(f"method {method!r} has no model here: start the service "
                               f"with --{model_setting(method).replace('_', '-')}") from None

    def default_method(self) -> str:
        """The method a request that names none runs (see :func:`.jobs.default_method`)."""
        return default_method(self.available())

    @property
    def has_guard(self) -> bool:
        """Whether a SecurityLingua guard is loaded."""
        return self.guard is not None

    def models(self) -> dict[str, str | None]:
        return {"model": self.config.model, "llmlingua2_model": self.config.llmlingua2_model,
                "guard_model": self.config.guard_model}

    def dtypes(self) -> dict[str, str | None]:
        """The dtype each loaded model computes in (None: not loaded)."""
        guard = getattr(self.guard, "classifier", None)
        models = {setting: getattr(self.compressors.get(family), "dtype", None)
                  for family, setting in MODEL_SETTINGS.items()}
        return {**models, "guard_model": getattr(guard, "dtype", None)}

    # ----------------------------------------------------------------------- jobs

    async def compress(self, job: CompressJob, *, with_spans: bool = True) -> dict[str, Any]:
        """The Python API's result for ``job``, plus ``spans`` of the original text."""
        self.require_ready()
        if job.family == "llmlingua2":  # token-classifier jobs share batched forward passes
            result = await self.scheduler.run_batched(job.kwargs, cost=job.cost)
        else:
            result = await self.scheduler.run(lambda: self._run_causal(job), cost=job.cost)
        self.metrics.observe_tokens(job.method, int(result.get("origin_tokens", 0)),
                                    int(result.get("compressed_tokens", 0)))
        spans = result_spans(job.original, result) if with_spans else None
        result = dict(result)
        if spans is not None:
            result["spans"] = spans
        return result

    def _run_causal(self, job: CompressJob) -> dict[str, Any]:
        compressor, kwargs = self.compressor_for(job.method), dict(job.kwargs)
        if job.method == "structured":
            return compressor.structured_compress_prompt(show_progress=False, **kwargs)
        if job.method == "json":
            return compressor.compress_json(**kwargs)
        return compressor.compress_prompt(show_progress=False, **kwargs)

    def _run_classifier_batch(self, prompts: Sequence[Mapping[str, Any]],
                              tokens: Sequence[Any]) -> list[dict[str, Any]]:
        return compress_batch(self.compressor_for("llmlingua2"), prompts, tokens)

    def count_tokens(self, texts: list[str], limit: int | None = None) -> list[int]:
        """Mistral token counts with the tokenizer of the model the proxy compresses with
        (with ``limit``: exact below it, at least ``limit`` otherwise, long texts read only
        as far as needed)."""
        compressor = self.compressor_for(self.default_method())
        return compressor.tokenizer.count_batch(texts, limit)
