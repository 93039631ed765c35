"""A real HTTP server on 127.0.0.1 answering like vLLM's OpenAI-compatible server.

``POST /v1/completions`` with token-id prompts returns ``prompt_logprobs`` (vLLM's
extension) or, with ``echo`` and ``logprobs``, the OpenAI ``logprobs`` block; the
log-probabilities come from a local causal model (a plain forward pass per prompt).
``GET /v1/models`` lists the model with its ``max_model_len``. Errors use vLLM's error
body. Tests can script failures (``fail_next``) and slow answers (``delay``), and read the
recorded request bodies.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any, Sequence

import numpy as np
import torch

from local_api import LoopbackServer


class LocalPromptLogprobs:
    """log p(token | the tokens before it) for every prompt token after the first, from
    one plain forward pass of a local causal model over the prompt."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.lock = threading.Lock()

    @torch.inference_mode()
    def log_softmax(self, prompt: Sequence[int]) -> torch.Tensor:
        """Log-probabilities over the vocabulary after each prompt position."""
        with self.lock:
            logits = self.model(input_ids=torch.tensor([list(prompt)])).logits[0]
        return torch.log_softmax(logits.float(), dim=-1)

    def prompt_logprobs(self, prompts: Sequence[Sequence[int]], *,
                        reuse_cache: bool = True) -> list[np.ndarray]:
        results = []
        for prompt in prompts:
            table = self.log_softmax(prompt)
            targets = torch.tensor(list(prompt[1:]), dtype=torch.long)
            results.append(table[:-1].gather(-1, targets[:, None])[:, 0].numpy())
        return results


class VLLMLoopback(LoopbackServer):
    """The server; use as a context manager. ``url`` is the root (append ``/v1``)."""

    def __init__(self, source: LocalPromptLogprobs, tokenizer, model: str,
                 max_model_len: int) -> None:
        self.source, self.tokenizer, self.model = source, tokenizer, model
        self.max_model_len = max_model_len
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        # Prefix caching as vLLM does it: full blocks of prompt tokens seen before; with
        # prompt log-probabilities and skip_reading_prefix_cache false, cached tokens get null.
        self.block_size = 16
        self.cached_blocks: set[tuple[int, ...]] = set()
        self.cached_tokens_read = 0
        self._failures: deque[int] = deque()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._listen(self._handler())

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no request is being answered (e.g. one a client gave up on)."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    # ------------------------------------------------------------------- routes

    def models(self) -> tuple[int, dict[str, Any]]:
        return 200, {"object": "list", "data": [
            {"id": self.model, "object": "model", "created": 0, "owned_by": "vllm",
             "root": self.model, "parent": None, "max_model_len": self.max_model_len}]}

    def completions(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("model") != self.model:
            return _error(404, f"The model `{body.get('model')}` does not exist.")
        prompts = body.get("prompt")
        if prompts and isinstance(prompts[0], int):
            prompts = [prompts]
        for prompt in prompts:
            if len(prompt) + int(body.get("max_tokens") or 16) > self.max_model_len:
                return _error(400, f"This model's maximum context length is "
                                   f"{self.max_model_len} tokens. However, you requested "
                                   f"{len(prompt) + int(body.get('max_tokens') or 16)} tokens.")
        choices = [self._choice(i, list(p), body) for i, p in enumerate(prompts)]
        for prompt in prompts:
            self._remember(list(prompt))
        used = sum(len(p) for p in prompts)
        return 200, {"id": "cmpl-loopback", "object": "text_completion", "created": 0,
                     "model": self.model, "choices": choices,
                     "usage": {"prompt_tokens": used, "completion_tokens": len(prompts),
                               "total_tokens": used + len(prompts)}}

    def _choice(self, index: int, prompt: list[int], body: dict[str, Any]) -> dict[str, Any]:
        table = self.source.log_softmax(prompt)
        generated = int(table[-1].argmax())
        choice: dict[str, Any] = {"index": index, "text": self._decode(generated),
                                  "logprobs": None, "finish_reason": "length",
                                  "stop_reason": None, "prompt_logprobs": None}
        cached = 0 if body.get("skip_reading_prefix_cache", True) else self._cache_hit(prompt)
        self.cached_tokens_read += cached
        if body.get("prompt_logprobs") is not None:
            top = int(body["prompt_logprobs"])
            choice["prompt_logprobs"] = [None] + [
                None if i <= cached else self._entry(table[i - 1], prompt[i], top)
                for i in range(1, len(prompt))]
        if body.get("echo") and body.get("logprobs") is not None:
            tokens = [*prompt, generated]
            values = [None] + [None if i <= cached else float(table[i - 1, tokens[i]])
                               for i in range(1, len(tokens))]
            choice["text"] = self.tokenizer.decode(prompt[1:]) + choice["text"]
            choice["logprobs"] = {"tokens": [self._decode(t) for t in tokens],
                                  "token_logprobs": values,
                                  "top_logprobs": [None] * len(tokens),
                                  "text_offset": list(range(len(tokens)))}
        return choice

    def _cache_hit(self, prompt: list[int]) -> int:
        """Tokens of the longest cached block-aligned prefix (never the last token)."""
        hit = 0
        for end in range(self.block_size, len(prompt), self.block_size):
            if tuple(prompt[:end]) not in self.cached_blocks:
                break
            hit = end
        return hit

    def _remember(self, prompt: list[int]) -> None:
        with self._lock:
            for end in range(self.block_size, len(prompt) + 1, self.block_size):
                self.cached_blocks.add(tuple(prompt[:end]))

    def _entry(self, row: torch.Tensor, actual: int, top: int) -> dict[str, Any]:
        value = float(row[actual])
        entry = {str(actual): {"logprob": value, "rank": int((row > row[actual]).sum()) + 1,
                               "decoded_token": self._decode(actual)}}
        for rank, token in enumerate(torch.topk(row, top).indices.tolist() if top else [], 1):
            entry.setdefault(str(token), {"logprob": float(row[token]), "rank": rank,
                                          "decoded_token": self._decode(token)})
        return entry

    def _decode(self, token: int) -> str:
        return self.tokenizer.decode([token])

    # ------------------------------------------------------------------- HTTP

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                if self.path.rstrip("/") == "/v1/models":
                    self._reply(*server.models())
                else:
                    self._reply(*_error(404, f"no route {self.path}"))

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with server._lock:
                    server.requests.append(body)
                    failure = server._failures.popleft() if server._failures else None
                    server._in_flight += 1
                try:
                    time.sleep(server.delay)
                    if failure is not None:
                        message = server.failure_message(failure,
                                                         self.headers.get("Authorization"))
                        self._reply(*_error(failure, message), server.failure_headers)
                    elif self.path == "/v1/completions":
                        self._reply(*server.completions(body))
                    else:
                        self._reply(*_error(404, f"no route {self.path}"))
                finally:
                    with server._idle:
                        server._in_flight -= 1
                        server._idle.notify_all()

            def _reply(self, status: int, payload: dict[str, Any],
                       headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a deadline test)

            def log_message(self, *args) -> None:
                pass

        return Handler


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"object": "error", "message": message, "type": "BadRequestError",
                    "param": None, "code": status}
