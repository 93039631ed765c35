"""The protection rule: which spans of a text compression keeps whole, in every script."""

from __future__ import annotations

import random
import re
import unicodedata

import numpy as np
import pytest
import regex

from llmlingstral.text.protect import (FACT_CLASSES, Protection, Span, covered,
                                       protected_spans)
from llmlingstral.text.scripts import UNSPACED_RANGES
from multilingual import PARAGRAPHS


def spans_of(text: str, protection: Protection = Protection()) -> list[str]:
    return [text[s.start:s.end] for s in protected_spans(text, protection)]


def kind_covering(text: str, fact: str, protection: Protection = Protection()) -> str | None:
    """The kind of the one span that covers ``fact`` in ``text`` whole, else None."""
    start = text.index(fact)
    for span in protected_spans(text, protection):
        if span.start <= start and start + len(fact) <= span.end:
            return span.kind
    return None


def is_covered_at_all(text: str, fact: str, protection: Protection) -> bool:
    start, end = text.index(fact), text.index(fact) + len(fact)
    return any(s.start < end and start < s.end for s in protected_spans(text, protection))


# ----------------------------------------------------------------------------- each class

POSITIVE = [
    # numbers, in many scripts and conventions
    ("numbers", "他身高一百八十厘米。", "一百八十"),
    ("numbers", "The bridge was built in 1874 by the city.", "1874"),
    ("numbers", "Il pèse 3,5 kg de plus.", "3,5 kg"),
    ("numbers", "Die Stadt hat 1.250 Einwohner.", "1.250"),
    ("numbers", "Population: 1 200 000 people.", "1 200 000"),
    ("numbers", "Einwohner: 1\u202f200\u202f000.", "1\u202f200\u202f000"),
    ("numbers", "The trip is 14,720 km long.", "14,720 km"),
    ("numbers", "全角の数字１２と１，０００。", "１２"),
    ("numbers", "全角の数字１２と１，０００。", "１，０００"),
    ("numbers", "الوزن ٣٫٥ كيلوغرام", "٣٫٥"),
    ("numbers", "वर्ष २०२४ में", "२०२४"),
    ("numbers", "ราคา ๓๕๐ บาท", "๓๕๐"),
    ("numbers", "Выручка 3,5 млн за год.", "3,5 млн"),
    ("numbers", "我们用了3万人和三个晚上。", "3万人"),
    ("numbers", "我们用了3万人和三个晚上。", "三个"),
    ("numbers", "Le 3,5 Mio. Umsatz", "3,5 Mio."),
    ("numbers", "The ratio was 16:9, the range 10-20.", "10-20"),
    ("numbers", "It runs at 2.4 GHz and 25 °C.", "25 °C"),
    # dates and times
    ("dates_times", "会议在2024年9月12日举行。", "2024年9月12日"),
    ("dates_times", "祭りは九月十二日です。", "九月十二日"),
    ("dates_times", "会議は2時間30分かかる。", "2時間30分"),
    ("dates_times", "3月14日は円周率の日。", "3月14日"),
    ("dates_times", "午後3時に始まる。", "午後3時"),
    ("dates_times", "The train leaves at 11:40 pm tonight.", "11:40 pm"),
    ("dates_times", "Deployed on 2024-09-12T11:40Z to prod.", "2024-09-12T11:40Z"),
    ("dates_times", "Signed on September 12, 2024 in Paris.", "September 12, 2024"),
    ("dates_times", "Am 12. September 2024 um 9 Uhr.", "12. September 2024"),
    ("dates_times", "Am 12. September 2024 um 9 Uhr.", "9 Uhr"),
    ("dates_times", "Le 12/09/2024 à 14h30.", "12/09/2024"),
    ("dates_times", "El 12 de septiembre de 2024 llegó.", "12 de septiembre de 2024"),
    ("dates_times", "Встреча 12 сентября 2024 г. в 11:40.", "12 сентября 2024 г."),
    ("dates_times", "في ١٢ سبتمبر ٢٠٢٤ وصل", "١٢ سبتمبر ٢٠٢٤"),
    ("dates_times", "2024년 9월 12일 오후 3시에 만나요.", "2024년 9월 12일 오후 3시"),
    ("dates_times", "วันที่ ๑๒ กันยายน ๒๕๖๗", "๑๒ กันยายน ๒๕๖๗"),
    # money and percentages
    ("money_percent", "It raised $3.5M last year.", "$3.5M"),
    ("money_percent", "Le budget est de 3,5 millions d'euros.", "3,5 millions d'euros"),
    ("money_percent", "Der Preis: 3,50 € pro Stück.", "3,50 €"),
    ("money_percent", "Costs USD 40 per seat.", "USD 40"),
    ("money_percent", "Стоит 100 рублей.", "100 рублей"),
    ("money_percent", "花了50元。", "50元"),
    ("money_percent", "कीमत ₹500 है", "₹500"),
    ("money_percent", "ราคา ๓๕๐ บาท", "๓๕๐ บาท"),
    ("money_percent", "Growth was 12.5 % this year.", "12.5 %"),
    ("money_percent", "زيادة ٪٥٠ هذا العام", "٪٥٠"),
    ("money_percent", "增长了百分之三十。", "百分之三十"),
    # URLs, e-mails
    ("urls_emails", "Docs: https://example.org/a?b=1.", "https://example.org/a?b=1"),
    ("urls_emails", "请访问https://example.org/a获取。", "https://example.org/a"),
    ("urls_emails", "Write to ana@example.org today.", "ana@example.org"),
    ("urls_emails", "Écrivez à josé.núñez@correo.es.", "josé.núñez@correo.es"),
    # paths, versions
    ("paths_versions", "Edit /etc/nginx/nginx.conf and reload.", "/etc/nginx/nginx.conf"),
    ("paths_versions", "Run ./deploy.sh or ~/.bashrc first.", "~/.bashrc"),
    ("paths_versions", r"Open C:\Users\ana\notes.txt now.", r"C:\Users\ana\notes.txt"),
    ("paths_versions", "See src/app/text/protect.py for it.", "src/app/text/protect.py"),
    ("paths_versions", "Upgrade to v2.3.1 today.", "v2.3.1"),
    ("paths_versions", "Pin numpy>=1.26 in the lock file.", "numpy>=1.26"),
    ("paths_versions", "バージョンv2.3.1に更新。", "v2.3.1"),
    # identifiers
    ("identifiers", "Set snake_case_name first.", "snake_case_name"),
    ("identifiers", "Ticket ABC-1234 is open.", "ABC-1234"),
    ("identifiers", "Address 0x1f3a faulted.", "0x1f3a"),
    ("identifiers", "Reverted in 3f2c9a1e8b7d4c60 yesterday.", "3f2c9a1e8b7d4c60"),
    ("identifiers", "Export MAX_RETRIES=5 before the run.", "MAX_RETRIES=5"),
    ("identifiers", "我们用iPhone15拍照。", "iPhone15"),
    ("identifiers", "Call os.path.join() or getElementById here.", "os.path.join()"),
    ("identifiers", "Call os.path.join() or getElementById here.", "getElementById"),
    ("identifiers", "Run it with --dry-run first, see #1234.", "--dry-run"),
    ("identifiers", "Самолёт Ту-154 взлетел.", "Ту-154"),
    ("identifiers", "Use c6i.2xlarge nodes and db-primary.internal:5432.", "c6i.2xlarge"),
    ("identifiers", "Use c6i.2xlarge nodes and db-primary.internal:5432.",
     "db-primary.internal:5432"),
    ("identifiers", "The PromptCompressor class and eBay.", "PromptCompressor"),
    # code
    ("code", "Then run `pip install x` again.", "`pip install x`"),
    ("code", "Example:\n```\nx = 1\ny = 2\n```\nDone.", "```\nx = 1\ny = 2\n```"),
]


