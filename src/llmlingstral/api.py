"""Mistral API access through the official ``mistralai`` SDK.

One small client for the two endpoints llmlingstral uses (embeddings and chat completions),
with the behaviour a ranking pipeline needs:

* the key comes from ``api_key`` or the ``MISTRAL_API_KEY`` environment variable, is held
  as a :class:`~llmlingstral.credentials.Secret` and appears in no repr or message;
* requests are batched by the callers, and retried here with exponential backoff (with
  jitter, honouring ``Retry-After``) on 429, 5xx and network errors. The SDK's own retries
  are switched off on every call, so the attempt count is at most ``max_attempts``;
* each request has a deadline (``timeout_ms``) for everything it takes: every attempt
  (connection, headers and whole body together, not per read, so a server that sends its
  reply a byte at a time cannot hold a call) and every wait between attempts. A server
  that asks, with ``Retry-After``, for a wait longer than the time left ends the call at
  once (:mod:`llmlingstral.retry` is the one retry loop of the library);
* a 200 reply the caller cannot use (``accept`` says why: no text, NaN vectors...) is
  retried like a server error;
* once the attempts or the time are spent, a :class:`MistralAPIError` names the HTTP status
  and what to change. Client errors such as 401 or 400 are not retried.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

import numpy as np

from .credentials import MASK, Secret, optional_secret, redact
from .errors import LLMLingstralError
from .mistral_sdk import http_module, mistral_client_class, transport_errors
from .retry import (AttemptTimedOut, Deadline, GaveUp, RetryPolicy, Transient,
                    call_with_retries, finish_within, parse_retry_after)
from .validate import check_finite, check_positive_int

__all__ = ["MistralAPI", "MistralAPIError", "RetryPolicy"]

T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class MistralAPIError(LLMLingstralError):
    """A Mistral API request failed for good; ``status_code`` is None for network errors."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class MistralAPI:
    """A retrying client for the Mistral API endpoints llmlingstral calls.

    Args:
        api_key: the key; defaults to the ``MISTRAL_API_KEY`` environment variable.
        server_url: another endpoint (e.g. a proxy or a local test server), without ``/v1``.
        timeout_ms: the deadline of each request, retries and waits included.
        retry: the :class:`RetryPolicy`.
        client: an already built ``mistralai.Mistral`` client (its key and URL are used as is).
    """

    def __init__(self, api_key: str | Secret | None = None, *, server_url: str | None = None,
                 timeout_ms: float = 60_000, retry: RetryPolicy | None = None,
                 client: Any = None) -> None:
        self.retry = retry or RetryPolicy()
        self.server_url = server_url
        self.deadline = check_finite("timeout_ms", timeout_ms) / 1000
        self.api_key = optional_secret(api_key) or optional_secret(
            os.environ.get("MISTRAL_API_KEY"), "MISTRAL_API_KEY")
        if client is not None:
            self.client = client
            return
        if self.api_key is None:
            raise MistralAPIError(
                "no Mistral API key: set the MISTRAL_API_KEY environment variable or pass "
                "open_api_config={'api_key': '...'} to PromptCompressor")
        sdk = mistral_client_class()
        options: dict[str, Any] = {"api_key": self.api_key.reveal(),
                                   "timeout_ms": max(1, int(timeout_ms))}
        if server_url:
            options["server_url"] = server_url
        http_client = _deadline_http_client(self.deadline)
        if http_client is not None:
            options["client"] = http_client
        self.client = sdk(**options)

    def __repr__(self) -> str:
        key = MASK if self.api_key else None
        return (f"MistralAPI(server_url={self.server_url!r}, timeout_ms={self.deadline * 1000:g}, "
                f"retry={self.retry!r}, api_key={key!r})")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MistralAPI":
        """Build a client from an ``open_api_config`` mapping.

        Keys: ``api_key``, ``server_url``, ``timeout_ms`` (each request's deadline, retries
        included), ``max_attempts``, ``retry_base_delay`` and ``retry_max_delay`` (seconds).
        """
        retry = RetryPolicy(max_attempts=config.get("max_attempts", 5),
                            base_delay=config.get("retry_base_delay", 1.0),
                            max_delay=config.get("retry_max_delay", 30.0))
        return cls(config.get("api_key"), server_url=config.get("server_url"),
                   timeout_ms=config.get("timeout_ms", 60_000), retry=retry)

    # ----------------------------------------------------------------------- endpoints

    def embed(self, texts: Sequence[str], model: str = "mistral-embed",
              batch_size: int = 64) -> np.ndarray:
        """Embeddings of ``texts`` (one row each), ``batch_size`` texts per request.

        A reply with NaN or infinite numbers, or with vectors of different sizes, is
        retried and then raises :class:`MistralAPIError`.
        """
        check_positive_int("batch_size", batch_size, "texts per request")
        rows: list[list[float]] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start:start + batch_size])
            response = self.call(
                "embeddings", lambda b=batch: self.client.embeddings.create(
                    model=model, inputs=b, retries=None),
                accept=lambda r, n=len(batch): _embedding_problem(r, n))
            rows.extend(_embedding_rows(response, len(batch)))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        if len({len(r) for r in rows}) != 1:
            raise MistralAPIError("the embeddings endpoint returned vectors of different sizes")
        return np.asarray(rows, dtype=np.float32)

    def chat(self, messages: list[dict[str, str]], model: str, *,
             accept: Callable[[Any], str | None] | None = None, **options: Any) -> Any:
        """One chat completion; ``options`` go to ``chat.complete`` (temperature, logprobs...).

        ``accept(response)`` returns None for a usable reply, else why it is not (the reply
        is then retried like a server error).
        """
        return self.call("chat completion", lambda: self.client.chat.complete(
            model=model, messages=messages, retries=None, **options), accept=accept)

    # ----------------------------------------------------------------------- retries

    def call(self, operation: str, request: Callable[[], T], *,
             accept: Callable[[T], str | None] | None = None) -> T:
        """Run ``request`` with retries within the deadline; raise :class:`MistralAPIError`
        when it cannot succeed. ``accept`` (see :meth:`chat`) judges 200 replies."""
        transport = transport_errors()

        def attempt(number: int, left: float) -> T:
            try:
                response = finish_within(left, request)
            except Exception as error:  # noqa: BLE001 - classified below
                outcome = self._classify(operation, error, number, transport)
                if outcome is error:
                    raise
                # An HTTP error's reply body may quote the request: it is not chained.
                raise outcome from (error if isinstance(outcome, Transient) else None)
            problem = accept(response) if accept is not None else None
            if problem is not None:
                raise Transient(problem, status=200)
            return response

        try:
            return call_with_retries(attempt, self.retry, Deadline(self.deadline))
        except GaveUp as gave_up:
            # An HTTP error's reply body may quote the request: only network errors are chained.
            cause = gave_up.last.cause if gave_up.last.status is None else None
            raise self._final_error(operation, gave_up) from cause

    def _classify(self, operation: str, error: BaseException, number: int,
                  transport: tuple[type[BaseException], ...]) -> Exception:
        """A failed attempt as a :class:`Transient` to retry, or the error that ends the call."""
        status = _status_of(error)
        if isinstance(error, AttemptTimedOut) or (status is None and _is_timeout(error)):
            return Transient("no complete reply", timed_out=True, cause=error)
        if status is None and isinstance(error, transport):
            return Transient(f"{type(error).__name__}: {self._redact(str(error))}", cause=error)
        if status is None:
            return error  # not a network failure: a bug or a bad argument, shown as it is
        if status in _RETRYABLE_STATUS:
            return Transient(f"HTTP {status}", status=status, cause=error,
                             retry_after=parse_retry_after(_header(error, "retry-after")))
        return self._status_error(operation, status, error, _tries(number))

    def _final_error(self, operation: str, gave_up: GaveUp) -> MistralAPIError:
        last, tries = gave_up.last, _tries(gave_up.attempts)
        where = f" at {self.server_url}" if self.server_url else ""
        if gave_up.why == "retry_after":
            return MistralAPIError(
                f"Mistral API {operation}{where}: the server asked to retry after "
                f"{last.retry_after:g} s (HTTP {last.status}), past the {self.deadline:g} s "
                f"deadline of the call, {tries}. Wait for the quota to refill, lower the "
                f"request rate, or raise open_api_config['timeout_ms'].",
                status_code=last.status)
        if last.timed_out or gave_up.why == "deadline" and last.status is None:
            return MistralAPIError(
                f"Mistral API {operation}: no complete reply{where} within the "
                f"{self.deadline:g} s deadline, {tries}. The server is slow or stalled; raise "
                f"open_api_config['timeout_ms'] or check server_url.")
        if last.status is None:
            return MistralAPIError(
                f"Mistral API {operation}: could not reach the server{where} {tries} "
                f"({last.reason}). Check the network and server_url.")
        if last.status == 200:
            return MistralAPIError(f"Mistral API {operation}: unusable reply {tries}: "
                                   f"{last.reason}", status_code=200)
        error = self._status_error(operation, last.status, last.cause, tries)
        if gave_up.why == "deadline":
            error.args = (f"{error.args[0]} The {self.deadline:g} s deadline left no time "
                          f"for another attempt.",)
        return error

    def _status_error(self, operation: str, status: int, error: BaseException | None,
                      tries: str) -> MistralAPIError:
        """The error for an HTTP ``status`` that ends the call, with what to change."""
        excerpt = self._redact(_body_excerpt(error)) if error is not None else ""
        if status < 400:
            return MistralAPIError(f"Mistral API {operation}: the reply (HTTP {status}) could "
                                   f"not be read: {excerpt}", status_code=status)
        if status == 429:
            advice = ("rate limited. Lower the request rate or batch size, wait for the quota "
                      "to refill, or raise open_api_config['max_attempts'] / "
                      "['retry_base_delay']")
        elif status >= 500:
            advice = "the service failed. Retry later; the request itself may be fine"
        elif status in (401, 403):
            advice = ("authentication failed. Check MISTRAL_API_KEY or "
                      "open_api_config['api_key']")
        elif status == 404:
            advice = "not found. Check the model name and server_url"
        else:
            advice = f"the request was rejected: {excerpt}"
        return MistralAPIError(f"Mistral API {operation} failed with HTTP {status} {tries}: "
                               f"{advice}.", status_code=status)

    def _redact(self, text: str) -> str:
        return redact(text, self.api_key)


