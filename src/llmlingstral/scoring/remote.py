"""LLMLingua scoring through an OpenAI-compatible completions server (vLLM).

The server computes the log-probabilities of prompt tokens: vLLM's ``prompt_logprobs``
extension, or the older ``echo`` + ``logprobs`` form. Prompts are sent as token ids from
the local Mistral tokenizer, so the server cannot tokenize differently, and each starts
with BOS as the local scorer's sequences do.

The token-level pass works as with a local model, window by window, but a server keeps no
cache between requests: each step sends BOS, the prefix (the question, for LongLLMLingua),
the tokens kept so far and the next window. Consecutive requests of a stream therefore share
everything up to the window, which the server's prefix cache (vLLM's automatic prefix
caching) does not compute again. The kept tokens are thus scored as the text they form,
as a local stream does by default (``conditioning="exact"``), so a server running the same
weights gives the same compression. When the kept text would pass the window, it is cut back
to the prefix and the most recent kept tokens, as the local stream does.

Requests are retried with exponential backoff on connection errors, timeouts, 429 and 5xx,
by the library's one retry loop (:mod:`llmlingstral.retry`): each request has a deadline
for its attempts and waits together, past which (or at once, when the server asks with
``Retry-After`` for a longer wait than the time left) :class:`RemoteScoringError` says what
failed. The key is held as a :class:`~llmlingstral.credentials.Secret`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from ..credentials import Secret, optional_secret, redact
from ..errors import LLMLingstralError
from ..retry import (AttemptTimedOut, Deadline, GaveUp, RetryPolicy, Transient,
                     call_with_retries, finish_within, parse_retry_after)
from ..tokenization import MistralTextTokenizer
from ..validate import MIN_WINDOW, check_finite, check_positive_int, check_window

LOGPROB_MODES = ("prompt_logprobs", "echo")
# Window when neither the settings nor the server's /v1/models give one.
DEFAULT_WINDOW = 4096
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
CONFIG_KEYS = ("base_url", "model", "api_key", "timeout", "max_attempts", "retry_base_delay",
               "logprobs_mode", "max_window", "tokenizer", "batch_size", "prefix_cache", "client")


class RemoteScoringError(LLMLingstralError):
    """The scoring server could not be used; the message says what to check."""


class PromptLogprobSource(Protocol):
    """Anything that returns, for each prompt of token ids, log p(token | tokens before it)
    for tokens 1..n (the first token has no prediction). NaN marks a value the source did
    not compute (a token read from a prefix cache); ``reuse_cache=False`` asks for all."""

    def prompt_logprobs(self, prompts: Sequence[Sequence[int]], *,
                        reuse_cache: bool = True) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class RemoteScorerSettings:
    """``model_config["remote_scorer"]`` of a ``PromptCompressor``.

    base_url: the server's OpenAI-compatible root, e.g. ``http://host:8000/v1``.
    model: the model name the server serves (``vllm serve <model>``).
    api_key: sent as a bearer token (default: the ``LLMLINGSTRAL_REMOTE_API_KEY``
        environment variable, else none; ``vllm serve --api-key`` sets one). Held as a
        :class:`~llmlingstral.credentials.Secret`: shown in no repr or message.
    timeout: deadline in seconds for one request, retries and waits included (default 120).
    max_attempts, retry_base_delay: retries with exponential backoff (default 5, 0.5 s).
    logprobs_mode: ``"prompt_logprobs"`` (vLLM, default) or ``"echo"``.
    max_window: prompt tokens per request, an integer >= 32 (default: the server's
        ``max_model_len`` minus the one generated token, else 4096).
    tokenizer: a bundled name (``"v3"``, ``"tekken"``), file or folder; default: the
        tokenizer of the compressor's model name.
    batch_size: prompts per request when several sequences are scored (default 16).
    prefix_cache: ask the server to read its prefix cache although prompt log-probabilities
        are requested (``skip_reading_prefix_cache: false``; default True). A server that
        honours it returns no log-probability (null) for the cached tokens, which are never
        the scored ones; one that ignores it, as ``vllm serve``'s completions endpoint does,
        recomputes the whole prompt, which is slower only. False leaves the field out.
    """

    base_url: str = ""
    model: str = ""
    api_key: Secret | None = None
    timeout: float = 120.0
    max_attempts: int = 5
    retry_base_delay: float = 0.5
    logprobs_mode: str = "prompt_logprobs"
    max_window: int | None = None
    tokenizer: str | None = None
    batch_size: int = 16
    prefix_cache: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_key", optional_secret(self.api_key, "remote_scorer api_key"))

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> "RemoteScorerSettings":
        """Checked settings; ``base_url`` and ``model`` are needed unless a ``client`` is given."""
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise ValueError(f"unknown remote_scorer keys {unknown}; known: {list(CONFIG_KEYS)}")
        for key in ("base_url", "model"):
            if config.get("client") is not None and key not in config:
                continue
            if not isinstance(config.get(key), str) or not config[key].strip():
                raise ValueError(f"remote_scorer needs '{key}', e.g. {{'base_url': "
                                 f"'http://localhost:8000/v1', 'model': "
                                 f"'mistralai/Mistral-7B-v0.3'}}")
        settings = cls(**{k: v for k, v in config.items() if k != "client"})
        settings.check()
        return settings

    def check(self) -> None:
        if self.logprobs_mode not in LOGPROB_MODES:
            raise ValueError(f"logprobs_mode must be one of {LOGPROB_MODES}, got "
                             f"{self.logprobs_mode!r}")
        for name in ("timeout", "retry_base_delay"):
            check_finite(f"remote_scorer {name}", getattr(self, name), meaning="seconds")
        for name in ("max_attempts", "batch_size"):
            check_positive_int(f"remote_scorer {name}", getattr(self, name))
        check_window("remote_scorer max_window", self.max_window)


# --------------------------------------------------------------------------- HTTP client


class CompletionsClient:
    """Prompt log-probabilities from ``POST {base_url}/completions``."""

    def __init__(self, settings: RemoteScorerSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.retry = RetryPolicy(max_attempts=settings.max_attempts,
                                 base_delay=settings.retry_base_delay)
        self._key = settings.api_key or optional_secret(
            os.environ.get("LLMLINGSTRAL_REMOTE_API_KEY"), "LLMLINGSTRAL_REMOTE_API_KEY")

    def __repr__(self) -> str:
        return f"CompletionsClient(base_url={self.base_url!r}, model={self.settings.model!r})"

    def prompt_logprobs(self, prompts: Sequence[Sequence[int]], *,
                        reuse_cache: bool = True) -> list[np.ndarray]:
        if not prompts:
            return []
        body: dict[str, Any] = {"model": self.settings.model,
                                "prompt": [list(map(int, p)) for p in prompts],
                                "max_tokens": 1, "temperature": 0.0}
        if self.settings.logprobs_mode == "echo":
            body.update(echo=True, logprobs=0)
        else:
            body["prompt_logprobs"] = 0
        if self.settings.prefix_cache:
            body["skip_reading_prefix_cache"] = not reuse_cache
        reply = self.request("POST", "/completions", body)
        return _parse_choices(reply, prompts, self.settings.logprobs_mode)

    def max_model_len(self) -> int | None:
        """The served model's context length, from vLLM's ``/v1/models`` (None if absent)."""
        reply = self.request("GET", "/models", None)
        for entry in reply.get("data") or []:
            if entry.get("id") == self.settings.model:
                value = entry.get("max_model_len")
                return int(value) if isinstance(value, int) and value > 0 else None
        served = [e.get("id") for e in reply.get("data") or []]
        raise RemoteScoringError(f"the server at {self.base_url} does not serve model "
                                 f"{self.settings.model!r} (it serves {served}); set "
                                 f"remote_scorer['model'] to one of those")

    def request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One call, retried on transient failures until the attempts or the deadline run out."""
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"

        def attempt(number: int, left: float) -> dict[str, Any]:
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                return finish_within(left, lambda: _read_json(request, left))
            except urllib.error.HTTPError as error:
                detail = redact(_error_detail(error), self._key)
                if error.code not in _RETRYABLE_STATUS:
                    raise RemoteScoringError(_client_error(url, error.code, detail)) from None
                raise Transient(f"HTTP {error.code}: {detail}", status=error.code,
                                retry_after=parse_retry_after(error.headers.get("Retry-After")))
            except (AttemptTimedOut, urllib.error.URLError, TimeoutError, OSError) as error:
                raise Transient(f"{type(error).__name__}: {getattr(error, 'reason', error)}",
                                timed_out=isinstance(error, (AttemptTimedOut, TimeoutError)))

        try:
            return call_with_retries(attempt, self.retry, Deadline(self.settings.timeout))
        except GaveUp as gave_up:
            raise RemoteScoringError(self._gave_up_message(url, gave_up)) from None

    def _gave_up_message(self, url: str, gave_up: GaveUp) -> str:
        last, timeout = gave_up.last, self.settings.timeout
        if gave_up.why == "retry_after":
            return (f"the scoring server at {url} asked to retry after {last.retry_after:g} s "
                    f"({last.reason}), past the {timeout:g} s deadline of the request, after "
                    f"{gave_up.attempts} attempt(s). Lower the load on the server, or raise "
                    f"remote_scorer['timeout']")
        return (f"the scoring server at {url} did not answer within {gave_up.attempts} "
                f"attempt(s) and the {timeout:g} s deadline (last error: {last.reason}). "
                f"Check that the server (e.g. `vllm serve {self.settings.model}`) is running "
                f"and reachable, or raise remote_scorer['timeout'] / ['max_attempts']")


