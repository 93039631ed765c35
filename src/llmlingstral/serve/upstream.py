"""The chat-completions endpoint the proxy forwards to.

* :class:`MistralUpstream`: the Mistral API through the official ``mistralai`` SDK
  (``upstream_url`` points it elsewhere, e.g. a gateway);
* :class:`OpenAICompatibleUpstream`: any server speaking OpenAI's ``/chat/completions``
  (vLLM, another proxy), forwarding the request body unchanged.

Both return plain JSON dicts, stream server-sent-event payloads as strings, and raise
:class:`UpstreamError` with the upstream status for failures. A reply (for a stream: its
opening) that takes longer than the deadline ``timeout_s`` is a 504, however the upstream
sends it. The upstream key is sent only to the upstream and appears in nothing relayed, not
even in a reply or an error body that echoes it; a success that is not a chat completion (a
redirect, another page) is a 502.

Nothing is retried here (the SDK is called with ``retries=None``): an upstream failure
reaches the client as it is, a 429 stays a 429, so the client's own retries are the only
ones; retrying here as well would multiply them. The library's calls that do retry (the
Mistral API wrapper, the remote scorer) share one loop, :mod:`llmlingstral.retry`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any, AsyncIterator, Awaitable, TypeVar

import httpx

from ..credentials import redact
from ..mistral_sdk import mistral_client_class

T = TypeVar("T")

# OpenAI request fields the Mistral API has under another name, and ones it has no use for.
_MISTRAL_RENAMES = {"seed": "random_seed", "max_completion_tokens": "max_tokens"}
_MISTRAL_IGNORED = frozenset({"user", "stream_options", "store"})
_SDK_CONTROL = frozenset({"retries", "server_url", "timeout_ms", "http_headers", "stream"})


class UpstreamError(Exception):
    """The upstream refused or could not be reached; ``payload`` is its error body."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.payload = payload


class StreamBroken(Exception):
    """The upstream's stream ended before its end marker (``[DONE]`` or a finish reason)."""

    def __init__(self) -> None:
        super().__init__("the upstream stream ended before it was complete")


def _error_payload(message: str, kind: str = "upstream_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


_JSON = {"Content-Type": "application/json"}


async def _encoded(body: dict[str, Any]) -> bytes:
    """``body`` as JSON bytes, encoded off the event loop (a chat can hold megabytes)."""
    return await asyncio.to_thread(encode_json, body)


# Strings longer than this are encoded in pieces: one json.dumps call holds the interpreter
# until it returns, and encoding a 3.5 MB message in one call stood the event loop (and
# /healthz) still for 70-95 ms on a busy machine; a piece takes about a millisecond.
PIECE_CHARS = 32_768
_escaped = json.encoder.encode_basestring  # as json.dumps(ensure_ascii=False) escapes


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def encode_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, as httpx encodes a body (no ASCII escapes, no NaN),
    the same bytes as one ``json.dumps``; a value holding long strings is encoded piece by
    piece, so that other threads (the event loop) run between the pieces."""
    out: list[bytes] = []
    _encode_into(value, out)
    return b"".join(out)


def _encode_into(value: Any, out: list[bytes]) -> None:
    if not _holds_long_string(value):
        out.append(_dumps(value))
    elif isinstance(value, str):
        pieces = (value[i:i + PIECE_CHARS] for i in range(0, len(value), PIECE_CHARS))
        out.extend([b'"', *(_escaped(p)[1:-1].encode("utf-8") for p in pieces), b'"'])
    elif isinstance(value, dict):
        for k, (key, item) in enumerate(value.items()):
            out.append((b"{" if k == 0 else b",") + _dumps(key) + b":")
            _encode_into(item, out)
        out.append(b"}")
    else:
        out.append(b"[")
        for k, item in enumerate(value):
            if k:
                out.append(b",")
            _encode_into(item, out)
        out.append(b"]")


def _holds_long_string(value: Any) -> bool:
    """Whether ``value`` is, or holds at any depth, a string over :data:`PIECE_CHARS`."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if len(node) > PIECE_CHARS:
                return True
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return False


async def _within(seconds: float, call: Awaitable[T]) -> T:
    """``await call``, or a 504 :class:`UpstreamError` once ``seconds`` pass."""
    try:
        return await asyncio.wait_for(call, seconds)
    except asyncio.TimeoutError:
        raise UpstreamError(504, _error_payload(
            f"the upstream gave no complete reply within the {seconds:g} s deadline "
            f"(upstream_timeout_s); check the upstream or raise the deadline",
            "timeout")) from None


def _masked(error: UpstreamError, key: str | None) -> UpstreamError:
    """``error`` with the key masked in its payload (an upstream may echo the request)."""
    if key:
        error.payload = json.loads(redact(json.dumps(error.payload), key, json.dumps(key)[1:-1]))
    return error


def _payload_of(text: str, status: int) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return payload
    return _error_payload(f"upstream answered HTTP {status}: {text[:300]}")


def _not_a_completion(status: int) -> UpstreamError:
    return UpstreamError(502, _error_payload(
        f"the upstream answered HTTP {status} without a chat completion (a redirect, or "
        f"not an OpenAI-compatible chat endpoint); check --upstream-url"))


def chat_completion(text: str, status: int) -> dict[str, Any]:
    """A successful upstream reply, checked to be a chat completion (else a 502)."""
    payload = _payload_of(text, status) if 200 <= status < 300 else None
    if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
        raise _not_a_completion(status)
    return payload


class MistralUpstream:
    """Chat completions through ``mistralai.Mistral``."""

    def __init__(self, api_key: str | None, server_url: str | None, timeout_s: float) -> None:
        options: dict[str, Any] = {"api_key": api_key or "", "timeout_ms": int(timeout_s * 1000)}
        if server_url:
            options["server_url"] = server_url
        self.client = mistral_client_class("the proxy's Mistral upstream", "serve")(**options)
        self._key, self.timeout_s = api_key, timeout_s
        self._accepted = frozenset(
            inspect.signature(self.client.chat.complete_async).parameters) - _SDK_CONTROL

    def _arguments(self, body: dict[str, Any]) -> dict[str, Any]:
        arguments = {}
        for key, value in body.items():
            key = _MISTRAL_RENAMES.get(key, key)
            if key in _MISTRAL_IGNORED or key == "stream":
                continue
            if key not in self._accepted:
                raise UpstreamError(422, _error_payload(
                    f"parameter {key!r} is not supported by the Mistral API; remove it, or "
                    f"run the proxy with --upstream openai", "invalid_request_error"))
            arguments[key] = value
        return arguments

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        arguments = self._arguments(body)
        try:
            response = await _within(self.timeout_s, self.client.chat.complete_async(
                **arguments, retries=None))
        except UpstreamError:
            raise
        except Exception as error:  # noqa: BLE001 - classified by _translate
            raise _masked(_translate(error), self._key) from None
        return json.loads(redact(json.dumps(_dump(response)), self._key))

    async def open_stream(self, body: dict[str, Any]) -> AsyncIterator[str]:
        arguments = self._arguments(body)
        try:
            stream = await _within(self.timeout_s, self.client.chat.stream_async(
                **arguments, retries=None))
        except UpstreamError:
            raise
        except Exception as error:  # noqa: BLE001 - classified by _translate
            raise _masked(_translate(error), self._key) from None
        return self._events(stream, self._key)

    @staticmethod
    async def _events(stream, key: str | None) -> AsyncIterator[str]:
        finished = False
        async with stream:
            async for event in stream:
                data = _dump(event.data)
                finished |= any(c.get("finish_reason") for c in data.get("choices") or [])
                yield redact(json.dumps(data, ensure_ascii=False), key)
        if not finished:
            raise StreamBroken()
        yield "[DONE]"

    async def close(self) -> None:
        return None


def _dump(model: Any) -> dict[str, Any]:
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True))