# --------------------------------------------------------------------------- helpers


def _tries(attempts: int) -> str:
    return f"after {attempts} attempt{'s' if attempts != 1 else ''}"


def _is_timeout(error: BaseException) -> bool:
    return "timeout" in type(error).__name__.lower()


def _deadline_http_client(seconds: float) -> Any:
    """An HTTP client whose responses stop reading ``seconds`` after the request was sent."""
    http = http_module()
    if http is None:
        return None

    class DeadlineStream(http.SyncByteStream):
        def __init__(self, inner: Any, deadline: float) -> None:
            self.inner, self.deadline = inner, deadline

        def __iter__(self):
            for chunk in self.inner:
                if time.monotonic() > self.deadline:
                    raise http.ReadTimeout(f"reply not complete within {seconds:g} s")
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class DeadlineTransport(http.BaseTransport):
        def __init__(self) -> None:
            self.inner = http.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            deadline = time.monotonic() + seconds
            response = self.inner.handle_request(request)
            return http.Response(response.status_code, headers=response.headers,
                                 stream=DeadlineStream(response.stream, deadline),
                                 extensions=response.extensions)

        def close(self) -> None:
            self.inner.close()

    return http.Client(transport=DeadlineTransport(), follow_redirects=True)


def _status_of(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _header(error: BaseException, name: str) -> str | None:
    headers = getattr(error, "headers", None)
    return headers.get(name) if headers is not None else None


def _body_excerpt(error: BaseException, limit: int = 300) -> str:
    body = getattr(error, "body", None) or str(error)
    body = " ".join(str(body).split())
    return body if len(body) <= limit else body[:limit] + "..."


def _embedding_problem(response: Any, expected: int) -> str | None:
    """Why an embeddings reply cannot be used, or None."""
    try:
        rows = _embedding_rows(response, expected)
    except MistralAPIError as error:
        return str(error)
    if not np.isfinite(np.asarray(rows, dtype=np.float64)).all():
        return "the embeddings endpoint returned vectors with NaN or infinite values"
    return None


def _embedding_rows(response: Any, expected: int) -> list[list[float]]:
    data = list(getattr(response, "data", None) or [])
    if len(data) != expected:
        raise MistralAPIError(f"the embeddings endpoint returned {len(data)} vectors for "
                              f"{expected} inputs")
    if all(isinstance(getattr(d, "index", None), int) for d in data):
        data.sort(key=lambda d: d.index)
    rows = [list(d.embedding or []) for d in data]
    if any(not r for r in rows) or len({len(r) for r in rows}) != 1:
        raise MistralAPIError("the embeddings endpoint returned empty or ragged vectors")
    return rows
