"""The chat-completions proxy: compress the messages that ask for it, then forward.

Which text is compressed:

* a message with ``"compress": true`` (or ``{"rate": 0.3}``) is compressed, one with
  ``"compress": false`` never is; the flag is removed before forwarding;
* a message holding ``<llmlingua, ...>`` tags is compressed with the tags' settings
  (``compress=False`` parts verbatim, untagged text at the request's rate); tags are
  always removed before forwarding;
* otherwise, a user, system or tool message of at least ``min_tokens`` Mistral tokens is
  compressed (the default policy); assistant messages are left alone.

A top-level ``"compression"`` object overrides the service's settings for one request:
``rate``, ``min_tokens``, ``method`` (``llmlingua2`` or ``llmlingua``) and ``guard``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

from ..validate import check_non_negative_int, check_rate
from .config import ServeConfig
from .engine import Engine
from .jobs import CompressJob, RequestError, _untagged

DEFAULT_ROLES = frozenset({"user", "system", "tool"})
OPTIONS_FIELD = "compression"
MESSAGE_FLAG = "compress"
_OPTION_KEYS = frozenset({"rate", "min_tokens", "method", "guard"})


@dataclass
class ProxyOptions:
    """How one request is compressed (service settings, overridden by the request)."""

    method: str
    rate: float
    min_tokens: int
    guard: bool


@dataclass
class _Piece:
    """One text of the conversation: a string content or one text part of it."""

    message: int
    part: int | None
    text: str
    rate: float | None = None  # None: not compressed
    result: str | None = None


@dataclass
class PreparedRequest:
    """The body to forward and the compression figures that go back with the reply."""

    body: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        f = self.figures
        return {"X-LLMLingstral-Origin-Tokens": str(f["origin_tokens"]),
                "X-LLMLingstral-Compressed-Tokens": str(f["compressed_tokens"]),
                "X-LLMLingstral-Rate": f"{f['rate']:.4f}",
                "X-LLMLingstral-Compressed-Messages": str(f["compressed_messages"])}


def request_options(body: dict[str, Any], config: ServeConfig, engine: Engine) -> ProxyOptions:
    """The request's ``compression`` object merged over the service settings."""
    raw = body.pop(OPTIONS_FIELD, None) or {}
    if not isinstance(raw, dict):
        raise RequestError(f"{OPTIONS_FIELD!r} must be an object with {sorted(_OPTION_KEYS)}")
    unknown = sorted(set(raw) - _OPTION_KEYS)
    if unknown:
        raise RequestError(f"unknown {OPTIONS_FIELD} option(s) {unknown}; accepted: "
                           f"{sorted(_OPTION_KEYS)}")
    default_method = config.proxy_method or \
        ("llmlingua2" if engine.classifier is not None else "llmlingua")
    options = ProxyOptions(method=raw.get("method", default_method),
                           rate=raw.get("rate", config.proxy_rate),
                           min_tokens=raw.get("min_tokens", config.proxy_min_tokens),
                           guard=raw.get("guard", config.guard))
    _check_options(options, engine)
    return options


def _check_options(options: ProxyOptions, engine: Engine) -> None:
    if options.method not in ("llmlingua", "llmlingua2"):
        raise RequestError(f"compression method must be 'llmlingua2' or 'llmlingua', got "
                           f"{options.method!r}")
    if not engine.available().get(options.method):
        raise RequestError(f"compression method {options.method!r} has no model here")
    _check_rate(options.rate, f"{OPTIONS_FIELD}.rate")
    _refuse_bad(check_non_negative_int, f"{OPTIONS_FIELD}.min_tokens", options.min_tokens)
    if not isinstance(options.guard, bool):
        raise RequestError(f"{OPTIONS_FIELD}.guard must be true or false")
    if options.guard and engine.guard is None:
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
            counts: list[int], options: ProxyOptions) -> None:
    """Set each piece's rate (None: leave it as it is)."""
    for piece, tokens in zip(pieces, counts):
        flag = flags[piece.message]
        if isinstance(flag, dict):
            rate = flag.get("rate", options.rate)
            _check_rate(rate, f"messages[{piece.message}].{MESSAGE_FLAG}.rate")
            piece.rate = rate
        elif flag is True:
            piece.rate = options.rate
        elif flag is False:
            piece.rate = None
        elif flag is not None:
            raise RequestError(f"messages[{piece.message}].{MESSAGE_FLAG} must be true, false "
                               f"or {{'rate': ...}}, got {flag!r}")
        elif "<llmlingua" in piece.text.lower():
            piece.rate = options.rate
        elif messages[piece.message]["role"] in DEFAULT_ROLES and tokens >= options.min_tokens:
            piece.rate = options.rate
        if piece.rate is not None and not piece.text.strip():
            piece.rate = None


