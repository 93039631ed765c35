"""The chat-completions proxy: compress the messages that ask for it, then forward.

Which text is compressed:

* a message with ``"compress": true`` (or ``{"rate": 0.3}``) is compressed, one with
  ``"compress": false`` never is; the flag is removed before forwarding;
* a message holding ``<llmlingua, ...>`` tags is compressed with the tags' settings
  (``compress=False`` parts verbatim, untagged text at the request's rate); tags are
  always removed before forwarding;
* otherwise, a user, system or tool message of at least ``min_tokens`` Mistral tokens is
  compressed (the default policy); assistant messages are left alone, and so is the latest
  user message under the ``question`` policy, where it is the question.

Under the ``question`` policy each text is compressed with the last user message before it
as its question; under ``blind``, on its own (:mod:`.message_compression`). Every result is
kept in the :class:`~.message_cache.MessageCache`, so a message that comes back on a later
turn is not compressed again and is forwarded with the same bytes.

A compression that fails, times out (``compression_timeout_s``) or finds the queue full
forwards the original messages, unless the service runs with
``on_compression_error="fail"``; the reply says which (:class:`PreparedRequest`).

A top-level ``"compression"`` object overrides the service's settings for one request:
``rate``, ``min_tokens``, ``method`` (``llmlingua2`` or ``llmlingua``), ``policy``
(``question`` or ``blind``) and ``guard``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..tags import has_tags
from ..validate import check_non_negative_int, check_rate
from .config import POLICIES, ServeConfig
from .engine import Engine, model_setting
from .jobs import RequestError, _untagged
from .message_cache import Lookup, MessageCache
from .message_compression import MessageText, compress_message, is_json, message_key, question_of
from .scheduler import JobTimeout, Overloaded

logger = logging.getLogger("llmlingstral.serve")
DEFAULT_ROLES = frozenset({"user", "system", "tool"})
OPTIONS_FIELD = "compression"
MESSAGE_FLAG = "compress"
_OPTION_KEYS = frozenset({"rate", "min_tokens", "method", "policy", "guard"})
@dataclass
class ProxyOptions:
    """How one request is compressed (service settings, overridden by the request)."""

    method: str
    rate: float
    min_tokens: int
    guard: bool
    policy: str = "question"


@dataclass
class _Piece:
    """One text of the conversation: a string content or one text part of it."""

    message: int
    part: int | None
    text: str
    rate: float | None = None  # None: not compressed
    result: str | None = None
    compression: MessageText | None = None
    key: str = ""


@dataclass
class PreparedRequest:
    """The body to forward and the compression figures that go back with the reply."""

    body: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        f = self.figures
        headers = {"X-LLMLingstral-Compression": f["compression"]}
        if f["compression"].startswith("skipped"):
            return headers
        return {**headers, "X-LLMLingstral-Origin-Tokens": str(f["origin_tokens"]),
                "X-LLMLingstral-Compressed-Tokens": str(f["compressed_tokens"]),
                "X-LLMLingstral-Rate": f"{f['rate']:.4f}",
                "X-LLMLingstral-Compressed-Messages": str(f["compressed_messages"]),
                "X-LLMLingstral-Cached-Messages": str(f["cached_messages"])}


def request_options(body: dict[str, Any], config: ServeConfig, engine: Engine) -> ProxyOptions:
    """The request's ``compression`` object merged over the service settings."""
    raw = body.pop(OPTIONS_FIELD, None) or {}
    if not isinstance(raw, dict):
        raise RequestError(f"{OPTIONS_FIELD!r} must be an object with {sorted(_OPTION_KEYS)}")
    unknown = sorted(set(raw) - _OPTION_KEYS)
    if unknown:
        raise RequestError(f"unknown {OPTIONS_FIELD} option(s) {unknown}; accepted: "
                           f"{sorted(_OPTION_KEYS)}")
    default_method = config.proxy_method or engine.default_method()
    options = ProxyOptions(method=raw.get("method", default_method),
                           rate=raw.get("rate", config.proxy_rate),
                           min_tokens=raw.get("min_tokens", config.proxy_min_tokens),
                           guard=raw.get("guard", config.guard),
                           policy=raw.get("policy", config.proxy_policy))
    _check_options(options, engine)
    return options


def _check_options(options: ProxyOptions, engine: Engine) -> None:
    if options.method not in ("llmlingua", "llmlingua2"):
        raise RequestError(f"compression method must be 'llmlingua2' or 'llmlingua', got "
                           f"{options.method!r}")
    if not engine.available().get(options.method):
        raise RequestError(f"compression method {options.method!r} has no model here")
    if options.policy not in POLICIES:
        raise RequestError(f"{OPTIONS_FIELD}.policy must be one of {list(POLICIES)}, got "
                           f"{options.policy!r}")
    _check_rate(options.rate, f"{OPTIONS_FIELD}.rate")
    _refuse_bad(check_non_negative_int, f"{OPTIONS_FIELD}.min_tokens", options.min_tokens)
    if not isinstance(options.guard, bool):
        raise RequestError(f"{OPTIONS_FIELD}.guard must be true or false")
    if options.guard and not engine.has_guard:
        raise RequestError("the guard was asked for, but the service has no SecurityLingua "
                           "model: start it with --guard-model")


