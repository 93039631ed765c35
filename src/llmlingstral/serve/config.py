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
from ..validate import check_dtype_name, check_finite, check_positive_int, check_rate

API_KEYS_ENV = "LLMLINGSTRAL_API_KEYS"
UPSTREAM_KEY_ENV = "LLMLINGSTRAL_UPSTREAM_API_KEY"
UPSTREAMS = ("mistral", "openai")
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
    jobs wait or run at once, more are answered 429; a request gets ``request_timeout_s``.

    Proxy: ``upstream`` is ``"mistral"`` (the official SDK; ``upstream_url`` overrides the
    API address) or ``"openai"`` (any OpenAI-compatible base URL ending in ``/v1``). Messages
    of role user, system or tool with at least ``proxy_min_tokens`` tokens are compressed to
    ``proxy_rate`` unless the request says otherwise. ``upstream_timeout_s`` bounds each
    upstream call (a stream: until it opens).

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
    request_timeout_s: float = 60.0
    max_body_bytes: int = 4_000_000
    api_keys: tuple[Secret, ...] = field(default=(), repr=False)
    upstream: str = "mistral"
    upstream_url: str | None = None
    upstream_api_key: Secret | None = field(default=None, repr=False)
    upstream_timeout_s: float = 120.0
    proxy_method: str | None = None
    proxy_rate: float = 0.5
    proxy_min_tokens: int = 1000
    guard: bool = False
    log_prompts: bool = False

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
        for name in ("batch_window_ms", "request_timeout_s", "upstream_timeout_s"):
            check_finite(name, getattr(self, name), allow_zero=True)
        for name in ("max_batch_size", "max_queue", "max_body_bytes"):
            check_positive_int(name, getattr(self, name))
        check_rate("proxy_rate", self.proxy_rate)
        self.dtype = check_dtype_name("dtype", self.dtype)
        if self.proxy_method not in (None, "llmlingua", "llmlingua2"):
            raise ValueError("proxy_method must be llmlingua or llmlingua2")
        return self

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
