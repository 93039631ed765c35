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
from llmlingstral.text.facts import KOREAN_PARTICLE
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
    # a number with its unit, scale, counter or counted noun
    ("numbers", "Auf einer Fläche von 18,4 Hektar stehen dort Module.", "18,4 Hektar"),
    ("numbers", "Der Park soll rund 15,6 Millionen Kilowattstunden Strom erzeugen.",
     "15,6 Millionen Kilowattstunden"),
    ("numbers", "Его площадь составляет 27,5 гектара, а длина — 3,2 километра.", "27,5 гектара"),
    ("numbers", "Интервал сократили до 4 минут.", "4 минут"),
    ("numbers", "около 15 тысяч кустарников", "15 тысяч"),
    ("numbers", "El recorrido tiene 9,7 kilómetros y cruza 23 intersecciones.", "9,7 kilómetros"),
    ("numbers", "La rénovation de 14 gares et de 97 kilomètres de voie.", "14 gares"),
    ("numbers", "Les abonnés de moins de 26 ans paient moins.", "26 ans"),
    ("numbers", "batches of up to 500 records or 2 MB", "500 records"),
    ("numbers", "on hosts with more than 64 cores the pool stalls", "64 cores"),
    ("numbers", "and rebuilt 11.5 kilometres of track", "11.5 kilometres"),
    ("numbers", "تنطلق حافلة كل ٢٠ دقيقة من المحطة", "٢٠ دقيقة"),
    ("numbers", "प्रतिदिन ४५ करोड़ लीटर पानी", "४५ करोड़ लीटर"),
    ("numbers", "लगभग ४२ किलोमीटर हिस्सा", "४२ किलोमीटर"),
    ("numbers", "เรือล่องเป็นระยะทาง 4.5 กิโลเมตร", "4.5 กิโลเมตร"),
    ("numbers", "มีรถรับส่งทุก ๑๕ นาทีจากประตู", "๑๕ นาที"),
    ("numbers", "共设十九座车站，全天客流达到23.6万人次。", "十九座"),
    ("numbers", "共设十九座车站，全天客流达到23.6万人次。", "23.6万人次"),
    ("numbers", "经济效果は約３億２千万円と見込まれる。", "３億２千万円"),
    ("numbers", "약 103만 명의 관람객이 몰렸다.", "103만 명"),
    ("numbers", "불꽃은 모두 8만 발로 늘었다.", "8만 발"),
    ("numbers", "부산시는 제19회 불꽃축제를 열었다.", "제19회"),
    ("dates_times", "毎年九月十二日から三日間、祭りが開かれます。", "三日間"),
    ("dates_times", "炎はおよそ四十分間燃え続けます。", "四十分間"),
    ("dates_times", "comenzará en enero de 2025 y estará lista antes de julio de 2026.",
     "enero de 2025"),
    ("dates_times", "Открытие в сентябре 2024 года.", "сентябре 2024 года"),
    ("dates_times", "Treni in partenza dal 3 ottobre 2024.", "3 ottobre 2024"),
    ("dates_times", "오후 2시부터 밤 11시까지 통제했다.", "밤 11시"),
    ("dates_times", "막차 시간을 새벽 1시 30분으로 연장했다.", "새벽 1시 30분"),
    ("dates_times", "เปิดตั้งแต่เวลา ๑๖.๐๐ น. ถึง ๒๒.๐๐ น.", "๑๖.๐๐ น."),
    ("dates_times", "يفتح من الساعة ١٠:٠٠ صباحًا حتى ٩:٣٠ مساءً", "٩:٣٠ مساءً"),
    ("dates_times", "सुबह ६:०० से ८:३० बजे तक", "८:३० बजे"),
    ("money_percent", "ใช้งบประมาณก่อสร้าง ๓๕ ล้านบาท และ", "๓๕ ล้านบาท"),
    ("money_percent", "มากกว่าที่คาดไว้ร้อยละ ๔๐ ผู้ค้า", "ร้อยละ ๔๐"),
    ("money_percent", "R석이 10만 원, S석이 7만 원이었으며", "7만 원"),
    ("money_percent", "경제 효과를 약 1,370억 원으로 추산했다.", "1,370억 원"),
    ("paths_versions", "Clients older than ingest-client 2.7 have to be upgraded.",
     "ingest-client 2.7"),
    ("paths_versions", "The database (postgres 15.4, db-primary.internal:5432)", "postgres 15.4"),
    ("identifiers", "Звоните по телефону 8 (843) 222-14-30 или пишите.", "8 (843) 222-14-30"),
    ("identifiers", "Support: +49 30 1234 5678 (24/7).", "+49 30 1234 5678"),
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