def _read_json(request: urllib.request.Request, timeout: float) -> dict[str, Any]:
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _parse_choices(reply: dict[str, Any], prompts: Sequence[Sequence[int]],
                   mode: str) -> list[np.ndarray]:
    choices = reply.get("choices")
    if not isinstance(choices, list) or len(choices) != len(prompts):
        raise RemoteScoringError(f"the server returned {len(choices or [])} choices for "
                                 f"{len(prompts)} prompts; is it an OpenAI-compatible "
                                 f"completions endpoint?")
    results: list[np.ndarray | None] = [None] * len(prompts)
    for position, choice in enumerate(choices):
        index = choice.get("index", position)
        prompt = prompts[index]
        if mode == "echo":
            values = _echo_logprobs(choice, len(prompt))
        else:
            values = _vllm_prompt_logprobs(choice, prompt)
        results[index] = values
    return results


def _vllm_prompt_logprobs(choice: dict[str, Any], prompt: Sequence[int]) -> np.ndarray:
    entries = choice.get("prompt_logprobs")
    if not isinstance(entries, list) or len(entries) < len(prompt):
        raise RemoteScoringError(
            "the server returned no prompt_logprobs for the prompt; vLLM supports them, other "
            "servers may support remote_scorer['logprobs_mode'] = 'echo' instead")
    values = np.full(len(prompt) - 1, np.nan, dtype=np.float32)
    for i in range(1, len(prompt)):
        if entries[i] is None:
            continue  # read from the prefix cache: not computed
        found = entries[i].get(str(int(prompt[i])))
        if found is None:
            raise RemoteScoringError(f"prompt_logprobs[{i}] holds no entry for the prompt token "
                                     f"{prompt[i]}: the server scored other tokens")
        values[i - 1] = float(found["logprob"] if isinstance(found, dict) else found)
    return values


