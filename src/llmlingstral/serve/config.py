"""Settings of the HTTP service, and where its secrets come from.

Nothing here imports the web stack, so the command line can build and check a
:class:`ServeConfig` before FastAPI is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..credentials import Secret, optional_secret
from ..text.protect import ProtectOption, resolve_protection
from ..validate import check_dtype_name, check_finite, check_positive_int, check_rate

API_KEYS_ENV = "LLMLINGSTRAL_API_KEYS"
UPSTREAM_KEY_ENV = "LLMLINGSTRAL_UPSTREAM_API_KEY"
UPSTREAMS = ("mistral", "openai")
# How the proxy compresses a conversation's texts: with the last user message before each
# as its question, or each on its own.
POLICIES = ("question", "blind")
ON_COMPRESSION_ERROR = ("forward", "fail")
# Rankers that need nothing but the models the service already holds: no download, no API.
LOCAL_RANKERS = ("bm25", "gzip", "hybrid", "mistral-rerank")
_UPSTREAM_FALLBACK_ENV = {"mistral": "MISTRAL_API_KEY", "openai": "OPENAI_API_KEY"}


@dataclass
class ServeConfig:
    """What ``llmlingstral serve`` runs with.

    Models: ``model`` (a causal LM for LLMLingua, LongLLMLingua, structured and JSON),
    ``llmlingua2_model`` (a token classifier for LLMLingua-2), ``guard_model`` (a
    SecurityLingua classifier for the chat proxy); None leaves one out. All run on
    ``device`` in ``dtype`` (``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"``).

    Load: token-classifier requests arriving within ``batch_window_ms`` of each other share
    one forward pass (at most ``max_batch_size`` prompts); at most ``max_queue`` compression
    jobs wait or run at once, more are answered 429; one request holds at most
    ``max_jobs_per_request`` of them at a time (a chat's texts beyond it wait their turn);
    a request gets ``request_timeout_s``.

    Proxy: ``upstream`` is ``"mistral"`` (the official SDK; ``upstream_url`` overrides the
    API address) or ``"openai"`` (any OpenAI-compatible base URL ending in ``/v1``). Messages
    of role user, system or tool with at least ``proxy_min_tokens`` tokens are compressed to
    ``proxy_rate`` unless the request says otherwise, each with the last user message before
    it as its question (``proxy_policy="question"``) or on its own (``"blind"``).
    ``upstream_timeout_s`` bounds each upstream call (a stream: until it opens). Compressed
    messages are cached, at most ``cache_mb`` MiB (0: none). A compression that raises,
    takes longer than ``compression_timeout_s`` (0: no limit but ``request_timeout_s``) or
    finds the queue full forwards the original messages (``on_compression_error="forward"``)
    or answers with the error (``"fail"``).

    Rankers: ``rankers`` lists the ``rank_method`` values requests may name beyond the
    methods' own perplexity ranking (``llmlingua``, ``longllmlingua``); the default is the
    local ones. ``e5-mistral`` (a model) and ``mistral-embed`` (the Mistral API, on the
    operator's key) run only when listed, and are built when the service starts.

    Connections: at most ``max_connections`` open at once; each must send a complete
    request head within ``header_timeout_s``.

    Protection: ``protect`` (True, False or a :class:`~llmlingstral.text.protect.Protection`)
    is what ``/v1/compress`` requests without their own ``protect`` and the proxy's messages
    keep whole; ``allow_protect_patterns`` lets a request's ``protect`` carry regular
    expressions (off: a client's expression could take the CPU for as long as it likes).

    Hosts: requests must name in ``Host`` a loopback name, ``host`` (the address the
    service is bound to, unless a wildcard) or one of ``allowed_hosts`` (``"*"``: any).

    Keys: ``api_keys`` (what clients must send) and ``upstream_api_key`` are held as
    :class:`~llmlingstral.credentials.Secret`, shown in no repr, dump or message.
    """

    model: str | None = "nano"
    llmlingua2_model: str | None = "nano-lingua2"
    guard_model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    batching: bool = True
    batch_window_ms: float = 5.0
    max_batch_size: int = 16
    max_queue: int = 64
    max_jobs_per_request: int = 8
    request_timeout_s: float = 60.0
    max_body_bytes: int = 4_000_000
    max_connections: int = 1024
    header_timeout_s: float = 10.0
    api_keys: tuple[Secret, ...] = field(default=(), repr=False)
    upstream: str = "mistral"
    upstream_url: str | None = None
    upstream_api_key: Secret | None = field(default=None, repr=False)
    upstream_timeout_s: float = 120.0
    proxy_method: str | None = None
    proxy_rate: float = 0.5
    proxy_min_tokens: int = 1000
    proxy_policy: str = "question"
    cache_mb: float = 64.0
    on_compression_error: str = "forward"
    compression_timeout_s: float = 30.0
    guard: bool = False
    log_prompts: bool = False
    rankers: tuple[str, ...] = LOCAL_RANKERS
    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    protect: ProtectOption = True
    allow_protect_patterns: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        # However they are set, the keys are kept masked.
        if name == "api_keys":
            value = tuple(Secret(k) for k in value)
        elif name == "upstream_api_key":
            value = optional_secret(value, "upstream_api_key")
        super().__setattr__(name, value)

    def validate(self) -> "ServeConfig":
        """Raise ValueError naming the first setting that cannot work."""
        if self.model is None and self.llmlingua2_model is None:
            raise ValueError("serve needs at least one model: --model or --llmlingua2-model")
        if self.upstream not in UPSTREAMS:
            raise ValueError(f"upstream must be one of {UPSTREAMS}, got {self.upstream!r}")
        if self.upstream == "openai" and not self.upstream_url:
            raise ValueError("--upstream openai needs --upstream-url (the base URL, e.g. "
                             "http://127.0.0.1:8001/v1)")
        if self.guard and self.guard_model is None:
            raise ValueError("the guard needs a SecurityLingua classifier: --guard-model")
        for name in ("batch_window_ms", "request_timeout_s", "upstream_timeout_s",
                     "header_timeout_s", "cache_mb", "compression_timeout_s"):
            check_finite(name, getattr(self, name), allow_zero=True)
        for name in ("max_batch_size", "max_queue", "max_body_bytes", "max_jobs_per_request",
                     "max_connections"):
            check_positive_int(name, getattr(self, name))
        check_rate("proxy_rate", self.proxy_rate)
        self.dtype = check_dtype_name("dtype", self.dtype)
        if self.proxy_method not in (None, "llmlingua", "llmlingua2"):
            raise ValueError("proxy_method must be llmlingua or llmlingua2")
        if self.proxy_policy not in POLICIES:
            raise ValueError(f"proxy_policy must be one of {POLICIES}, got {self.proxy_policy!r}")
        if self.on_compression_error not in ON_COMPRESSION_ERROR:
            raise ValueError(f"on_compression_error must be one of {ON_COMPRESSION_ERROR}, got "
                             f"{self.on_compression_error!r}")
        self.rankers = canonical_rankers(self.rankers)
        resolve_protection(self.protect)  # raises TypeError naming what protect accepts
        return self

    @property
    def cache_bytes(self) -> int:
        """The message cache's bound in bytes."""
        return int(self.cache_mb * 2**20)

    @property
    def request_share(self) -> int:
        """Queue places one request may hold at once."""
        return min(self.max_jobs_per_request, self.max_queue)

    def resolved_upstream_key(self) -> str | None:
        """The key for the upstream API: given, or from the environment."""
        if self.upstream_api_key:
            return self.upstream_api_key.reveal()
        return os.environ.get(UPSTREAM_KEY_ENV) or \
            os.environ.get(_UPSTREAM_FALLBACK_ENV[self.upstream]) or None


def load_api_keys(key_file: str | os.PathLike | None = None,
                  environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Bearer keys clients may use: ``LLMLINGSTRAL_API_KEYS`` (comma separated) and the
    lines of ``key_file`` (blank lines and ``#`` comments skipped). Empty: no auth."""
    env = os.environ if environ is None else environ
    keys = [k.strip() for k in env.get(API_KEYS_ENV, "").split(",")]
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise ValueError(f"API key file not found: {key_file}")
        keys += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                 if not line.lstrip().startswith("#")]
    return tuple(dict.fromkeys(k for k in keys if k))


def canonical_rankers(names: Any) -> tuple[str, ...]:
    """The canonical names of ``names`` (legacy and short names resolved), checked."""
    import warnings

    from ..ranking.registry import resolve_rank_method

    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError("rankers must be a list of rank method names, e.g. ['bm25', 'gzip']")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return tuple(dict.fromkeys(resolve_rank_method(n) for n in names))