@pytest.mark.parametrize("text, fact", [
    ("contre à peine 300 lorsque le service", "300"),
    ("The line closed in 2019 the company said.", "2019"),
    ("built in 2024 and sold in 2025.", "2024"),
    ("La ligne aura 300 de plus.", "300"),
    ("Es waren 120 und mehr.", "120"),
    ("Их было 15 и больше.", "15"),
    ("شارك ٥ من المدن", "٥"),
    ("कुल १८० से ज़्यादा", "१८०"),
    ("El 12 de mayo llegaron 40 y se fueron.", "40"),
    ("On 12 September the 3 arrived.", "12 September"),
    ("The committee has 1962 members.", "1962"),
])
def test_a_number_takes_no_function_word_and_a_year_takes_no_noun(text, fact):
    (span,) = [s for s in protected_spans(text) if text[s.start:s.end].startswith(fact)]
    assert text[span.start:span.end] == fact, spans_of(text)


@pytest.mark.parametrize("text, fact, particle", [
    ("약 103만 명의 관람객", "103만 명", "의"),
    ("오후 2시부터 밤 11시까지 통제했다.", "밤 11시", "까지"),
    ("새벽 1시 30분으로 연장했다.", "새벽 1시 30분", "으로"),
    ("경찰 6,200명을 배치하고", "6,200명", "을"),
    ("지하철 2호선은 평소보다", "2호선", "은"),
    ("3,000석이 팔렸다", "3,000석", "이"),
    ("약 1,370억 원으로 추산했다.", "1,370억 원", "으로"),
    ("15에서 20으로", "15", "에서"),
    ("3 km를 달렸다", "3 km", "를"),
])
def test_a_korean_fact_leaves_its_particle_out(text, fact, particle):
    start = text.index(fact)
    (span,) = [s for s in protected_spans(text) if s.start <= start < s.end]
    assert text[span.start:span.end] == fact
    assert text[span.end:].startswith(particle)


def test_a_force_token_in_a_korean_word_still_protects_the_whole_word():
    assert spans_of("관람객이 몰렸다", Protection.off(force_tokens=["람"])) == ["관람객이"]


@pytest.mark.parametrize("text, approximator, fact", [
    ("今年は約四万五千人が訪れた。", "約", "四万五千人"),
    ("总投资约186亿元。", "约", "186亿元"),
    ("大约3万人参加。", "大约", "3万人"),
    ("약 103만 명의 관람객", "약", "103만 명"),
    ("It takes about 47 minutes.", "about", "47 minutes"),
    ("Il faut environ 14 gares.", "environ", "14 gares"),
    ("около 15 тысяч кустарников", "около", "15 тысяч кустарников"),
])
def test_approximators_are_no_part_of_a_fact_in_any_language(text, approximator, fact):
    """"about 47 minutes" keeps "47 minutes" whole; the approximator is an ordinary word the
    scorer keeps or drops, in every language alike."""
    start = text.index(fact)
    (span,) = [s for s in protected_spans(text) if s.start <= start < s.end]
    assert text[span.start:span.end] == fact
    assert approximator not in text[span.start:span.end]


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
    "103만 명의", "11시까지", "๓๕ ล้านบาท", "ร้อยละ ๔๐", "14 gares", "27,5 гектара", "٢٠ دقيقة",
    "४५ करोड़ लीटर", "8 (843) 222-14-30", "ingest-client 2.7", "三日間", "３億２千万円",
    "e\u0301", "n\u0303o", "ﾊﾞｽ", "ﾊﾟﾝ", "カ\u3099", "กำ", "เท", "น้ำ", "ที่", "👩\u200d👩\u200d👧",
    "👍🏽", "🇫🇷", "१२३", "क्षत्रिय", "١٢٣", "٣٫٥", "１２", "１，０００", "一百八十", "2024年9月12日",
    "3,5 km", "v2.3.1", "a_b", "x86", " ", "\n", "\r\n", ". ", "ok", "Ünïcödé", "ꦲꦏ꧀ꦱꦫ", "ប៊ុ",
    "ပွဲ", "\u200d", "\u0301",
]
_TOKENS = ["\u0301", "ﾞ", "\u200d", "ั", "้", "\u3099", "🏽", "1", "2", ",", ".", "a", "ok", "\n"]
_SPACED_WORD = regex.compile(rf"[^\W{UNSPACED_RANGES}]")