@pytest.mark.parametrize("kind, text, fact", POSITIVE)
def test_each_fact_is_one_span_of_its_class(kind, text, fact):
    assert kind_covering(text, fact) is not None, spans_of(text)
    assert kind_covering(text, fact, Protection.off().only(kind)) == kind, \
        spans_of(text, Protection.off().only(kind))


NEGATIVE = [
    ("numbers", "统一一起一个样子，いつも一緒に。"),
    ("numbers", "Seven swans, a dozen eggs and one idea."),
    ("dates_times", "We may march on Saturday; May is lovely."),
    ("dates_times", "Le mardi, en mars, à Paris."),
    ("money_percent", "Dollars and euros are currencies; 5 eurostars."),
    ("urls_emails", "Write to me at the office; the site is down."),
    ("paths_versions", "Use and/or, drive at 50 km/h, 24/7, TCP/IP, I/O."),
    ("paths_versions", "Beijing (/beɪˈdʒɪŋ/) and opaque /oʊˈpeɪk/."),
    ("paths_versions", "Version two ships soon, e.g. next week."),
    ("identifiers", "Paris, Marie Curie and NASA met at the U.S. embassy, i.e. here."),
    ("identifiers", "McKidd, LaMarche, DiMaggio and MacGregor cost 12.50 and 3.14 each."),
    ("identifiers", "A well-known, state-of-the-art idea; don't panic!"),
    ("code", "He said 'hello' and \"bye\"."),
]


