"""The models a service instance holds, and how a compression job reaches them."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping, Sequence

from .config import ServeConfig
from .jobs import CompressJob, RequestError, compressed_text
from .metrics import Metrics
from .scheduler import BatchSettings, Scheduler
from .spans import kept_spans, ranges_spans

logger = logging.getLogger("llmlingstral.serve")
# Rankers holding a model or an API client: built at start when enabled, never by a request.
PREBUILT_RANKERS = ("e5-mistral", "mistral-embed")


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
        self.causal: Any = None
        self.classifier: Any = None
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
            if self.config.model:
                self.causal = PromptCompressor(self.config.model, **where)
            if self.config.llmlingua2_model:
                self.classifier = PromptCompressor(self.config.llmlingua2_model,
                                                   use_llmlingua2=True, **where)
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
            for compressor in (self.causal, self.classifier):
                if compressor is not None:
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

    def available(self) -> dict[str, bool]:
        """Which methods have a model."""
        causal, classifier = self.causal is not None, self.classifier is not None
        return {"llmlingua": causal, "longllmlingua": causal, "structured": causal,
                "json": causal, "llmlingua2": classifier}

    def models(self) -> dict[str, str | None]:
        return {"model": self.config.model, "llmlingua2_model": self.config.llmlingua2_model,
                "guard_model": self.config.guard_model}

    def dtypes(self) -> dict[str, str | None]:
        """The dtype each loaded model computes in (None: not loaded)."""
        guard = getattr(self.guard, "classifier", None)
        return {"model": getattr(self.causal, "dtype", None),
                "llmlingua2_model": getattr(self.classifier, "dtype", None),
                "guard_model": getattr(guard, "dtype", None)}

    # ----------------------------------------------------------------------- jobs

    async def compress(self, job: CompressJob, *, with_spans: bool = True) -> dict[str, Any]:
        """The Python API's result for ``job``, plus ``spans`` of the original text."""
        self.require_ready()
        if job.model_kind == "classifier":
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
        compressor, kwargs = self.causal, dict(job.kwargs)
        if job.method == "structured":
            return compressor.structured_compress_prompt(show_progress=False, **kwargs)
        if job.method == "json":
            return compressor.compress_json(**kwargs)
        return compressor.compress_prompt(show_progress=False, **kwargs)

    def _run_classifier_batch(self, prompts: Sequence[Mapping[str, Any]],
                              tokens: Sequence[Any]) -> list[dict[str, Any]]:
        return compress_batch(self.classifier, prompts, tokens)

    def count_tokens(self, texts: list[str], limit: int | None = None) -> list[int]:
        """Mistral token counts with the tokenizer of the model the proxy compresses with
        (with ``limit``: exact below it, at least ``limit`` otherwise, long texts read only
        as far as needed)."""
        compressor = self.classifier or self.causal
        return compressor.tokenizer.count_batch(texts, limit)
