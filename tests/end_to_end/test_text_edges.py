"""Text at the edges: scripts without spaces, broken Unicode, deep JSON, forced newlines,
broken tags, and properties that hold over hundreds of random texts."""

from __future__ import annotations

import random
import unicodedata

import pytest

import replicas
from llmlingstral import PromptCompressor, load_tokenizer
from llmlingstral.text.scripts import has_unspaced, split_span
from llmlingstral.text.units import split_units
from llmlingstral.text.words import split_words
from multilingual import PARAGRAPHS, UNSPACED

SURROGATE = "The festival \ud800 starts"


@pytest.fixture(scope="module")
def lingua2(tmp_path_factory):
    folder = replicas.mistral_token_classifier(tmp_path_factory.mktemp("tokcls_edges"))
    return PromptCompressor(str(folder), device_map="cpu", use_llmlingua2=True)


@pytest.fixture(params=["llmlingua", "llmlingua2"])
def any_compressor(request, compressor, lingua2):
    return compressor if request.param == "llmlingua" else lingua2


def is_deletion_of(output: str, source: str) -> bool:
    """Whether ``output`` is ``source`` with text deleted, where one space not from the
    source may stand between two kept pieces that text was dropped between (a seam)."""
    # The earliest place in ``source`` the rest may be matched from: after the text matched
    # so far (``free``), or after a seam, where a character must be dropped first.
    free, after_seam = 0, None
    for char in output:
        found = [source.find(char, start) for start in (free, after_seam)
                 if start is not None]
        found = [f for f in found if f >= 0]
        after_seam = free + 1 if char == " " and free is not None else None
        free = min(found) + 1 if found else None
        if free is None and after_seam is None:
            return False
    return free is not None


def test_is_deletion_of_allows_a_seam_only_where_text_was_dropped():
    assert is_deletion_of("100 200", "价格是100元和200元")
    assert is_deletion_of("one three", "one two three")
    assert not is_deletion_of("10 0", "价格是100元")
    assert not is_deletion_of("one four", "one two three")


# ----------------------------------------------------------------------------- pieces


def starts_a_cluster(text: str, position: int) -> bool:
    return unicodedata.category(text[position])[0] != "M"


@pytest.mark.parametrize("language", UNSPACED)
def test_unspaced_runs_are_cut_between_whole_characters(language):
    text = PARAGRAPHS[language]
    units = split_units(text)
    assert len(units) > 2 * len(text.split())
    assert "".join(text[a:b] for a, b in zip(units.starts, units.ends)) == text
    assert all(starts_a_cluster(text, int(a)) or text[a].isspace() for a in units.starts)


def test_clusters_stay_whole_in_thai_khmer_and_burmese():
    assert [("เทศกาล")[a:b] for a, b in split_span("เทศกาล", 0, 6)] == ["เท", "ศ", "ก", "า", "ล"]
    khmer = "បុណ្យ"  # the coeng (U+17D2) stacks the next consonant under the previous one
    assert [khmer[a:b] for a, b in split_span(khmer, 0, len(khmer))] == ["បុ", "ណ្យ"]
    burmese = "ပွဲတော်"
    pieces = [burmese[a:b] for a, b in split_span(burmese, 0, len(burmese))]
    assert pieces == ["ပွဲ", "တော်"] and "".join(pieces) == burmese


def test_half_width_voiced_marks_stay_on_their_kana():
    # U+FF9E / U+FF9F are letters by category but extend the kana before them (UAX #29).
    text = "ﾊﾞｽﾊﾟﾝ"
    assert [text[a:b] for a, b in split_span(text, 0, len(text))] == ["ﾊﾞ", "ｽ", "ﾊﾟ", "ﾝ"]


def test_words_of_spaced_scripts_inside_unspaced_text_stay_whole():
    text = "我们用iPhone15拍了3.14张照片"
    words = split_words(text).as_list()
    assert "iPhone15" in words and "3.14" in words and "我" in words
    assert split_words("Ünïcödé résumé naïve").as_list() == ["Ünïcödé", "résumé", "naïve"]
    assert not has_unspaced("Ünïcödé résumé naïve 한국어 العربية हिन्दी")


def test_pieces_snap_to_token_starts():
    tokenizer = load_tokenizer("tekken")
    text = PARAGRAPHS["ja"]
    encoding = tokenizer.encode_with_offsets(text)
    starts = {s for s, _ in encoding.offsets}
    words = split_words(text, token_starts=starts)
    assert set(words.word_starts.tolist()) <= starts | {0}
    assert len(words) > 40


