"""The kept spans the service reports (serve/spans.py, engine.result_spans): they cover the
original text and follow the compressed words."""

from __future__ import annotations

from llmlingstral.serve.spans import kept_spans


def _kept(spans):
    return [s["text"] for s in spans if s["kept"]]


def test_spans_cover_the_original_and_follow_the_compressed_words():
    original = "The cat sat on the mat. It was a warm day."
    spans = kept_spans(original, "cat sat mat. warm day.")
    assert "".join(s["text"] for s in spans) == original
    assert _kept(spans) == ["cat sat", "mat.", "warm day."]
    assert all(original[s["start"]:s["end"]] == s["text"] for s in spans)


def test_spans_follow_documents_that_were_reordered():
    original = "alpha beta gamma delta\n\nthe river runs east\n\nthe lake is cold"
    spans = kept_spans(original, "lake cold\n\nalpha gamma")
    assert _kept(spans) == ["alpha", "gamma", "lake", "cold"]


def test_spans_of_text_without_spaces_are_per_character():
    original = "委员会批准了新预算。東京は日本の首都です。กรุงเทพมหานคร"
    spans = kept_spans(original, "委员会预算東京首都กรุงเทพ")
    assert _kept(spans) == ["委员会", "预算", "東京", "首都", "กรุงเทพ"]


def test_spans_for_nothing_kept_and_everything_kept():
    assert kept_spans("some words here", "") == [
        {"start": 0, "end": 15, "text": "some words here", "kept": False}]
    assert _kept(kept_spans("Ça coûte 12,50 € !", "Ça coûte 12,50 € !")) == \
        ["Ça coûte 12,50 € !"]
    assert kept_spans("", "anything") == []


def test_spans_follow_the_reported_ranges_else_the_alignment():
    from llmlingstral.prompt import CompressionResult, KeptText
    from llmlingstral.serve.engine import result_spans

    original = "the cat saw the dog"
    result = CompressionResult(compressed_prompt="the dog")
    result.kept = KeptText(original, ((12, 19),))
    assert [(s["start"], s["text"]) for s in result_spans(original, result) if s["kept"]] == \
        [(12, "the dog")]
    # ranges of another text, or none (JSON results): aligned word by word, which takes
    # the first "the"
    for fallback in (dict(result), _with_kept(result, KeptText("the dog", ((0, 7),)))):
        spans = result_spans(original, fallback)
        assert "".join(s["text"] for s in spans) == original
        assert [s["start"] for s in spans if s["kept"]][0] == 0


def _with_kept(result, kept):
    from llmlingstral.prompt import CompressionResult

    copy = CompressionResult(result)
    copy.kept = kept
    return copy