def _check_rate(rate: Any, name: str) -> None:
    """The library's own rate check, answered as a refused request."""
    _refuse_bad(check_rate, name, rate)


def _refuse_bad(check: Callable[[str, Any], Any], name: str, value: Any) -> None:
    """Run a :mod:`..validate` check; its TypeError or ValueError becomes a RequestError."""
    try:
        check(name, value)
    except (TypeError, ValueError) as error:
        raise RequestError(str(error)) from error


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {'role', 'content'} objects")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"messages[{index}] must be an object with a 'role'")
    return messages


def _pieces(messages: list[dict[str, Any]]) -> tuple[list[_Piece], list[Any]]:
    """The texts of every message, and each message's compress flag (removed)."""
    pieces, flags = [], []
    for index, message in enumerate(messages):
        flags.append(message.pop(MESSAGE_FLAG, None))
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(_Piece(index, None, content))
        elif isinstance(content, list):
            for k, part in enumerate(content):
                if isinstance(part, dict) and part.get("type", "text") == "text" \
                        and isinstance(part.get("text"), str):
                    pieces.append(_Piece(index, k, part["text"]))
    return pieces, flags


def _choose(pieces: list[_Piece], flags: list[Any], messages: list[dict[str, Any]],
            options: ProxyOptions, engine: Engine) -> None:
    """Set each piece's rate (None: leave it as it is). Only the default policy needs a
    token count, and only as far as ``min_tokens``: a text that is not compressed is not
    counted, and a long one is read only until it is known to be long enough."""
    verbatim = _latest_user(messages) if options.policy == "question" else None
    by_length = []
    for piece in pieces:
        flag = flags[piece.message]
        if flag is None and not has_tags(piece.text):
            if messages[piece.message]["role"] in DEFAULT_ROLES and piece.message != verbatim:
                by_length.append(piece)
            continue
        piece.rate = _flagged_rate(flag, piece.message, options)
    if by_length and options.min_tokens > 0:
        counts = engine.count_tokens([p.text for p in by_length], limit=options.min_tokens)
        by_length = [p for p, tokens in zip(by_length, counts) if tokens >= options.min_tokens]
    for piece in by_length:
        piece.rate = options.rate
    for piece in pieces:
        if piece.rate is not None and not piece.text.strip():
            piece.rate = None


def _flagged_rate(flag: Any, message: int, options: ProxyOptions) -> float | None:
    """The rate a message's compress flag asks for (a tagged text without a flag: the
    request's rate); None for ``false``."""
    if isinstance(flag, dict):
        rate = flag.get("rate", options.rate)
        _check_rate(rate, f"messages[{message}].{MESSAGE_FLAG}.rate")
        return rate
    if flag is False:
        return None
    if flag is not None and flag is not True:
        raise RequestError(f"messages[{message}].{MESSAGE_FLAG} must be true, false "
                           f"or {{'rate': ...}}, got {flag!r}")
    return options.rate


def _latest_user(messages: list[dict[str, Any]]) -> int | None:
    """The index of the last user message, or None."""
    return next((i for i in range(len(messages) - 1, -1, -1)
                 if messages[i]["role"] == "user"), None)


def _questions(messages: list[dict[str, Any]]) -> list[str | None]:
    """For each message, the question it is compressed with: the last user message before
    it (None where there is none). Later turns never change it."""
    questions, current = [], None
    for message in messages:
        questions.append(current)
        if message["role"] == "user":
            text = _untagged(_text_of(message.get("content")))
            current = question_of(text) or None
    return questions


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content if isinstance(part, dict)
                         and part.get("type", "text") == "text"
                         and isinstance(part.get("text"), str))
    return ""


def _describe(pieces: list[_Piece], messages: list[dict[str, Any]], options: ProxyOptions,
              engine: Engine) -> None:
    """How each chosen piece is compressed, and its cache key."""
    questions = _questions(messages) if options.policy == "question" else [None] * len(messages)
    for piece in pieces:
        if piece.rate is None:
            continue
        if has_tags(piece.text):
            kind = "tagged"
        elif messages[piece.message]["role"] == "tool" and is_json(piece.text):
            kind = "json"
        else:
            kind = "text"
        piece.compression = MessageText(piece.text, kind, options.method, piece.rate,
                                        None if kind == "tagged" else questions[piece.message],
                                        engine.config.protect)
        piece.key = message_key(piece.compression, engine)