def _echo_logprobs(choice: dict[str, Any], length: int) -> np.ndarray:
    logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
    if not isinstance(logprobs, list) or len(logprobs) < length:
        raise RemoteScoringError("the server's echo reply holds no token_logprobs for the "
                                 "prompt; try remote_scorer['logprobs_mode'] = 'prompt_logprobs'")
    return np.asarray([np.nan if v is None else float(v) for v in logprobs[1:length]],
                      dtype=np.float32)


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return error.reason or ""
    message = payload.get("message") or (payload.get("error") or {}).get("message") \
        if isinstance(payload, dict) else None
    return str(message or error.reason or "")


def _client_error(url: str, status: int, detail: str) -> str:
    hint = {401: "set remote_scorer['api_key'] (the server's --api-key)",
            404: "check remote_scorer['base_url'] (it ends with /v1) and ['model']"}.get(
        status, "check the remote_scorer settings")
    return f"the scoring server at {url} refused the request (HTTP {status}: {detail}); {hint}"


# --------------------------------------------------------------------------- scorer


class RemoteScorer:
    """The parts of :class:`.causal.CausalScorer` that LLMLingua uses, scored remotely."""

    # The server's compute dtype is its own: nothing here knows or reports it.
    dtype: str | None = None

    def __init__(self, tokenizer: MistralTextTokenizer, source: PromptLogprobSource, *,
                 window: int, batch_size: int = 16) -> None:
        self.tokenizer = tokenizer
        self.source = source
        self.window = max(MIN_WINDOW, int(window))
        self.batch_size = batch_size

    def sequence_surprisal(self, sequences: Sequence[Sequence[int]],
                           tails: Sequence[int] | None = None) -> list[np.ndarray]:
        """As :meth:`.causal.CausalScorer.sequence_surprisal`: BOS first, the last
        ``window - 1`` tokens, the last ``tails[i]`` scored."""
        trimmed = [list(s)[-(self.window - 1):] for s in sequences]
        results = [np.zeros(0, dtype=np.float32)] * len(trimmed)
        todo = [i for i, t in enumerate(trimmed) if t]
        wanted = [len(t) if tails is None else max(0, min(int(tails[i]), len(t)))
                  for i, t in enumerate(trimmed)]
        prompts = [[self.tokenizer.bos_id, *trimmed[i]] for i in todo]
        logprobs = self.fetch(prompts, [wanted[i] for i in todo])
        for i, values in zip(todo, logprobs):
            results[i] = (-values[len(values) - wanted[i]:]).astype(np.float32)
        return results

    def fetch(self, prompts: list[list[int]], tails: list[int]) -> list[np.ndarray]:
        """Log-probabilities of each prompt, in requests of ``batch_size`` prompts; a prompt
        whose last ``tails[i]`` values came back uncomputed (cached) is asked again without
        the cache."""
        results: list[np.ndarray] = []
        for first in range(0, len(prompts), self.batch_size):
            results.extend(self.source.prompt_logprobs(prompts[first:first + self.batch_size]))
        missing = [i for i, (values, tail) in enumerate(zip(results, tails))
                   if tail and np.isnan(values[len(values) - tail:]).any()]
        for first in range(0, len(missing), self.batch_size):
            batch = missing[first:first + self.batch_size]
            again = self.source.prompt_logprobs([prompts[i] for i in batch], reuse_cache=False)
            for i, values in zip(batch, again):
                results[i] = values
        return results

    def stream(self, prefix: Sequence[int] = (), *, bos: bool = True) -> "RemoteStream":
        """A token stream sending BOS (unless ``bos=False``) + ``prefix`` first."""
        return RemoteStream(self, list(prefix), bos=bos)

    def score_streams(self, requests: Sequence[tuple["RemoteStream", Sequence[int]]]
                      ) -> list[np.ndarray]:
        """The next chunk of several streams, in shared requests (lockstep batches)."""
        prompts = [stream.begin(ids) for stream, ids in requests]
        results = [np.zeros(0, dtype=np.float32)] * len(requests)
        live = [i for i, (_, ids) in enumerate(requests) if len(ids)]
        # A prompt's first token has no log-probability (nothing before it to predict it).
        logprobs = self.fetch([prompts[i] for i in live],
                              [min(len(requests[i][1]), len(prompts[i]) - 1) for i in live])
        for i, values in zip(live, logprobs):
            results[i] = requests[i][0].finish(list(requests[i][1]), values)
        return results


