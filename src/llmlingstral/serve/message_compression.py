"""How the proxy compresses one text of a conversation, and the key it is cached under.

A text is compressed one of three ways:

* **blind** (and any text holding ``<llmlingua>`` tags): the whole text as one context, as
  ``/v1/compress`` would (LLMLingua-2, or the structured LLMLingua call that reads tags);
* **with a question**: the text is cut into chunks of a few sentences, and the question
  (the last user message before the text in the conversation) guides the compression:
  LongLLMLingua's question-conditioned ranking and token scoring for the causal LM; for
  LLMLingua-2, the chunks that match the question best (bm25) are kept whole and the others
  compressed harder, to the same overall rate. The kept chunks are joined with the line
  breaks and spaces that followed them in the original;
* **JSON** (a ``tool`` message whose content parses as JSON): every string of at least
  :data:`JSON_MIN_TOKENS` tokens is compressed through ``compress_json``, with its path as
  its label; shorter strings (identifiers, names, statuses), numbers, keys and the
  structure stay as they are, so the result is valid JSON with every key.

The question of a text never changes once the conversation moves on, so it is part of
the cache key (:func:`message_key`) and the compressed text stays the same on every turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..recipes import LONGLLMLINGUA
from .engine import Engine, model_setting
from .jobs import CompressJob

# The question is the tail of the user message: its end is where a request is usually asked.
QUESTION_CHARS = 2000
# A chunk gathers sentences up to this many characters (one longer sentence is one chunk).
CHUNK_CHARS = 400
# JSON strings shorter than this (Mistral tokens) are kept whole.
JSON_MIN_TOKENS = 10
# LLMLingua-2 with a question keeps whole the chunks that match it best (bm25: no model, so
# it costs little per chunk), at most this many, within this share of the token budget.
VERBATIM_CHUNKS = 3
VERBATIM_SHARE = 0.25
# The LongLLMLingua recipe with the chunks of one message kept in their order and the
# question left out of the result; the chunks are ranked by the model's own scores (the
# setting the conversation benchmark measured), not the recipe's hybrid ranking.
LONGLLMLINGUA_CONDITIONING = LONGLLMLINGUA.keywords({
    "rank_method": "longllmlingua", "reorder_context": "original", "concate_question": False})


@dataclass(frozen=True)
class MessageText:
    """One text to compress: ``kind`` is ``text``, ``tagged`` (holds ``<llmlingua>`` tags)
    or ``json``; ``question`` is None for blind compression; ``protect`` is what the
    methods keep whole (the service's ``protect`` setting)."""

    text: str
    kind: str
    method: str
    rate: float
    question: str | None = None
    protect: Any = True


def question_of(text: str) -> str:
    """The part of a user message used as the question: its last :data:`QUESTION_CHARS`
    characters, from a word boundary."""
    if len(text) <= QUESTION_CHARS:
        return text.strip()
    tail = text[-QUESTION_CHARS:]
    space = tail.find(" ")
    return (tail[space + 1:] if 0 <= space < QUESTION_CHARS // 4 else tail).strip()


def is_json(text: str) -> bool:
    """Whether ``text`` parses as JSON nested at most ``MAX_DEPTH`` levels (deeper JSON is
    compressed as plain text)."""
    from ..formats.json import MAX_DEPTH

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else \
            node if isinstance(node, list) else ()
        if children and depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def chunks(text: str) -> list[tuple[str, str]]:
    """``text`` cut into ``(chunk, whitespace after it)`` pairs of whole sentences, each
    chunk at most :data:`CHUNK_CHARS` characters unless one sentence is longer; joining
    every pair gives ``text`` less its leading whitespace."""
    from ..text.sentences import split_sentences

    pieces: list[str] = []
    for sentence in split_sentences(text.lstrip()):
        if pieces and (not sentence.strip() or len(pieces[-1]) + len(sentence) <= CHUNK_CHARS):
            pieces[-1] += sentence
        else:
            pieces.append(sentence)
    pairs = []
    for piece in pieces:
        body = piece.rstrip()
        pairs.append((body, piece[len(body):]))
    return pairs


def _rejoined(pairs: list[tuple[str, str]], result: dict[str, Any]) -> str:
    """The compressed chunks, each followed by the whitespace that followed it."""
    texts = dict(zip(result["kept_context_ids"], result["compressed_contexts"]))
    kept = [(texts[i].strip(), pairs[i][1]) for i in sorted(texts) if texts[i].strip()]
    return "".join(body + after for body, after in kept).rstrip()


# --------------------------------------------------------------------------- the call


@dataclass
class LibraryCall:
    """The ``/v1/compress`` method and keyword arguments that compress a text, and the
    chunks the text was cut into (empty: one context) to join the result back up."""

    method: str
    kwargs: dict[str, Any]
    pairs: list[tuple[str, str]]


def library_call(message: MessageText, tokenizer: Any) -> LibraryCall:
    """How ``message`` is compressed (JSON: see :func:`compress_json_text`). CPU work
    (sentences, ranking, counting): run it off the event loop."""
    if message.kind == "json":
        return LibraryCall("json", {}, [])
    pairs = chunks(message.text) if message.kind == "text" and message.question else []
    if message.method == "llmlingua2":
        if len(pairs) < 2:
            return LibraryCall("llmlingua2", {"context": [message.text], "rate": message.rate,
                                              "use_context_level_filter": False,
                                              "protect": message.protect}, [])
        texts = [c for c, _ in pairs]
        return LibraryCall("llmlingua2", {
            "context": texts, "use_context_level_filter": False,
            "context_segs": [[t] for t in texts], "protect": message.protect,
            **_verbatim_best(texts, message.question or "", message.rate, tokenizer)}, pairs)
    if not pairs:
        return LibraryCall("structured", {"context": [message.text], "rate": message.rate,
                                          "protect": message.protect}, [])
    return LibraryCall("longllmlingua", {
        "context": [c for c, _ in pairs], "rate": message.rate, "question": message.question,
        "protect": message.protect, **LONGLLMLINGUA_CONDITIONING}, pairs)


def _verbatim_best(texts: list[str], question: str, rate: float, tokenizer: Any
                   ) -> dict[str, Any]:
    """Question-aware LLMLingua-2 settings: the chunks that best match the question (bm25,
    at most :data:`VERBATIM_CHUNKS`, within :data:`VERBATIM_SHARE` of the token budget)
    are kept whole, and the others compressed harder so that the text meets ``rate``."""
    from ..ranking.bm25 import BM25Ranker

    counts = tokenizer.count_batch(texts)
    budget = rate * sum(counts)
    verbatim, used = set(), 0
    for index, score in BM25Ranker().rank(texts, question)[:VERBATIM_CHUNKS]:
        if score <= 0 or used + counts[index] > VERBATIM_SHARE * budget:
            break
        verbatim.add(index)
        used += counts[index]
    rest = sum(counts) - used
    rest_rate = min(1.0, max(0.01, (budget - used) / rest)) if rest else rate
    return {"rate": rate,
            "context_segs_compress": [[i not in verbatim] for i in range(len(texts))],
            "context_segs_rate": [[1.0 if i in verbatim else rest_rate]
                                  for i in range(len(texts))]}


# Everything besides the message that shapes the call (see library_call): in the key, so a
# change of recipe never serves results of the old one.
RECIPE = {"question_chars": QUESTION_CHARS, "chunk_chars": CHUNK_CHARS,
          "json_min_tokens": JSON_MIN_TOKENS, "verbatim_chunks": VERBATIM_CHUNKS,
          "verbatim_share": VERBATIM_SHARE, "longllmlingua": LONGLLMLINGUA_CONDITIONING,
          "version": 1}


def message_key(message: MessageText, engine: Engine) -> str:
    """The cache key of ``message``: its text, kind, method, rate, question and protection,
    the recipe of the call, and the model that runs it, with its dtype."""
    from ..protect_options import protection_spec
    from .message_cache import cache_key

    model = model_setting(message.method)
    fields = {"text": message.text, "kind": message.kind, "method": message.method,
              "rate": message.rate, "question": message.question,
              "protect": protection_spec(message.protect)}
    return cache_key({"model": engine.models()[model], "dtype": engine.dtypes()[model],
                      "message": fields, "recipe": RECIPE})


async def compress_message(engine: Engine, message: MessageText) -> str:
    """The compressed text of ``message`` (queued and timed like every compression job)."""
    if message.kind == "json":
        return await _compress_json(engine, message)
    tokenizer = engine.compressor_for(message.method).tokenizer
    call = await engine.scheduler.run(lambda: library_call(message, tokenizer), lane="prepare",
                                      cost=len(message.text))
    result = await engine.compress(CompressJob(call.method, call.kwargs, ""), with_spans=False)
    return _rejoined(call.pairs, result) if call.pairs else result["compressed_prompt"]


# --------------------------------------------------------------------------- JSON


async def _compress_json(engine: Engine, message: MessageText) -> str:
    compressor = engine.compressor_for(message.method)
    conditioned = message.question is not None and message.method == "llmlingua"
    text, origin, kept = await engine.scheduler.run(lambda: compress_json_text(
        compressor, message.text, message.rate, message.question or "", conditioned,
        message.protect), cost=len(message.text))
    engine.metrics.observe_tokens("json", origin, kept)
    return text


def compress_json_text(compressor: Any, text: str, rate: float, question: str = "",
                       conditioned: bool = False, protect: Any = True) -> tuple[str, int, int]:
    """``text`` (JSON) with its long strings compressed, and the token counts of those
    strings before and after; ``conditioned`` scores the words given the question
    (LongLLMLingua's token-level conditioning, causal LMs only)."""
    data = json.loads(text)
    leaves = _long_strings(data, compressor.tokenizer)
    if not leaves:
        return text, 0, 0
    flat = {label: value for label, (_, value) in leaves.items()}
    options = {"condition_in_question": "after_condition"} if conditioned and question else {}
    result = compressor.compress_json(flat, json_config={k: {"pair_remove": False}
                                                         for k in flat},
                                      rate=rate, question=question, protect=protect,
                                      **options)
    compressed = result["compressed_prompt"]
    paths = {path: compressed[label] for label, (path, _) in leaves.items()}
    rebuilt = json.dumps(_replaced(data, paths, ()), ensure_ascii=False)
    return rebuilt, int(result["origin_tokens"]), int(result["compressed_tokens"])


def _long_strings(data: Any, tokenizer: Any) -> dict[str, tuple[tuple, str]]:
    """``{label: (path, string)}`` of the strings worth compressing; the label is the
    string's path (``orders[2].note``), which the compressor reads as its context."""
    found: list[tuple[tuple, str, str]] = []
    stack: list[tuple[Any, tuple, str]] = [(data, (), "")]
    while stack:
        node, path, label = stack.pop()
        if isinstance(node, str):
            found.append((path, label or "value", node))
        elif isinstance(node, list):
            stack.extend((item, (*path, i), f"{label}[{i}]")
                         for i, item in reversed(list(enumerate(node))))
        elif isinstance(node, dict):
            stack.extend((item, (*path, key), f"{label}.{key}" if label else str(key))
                         for key, item in reversed(list(node.items())))
    counts = tokenizer.count_batch([s for _, _, s in found]) if found else []
    leaves: dict[str, tuple[tuple, str]] = {}
    for (path, label, value), count in zip(found, counts):
        if count >= JSON_MIN_TOKENS:
            unique, n = label, 1
            while unique in leaves:
                n += 1
                unique = f"{label}#{n}"
            leaves[unique] = (path, value)
    return leaves


def _replaced(node: Any, strings: dict[tuple, str], path: tuple) -> Any:
    """``node`` with the strings at the given paths replaced."""
    if isinstance(node, str):
        return strings.get(path, node)
    if isinstance(node, list):
        return [_replaced(item, strings, (*path, i)) for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {key: _replaced(item, strings, (*path, key)) for key, item in node.items()}
    return node
