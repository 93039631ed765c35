"""Sentence splitting for the sentence filter: boundaries in many scripts, exact round trip."""

from __future__ import annotations

import pytest

from llmlingstral.text.protect import Protection
from llmlingstral.text.sentences import language_of, split_protected, split_sentences
from multilingual import PARAGRAPHS


@pytest.mark.parametrize("sentences", [
    ["It was popular in the 1880s. ", "The tune came later."],
    ["Prices rose in the 1970s and 80s. ", "Wages did not."],
    ["The war ended in 1918. ", "In 1919 the treaty was signed."],
])
def test_a_decade_or_year_ends_a_sentence(sentences):
    assert split_sentences("".join(sentences)) == sentences


@pytest.mark.parametrize("text", [
    "Dr. Smith met Mr. J. R. Jones at 5 p.m. on Jan. 3.",
    "J. K. Rowling wrote it in the U.S. in 1998, e.g. at St. Louis.",
    "It sold 3.5 million copies.",
])
def test_abbreviations_initials_and_decimals_do_not_end_a_sentence(text):
    assert split_sentences(text) == [text]


@pytest.mark.parametrize("language, sentences", [
    ("zh", ["我昨天去了北京。", "天气很好！", "你去过长城吗？"]),
    ("ja", ["今日は晴れです。", "明日は雨が降るでしょう。", "傘を持っていきますか？"]),
    ("ar", ["القاهرة هي عاصمة مصر. ", "هل زرتها من قبل؟ ", "إنها مدينة جميلة!"]),
    ("hi", ["दिल्ली भारत की राजधानी है। ", "क्या आप वहाँ गए हैं? ", "यह एक बड़ा शहर है।"]),
    ("ru", ["А. С. Пушкин родился в Москве. ", "Он писал стихи."]),
    ("el", ["Η Αθήνα είναι η πρωτεύουσα της Ελλάδας. ", "Είναι πολύ παλιά πόλη;"]),
    ("ko", ["서울은 한국의 수도입니다. ", "가 보셨나요?"]),
    ("en", ["Die Firma wurde 1886 gegründet. ", "Wo ist der Sitz?"]),  # Latin: English rules
])
def test_sentence_marks_of_many_scripts_end_sentences(language, sentences):
    text = "".join(sentences)
    assert language_of(text) == language
    assert split_sentences(text) == sentences


@pytest.mark.parametrize("language", sorted(PARAGRAPHS))
def test_every_script_round_trips_with_whitespace_kept_at_sentence_ends(language):
    text = "  " + PARAGRAPHS[language] + "\n\n" + PARAGRAPHS[language] + "  "
    sentences = split_sentences(text)
    assert "".join(sentences) == text
    assert all(s.strip() for s in sentences)
    assert all(not s[:1].isspace() for s in sentences[1:])
    # The paragraph break is a cut: the second copy starts a sentence of its own.
    assert any(s.startswith(PARAGRAPHS[language][:10]) for s in sentences[1:])


def test_line_breaks_and_blank_text():
    assert split_sentences("a list\nsecond item\n\n") == ["a list\n", "second item\n\n"]
    assert split_sentences("") == []
    assert split_sentences("   ") == ["   "]
    with pytest.raises(TypeError, match="str"):
        split_sentences(b"bytes")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- split_protected


def _protected(pieces: list[str], flags: list[bool]) -> list[str]:
    return [p for p, f in zip(pieces, flags) if not f]


def test_split_protected_keeps_force_tokens_in_whole_words():
    text = "Contact ana@example.org or bob at 11:40, then a-b."
    pieces, flags = split_protected(text, ["@", ":"])
    assert "".join(pieces) == text
    assert _protected(pieces, flags) == [" ana@example.org", " 11:40,"]
    assert split_protected(text, []) == ([text], [True])
    assert split_protected(text, ["\n", " "]) == ([text], [True])  # invisible tokens


def test_split_protected_takes_a_protection():
    text = "价格是100元和200元。 Version v2.3.1 costs 3 pounds."
    pieces, flags = split_protected(text, Protection.off(force_reserve_digit=True))
    assert "".join(pieces) == text
    # A digit in Chinese is protected as found, not with the whole run around it.
    assert _protected(pieces, flags) == ["100", "200", " v2.3.1", " 3"]
    # Facts are left to the method's budget: only what is kept whatever the budget.
    assert split_protected(text, Protection()) == ([text], [True])
    named = split_protected(text, Protection(force_tokens=("pounds",)))
    assert _protected(*named) == [" pounds."]
