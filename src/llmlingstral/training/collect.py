"""Collect extractive compressions from a Mistral chat model, for LLMLingua-2 training data.

Texts are cut into chunks of at most ``max_chunk_tokens`` Mistral tokens at sentence ends;
each chunk is sent to a chat model (``mistral-large-latest`` by default) with an
instruction to delete words only. Results go to a JSONL file, one record per chunk
(``id``, ``source_id``, ``chunk``, ``prompt``, ``compressed_prompt``, ``model``), written as
they arrive: a run that stops can be started again and skips the chunks already there.
Requests run concurrently under a requests-per-second limit, with retries and backoff on
rate limits, server errors and network errors.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm

from ..api import MistralAPI, MistralAPIError, RetryPolicy
from ..credentials import Secret, optional_secret
from ..progress import tqdm_disable
from ..text.sentences import split_sentences
from ..tokenization import MistralTextTokenizer, load_tokenizer
from ..text.words import chunk_bounds, split_words, word_of_tokens
from ..validate import check_finite, check_positive_int
from .records import read_jsonl

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "mistral-large-latest"

SYSTEM_PROMPT = """\
You shorten texts for another language model by deleting words, like a careful editor \
crossing words out with a pen.

Rules:
1. Only delete. Never add, replace, reorder, abbreviate, paraphrase or correct a word.
2. Every word you output appears in the input, spelled exactly as there, in the same order.
3. Keep what carries the meaning: names, numbers, dates, quantities, places, technical \
terms, negations, and the words that state facts, decisions and actions.
4. Delete filler: greetings, hedges, repetitions, discourse markers, and function words \
the meaning survives without.
5. Keep line breaks where they separate items or speakers.
6. Output only the shortened text: no title, no quotes, no explanation."""

USER_TEMPLATE = """\
Shorten the text below as much as you can while keeping all of its information, by \
deleting words only.