@dataclass
class _Plan:
    """A chat request's texts, which of them to compress, and the token counts of those."""

    messages: list[Any]
    pieces: list[_Piece]
    counts: list[int]  # of the chosen texts, in order
    cached: set[int] = field(default_factory=set)  # messages answered from the cache

    @property
    def chosen(self) -> list[_Piece]:
        return [p for p in self.pieces if p.rate is not None]


def _plan(body: dict[str, Any], options: ProxyOptions, engine: Engine,
          cache: MessageCache) -> _Plan:
    """Find the texts, choose those to compress, then count and key those only (CPU work:
    runs off the event loop)."""
    messages = [dict(m) if isinstance(m, dict) else m for m in _messages(body)]
    pieces, flags = _pieces(messages)
    _choose(pieces, flags, messages, options, engine)
    _describe(pieces, messages, options, engine)
    chosen = [p.text for p in pieces if p.rate is not None]
    return _Plan(messages, pieces, _token_counts(chosen, engine, cache))


def _token_counts(texts: list[str], engine: Engine, cache: MessageCache) -> list[int]:
    """Mistral token counts of ``texts``; those of long texts are kept in the cache, so a
    turn does not count the whole conversation again."""
    from .message_cache import cache_key

    model = engine.models()[model_setting(engine.default_method())]
    keys = [cache_key({"tokens_of": t, "model": model}) if len(t) >= _COUNT_KEPT_FROM else None
            for t in texts]
    known = [cache.get(k) if k else None for k in keys]
    missing = [i for i, value in enumerate(known) if value is None]
    for i, count in zip(missing, engine.count_tokens([texts[i] for i in missing])):
        known[i] = str(count)
        if keys[i]:
            cache.put(keys[i], known[i])
    return [int(value) for value in known]


# Texts shorter than this (characters) are counted again each time: cheaper than a key.
_COUNT_KEPT_FROM = 1000


def _assembled(plan: _Plan, engine: Engine,
               cache: MessageCache) -> tuple[list[Any], list[Any], list[int]]:
    """The original and the compressed messages, and the token counts of the compressed
    texts (CPU work: runs off the event loop)."""
    messages, originals = plan.messages, [dict(m) for m in plan.messages]
    compressed = []
    for piece in plan.pieces:
        original = _untagged(piece.text)
        _write(originals, piece, original)
        sent = piece.result if piece.result is not None else original
        if piece.rate is not None:
            compressed.append(sent)
        _write(messages, piece, sent)
    return originals, messages, _token_counts(compressed, engine, cache)


def _original_messages(body: dict[str, Any]) -> list[Any]:
    """The messages as the client sent them, less the compress flags and the tags (what
    is forwarded when compression is skipped)."""
    messages = [dict(m) for m in _messages(body)]
    pieces, _ = _pieces(messages)
    for piece in pieces:
        if has_tags(piece.text):
            _write(messages, piece, _untagged(piece.text))
    return messages


async def prepare(body: Any, config: ServeConfig, engine: Engine,
                  cache: MessageCache) -> PreparedRequest:
    """Compress (and guard) a chat request; returns what to forward and the figures.

    Finding and counting the texts is admitted through the queue and runs off the event
    loop like compression itself, so no request can stall the others while it is read.
    """
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object", 400)
    body = dict(body)
    if not isinstance(body.get("stream", False), bool):
        raise RequestError(f"stream must be true or false, got {body['stream']!r}")
    options = request_options(body, config, engine)
    started = time.perf_counter()
    try:
        plan = await _compressed_plan(body, options, config, engine, cache)
        originals, messages, after = await engine.scheduler.run(
            lambda: _assembled(plan, engine, cache), lane="prepare",
            cost=len(plan.pieces) + sum(len(p.result or "") for p in plan.chosen))
    except RequestError:
        raise
    except Exception as error:  # noqa: BLE001 - forwarded uncompressed, or raised
        prepared = await _skipped(body, options, config, engine, error)
        prepared.figures["seconds"] = round(time.perf_counter() - started, 4)
        return prepared
    if options.guard:
        messages = await _guarded(engine, originals, messages)
    body["messages"] = messages
    origin, compressed = sum(plan.counts), sum(after)
    chosen = plan.chosen
    figures = {"compression": "compressed" if chosen else "none",
               "origin_tokens": origin, "compressed_tokens": compressed,
               "rate": compressed / origin if origin else 1.0,
               "compressed_messages": len({p.message for p in chosen}),
               "cached_messages": len(plan.cached),
               "method": options.method, "policy": options.policy, "guarded": options.guard,
               "seconds": round(time.perf_counter() - started, 4)}
    return PreparedRequest(body, figures)