def _job(piece: _Piece, method: str, protect: Any) -> CompressJob:
    if method == "llmlingua2":
        kwargs = {"context": [piece.text], "rate": piece.rate, "use_context_level_filter": False,
                  "protect": protect}
        return CompressJob("llmlingua2", kwargs, "")
    return CompressJob("structured", {"context": [piece.text], "rate": piece.rate,
                                      "protect": protect}, "")


@dataclass
class _Plan:
    """A chat request's texts, their token counts and which of them to compress."""

    messages: list[Any]
    pieces: list[_Piece]
    counts: list[int]

    @property
    def chosen(self) -> list[_Piece]:
        return [p for p in self.pieces if p.rate is not None]


def _plan(body: dict[str, Any], options: ProxyOptions, engine: Engine) -> _Plan:
    """Find the texts and count their tokens (CPU work: runs off the event loop)."""
    messages = [dict(m) if isinstance(m, dict) else m for m in _messages(body)]
    pieces, flags = _pieces(messages)
    counts = engine.count_tokens([p.text for p in pieces])
    _choose(pieces, flags, messages, counts, options)
    return _Plan(messages, pieces, counts)


def _assembled(plan: _Plan, engine: Engine) -> tuple[list[Any], list[Any], list[int]]:
    """The original and the compressed messages, and the token counts of what is sent
    (CPU work: runs off the event loop)."""
    messages, originals = plan.messages, [dict(m) for m in plan.messages]
    sent = []
    for piece in plan.pieces:
        original = _untagged(piece.text)
        _write(originals, piece, original)
        sent.append(piece.result if piece.result is not None else original)
        _write(messages, piece, sent[-1])
    return originals, messages, engine.count_tokens(sent)


async def prepare(body: Any, config: ServeConfig, engine: Engine) -> PreparedRequest:
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
    plan = await engine.scheduler.run(lambda: _plan(body, options, engine), lane="prepare")
    chosen = plan.chosen
    results = await _compress_pieces(engine, chosen, options.method, config.request_share)
    for piece, result in zip(chosen, results):
        piece.result = result["compressed_prompt"]
    originals, messages, after = await engine.scheduler.run(
        lambda: _assembled(plan, engine), lane="prepare")
    if options.guard:
        messages = await _guarded(engine, originals, messages)
    body["messages"] = messages
    origin, compressed = sum(plan.counts), sum(after)
    figures = {"origin_tokens": origin, "compressed_tokens": compressed,
               "rate": compressed / origin if origin else 1.0,
               "compressed_messages": len({p.message for p in chosen}),
               "method": options.method, "guarded": options.guard}
    return PreparedRequest(body, figures)


async def _compress_pieces(engine: Engine, pieces: list[_Piece], method: str,
                           share: int) -> list[dict[str, Any]]:
    """Compress ``pieces``, at most ``share`` of them in the queue at once: however many
    texts a request holds, it never fills the queue, and it always fits."""
    places = asyncio.Semaphore(share)

    async def one(piece: _Piece) -> dict[str, Any]:
        async with places:
            return await engine.compress(_job(piece, method, engine.config.protect),
                                         with_spans=False)

    return await asyncio.gather(*(one(p) for p in pieces))


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
