"""The kept character ranges the methods report (``result.kept``), which the service's spans
are built from: they must locate exactly the text the compressor kept."""

from __future__ import annotations

import pytest

from multilingual import PARAGRAPHS
from texts import documents

from llmlingstral.kept import (block_ranges, cut, lstripped, merged, prompt_kept, seamed,
                               through)


# --------------------------------------------------------------------------- range helpers


def test_through_carries_ranges_of_a_filtered_text_back_to_the_original():
    original = "one two. three four. five six."
    pieces = [(0, 9), (21, 30)]  # "one two. " and "five six.": the middle sentence dropped
    filtered = cut(original, pieces)
    ranges = [(4, 8), (9, 13), (14, 18)]  # "two.", "five", "six."
    assert [filtered[a:b] for a, b in ranges] == ["two.", "five", "six."]
    mapped = through(ranges, pieces)
    assert [original[a:b] for a, b in mapped] == ["two.", "five", "six."]
    # a range across the cut between two pieces splits in two
    assert through([(4, 13)], pieces) == [(4, 9), (21, 25)]


def test_seamed_keeps_two_pieces_apart_only_where_they_would_read_as_one():
    text = "价格是100元和200元。用Python和Java开发。"
    assert seamed(text, [(3, 6), (8, 11)]) == "100 200"
    assert seamed(text, [(3, 7), (8, 12)]) == "100元200元"
    assert seamed(text, [(14, 20), (21, 25)]) == "Python Java"
    assert seamed(text, [(0, 3), (3, 6)]) == "价格是100"  # touching: nothing was dropped
    assert seamed(text, [(0, 0), (3, 6)]) == "100"
    assert seamed("one two three", [(0, 3), (7, 13)]) == "one three"


def test_merged_and_lstripped():
    assert merged([(5, 7), (0, 2), (2, 3), (4, 4)]) == [(0, 3), (5, 7)]
    assert lstripped("  a b", [(0, 1), (1, 3), (4, 5)]) == [(2, 3), (4, 5)]
    assert lstripped("   ", [(0, 3)]) == []


def test_prompt_ranges_keep_one_blank_line_before_each_shown_part():
    texts = ["alpha beta", "", "gamma", "delta"]
    block = block_ranges(texts, {0: [(6, 10)], 3: [(0, 5)]})
    kept = prompt_kept("Read.", texts, "Why?", block)
    assert kept.source == "Read.\n\nalpha beta\n\n\n\ngamma\n\ndelta\n\nWhy?"
    assert cut(kept.source, kept.ranges) == "Read.\n\nbeta\n\ndelta\n\nWhy?"
    hidden = prompt_kept("Read.", texts, "Why?", block, show_instruction=False,
                         show_question=False)
    assert cut(hidden.source, hidden.ranges) == "beta\n\ndelta"


# --------------------------------------------------------------------------- methods


def _check(result, source):
    kept = result.kept
    assert kept.source == source
    assert list(kept.ranges) == merged(kept.ranges)  # sorted, disjoint, in the text
    assert all(0 <= a < b <= len(source) for a, b in kept.ranges)
    assert seamed(source, kept.ranges) == result["compressed_prompt"]


REPEATED = {
    "en": "the cat saw the dog and the dog saw the cat. " * 3,
    "zh": PARAGRAPHS["zh"] + PARAGRAPHS["zh"][:30],
    "ja": PARAGRAPHS["ja"][:80] * 2,
    "fr": "Le chat voit le chien et le chien voit le chat. " * 3,
}


