"""Prometheus metrics of one service instance.

Each instance has a registry of its own, so several apps in one process (as in tests) do
not share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Paths reported by name; anything else is counted as "other" so labels stay bounded.
KNOWN_PATHS = frozenset({"/", "/v1/compress", "/v1/chat/completions", "/healthz", "/readyz", "/metrics"})


class Metrics:
    """Requests, latency, tokens in and out, queue depth and batch sizes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("llmlingstral_requests", "HTTP requests answered",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram("llmlingstral_request_seconds", "Time to answer a request",
                                 ["path"], registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.tokens_in = Counter("llmlingstral_tokens_in", "Mistral tokens before compression",
                                 ["method"], registry=self.registry)
        self.tokens_out = Counter("llmlingstral_tokens_out", "Mistral tokens after compression",
                                  ["method"], registry=self.registry)
        self.queue_depth = Gauge("llmlingstral_queue_depth",
                                 "Compression jobs waiting or running", registry=self.registry)
        self.rejected = Counter("llmlingstral_rejected", "Jobs refused because the queue was "
                                "full", registry=self.registry)
        self.batch_size = Histogram("llmlingstral_batch_size",
                                    "Prompts per token-classifier forward batch",
                                    registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64))
        self._add_proxy_metrics()

    def _add_proxy_metrics(self) -> None:
        """The chat proxy's message cache, and the requests it forwarded uncompressed."""
        self.cache_hits = Counter("llmlingstral_message_cache_hits", "Proxied messages whose "
                                  "compressed text came from the cache",
                                  registry=self.registry)
        self.cache_misses = Counter("llmlingstral_message_cache_misses", "Proxied messages "
                                    "compressed because the cache did not hold them",
                                    registry=self.registry)
        self.cache_shared = Counter("llmlingstral_message_cache_shared", "Proxied messages "
                                    "that waited for the same message being compressed for "
                                    "another request", registry=self.registry)
        self.cache_bytes = Gauge("llmlingstral_message_cache_bytes", "Bytes held by the "
                                 "message cache", registry=self.registry)
        self.cache_entries = Gauge("llmlingstral_message_cache_entries", "Compressed messages "
                                   "held by the message cache", registry=self.registry)
        self.compression_skipped = Counter(
            "llmlingstral_compression_skipped", "Chat requests forwarded uncompressed because "
            "compression failed, timed out or found the queue full", ["reason"],
            registry=self.registry)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        label = path if path in KNOWN_PATHS else "other"
        self.requests.labels(label, str(status)).inc()
        self.latency.labels(label).observe(seconds)

    def observe_tokens(self, method: str, origin: int, compressed: int) -> None:
        self.tokens_in.labels(method).inc(origin)
        self.tokens_out.labels(method).inc(compressed)

    def render(self) -> bytes:
        return generate_latest(self.registry)
