"""Word units for token classifiers: joining kept words, protected spans as groups, clusters."""

from __future__ import annotations

import numpy as np
import pytest

from llmlingstral.text.protect import Protection, protected_spans
from llmlingstral.text.scripts import cluster_starts
from llmlingstral.text.words import join_kept, kept_ranges, span_groups, split_words


def keep_only(text: str, wanted: list[str]) -> str:
    """``text`` joined from the words listed in ``wanted`` (each word kept where it is)."""
    words = split_words(text)
    keep = np.array([w in wanted for w in words.as_list()])
    return join_kept(words, keep)


@pytest.mark.parametrize("text, wanted, expected", [
    ("价格是100元和200元。", ["100", "200"], "100 200"),
    ("用Python和Java开发。", ["Python", "Java"], "Python Java"),
    ("会议于2024年9月12日", ["9", "12"], "9 12"),
    ("三十岁和五十岁", ["三", "十", "五"], "三十 五十"),  # without offsets: one word a character
])
def test_dropped_words_leave_a_seam_where_the_pieces_would_read_as_one(text, wanted,
                                                                       expected):
    words = split_words(text)
    assert set(wanted) <= set(words.as_list()), words.as_list()
    assert keep_only(text, wanted) == expected


@pytest.mark.parametrize("text, wanted, expected", [
    ("港口节在六月开幕。", ["港", "口", "六", "月"], "港口六月"),  # Han characters: no seam
    ("The cat, the dog.", ["cat", ",", "dog"], "cat, dog"),  # spaces come from the text
    ("价格是100元。", ["100", "元"], "100元"),                 # nothing dropped between
])
def test_no_seam_where_the_join_reads_as_the_input_did(text, wanted, expected):
    assert keep_only(text, wanted) == expected


def test_seams_come_from_no_range_of_the_text():
    text = "价格是100元和200元。"
    words = split_words(text)
    keep = np.array([w in ("100", "200") for w in words.as_list()])
    assert [text[a:b] for a, b in kept_ranges(words, keep)] == ["100", "200"]


def test_words_of_one_protected_span_form_one_group():
    text = "他身高一百八十厘米，今年三十岁。The bus leaves at 11:40 pm sharp."
    words = split_words(text)
    spans = protected_spans(text)
    group = span_groups(words, spans)
    by_group: dict[int, str] = {}
    for index in np.flatnonzero(group >= 0):
        by_group.setdefault(int(group[index]), "")
        by_group[int(group[index])] += text[words.span_starts[index]:words.ends[index]]
    assert sorted(by_group.values()) == sorted(["一百八十厘米", "三十岁", " 11:40 pm"])
    assert (group[[w == "sharp" for w in words.as_list()]] == -1).all()


def test_a_word_across_two_spans_joins_them():
    text = "ab cd"  # one word per span edge: "ab" overlaps both spans below
    words = split_words(text)
    from llmlingstral.text.protect import Span

    group = span_groups(words, [Span(0, 1, "patterns"), Span(1, 2, "patterns"),
                                Span(3, 5, "patterns")])
    assert group.tolist() == [0, 1]
    assert span_groups(words, []).tolist() == [-1, -1]
    force = protected_spans("x\ny", Protection.off(force_tokens=["\n"]))
    spaced = split_words("x\ny", space_tokens=["\n"])
    assert (span_groups(spaced, force) == -1).all()  # whitespace words never join a group


@pytest.mark.parametrize("text", ["(\u0301abc) ok", "ﾊﾞｽは１２時に出発", "กินข้าวแล้ว",
                                  "«\u0308x» 👍🏽 e\u0301t\u00e9"])
def test_word_edges_never_cut_a_cluster(text):
    starts = set(cluster_starts(text))
    words = split_words(text)
    for i in range(len(words)):
        assert int(words.word_starts[i]) in starts and int(words.ends[i]) in starts, \
            words.as_list()