@pytest.mark.parametrize("language", sorted(REPEATED))
@pytest.mark.parametrize("options", [
    {}, {"use_sentence_level_filter": True}, {"use_token_level_filter": False,
                                              "use_sentence_level_filter": True},
    {"force_tokens": ["dog", "chien", "灯"], "force_reserve_digit": True},
], ids=["tokens", "sentences+tokens", "sentences", "force"])
def test_llmlingua_ranges_are_the_compressed_prompt(nano, language, options):
    text = REPEATED[language]
    result = nano.compress_prompt([text, PARAGRAPHS["en"]], instruction="Read this.",
                                    question="Who saw whom?", rate=0.4, **options)
    _check(result, f"Read this.\n\n{text}\n\n{PARAGRAPHS['en']}\n\nWho saw whom?")


@pytest.mark.parametrize("language", sorted(REPEATED))
@pytest.mark.parametrize("options", [
    {}, {"force_tokens": ["\n", "dog", "的"], "drop_consecutive": True},
    {"use_context_level_filter": True, "target_context": 1},
    {"keep_threshold": 0.5},
], ids=["rate", "force", "context-filter", "threshold"])
def test_llmlingua2_ranges_are_the_compressed_prompt(nano_lingua2, language, options):
    text = REPEATED[language].replace(". ", ".\n", 2)
    result = nano_lingua2.compress_prompt_llmlingua2([text, PARAGRAPHS["en"]], rate=0.4,
                                                   instruction="Read this.",
                                                   question="Who saw whom?", **options)
    _check(result, f"Read this.\n\n{text}\n\n{PARAGRAPHS['en']}\n\nWho saw whom?")


def test_llmlingua2_through_compress_prompt_drops_instruction_and_question(nano_lingua2):
    # llmlingua's LLMLingua-2 result holds the contexts alone; the source still has both.
    result = nano_lingua2.compress_prompt(["a b a b a b", "", "b a b a"], instruction="Do.",
                                        question="Why?", rate=0.5)
    _check(result, "Do.\n\na b a b a b\n\n\n\nb a b a\n\nWhy?")


def test_question_left_out_and_prompt_unchanged(nano):
    docs = documents(2, 300)
    result = nano.compress_prompt(docs, question="Why?", rate=0.5, concate_question=False)
    _check(result, "\n\n".join(docs + ["Why?"]))
    result = nano.compress_prompt(["x", "", "y"], question="Why?", rate=1.0)
    _check(result, "x\n\n\n\ny\n\nWhy?")


def test_longllmlingua_reordered_contexts_keep_their_own_ranges(nano):
    docs = [f"Document {i}. The festival takes place in Lyon. " + d
            for i, d in enumerate(documents(4, 250))]
    result = nano.compress_prompt(docs, question="Where is the festival?", rate=0.5,
                                    rank_method="bm25", reorder_context="sort",
                                    condition_in_question="after_condition",
                                    dynamic_context_compression_ratio=0.3)
    source = "\n\n".join(docs + ["Where is the festival?"])
    assert result.kept.source == source
    starts = [sum(len(d) + 2 for d in docs[:i]) for i in range(len(docs))]
    for index, text in zip(result["kept_context_ids"], result["compressed_contexts"]):
        inside = [(max(a, starts[index]), min(b, starts[index] + len(docs[index])))
                  for a, b in result.kept.ranges]
        assert cut(source, [(a, b) for a, b in inside if a < b]) == text
    assert result["kept_context_ids"] != sorted(result["kept_context_ids"])


def test_structured_and_protected_text(nano):
    context = "alpha beta gamma <llmlingua, compress=False>alpha beta</llmlingua> delta " * 4
    result = nano.structured_compress_prompt(context, rate=0.3)
    from llmlingstral.tags import parse_tags

    source = "".join(s.text for s in parse_tags(context))
    _check(result, source)


def test_the_result_keys_are_unchanged(nano):
    result = nano.compress_prompt("the cat saw the dog " * 10, rate=0.5)
    assert set(result) == {"compressed_prompt", "origin_tokens", "compressed_tokens", "ratio",
                           "rate", "saving", "kept_context_ids", "compressed_contexts", "dtype"}
    assert isinstance(result, dict) and result.kept is not None