# ----------------------------------------------------------------------------- unicode


CALLS = {
    "compress_prompt": lambda c: c.compress_prompt(SURROGATE, rate=0.5),
    "list": lambda c: c.compress_prompt(["fine text", SURROGATE], rate=0.5),
    "instruction": lambda c: c.compress_prompt("fine text here", instruction=SURROGATE),
    "question": lambda c: c.compress_prompt("fine text here", question=SURROGATE),
    "structured": lambda c: c.structured_compress_prompt(SURROGATE, rate=0.5),
    "json": lambda c: c.compress_json({"a": SURROGATE}, rate=0.5),
    "tokenizer": lambda c: c.tokenizer.count(SURROGATE),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_lone_surrogate_is_a_clear_value_error(any_compressor, call):
    with pytest.raises(ValueError, match="lone surrogate"):
        CALLS[call](any_compressor)


def test_a_lone_surrogate_in_a_guarded_chat_is_a_clear_value_error():
    guard = PromptCompressor("nano-lingua2", device_map="cpu", use_slingua=True)
    with pytest.raises(ValueError, match=r"messages\[0\]\['content'\] holds a lone surrogate"):
        guard.guard_messages([{"role": "user", "content": SURROGATE}])
    parts = [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]
    with pytest.raises(ValueError, match="lone surrogate"):
        guard.guard_messages(parts)


# ----------------------------------------------------------------------------- JSON


def test_deeply_nested_json_is_a_value_error(any_compressor):
    deep: dict = {"text": "The harbour festival opens on the first Saturday of June."}
    for _ in range(500):
        deep = {"k": deep}
    with pytest.raises(ValueError, match="nested"):
        any_compressor.compress_json(deep, rate=0.5)
    with pytest.raises(ValueError, match="nested"):
        any_compressor.compress_json("[" * 100_000 + "]" * 100_000, rate=0.5)
    fine: dict = {"text": "The harbour festival opens on the first Saturday of June."}
    for _ in range(60):
        fine = {"k": fine}
    assert any_compressor.compress_json(fine, rate=0.5)["compressed_prompt"]


# ----------------------------------------------------------------------------- newlines


@pytest.mark.parametrize("rate", [0.1, 0.2])
def test_a_forced_newline_starting_the_output_is_kept(rate):
    lingua2 = PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
    text = ("the of and a to\nThe harbour festival opens on the first Saturday of June.\n"
            "Fishing boats are painted in bright colours.\nFamilies come to buy smoked fish.")
    result = lingua2.compress_prompt_llmlingua2(text, rate=rate, force_tokens=["\n"])
    output = result["compressed_prompt"]
    assert output.count("\n") == text.count("\n")
    assert is_deletion_of(output, text)


# ----------------------------------------------------------------------------- tags


BROKEN_TAGS = ["Keep <llmlingua, compress=False this text please, and more words here",
               "Some words </llmlingua> and more words here",
               "Some <llmlingua, rate=0.5 <llmlingua>words</llmlingua> here"]


@pytest.mark.parametrize("text", BROKEN_TAGS)
def test_broken_tags_raise_on_every_path(any_compressor, text):
    calls = [lambda: any_compressor.compress_prompt(text, rate=0.5),
             lambda: any_compressor.structured_compress_prompt(text, rate=0.5)]
    if any_compressor.classifier is not None:
        calls.append(lambda: any_compressor.compress_prompt_llmlingua2(text, rate=0.5))
    for call in calls:
        with pytest.raises(ValueError, match=r"context\[0\].*llmlingua"):
            call()


# ----------------------------------------------------------------------------- properties


def random_texts(count: int, seed: int = 0) -> list[str]:
    """Random mixtures of the paragraphs' characters, spaces, newlines and emoji."""
    rng = random.Random(seed)
    pool = "".join(PARAGRAPHS.values()) + "  \n\n\t😀👍🏽[]<>0123456789"
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 120))) for _ in range(count)]


def test_deletion_only_and_repeatable_over_random_texts(any_compressor):
    texts = [t for t in random_texts(300) if t.strip()]
    for text in texts:
        first = any_compressor.compress_prompt(text, rate=0.4)["compressed_prompt"]
        assert is_deletion_of(first, text), (text, first)
    for text in texts[:20]:
        runs = {any_compressor.compress_prompt(text, rate=0.4)["compressed_prompt"]
                for _ in range(3)}
        assert len(runs) == 1