def _translate(error: Exception) -> UpstreamError:
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        body = getattr(error, "body", None) or str(error)
        return UpstreamError(status, _payload_of(str(body), status))
    if isinstance(error, (httpx.TransportError, OSError)) or \
            type(error).__name__ in ("NoResponseError", "ConnectError", "TimeoutException"):
        return UpstreamError(502, _error_payload(
            f"the upstream could not be reached ({type(error).__name__})"))
    return UpstreamError(502, _error_payload(
        f"the upstream reply could not be read ({type(error).__name__})"))


class OpenAICompatibleUpstream:
    """Chat completions at ``{base_url}/chat/completions``, body forwarded as is."""

    def __init__(self, api_key: str | None, base_url: str, timeout_s: float) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.client = httpx.AsyncClient(headers=headers, timeout=timeout_s)
        self._key, self.timeout_s = api_key, timeout_s

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        content = await _encoded({**body, "stream": False})

        async def exchange() -> tuple[int, str]:
            response = await self.client.post(self.url, content=content, headers=_JSON)
            return response.status_code, response.text

        try:
            status, text = await _within(self.timeout_s, exchange())
        except httpx.HTTPError as error:
            raise _translate(error) from None
        text = redact(text, self._key)
        if status >= 400:
            raise UpstreamError(status, _payload_of(text, status))
        return chat_completion(text, status)

    async def open_stream(self, body: dict[str, Any]) -> AsyncIterator[str]:
        request = self.client.build_request("POST", self.url, headers=_JSON,
                                            content=await _encoded({**body, "stream": True}))
        try:
            response = await _within(self.timeout_s, self.client.send(request, stream=True))
        except httpx.HTTPError as error:
            raise _translate(error) from None
        if response.status_code >= 400:
            text = (await response.aread()).decode("utf-8", "replace")
            await response.aclose()
            raise _masked(UpstreamError(response.status_code,
                                        _payload_of(text, response.status_code)), self._key)
        if response.status_code >= 300:
            await response.aclose()
            raise _not_a_completion(response.status_code)
        return self._events(response, self._key)

    @staticmethod
    async def _events(response: httpx.Response, key: str | None) -> AsyncIterator[str]:
        done = False
        try:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data = redact(line[5:].strip(), key)
                    done = data == "[DONE]"
                    yield data
        finally:
            await response.aclose()
        if not done:
            raise StreamBroken()

    async def close(self) -> None:
        await self.client.aclose()


def build_upstream(kind: str, api_key: str | None, url: str | None, timeout_s: float):
    """The upstream client for ``--upstream`` ``kind``."""
    if kind == "openai":
        return OpenAICompatibleUpstream(api_key, url or "", timeout_s)
    return MistralUpstream(api_key, url, timeout_s)