Text:
{text}"""


@dataclass
class CollectConfig:
    """Settings of a collection run.

    ``requests_per_second`` caps request starts across all workers; ``concurrency`` caps
    requests in flight. ``max_attempts``, ``initial_backoff`` and ``max_backoff`` (seconds)
    set the retries on 429, 5xx and network errors; ``timeout_ms`` is the deadline of each
    chunk's request, retries and waits included. ``api_key`` (default: ``MISTRAL_API_KEY``)
    is held as a :class:`~llmlingstral.credentials.Secret`, shown in no repr or message.
    """

    model: str = DEFAULT_MODEL
    max_chunk_tokens: int = 512
    tokenizer: str = "v3"
    concurrency: int = 4
    requests_per_second: float = 1.0
    max_attempts: int = 6
    initial_backoff: float = 2.0
    max_backoff: float = 60.0
    temperature: float = 0.3
    max_tokens: int | None = 2048
    api_key: Secret | None = None
    server_url: str | None = None
    timeout_ms: int = 120_000
    show_progress: bool = True

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "api_key":  # however it is set, the key is kept masked
            value = optional_secret(value)
        super().__setattr__(name, value)

    def validate(self) -> None:
        """A TypeError for a setting of the wrong type, a ValueError for one out of range
        (NaN and infinity included)."""
        for name in ("max_chunk_tokens", "concurrency", "max_attempts", "timeout_ms"):
            check_positive_int(name, getattr(self, name))
        if self.max_tokens is not None:
            check_positive_int("max_tokens", self.max_tokens, "or None for the model's limit")
        check_finite("requests_per_second", self.requests_per_second)
        check_finite("initial_backoff", self.initial_backoff, allow_zero=True)
        check_finite("max_backoff", self.max_backoff, allow_zero=True)
        check_finite("temperature", self.temperature, allow_zero=True)
        if not isinstance(self.model, str) or not self.model:
            raise ValueError("model must name a Mistral chat model, e.g. mistral-large-latest")


@dataclass(frozen=True)
class CollectStats:
    """What a run did: chunks found, skipped (already in the output), written and failed."""

    chunks: int
    skipped: int
    written: int
    failed: int


# --------------------------------------------------------------------------- chunking


def chunk_text(text: str, tokenizer: MistralTextTokenizer, max_tokens: int = 512) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_tokens`` tokens, at sentence ends.

    A sentence longer than the limit is cut between words. Whitespace-only pieces are left
    out; otherwise joining the pieces gives the text back.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens!r}")
    pieces: list[str] = []
    for sentence in split_sentences(text):
        pieces.extend(_split_long(sentence, tokenizer, max_tokens))
    chunks: list[str] = []
    current, current_tokens = "", 0
    for piece, tokens in zip(pieces, tokenizer.count_batch(pieces) if pieces else []):
        if current and current_tokens + tokens > max_tokens:
            chunks.append(current)
            current, current_tokens = "", 0
        current += piece
        current_tokens += tokens
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def _split_long(sentence: str, tokenizer: MistralTextTokenizer, max_tokens: int) -> list[str]:
    """A sentence over the limit, cut between words (inside a word only if it alone is)."""
    encoding = tokenizer.encode_with_offsets(sentence)
    if len(encoding.ids) <= max_tokens:
        return [sentence]
    words = split_words(sentence)
    starts = np.array([s for s, _ in encoding.offsets], dtype=np.int64)
    # One token of slack: a piece starting with a space may gain a token when encoded alone.
    bounds = chunk_bounds(words, word_of_tokens(words, starts), max(1, max_tokens - 1), ())
    cuts = [0] + [int(starts[first]) for first, _ in bounds[1:]] + [len(sentence)]
    return [sentence[a:b] for a, b in zip(cuts, cuts[1:]) if a < b]


# --------------------------------------------------------------------------- requests


def build_messages(chunk: str) -> list[dict[str, str]]:
    """The chat messages asking for an extractive compression of ``chunk``."""
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_TEMPLATE.format(text=chunk)}]


def clean_completion(text: str) -> str:
    """The compressed text without wrappers a model sometimes adds (fences, labels, quotes)."""
    text = text.strip()
    fence = re.fullmatch(r"```[\w-]*\n(.*?)\n?```", text, flags=re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    text = re.sub(r"^(shortened|compressed) text\s*:\s*", "", text, flags=re.IGNORECASE)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def completion_text(response: Any) -> str:
    """The text of a chat completion response (string or list-of-chunks content)."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise MistralAPIError("the chat endpoint returned no choices")
    content = getattr(choices[0].message, "content", None)
    if isinstance(content, list):
        content = "".join(getattr(part, "text", "") or "" for part in content)
    return content or ""