def random_context_lists(count: int, seed: int = 1) -> list[list[str]]:
    """Lists of one to twelve contexts: random texts, single words and blank contexts."""
    rng = random.Random(seed)
    words = [w for text in PARAGRAPHS.values() for w in text.split()]
    pool = random_texts(200, seed)
    choices = [lambda: rng.choice(pool), lambda: rng.choice(words), lambda: rng.choice(["", " "])]
    return [[rng.choice(choices)() for _ in range(rng.randint(1, 12))] for _ in range(count)]


def test_kept_contexts_hold_text_and_a_high_rate_keeps_nearly_all(any_compressor):
    for contexts in random_context_lists(40):
        if not any(c.strip() for c in contexts):
            continue
        for rate in (0.3, 0.99):
            result = any_compressor.compress_prompt(contexts, rate=rate)
            for i, text in zip(result["kept_context_ids"], result["compressed_contexts"]):
                assert text.strip() and is_deletion_of(text, contexts[i]), (contexts, rate)
            if rate == 0.99:
                # Blank contexts cost nothing: measured against the prompt without them.
                shown = "\n\n".join(c for c in contexts if c.strip())
                whole = any_compressor.get_token_length(shown, use_oai_tokenizer=True)
                share = result["compressed_tokens"] / whole
                assert share >= 0.95, (contexts, result["compressed_prompt"])


# ----------------------------------------------------------------------------- blank contexts


@pytest.mark.parametrize("instruction,question", [("", ""), ("Answer briefly.", "When?")])
def test_blank_contexts_cost_nothing(any_compressor, instruction, question):
    # A thousand empty contexts used to come back as 999 blank lines (2,003 tokens).
    result = any_compressor.compress_prompt([""] * 1000, instruction=instruction,
                                            question=question, rate=0.3)
    expected = "\n\n".join(p for p in (instruction, question) if p)
    # LLMLingua-2's compress_prompt returns the contexts alone, as llmlingua's does.
    assert result["compressed_prompt"] == ("" if any_compressor.classifier else expected)
    mixed = any_compressor.compress_prompt(["", "", PARAGRAPHS["en"], "", ""], rate=0.5)
    assert "\n\n" not in mixed["compressed_prompt"].strip()
    assert mixed["kept_context_ids"] == [2]


@pytest.mark.parametrize("contexts", [[""], [], ["  "], ["one short context"]])
def test_force_context_ids_out_of_range_is_refused_whatever_the_prompt(any_compressor,
                                                                         contexts):
    with pytest.raises(ValueError, match="force_context_ids"):
        any_compressor.compress_prompt(contexts, force_context_ids=[3], rate=0.5)


# ----------------------------------------------------------------------------- bidi controls

RLO, LRI, RLI, PDF, PDI = "\u202e", "\u2066", "\u2067", "\u202c", "\u2069"
BIDI_CODE = [
    f'access_level = "user"  # {RLO}تحقق من صلاحية المستخدم قبل المتابعة{PDF} {LRI}admin{PDI}\n'
    f'if access_level != "user{RLO} {LRI}// שלום עולם, בדיקת הרשאות{PDI}{PDF} {LRI}":{PDI}\n'
    f'    print("{RLI}مرحبا بالعالم، هذا نص طويل للاختبار{PDI} and {RLI}שלום{PDI}")\n' * 4,
    f"{RLI}השרת מחזיר את הרשימה המלאה של המשתמשים הפעילים בכל בקשה{PDI} return users\n" * 5,
]


def assert_bidi_balanced(text: str) -> None:
    """Every opener closed by its own kind of closer on its line, and no stray closer (the
    test texts are well formed, so a plain stack checks them)."""
    closer_of = {c: "\u202c" for c in "\u202a\u202b\u202d\u202e"}
    closer_of.update({c: "\u2069" for c in "\u2066\u2067\u2068"})
    for line in text.split("\n"):
        open_ = []
        for char in line:
            if char in closer_of:
                open_.append(closer_of[char])
            elif char in "\u202c\u2069":
                assert open_ and open_.pop() == char, repr(line)
        assert not open_, repr(line)


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.7])
def test_bidi_controls_stay_balanced_in_code_with_arabic_and_hebrew(any_compressor, rate):
    result = any_compressor.compress_prompt(BIDI_CODE, rate=rate)
    for text in result["compressed_contexts"]:
        assert_bidi_balanced(text)
    sentences = any_compressor.compress_prompt(BIDI_CODE, rate=rate,
                                               use_sentence_level_filter=True)
    for text in sentences["compressed_contexts"]:
        assert_bidi_balanced(text)