def _cuts_a_word(text: str, position: int) -> bool:
    """Whether ``position`` lies inside a word of a spaced script; the start of a Korean
    particle written onto a fact (103만 명|의) is a word edge for the fact."""
    if position in (0, len(text)):
        return False
    left, right = text[position - 1], text[position]
    if left.isdecimal() and right.isdecimal():
        return True
    if KOREAN_PARTICLE.match(text, position):
        return False
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


def test_protected_spans_of_a_megabyte_take_a_moment():
    """Every request asks for the spans of its whole prompt: a megabyte of fact-laden prose
    in many scripts takes seconds (under 4 s of CPU on the busy build machine), and long
    runs of digits, numerals, Hangul or spaces stay linear, not the minutes a pattern or a
    word walk that goes back over a whole run for each number would take."""
    import time

    from fact_texts import fact_texts

    sample = "\n\n".join([*PARAGRAPHS.values(), *(text for _, text in fact_texts(40))])
    text = (sample * (1_000_000 // len(sample) + 1))[:1_000_000]
    runs = ["12 34 5678 " * 3000, "1" * 30000, "a " * 30000, "万" * 30000, "1가" * 20000]
    started = time.process_time()
    spans = protected_spans(text)
    for run in runs:
        protected_spans(run)
    assert len(spans) > 1000
    assert time.process_time() - started < 15


# ----------------------------------------------------------------------------- shortcuts of the search

def _texts_for_shortcuts() -> list[str]:
    from fact_texts import fact_texts

    rng = random.Random(7)
    mixes = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    return [*PARAGRAPHS.values(), *(text for _, text in fact_texts(60)), *mixes,
            *(text for _, text, _ in POSITIVE if isinstance(text, str))]


def test_a_word_table_as_a_prefix_tree_matches_as_the_plain_alternation():
    """A table of words becomes a prefix tree: at every position of a text it matches the
    same word as the alternation of the words, longest first, ignoring case or not."""
    from llmlingstral.text.facts import _alternatives

    rng = random.Random(11)
    letters = "aAbBéÉmMжЖ月日ก"
    for _ in range(60):
        words = {"".join(rng.choice(letters) for _ in range(rng.randint(1, 4)))
                 for _ in range(rng.randint(1, 12))}
        text = " ".join("".join(rng.choice(letters) for _ in range(rng.randint(1, 6)))
                        for _ in range(30))
        for ignore_case in (False, True):
            plain = "|".join(regex.escape(w) for w in sorted(words, key=len, reverse=True))
            plain = f"(?i:{plain})" if ignore_case else f"(?:{plain})"
            tree = _alternatives(" ".join(words), ignore_case)
            for suffix in ("", r"(?!\w)", "b"):
                expected, found = regex.compile(plain + suffix), regex.compile(tree + suffix)
                for position in range(len(text)):
                    want, got = expected.match(text, position), found.match(text, position)
                    assert (want and want.span()) == (got and got.span()), \
                        (words, ignore_case, suffix, text[position:])


def test_every_match_holds_what_its_shortcut_looks_for():
    """A pattern skips a text without one of its ``requires`` characters, and a trigger a
    text without one of its ``needs`` strings: sound only if every match holds one."""
    from llmlingstral.text.facts import MATCHERS

    checked = 0
    for text in _texts_for_shortcuts():
        for matcher in (m for ms in MATCHERS.values() for m in ms):
            if matcher.requires is not None:
                everywhere = matcher._replace(requires=None, needs=())
                for start, end in everywhere.find(text, [(0, len(text))]):
                    assert matcher.requires.search(text, start, end), (text[start:end], matcher)
                    checked += 1
            if matcher.needs:
                for hit in matcher.trigger.finditer(text):
                    assert any(n in hit.group() for n in matcher.needs), (hit.group(), matcher)
                    checked += 1
    assert checked > 500


@pytest.mark.parametrize("text, fact", [
    ("票价3英镑，很便宜。", "3英镑"), ("共三英镑。", "三英镑"), ("门票10卢布。", "10卢布"),
    ("チケットは3ポンドです。", "3ポンド"), ("1万ウォンでした。", "1万ウォン"),
    ("全长3英里。", "3英里"), ("距離は5マイルです。", "5マイル"),
])
def test_a_currency_or_unit_word_after_a_cjk_number_is_protected_with_it(text, fact):
    """Protecting "3" of "3英镑" alone would let the output read "3英" (3 British)."""
    assert fact in [text[s.start:s.end] for s in protected_spans(text)]