class CompressionTimeout(JobTimeout):
    """The texts of a chat request were not compressed within ``compression_timeout_s``."""


async def _compressed_plan(body: dict[str, Any], options: ProxyOptions, config: ServeConfig,
                           engine: Engine, cache: MessageCache) -> _Plan:
    """The request's plan with every chosen text compressed (from the cache where it can)."""
    plan = await engine.scheduler.run(lambda: _plan(body, options, engine, cache),
                                      lane="prepare", cost=_text_chars(body))
    chosen = plan.chosen
    places = asyncio.Semaphore(config.request_share)

    async def compute(piece: _Piece) -> str:
        async with places:  # however many texts a request holds, it never fills the queue
            return await compress_message(engine, piece.compression)

    lookups = [asyncio.ensure_future(cache.get_or_compute(p.key, lambda p=p: compute(p)))
               for p in chosen]
    found = await _all_within(lookups, [p.key for p in chosen], config.compression_timeout_s,
                              cache)
    for piece, lookup in zip(chosen, found):
        piece.result = lookup.text
        if lookup.source == "hit":
            plan.cached.add(piece.message)
    return plan


def _text_chars(body: dict[str, Any]) -> int:
    """Characters of the texts of a chat body that reading it may count: what it is
    charged in the fair queue (a few operations per message, however long its text). A
    message marked ``"compress": false`` is never counted, so it costs nothing here."""
    messages, total = body.get("messages"), 0
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, dict) and message.get(MESSAGE_FLAG) is False:
            continue
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(part["text"]) for part in content
                         if isinstance(part, dict) and isinstance(part.get("text"), str))
    return total


async def _all_within(lookups: list[asyncio.Future], keys: list[str], timeout_s: float,
                      cache: MessageCache) -> list[Lookup]:
    """Every lookup's result, or the first failure, or :class:`CompressionTimeout` once
    ``timeout_s`` pass (0: no limit). Work cut short by the timeout goes on and fills the
    cache for the next turn; work nobody waits for any more (the client left) stops."""
    if not lookups:
        return []
    try:
        done, pending = await asyncio.wait(lookups, timeout=timeout_s or None,
                                           return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for lookup in lookups:
            lookup.cancel()
        raise
    failed = next((t for t in done if t.cancelled() or t.exception() is not None), None)
    if pending and failed is None:
        cache.detach(key for key, lookup in zip(keys, lookups) if not lookup.done())
    for lookup in pending:
        lookup.cancel()
    if failed is not None:
        raise failed.exception() if not failed.cancelled() else \
            RuntimeError("the compression was stopped before it finished")
    if pending:
        raise CompressionTimeout(f"the messages were not compressed within the compression "
                                 f"timeout of {timeout_s:g} s; raise --compression-timeout "
                                 f"or send shorter messages")
    return [lookup.result() for lookup in lookups]


def skip_reason(error: BaseException) -> str:
    """Why compression was skipped: ``timeout``, ``queue_full`` or ``error``."""
    if isinstance(error, JobTimeout):
        return "timeout"
    if isinstance(error, Overloaded):
        return "queue_full"
    return "error"


async def _skipped(body: dict[str, Any], options: ProxyOptions, config: ServeConfig,
                   engine: Engine, error: Exception) -> PreparedRequest:
    """The request with its original messages, or ``error`` raised when the service is
    told to fail (``on_compression_error="fail"``)."""
    if config.on_compression_error == "fail":
        raise error
    reason = skip_reason(error)
    engine.metrics.compression_skipped.labels(reason).inc()
    logger.warning("compression skipped (%s: %s); forwarding the original messages", reason,
                   type(error).__name__)
    originals = await asyncio.to_thread(_original_messages, body)
    messages = await _guarded(engine, originals, originals) if options.guard else originals
    body["messages"] = messages
    return PreparedRequest(body, {"compression": f"skipped; reason={reason}",
                                  "compressed_messages": 0, "method": options.method,
                                  "policy": options.policy, "guarded": options.guard})


def _write(messages: list[dict[str, Any]], piece: _Piece, text: str) -> None:
    message = messages[piece.message]
    if piece.part is None:
        message["content"] = text
    else:
        parts = list(message["content"])
        parts[piece.part] = {**parts[piece.part], "text": text}
        message["content"] = parts


async def _guarded(engine: Engine, originals: list[dict[str, Any]],
                   compressed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The compressed messages with the guard instruction, found on the original text."""
    from ..methods.guard import with_system_text

    guard = engine.guard
    try:
        request = await engine.scheduler.run(lambda: guard.guard(originals))
    except (ValueError, TypeError) as error:
        raise RequestError(str(error)) from error
    return with_system_text(compressed, request.system_text, guard.placement)