class RateLimiter:
    """Spaces request starts at least ``1 / rate`` seconds apart, across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / check_finite("requests_per_second", rate)
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def compress_chunk(api: MistralAPI, chunk: str, config: CollectConfig,
                   limiter: RateLimiter | None = None) -> str:
    """Ask the chat model for an extractive compression of one chunk."""
    if limiter is not None:
        limiter.acquire()
    options: dict[str, Any] = {"temperature": config.temperature}
    if config.max_tokens:
        options["max_tokens"] = config.max_tokens
    response = api.chat(build_messages(chunk), config.model, accept=_compression_problem,
                        **options)
    return clean_completion(completion_text(response))


def _compression_problem(response: Any) -> str | None:
    """Why a chat reply holds no compression (no choices, null or empty text), or None."""
    try:
        text = clean_completion(completion_text(response))
    except MistralAPIError as error:
        return str(error)
    return None if text.strip() else "the reply holds no text (null or empty content)"


# --------------------------------------------------------------------------- runs


def iter_chunks(sources: Iterable[dict[str, Any]], tokenizer: MistralTextTokenizer,
                max_tokens: int) -> Iterator[dict[str, Any]]:
    """Chunk records (``id``, ``source_id``, ``chunk``, ``prompt``) of source records.

    A source record holds ``text`` (or ``prompt``) and optionally ``id``.
    """
    for index, source in enumerate(sources):
        text = source.get("text", source.get("prompt"))
        if not isinstance(text, str):
            raise ValueError(f"source record {index} needs a 'text' (or 'prompt') string")
        source_id = str(source.get("id", index))
        for k, chunk in enumerate(chunk_text(text, tokenizer, max_tokens)):
            yield {"id": f"{source_id}#{k}", "source_id": source_id, "chunk": k, "prompt": chunk}


def done_ids(output: Path) -> set[str]:
    """Ids already in an output file (a half-written last line is ignored)."""
    if not output.is_file():
        return set()
    ids = set()
    with output.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                ids.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return ids


def repair_tail(output: Path) -> None:
    """Cut a half-written last line (from an interrupted run) so appends stay valid JSONL."""
    if not output.is_file() or output.stat().st_size == 0:
        return
    data = output.read_bytes()
    if data.endswith(b"\n"):
        return
    output.write_bytes(data[:data.rfind(b"\n") + 1])


def collect(sources: Iterable[dict[str, Any]], output: str | os.PathLike,
            config: CollectConfig | None = None, *, api: MistralAPI | None = None) -> CollectStats:
    """Compress every chunk of ``sources`` with the chat model and append them to ``output``.

    Chunks whose id is already in ``output`` are skipped, so an interrupted run resumes.
    A chunk that still fails after the retries is left out (a later run retries it);
    authentication errors stop the run.
    """
    config = config or CollectConfig()
    config.validate()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    repair_tail(output)
    tokenizer = load_tokenizer(config.tokenizer)
    chunks = list(iter_chunks(sources, tokenizer, config.max_chunk_tokens))
    finished = done_ids(output)
    todo = [c for c in chunks if c["id"] not in finished]
    if api is None:
        api = MistralAPI(config.api_key, server_url=config.server_url, timeout_ms=config.timeout_ms,
                         retry=RetryPolicy(config.max_attempts, config.initial_backoff,
                                           config.max_backoff))
    written, failed = _run(api, todo, output, config)
    return CollectStats(len(chunks), len(chunks) - len(todo), written, failed)


def _run(api: MistralAPI, todo: list[dict[str, Any]], output: Path,
         config: CollectConfig) -> tuple[int, int]:
    limiter = RateLimiter(config.requests_per_second)
    written = failed = 0
    progress = tqdm(total=len(todo), desc="collecting", unit="chunk",
                    disable=True if not todo else tqdm_disable(config.show_progress))
    pending: dict[Future, dict[str, Any]] = {}
    queue = iter(todo)
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool, \
            output.open("a", encoding="utf-8") as handle:
        try:
            while True:
                while len(pending) < config.concurrency * 2:
                    chunk = next(queue, None)
                    if chunk is None:
                        break
                    pending[pool.submit(compress_chunk, api, chunk["prompt"], config,
                                        limiter)] = chunk
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    chunk = pending.pop(future)
                    ok = _write_result(handle, future, chunk, config.model)
                    written += ok
                    failed += not ok
                    progress.update(1)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        finally:
            progress.close()
    return written, failed


def _write_result(handle, future: Future, chunk: dict[str, Any], model: str) -> bool:
    try:
        compressed = future.result()
    except MistralAPIError as error:
        if error.status_code in (401, 403):
            raise
        logger.warning("chunk %s failed: %s", chunk["id"], error)
        return False
    handle.write(json.dumps({**chunk, "compressed_prompt": compressed, "model": model},
                            ensure_ascii=False) + "\n")
    handle.flush()
    return True


def read_sources(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Source texts from a JSONL file (``text``/``prompt`` and ``id`` fields), a text file,
    or a folder of ``.txt`` files (one text per file, the file name as id)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise ValueError(f"{path} holds no .txt files")
        return [{"id": f.stem, "text": f.read_text(encoding="utf-8")} for f in files]
    if path.suffix == ".jsonl":
        return list(read_jsonl(path))
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    return [{"id": path.stem, "text": path.read_text(encoding="utf-8")}]
