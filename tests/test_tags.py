"""The <llmlingua ...> tag parser (tags.py): attributes, text with angle brackets, errors."""

from __future__ import annotations

import pytest

from llmlingstral.prompt import Segment as TaggedSegment
from llmlingstral.tags import parse_tags as parse_structured

CODE = 'if a < b and "<div>" in html: return "<tag>"  # keep me'


def test_parse_tags_attributes_in_any_order_and_text_with_angle_brackets():
    text = (f"intro <llmlingua, compress=False>{CODE}</llmlingua> middle "
            f"<llmlingua, rate=0.3, compress=True>squeeze</llmlingua>"
            f"<llmlingua compress=true rate='0.6'>x < y</llmlingua><llmlingua>plain</llmlingua>")
    segments = parse_structured(text)
    assert "".join(s.text for s in segments) == \
        f"intro {CODE} middle squeezex < yplain"
    # Whitespace travels with the word after it, into the verbatim segment here.
    assert segments[0].text == "intro" and segments[1] == TaggedSegment(" " + CODE, None, False)
    assert [(s.rate, s.compress) for s in segments[2:]] == \
        [(None, True), (0.3, True), (0.6, True), (None, True)]


@pytest.mark.parametrize("text,match", [
    ("a <llmlingua, rate=0.5>b", "never closed"),
    ("a </llmlingua> b", "no matching <llmlingua>"),
    ("<llmlingua>a<llmlingua>b</llmlingua></llmlingua>", "cannot nest"),
    ("<llmlingua, ratio=0.5>a</llmlingua>", "unknown attribute 'ratio'"),
    ("<llmlingua, rate=1.5>a</llmlingua>", r"rate='1.5'.*\(0, 1\]"),
    ("<llmlingua, rate=abc>a</llmlingua>", "rate='abc'"),
    ("<llmlingua, compress=maybe>a</llmlingua>", "compress='maybe'"),
    ("<llmlingua, rate>a</llmlingua>", "malformed attribute"),
    ("<llmlingua>a</llmlingua, rate=0.2>", "takes no attributes"),
])
def test_malformed_tags_raise_a_clear_error(text, match):
    with pytest.raises(ValueError, match=match):
        parse_structured(text)