class RemoteStream:
    """A token stream whose every step sends BOS (unless ``bos=False``) + prefix + kept
    tokens + the chunk."""

    def __init__(self, scorer: RemoteScorer, prefix: list[int], *, bos: bool = True) -> None:
        self.scorer = scorer
        self.bos_ids = [scorer.tokenizer.bos_id] if bos else []
        limit = scorer.window // 4 - 1
        self.prefix = prefix if len(prefix) <= limit else prefix[: limit // 2] + prefix[-(limit // 2):]
        self.kept: list[int] = []
        self._pending: list[int] | None = None

    @property
    def chunk_limit(self) -> int:
        return self.scorer.window // 2 - 1

    @property
    def batch_scorer(self) -> RemoteScorer:
        """Its scorer, which sends several streams' prompts in shared requests."""
        return self.scorer

    def batch_parts(self) -> list[tuple["RemoteStream", float]]:
        return [(self, 1.0)]

    def score(self, ids: Sequence[int]) -> np.ndarray:
        """Surprisal of each token of ``ids`` given the kept text so far."""
        return self.scorer.score_streams([(self, ids)])[0]

    def begin(self, ids: Sequence[int]) -> list[int]:
        """The prompt to send for ``ids``, after cutting the kept text back if needed."""
        ids = list(ids)
        if self._pending is not None:
            raise RuntimeError("commit() the previous chunk before scoring the next one")
        if len(ids) > self.chunk_limit:
            raise ValueError(f"chunks are limited to {self.chunk_limit} tokens for this model")
        head = [*self.bos_ids, *self.prefix]
        if len(head) + len(self.kept) + len(ids) > self.scorer.window:
            room = max(0, self.scorer.window // 4 - 1)
            self.kept = self.kept[-room:] if room else []
        return head + self.kept + ids

    def finish(self, ids: list[int], logprobs: np.ndarray) -> np.ndarray:
        self._pending = ids
        values = -logprobs[max(0, len(logprobs) - len(ids)):]
        # Without BOS, the first token of a prompt holding only the chunk is not scored.
        missing = np.full(len(ids) - len(values), np.nan)
        return np.concatenate([missing, values]).astype(np.float32)

    def commit(self, keep: Sequence[bool] | np.ndarray) -> None:
        if self._pending is None:
            raise RuntimeError("score() a chunk before committing it")
        ids, self._pending = self._pending, None
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(ids),):
            raise ValueError(f"keep mask has shape {keep.shape}, expected ({len(ids)},)")
        self.kept.extend(t for t, k in zip(ids, keep) if k)


# --------------------------------------------------------------------------- construction


def build_remote_scorer(model_name: str, config: Mapping[str, Any],
                        window: int | None = None) -> RemoteScorer:
    """The scorer a ``PromptCompressor`` uses with ``model_config={"remote_scorer": config}``.

    ``config["client"]`` may be any :class:`PromptLogprobSource` instead of a server (then
    ``base_url`` and ``model`` are not needed).
    """
    if not isinstance(config, Mapping):
        raise TypeError("model_config['remote_scorer'] must be a mapping such as "
                        "{'base_url': 'http://localhost:8000/v1', 'model': "
                        "'mistralai/Mistral-7B-v0.3'}")
    settings = RemoteScorerSettings.from_mapping(config)
    source = config.get("client") or CompletionsClient(settings)
    window = check_window("max_window", window) or settings.max_window
    if window is None and isinstance(source, CompletionsClient):
        served = source.max_model_len()
        # Each request also asks for one generated token, which must fit too.
        window = served - 1 if served else None
    tokenizer = _tokenizer_for(model_name, settings.tokenizer)
    return RemoteScorer(tokenizer, source, window=window or DEFAULT_WINDOW,
                        batch_size=settings.batch_size)


def _tokenizer_for(model_name: str, tokenizer: str | None) -> MistralTextTokenizer:
    """The Mistral tokenizer of the served model, without loading its weights."""
    from ..models.loader import resolve_checkpoint, tokenizer_for_checkpoint
    from ..models.registry import MISTRAL_MODELS
    from ..tokenization import load_tokenizer

    if tokenizer is not None:
        return load_tokenizer(tokenizer)
    presets = [p for p in MISTRAL_MODELS.values() if model_name in (p.name, p.source)]
    if presets:
        return load_tokenizer(presets[0].tokenizer)
    path, _ = resolve_checkpoint(model_name)
    config = json.loads((path / "config.json").read_text()) \
        if (path / "config.json").is_file() else {}
    vocab = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    return tokenizer_for_checkpoint(path, vocab)