@pytest.mark.parametrize("kind, text", NEGATIVE)
def test_near_misses_are_not_facts_of_the_class(kind, text):
    found = [(text[s.start:s.end], s.kind) for s in protected_spans(text)
             if s.kind == kind]
    if kind == "money_percent":  # "5" is a number, but no amount
        found = [f for f in found if "euro" in f[0]]
    assert found == []


# ----------------------------------------------------------------------------- whole or nothing


@pytest.mark.parametrize("text, fact", [
    ("身高一百八十厘米", "一百八十"), ("built in 1874.", "1874"), ("年份１８７４年", "１８７４"),
    ("وزن ٣٫٥ كغ", "٣٫٥"), ("वर्ष २०२४", "२०२४"), ("2024年9月12日", "2024年9月12日"),
    ("ราคา ๓๕๐ บาท", "๓๕๐"),
])
def test_a_fact_is_never_cut_by_a_force_token_or_pattern_inside_it(text, fact):
    start, end = text.index(fact), text.index(fact) + len(fact)
    middle = fact[len(fact) // 2]
    for protection in (Protection(force_tokens=[middle]), Protection(patterns=[middle])):
        touching = [s for s in protected_spans(text, protection) if s.start < end and start < s.end]
        assert len(touching) == 1 and touching[0].start <= start and touching[0].end >= end


@pytest.mark.parametrize("text, number", [
    ("built in 1874.", "1874"), ("年份１８７４年", "１８７４"), ("वर्ष २०२४", "२०२४"),
    ("ราคา๓๕๐บาท", "๓๕๐"), ("سنة ٢٠٢٤", "٢٠٢٤"),
])
def test_digits_of_one_number_are_one_word_in_every_script(text, number):
    start, end = text.index(number), text.index(number) + len(number)
    for digit in set(number):
        for protection in (Protection.off(force_tokens=[digit]), Protection.off(patterns=[digit])):
            kind = protection_kind(protection)
            assert protected_spans(text, protection) == [Span(start, end, kind)]


def protection_kind(protection: Protection) -> str:
    return "force_tokens" if protection.force_tokens else "patterns"


@pytest.mark.parametrize("text, pieces", [
    ("2024年9月12日", ["2024年9月12日"]),
    ("at 11:40 pm.", ["11:40 pm"]),
    ("raised $3.5M.", ["$3.5M"]),
    ("a 14,720 km trip", ["14,720 km"]),
    ("3,5 millions d'euros", ["3,5 millions d'euros"]),
    ("2024년 9월 12일", ["2024년 9월 12일"]),
])
def test_pieces_of_one_fact_are_one_span(text, pieces):
    assert spans_of(text) == pieces


# ----------------------------------------------------------------------------- prose


SPACED = ["en", "fr", "de", "ru", "ar", "hi", "el", "he", "th", "lo", "km", "my"]


@pytest.mark.parametrize("language", [lang for lang in SPACED if lang in PARAGRAPHS])
def test_ordinary_prose_has_no_facts(language):
    assert spans_of(PARAGRAPHS[language]) == []


@pytest.mark.parametrize("language", [lang for lang in ("zh", "ja", "ko") if lang in PARAGRAPHS])
def test_cjk_prose_protects_only_its_numbers(language):
    numeral = re.compile(r"[\d〇零一二三四五六七八九十百千万两]")
    for piece in spans_of(PARAGRAPHS[language]):
        assert numeral.search(piece), piece
    total = sum(s.end - s.start for s in protected_spans(PARAGRAPHS[language]))
    assert total < 0.1 * len(PARAGRAPHS[language])


def test_plain_words_names_and_punctuation_are_not_facts():
    for text in ("Paris", "Marie Curie", "NASA", "!!! ... ?!", "— « » “ ” ¿¡", "e.g.", "Mr. Smith",
                 "東京", "สวัสดี", "Москва", "القاهرة", "दिल्ली", "서울", "naïve café"):
        assert protected_spans(text) == [], text


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("kind, text, probe", [
    ("numbers", "身高一百八十厘米", "一百八十"),
    ("dates_times", "on 12 September 2024", "September"),
    ("money_percent", "costs €12 now", "€"),
    ("urls_emails", "see https://example.org/a now", "https"),
    ("paths_versions", "edit /etc/nginx/nginx.conf now", "/etc"),
    ("identifiers", "set snake_case_name now", "snake_case_name"),
    ("code", "run `pip install x` now", "pip install"),
])
def test_each_class_can_be_switched_off(kind, text, probe):
    assert is_covered_at_all(text, probe, Protection())
    assert not is_covered_at_all(text, probe, Protection().without(kind))
    assert kind not in Protection().without(kind).classes
    assert is_covered_at_all(text, probe, Protection.off().only(kind))


def test_off_protects_only_force_tokens_patterns_and_digit_words():
    text = "On 2024-09-12 ana@example.org paid $3.5M for v2.3.1 (`x`), see ABC-1234."
    assert protected_spans(text, Protection.off()) == []
    assert spans_of(text, Protection.off(force_tokens=["@"])) == ["@"]
    digits = spans_of(text, Protection.off(force_reserve_digit=True))
    assert digits == ["2024-09-12", "$3.5M", "v2.3.1", "ABC-1234."]
    assert Protection.off().classes == ()


def test_force_reserve_digit_keeps_digit_words_but_not_a_whole_unspaced_run():
    text = "我们用iPhone15拍了3张照片 and abc1 def"
    assert spans_of(text, Protection.off(force_reserve_digit=True)) == ["iPhone15", "3", "abc1"]


def test_user_patterns_strings_and_compiled():
    text = "订单 ORD-77 ships from 港口 harbour; ORDER ord-8."
    found = protected_spans(text, Protection.off(patterns=[r"\p{Han}{2}", re.compile("harbour")]))
    assert [(text[s.start:s.end], s.kind) for s in found] == [
        ("订单", "patterns"), ("港口", "patterns"), ("harbour", "patterns")]
    # a pattern ending inside a word protects the whole word
    assert spans_of("the harbourmaster", Protection.off(patterns=["harb"])) == ["harbourmaster"]


@pytest.mark.parametrize("text, token, expected", [
    ("mail ana@example.org now", "@", ["@"]),
    ("at 11:40 sharp", ":", [":"]),
    ("the a-b link", "-", ["-"]),
    ("say hello there", "ell", ["hello"]),       # letters inside a word: the whole word
    ("built in 1874", "4", ["1874"]),             # a digit: the whole number
    ("one\ntwo\r\nthree", "\n", ["\n", "\r\n"]),  # whitespace tokens too; CR LF stays whole
    ("港口节在六月", "口", ["口"]),                 # no word snapping inside Chinese
])
def test_force_tokens_are_protected_inside_words_too(text, token, expected):
    assert spans_of(text, Protection.off(force_tokens=[token])) == expected
    found = protected_spans(text, Protection(force_tokens=[token]))
    position = text.index(token)
    assert any(s.start <= position < s.end for s in found)


def test_the_longest_force_token_wins():
    assert spans_of("a => b", Protection.off(force_tokens=["=", "=>"])) == ["=>"]


def test_bad_options_say_what_to_change():
    with pytest.raises(TypeError, match="numbers"):
        Protection(numbers="yes")
    with pytest.raises(TypeError, match="force_tokens"):
        Protection(force_tokens="abc")
    with pytest.raises(TypeError, match="patterns"):
        Protection(patterns=r"\d+")
    with pytest.raises(TypeError, match="patterns"):
        Protection(patterns=[42])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Protection(patterns=["(unclosed"])
    with pytest.raises(ValueError, match="the classes are code, "):
        Protection().without("colours")
    with pytest.raises(TypeError, match="str"):
        protected_spans(None)
    with pytest.raises(TypeError, match="Protection"):
        protected_spans("x", {"numbers": True})


def test_protection_is_frozen_and_hashable_options():
    protection = Protection(force_tokens=["\n", "."], patterns=[r"\d+"])
    assert protection.force_tokens == ("\n", ".")
    with pytest.raises(AttributeError):
        protection.numbers = False
    assert set(Protection().classes) == set(FACT_CLASSES)
    assert "numbers=False" in repr(Protection().without("numbers"))


def test_a_protection_is_equal_to_its_copy_after_pickling():
    """Ray, multiprocessing and saved components copy a Protection: the copy is the same
    option, patterns (compiled anew) included."""
    import copy
    import pickle

    protection = Protection.off(force_tokens=["zebra"],
                                patterns=[r"ORD-\d+", re.compile(r"\bINV\d+", re.I)])
    for copied in (pickle.loads(pickle.dumps(protection)), copy.deepcopy(protection)):
        assert copied == protection and hash(copied) == hash(protection)
        assert protected_spans("ORD-12 inv7 zebra", copied) == \
            protected_spans("ORD-12 inv7 zebra", protection)
    assert Protection(patterns=[r"a+"]) == Protection(patterns=[r"a+"])
    assert Protection(patterns=[r"a+"]) != Protection(patterns=[r"b+"])
    assert Protection(patterns=[re.compile("a", re.I)]) != Protection(patterns=[re.compile("a")])
    assert Protection() != Protection.off()


# ----------------------------------------------------------------------------- covered()


def test_covered_marks_the_pieces_a_span_touches():
    text = "pay $3.5M by 2024-09-12 ok"
    spans = protected_spans(text)
    words = [m.span() for m in re.finditer(r"\S+", text)]
    hit = covered(spans, [a for a, _ in words], [b for _, b in words])
    assert [text[a:b] for (a, b), h in zip(words, hit) if h] == ["$3.5M", "2024-09-12"]
    assert covered([], [0, 1], [1, 2]).tolist() == [False, False]
    assert covered(spans, [], []).shape == (0,)
    assert covered([Span(2, 4, "numbers")], [0, 4, 3, 1], [2, 6, 3, 3]).tolist() == \
        [False, False, False, True]


# ----------------------------------------------------------------------------- clusters


_PIECES = [
    "e\u0301", "n\u0303o", "ﾊﾞｽ", "ﾊﾟﾝ", "カ\u3099", "กำ", "เท", "น้ำ", "ที่", "👩\u200d👩\u200d👧",
    "👍🏽", "🇫🇷", "१२३", "क्षत्रिय", "١٢٣", "٣٫٥", "１２", "１，０００", "一百八十", "2024年9月12日",
    "3,5 km", "v2.3.1", "a_b", "x86", " ", "\n", "\r\n", ". ", "ok", "Ünïcödé", "ꦲꦏ꧀ꦱꦫ", "ប៊ុ",
    "ပွဲ", "\u200d", "\u0301",
]
_TOKENS = ["\u0301", "ﾞ", "\u200d", "ั", "้", "\u3099", "🏽", "1", "2", ",", ".", "a", "ok", "\n"]
_SPACED_WORD = regex.compile(rf"[^\W{UNSPACED_RANGES}]")


def _cuts_a_word(text: str, position: int) -> bool:
    if position in (0, len(text)):
        return False
    left, right = text[position - 1], text[position]
    if left.isdecimal() and right.isdecimal():
        return True
    return bool(_SPACED_WORD.match(left) and _SPACED_WORD.match(right))


def test_spans_never_split_a_cluster_or_a_spaced_word():
    rng = random.Random(20240912)
    for _ in range(400):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12)))
        protection = Protection(force_tokens=rng.sample(_TOKENS, 3),
                                patterns=[regex.escape(rng.choice(_TOKENS))],
                                force_reserve_digit=rng.random() < 0.3)
        boundaries = {m.start() for m in regex.finditer(r"\X", text)} | {len(text)}
        spans = protected_spans(text, protection)
        for span in spans:
            assert 0 <= span.start < span.end <= len(text), (text, span)
            assert span.start in boundaries and span.end in boundaries, (text, span)
            assert not _cuts_a_word(text, span.start), (text, span)
            assert not _cuts_a_word(text, span.end), (text, span)
            assert span.start == 0 or unicodedata.category(text[span.start])[0] != "M", \
                (text, span)
        assert all(a.end < b.start for a, b in zip(spans, spans[1:])), (text, spans)


def test_thai_leading_vowel_stays_with_its_consonant():
    text = "เทศกาล"
    assert spans_of(text, Protection.off(force_tokens=["ท"])) == ["เท"]
    assert spans_of(text, Protection.off(force_tokens=["เ"])) == ["เท"]


def test_an_emoji_sequence_is_protected_whole():
    family = "👩\u200d👩\u200d👧"
    text = f"我们{family}好"
    assert spans_of(text, Protection.off(force_tokens=["\u200d"])) == [family]


def test_spans_are_numpy_free_plain_tuples():
    (span,) = protected_spans("v2.3.1")
    assert span == (0, 6, "paths_versions") and isinstance(span.start, int)
    assert not isinstance(span.start, np.integer)
