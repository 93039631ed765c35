"""How the proxy compresses one text of a conversation: chunks, questions, the
question-aware call and JSON tool results (real tokenizers and the embedded models)."""

from __future__ import annotations

import json

import pytest

from multilingual import PARAGRAPHS

from llmlingstral.execution.batch import compress_requests
from llmlingstral.text.sentences import split_sentences
from llmlingstral.serve.message_compression import (CHUNK_CHARS, JSON_MIN_TOKENS, QUESTION_CHARS,
                                                    MessageText, _rejoined, chunks,
                                                    compress_json_text, is_json, library_call,
                                                    question_of)

SCRIPTS = ("en", "zh", "ja", "th", "ar", "ru")


def records(count: int, lang_note: str = "") -> str:
    return "\n".join(f"Record {i}. Order ORD-{1000 + i} left Lyon with Cobalt Express and was "
                     f"signed for by Courier{i} Lastname{i}; the driver noted a delay at the "
                     f"border.{lang_note}" for i in range(count))


@pytest.mark.parametrize("lang", SCRIPTS)
def test_chunks_join_back_to_the_text_in_every_script(lang):
    text = "\n\n  " + "\n".join([PARAGRAPHS[lang]] * 4) + "\n"
    pairs = chunks(text)
    assert "".join(body + after for body, after in pairs) == text.lstrip()
    assert all(body and body == body.strip() and not after.strip() for body, after in pairs)
    assert len(pairs) >= 2
    # a chunk is longer than CHUNK_CHARS only when it is one sentence
    assert all(len(body) <= CHUNK_CHARS or len(split_sentences(body)) == 1
               for body, _ in pairs)


def test_the_question_is_the_tail_of_a_long_user_message():
    assert question_of("  Who signed?  ") == "Who signed?"
    long = "word " * 2000 + "Who signed for order ORD-1017?"
    question = question_of(long)
    assert question.endswith("Who signed for order ORD-1017?")
    assert len(question) <= QUESTION_CHARS and question.startswith("word")


def test_what_counts_as_json():
    assert is_json('{"a": [1, "x"]}') and is_json("[1, 2]") and is_json('"text"')
    assert not is_json("Order ORD-1 shipped.") and not is_json("{'a': 1}")
    assert not is_json("[" * 150 + "]" * 150)  # deeper than the JSON path accepts


def test_with_a_question_llmlingua2_keeps_the_best_chunk_whole(nano_lingua2):
    text = records(30)
    message = MessageText(text, "text", "llmlingua2", 0.4, "Who signed for order ORD-1017?")
    call = library_call(message, nano_lingua2.tokenizer)
    verbatim = [i for i, (flag,) in enumerate(call.kwargs["context_segs_compress"]) if not flag]
    assert len(verbatim) == 1 and "ORD-1017" in call.pairs[verbatim[0]][0]
    result = compress_requests(nano_lingua2, [call.kwargs])[0]
    compressed = _rejoined(call.pairs, result)
    assert "signed for by Courier17 Lastname17" in compressed
    tokens = nano_lingua2.tokenizer.count(compressed) / nano_lingua2.tokenizer.count(text)
    assert 0.3 < tokens < 0.5
    blind = library_call(MessageText(text, "text", "llmlingua2", 0.4), nano_lingua2.tokenizer)
    assert blind.pairs == [] and blind.kwargs["context"] == [text]


@pytest.mark.parametrize("lang", ["zh", "th", "ar"])
def test_a_question_sharing_no_word_keeps_nothing_whole(nano_lingua2, lang):
    text = "\n".join([PARAGRAPHS[lang]] * 6)
    message = MessageText(text, "text", "llmlingua2", 0.5, "Wer hat unterschrieben?")
    call = library_call(message, nano_lingua2.tokenizer)
    assert all(flag for (flag,) in call.kwargs["context_segs_compress"])
    result = compress_requests(nano_lingua2, [call.kwargs])[0]
    compressed = _rejoined(call.pairs, result)
    assert compressed and nano_lingua2.tokenizer.count(compressed) < \
        nano_lingua2.tokenizer.count(text)


def test_tagged_text_and_the_causal_lm_calls(nano):
    tagged = MessageText("<llmlingua, rate=0.3>" + records(5) + "</llmlingua>", "tagged",
                         "llmlingua", 0.5, None)
    assert library_call(tagged, nano.tokenizer).method == "structured"
    asked = MessageText(records(12), "text", "llmlingua", 0.5, "Who signed for ORD-1003?")
    call = library_call(asked, nano.tokenizer)
    assert call.method == "longllmlingua" and call.kwargs["question"] == asked.question
    assert call.kwargs["reorder_context"] == "original" and not call.kwargs["concate_question"]


def _shape(value):
    """The structure of a JSON value: keys, list lengths and every non-string value."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return "<str>" if isinstance(value, str) else value


def test_json_tool_results_stay_valid_json_with_every_key(nano_lingua2):
    data = {"query": "orders", "count": 3, "ok": True, "missing": None,
            "results": [{"id": f"ord_{i}", "status": "shipped", "weight_kg": 12.5 + i,
                         "notes": PARAGRAPHS[lang], "tags": ["fragile", PARAGRAPHS["en"]]}
                        for i, lang in enumerate(SCRIPTS)],
            "a.b": PARAGRAPHS["fr"], "a": {"b": PARAGRAPHS["de"]}}
    text = json.dumps(data, ensure_ascii=False, indent=2)
    compressed, origin, kept = compress_json_text(nano_lingua2, text, 0.4)
    result = json.loads(compressed)
    assert _shape(result) == _shape(data)
    assert result["results"][2]["id"] == "ord_2" and result["results"][0]["status"] == "shipped"
    for before, after in ((data["a.b"], result["a.b"]), (data["a"]["b"], result["a"]["b"]),
                          (data["results"][1]["notes"], result["results"][1]["notes"])):
        assert len(after) < len(before)
    assert 0 < kept < origin


def test_json_with_nothing_long_enough_is_left_as_it_is(nano_lingua2):
    text = json.dumps({"id": "ord_1", "values": [1, 2, 3], "status": "ok"})
    assert compress_json_text(nano_lingua2, text, 0.3) == (text, 0, 0)
    assert compress_json_text(nano_lingua2, "42", 0.3) == ("42", 0, 0)
    short = "Shipped on time."
    assert nano_lingua2.tokenizer.count(short) < JSON_MIN_TOKENS
    long_string = json.dumps(PARAGRAPHS["ja"] * 2, ensure_ascii=False)
    compressed, _, _ = compress_json_text(nano_lingua2, long_string, 0.4)
    assert isinstance(json.loads(compressed), str) and len(compressed) < len(long_string)


def test_protection_reaches_every_call_and_is_part_of_the_key(nano_lingua2):
    from llmlingstral.serve.config import ServeConfig
    from llmlingstral.serve.engine import Engine
    from llmlingstral.serve.message_compression import message_key
    from llmlingstral.serve.metrics import Metrics
    from llmlingstral.text.protect import Protection

    engine = Engine(ServeConfig(), Metrics())
    text = records(12)
    keys = set()
    for protect in (True, False, Protection().only("numbers")):
        for question in (None, "Who signed for ORD-1003?"):
            message = MessageText(text, "text", "llmlingua2", 0.5, question, protect)
            assert library_call(message, nano_lingua2.tokenizer).kwargs["protect"] is protect
            keys.add(message_key(message, engine))
    assert len(keys) == 6
