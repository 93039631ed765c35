"""The patterns of the classes of facts that :mod:`.protect` keeps whole.

Each class is a few regular expressions (the ``regex`` package: ``\\d`` is a digit of any
script, ``\\p{Ll}`` a lower-case letter), with an optional test of the matched text. What the
classes match is listed in :mod:`.protect`; this module only spells it out. Matches may
overlap and may end inside a word: :mod:`.protect` snaps and merges them.

Speed: a pattern runs only near its trigger (a digit, "/", "@", "_", ...), in a window that
reaches far enough around it to hold every match that contains it, widened to whitespace so
that the pattern sees the same word edges as in the whole text. Ordinary prose holds few
triggers, so most patterns look at a small part of it.
"""

from __future__ import annotations

import bisect
import re
from typing import Callable, Iterable, Iterator, NamedTuple

import regex

from . import quantities as q
from .scripts import UNSPACED_RANGES as _U

# Plain ``re`` (faster than ``regex`` on a literal class): four literal characters.
_WHITESPACE_CHAR = re.compile(r"[ \t\n\r]")


class Whitespace:
    """The spaces, tabs and line breaks of a text: the edges of its whitespace-delimited
    chunks, found by bisection (a long run of Chinese holds none, so no scanning). They
    are listed on the first question, so a text without triggers costs nothing."""

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self._text: str | None = text
        self._positions: list[int] = []

    @property
    def positions(self) -> list[int]:
        """The offsets of the whitespace characters, in order."""
        if self._text is not None:
            self._positions = [m.start() for m in _WHITESPACE_CHAR.finditer(self._text)]
            self._text = None
        return self._positions

    def at_or_before(self, position: int) -> int:
        """The last whitespace at or before ``position``, else 0."""
        positions = self.positions
        index = bisect.bisect_right(positions, position) - 1
        return positions[index] if index >= 0 else 0

    def at_or_after(self, position: int) -> int:
        """The first whitespace at or after ``position``, else the text's length."""
        positions = self.positions
        index = bisect.bisect_left(positions, position)
        return positions[index] if index < len(positions) else self.length


class Matcher(NamedTuple):
    """A pattern of a class of facts.

    Every match contains a match of ``trigger`` and lies within ``reach`` characters of it,
    plus the rest of the whitespace-delimited words there (no trigger: the whole text is
    searched). A match counts when ``accept`` (if any) agrees. ``needs``: strings one of
    which every match of ``trigger`` holds, a test far cheaper than a search (a text
    without "@" has no e-mail address to look for); ``requires``: a class of characters one
    of which every match of ``pattern`` holds (a text without a Han numeral has no Chinese
    number), tested once per text before its windows are searched.
    """

    pattern: regex.Pattern
    trigger: regex.Pattern | None = None
    reach: int = 0
    accept: Callable[[str], bool] | None = None
    needs: tuple[str, ...] = ()
    requires: re.Pattern | None = None

    def find(self, text: str, windows: Iterable[tuple[int, int]] | None = None
             ) -> Iterator[tuple[int, int]]:
        """The ``(start, end)`` of this pattern's matches in ``text`` (searched in
        ``windows``, by default :meth:`windows`)."""
        if self.requires is not None and self.requires.search(text) is None:
            return
        for low, high in self.windows(text) if windows is None else windows:
            for match in self.pattern.finditer(text, low, high):
                if self.accept is None or self.accept(match.group()):
                    yield match.span()

    def windows(self, text: str, whitespace: Whitespace | None = None
                ) -> Iterator[tuple[int, int]]:
        """The ``(low, high)`` parts of ``text`` that can hold a match, in order."""
        if self.trigger is None:
            yield 0, len(text)
            return
        if self.needs and not any(needed in text for needed in self.needs):
            return
        window: tuple[int, int] | None = None
        for hit in self.trigger.finditer(text):
            whitespace = whitespace or Whitespace(text)
            if window is not None and hit.start() - self.reach <= window[1]:
                if hit.end() + self.reach > window[1]:  # extend the open window
                    window = window[0], whitespace.at_or_after(hit.end() + self.reach)
                continue
            if window is not None:
                yield window
            window = (whitespace.at_or_before(max(0, hit.start() - self.reach)),
                      whitespace.at_or_after(hit.end() + self.reach))
        if window is not None:
            yield window


def _alternatives(words: str, ignore_case: bool = False) -> str:
    """A regex group matching one of the whitespace-separated literal ``words`` (longest
    first), behind a check of the first character so that a miss costs one test."""
    ordered = sorted(set(words.split()), key=len, reverse=True)
    firsts = {w[0] for w in ordered}
    if ignore_case:
        firsts |= {c.swapcase() for c in firsts} | {c.upper() for c in firsts}
    alternation = _trie(ordered, ignore_case)
    first_class = "".join(regex.escape(c) for c in sorted(firsts))
    return f"(?=[{first_class}])" + (f"(?i:{alternation})" if ignore_case else f"(?:{alternation})")


def _trie(words: list[str], ignore_case: bool) -> str:
    """The words as a prefix tree (``Jan(?:uary)?``): a position is tested a character at
    a time instead of once per word. The words a position matches are prefixes of one
    another, and a deeper branch is tried first, so the longest still wins, as in a plain
    alternation of the words, longest first. Ignoring case, characters that fold alike
    share a branch."""
    root: dict = {}
    for word in words:
        node = root
        for char in word:
            folded = char.casefold() if ignore_case and len(char.casefold()) == 1 else char
            node = node.setdefault(folded, [char, {}])[1]
        node[""] = None
    return _branches(root)


def _branches(node: dict) -> str:
    branches = [regex.escape(entry[0]) + _branches(entry[1])
                for key, entry in node.items() if key]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body


def _words(table: str, ignore_case: bool = False) -> str:
    """A regex group matching a word of a :mod:`.quantities` table: a word as written, or a
    stem (``гектар+``) with an inflection ending of up to three letters."""
    words, stems = [], []
    for entry in table.split():
        (stems if len(entry) > 1 and entry.endswith("+") else words).append(entry.rstrip("+"))
    parts = [_alternatives(" ".join(words), ignore_case)] if words else []
    if stems:
        parts.append(_alternatives(" ".join(stems), ignore_case) + r"[\p{L}\p{M}]{0,3}")
    # A stem with its ending is tried before the bare words (kilómetros, not kilómetro).
    return f"(?:{'|'.join(reversed(parts))})"


# Triggers and the strings one of which each of their matches holds: a text holding none
# of them is not searched for the trigger at all.
_TRIGGER_NEEDS = {
    r"://|www\.": ("://", "www."), "@": ("@",), "/": ("/",), r":\\": (":\\",),
    r"\d\.\d": (".",), r"[<>=!~]": ("<", ">", "=", "!", "~"), "_": ("_",), "=": ("=",),
    "--": ("--",), "#": ("#",), r"\(\d|\+\d": ("(", "+"), r"\.\w|\(\)": (".", "()"),
}


def _matchers(trigger: str | None, reach: int, *patterns: str,
              accept: Callable[[str], bool] | None = None,
              requires: str | None = None) -> list[Matcher]:
    """Matchers of ``patterns``; ``requires``: characters one of which each match holds."""
    compiled_trigger = None if trigger is None else regex.compile(trigger)
    needs = _TRIGGER_NEEDS.get(trigger or "", ())
    required = None if requires is None else \
        re.compile(f"[{''.join(re.escape(char) for char in sorted(set(requires)))}]")
    return [Matcher(regex.compile(p), compiled_trigger, reach, accept, needs, required)
            for p in patterns]


# ----------------------------------------------------------------------------- building blocks

_W = rf"[^\W{_U}]"              # a word character of a script written with spaces
_LETTER = rf"[^\W\d_{_U}]"      # a letter (or mark) of such a script
_ALNUM = rf"[^\W_{_U}]"         # a letter or digit of such a script
_END = rf"(?!{_LETTER})"        # no letter of a spaced script follows
# A fact starts and stops at the edge of a word of a spaced script; a Chinese or Thai
# character right next to it is no word edge to respect.
_START = rf"(?<!{_W})"
_STOP = rf"(?!{_W})"
_GAP = r"[\x20\u00a0\u2009\u202f]"  # space, no-break space, thin spaces
_SIGN = rf"(?:{_START}(?<![\-.])[-+\u2212\u00b1](?=\d))?"
_INT = (r"\d{1,2}(?:,\d{2})+,\d{3}(?!\d)"                      # 12,34,567 (India)
        r"|\d{1,3}(?:[,.'\x20\u00a0\u2009\u202f\u066c\uff0c]\d{3})+(?!\d)"  # 1,000 · 1.250 · 1 200
        r"|\d+")
_NUMBER = (rf"(?<!\d){_SIGN}(?:(?:{_INT})(?:[.,\u066b\uff0e]\d+)?|{_START}(?<![.])\.\d+)"
           r"(?:[eE][-+]?\d+)?")
_RANGE = rf"{_NUMBER}(?:[-\u2013/:~]{_NUMBER})*"

_KO_PARTICLE = _alternatives(q.KOREAN_PARTICLES)
KOREAN_PARTICLE = regex.compile(_KO_PARTICLE)
"""A Korean particle or ending (까지, 으로, 의): where a fact written before it ends."""
_UNIT_END = rf"(?:{_STOP}|(?={_KO_PARTICLE}))"  # 3 km를: the unit ends before the particle

_SCALE = _words(q.SCALES + q.THAI_SCALES)        # 15,6 Millionen · 103만 · ๓๕ ล้าน
_MEASURE = _words(q.MEASURES + q.THAI_UNITS)    # km · Hektar · гектара · กิโลเมตร
# A number with its scale and its unit: 14,720 km · 15,6 Millionen Kilowattstunden.
_SCALED = rf"(?:{_GAP}?{_SCALE}{_STOP})?"
_MEASURED = rf"{_SCALED}(?:{_GAP}?{_MEASURE}{_UNIT_END})?"

# Numerals and counters of Chinese and Japanese.
_KANJI = "[〇零一二三四五六七八九十百千万萬億亿兆两兩]"
# Every number, date, amount and percentage holds a digit or a CJK numeral, and lies within
# _NEAR characters of each one (3,5 millions d'euros; 12 de septiembre de 2024).
_DIGIT = rf"[\d{_KANJI[1:-1]}]+"
# A run of numerals is one number of at most _LONGEST of them (一千二百三十四万五千六百七十八
# has 16): a bound that keeps a pattern linear on a long run of 万 or 一.
_LONGEST = 24
_NUMERALS = rf"{_KANJI}{{1,{_LONGEST}}}"
_NEAR = 40
_DATE_COUNTERS = _alternatives(q.CJK_DATE_COUNTERS)
_COUNTERS = _alternatives(q.CJK_COUNTERS) + "|" + _DATE_COUNTERS
_CJK_PREFIXES = q.CJK_PREFIXES
_CJK_PREFIX = _alternatives(_CJK_PREFIXES)
# A CJK count starts with a prefix, a digit or a numeral: a cheap first test for the patterns.
_CJK_START = f"(?=[\\d{_KANJI[1:-1]}{''.join(sorted({w[0] for w in _CJK_PREFIXES.split()}))}])"

# A number of Chinese or Japanese: digits and numerals, mixed too (３億２千万, 23.6万).
_CJK_AMOUNT = rf"(?:(?:{_NUMBER}{_KANJI}{{0,{_LONGEST}}}){{1,4}}|{_NUMERALS})"

# Korean: a number with its scale (103만, 1,370억) and counter (명, 발, 시, 원), written
# with or without a space; the particle written onto the word after it (의, 까지, 으로) is
# no part of the fact (see protect.py: a fact's span ends before it).
_KO_END = rf"(?:{_STOP}|(?={_KO_PARTICLE}))"
_KO_NUMBER = rf"(?<!\d){_NUMBER}(?:{_alternatives(q.KOREAN_SCALES)})*"


def _korean(*patterns: str) -> list[Matcher]:
    """Matchers of Korean numbers, tried only near a digit followed by Hangul."""
    return _matchers(rf"\d{_GAP}?\p{{Hangul}}", 24, *patterns)


def _counted_in_korean(counters: str) -> str:
    """A Korean number with one of ``counters``, and 제 before an ordinal (제19회)."""
    return rf"(?:제{_GAP}?)?{_KO_NUMBER}{_GAP}?(?:{_alternatives(counters)}){_KO_END}"


# Month names (a number before one is a day, not a count of months).
_MONTHS = _alternatives(ignore_case=True, words="""
    January February March April May June July August September October November December
    Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
    janvier février mars avril mai juin juillet août septembre octobre novembre décembre
    janv févr avr juil sept déc
    Januar Jänner Februar März Juni Juli Oktober Dezember
    enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre
    diciembre
    gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
    janeiro fevereiro março maio junho julho setembro outubro novembro dezembro
    январь января февраль февраля март марта апрель апреля май мая июнь июня июль июля
    август августа сентябрь сентября октябрь октября ноябрь ноября декабрь декабря
    январе феврале марте апреле мае июне июле августе сентябре октябре ноябре декабре
    يناير فبراير مارس أبريل إبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر
    जनवरी फ़रवरी फरवरी मार्च अप्रैल मई जून जुलाई अगस्त सितंबर सितम्बर अक्टूबर नवंबर नवम्बर
    दिसंबर दिसम्बर
    มกราคม กุมภาพันธ์ มีนาคม เมษายน พฤษภาคม มิถุนายน กรกฎาคม สิงหาคม กันยายน ตุลาคม
    พฤศจิกายน ธันวาคม
""")
# A number followed by the noun it counts (14 gares, 500 records, 85 тысяч человек) in the
# scripts whose function words are listed (a year takes none: see _not_a_year).
_NOUN_LETTER = r"[\p{Latin}\p{Cyrillic}\p{Arabic}\p{Devanagari}]"
_FUNCTION_WORD = _alternatives(q.FUNCTION_WORDS, ignore_case=True)
_COUNTED = (rf"(?<![\w.,:/\-=#@]){_NUMBER}(?![.,:/\-]?\d){_SCALED}{_GAP}"
            rf"(?!(?:{_FUNCTION_WORD}|{_MONTHS}){_STOP}){_NOUN_LETTER}(?:{_NOUN_LETTER}|\p{{M}})+"
            rf"{_STOP}")
_LEADING_NUMBER = regex.compile(r"[-+\u2212\u00b1]?(\d+)([.,]\d)?")


def _not_a_year(text: str) -> bool:
    """Whether a number with its counted noun starts with no year (1000-2100 alone:
    "in 2024 people" is no count of people)."""
    match = _LEADING_NUMBER.match(text)
    digits = match.group(1) if match else ""
    return not (len(digits) == 4 and not match.group(2) and 1000 <= int(digits) <= 2100)


# ----------------------------------------------------------------------------- numbers

# The first characters of the CJK counters: a CJK count holds one.
_COUNTER_FIRSTS = "".join(w[0] for w in (q.CJK_COUNTERS + q.CJK_DATE_COUNTERS).split())
_DATE_COUNTER_FIRSTS = "".join(w[0] for w in q.CJK_DATE_COUNTERS.split())

NUMBERS = _matchers(
    _DIGIT, _NEAR, rf"{_RANGE}{_MEASURED}",                             # 14,720 km 27,5 гектара
) + _matchers(
    _DIGIT, _NEAR, rf"{_CJK_START}(?!一[个個种種])(?:{_CJK_PREFIX})?{_CJK_AMOUNT}"
    rf"(?:{_COUNTERS}){{1,2}}", requires=_COUNTER_FIRSTS,               # 3万人 三个 23.6万人次
) + _matchers(
    _DIGIT, _NEAR,
    rf"(?={_KANJI}{{0,{_LONGEST}}}[十百千万萬億亿兆〇零]){_KANJI}{{2,}}|第{_NUMERALS}",  # 一百八十 第三
    requires="十百千万萬億亿兆〇零第",
) + _matchers(
    _DIGIT, _NEAR, _COUNTED, accept=_not_a_year,                        # 14 gares 64 cores
) + _korean(
    _counted_in_korean(q.KOREAN_COUNTERS),                              # 103만 명 8만 발
    rf"{_KO_NUMBER}(?<=[만억천조]){_KO_END}",                             # 103만
)

# ----------------------------------------------------------------------------- dates and times

_MONTH = rf"{_MONTHS}\.?{_STOP}"
_DAY = rf"{_START}\d{{1,2}}(?:st|nd|rd|th|er|e|\.)?"
_YEAR = rf"\d{{4}}(?:{_GAP}?(?:г\.|года|год|гг\.))?(?!\d)"
_CLOCK = rf"{_START}(?<![.:])\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:[.,]\d+)?)?"
_AMPM = rf"(?i:[ap]\.\x20?m\.|[ap]m){_STOP}"  # the dot of "pm." ends a sentence
# Times of day around a clock time, which tell 10:00 in the morning from the evening.
_DAYTIME_AFTER = (rf"(?:{_AMPM}|Uhr{_STOP}|hrs?{_STOP}|h{_STOP}"
                  rf"|{_words(q.TIME_OF_DAY_AFTER)}{_STOP})")
_DAYTIME_BEFORE = rf"(?:{_START}{_words(q.TIME_OF_DAY_BEFORE)}{_GAP})?"
_ZONE = rf"{_GAP}?(?:UTC|GMT|CEST|CET|Z)(?:[+-]\d{{1,2}}(?::?\d{{2}})?)?{_STOP}"
_ISO = (rf"{_START}(?<![.])\d{{4}}-\d{{1,2}}-\d{{1,2}}"
        r"(?:[T\x20]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2}(?!\d))?")
_NUMERIC_DATE = (rf"{_START}(?<![.])(?:\d{{4}}[./-]\d{{1,2}}[./-]\d{{1,2}}"
                 r"|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2}))(?!\d)")

DATES_TIMES = _matchers(
    _DIGIT, _NEAR, _ISO, requires="-",                                  # 2024-09-12T11:40Z
) + _matchers(
    _DIGIT, _NEAR, _NUMERIC_DATE, requires="./-",                       # 12/09/2024
) + _matchers(
    _DIGIT, _NEAR, rf"{_DAYTIME_BEFORE}{_CLOCK}(?:{_GAP}?{_DAYTIME_AFTER})?(?:{_ZONE})?",
    requires=":",                                                       # 11:40 pm
) + _matchers(
    _DIGIT, _NEAR, rf"(?<!\d)\d{{1,2}}[.:]\d{{2}}{_GAP}?(?:น\.|นาฬิกา)",
    requires="น",                                                       # ๑๖.๐๐ น.
) + _matchers(
    _DIGIT, _NEAR, rf"{_CJK_START}(?:{_CJK_PREFIX})?(?:{_NUMBER}|{_NUMERALS})"
    rf"(?:{_DATE_COUNTERS})", requires=_DATE_COUNTER_FIRSTS,            # 2024年 九月 十二日
) + _matchers(
    _DIGIT, _NEAR,
    rf"{_DAY}{_GAP}(?:de{_GAP})?{_MONTH}(?:,?{_GAP}(?:de{_GAP})?{_YEAR})?",  # 12 September 2024
    rf"{_START}{_MONTH}{_GAP}(?:\d{{1,2}}(?:st|nd|rd|th)?(?!\d)(?:,?{_GAP}{_YEAR})?"
    rf"|(?:del?{_GAP})?{_YEAR})",                                      # enero de 2025
    rf"{_START}(?<![.:])\d{{1,2}}{_GAP}?(?:{_AMPM}|Uhr{_STOP}|h{_GAP}?\d{{2}}(?!\d)"
    rf"|{_words(q.TIME_OF_DAY_AFTER)}{_STOP})",                        # 3 pm ८ बजे
) + _korean(
    rf"(?:{_words(q.KOREAN_TIMES_OF_DAY)}{_GAP}?)?"
    rf"{_counted_in_korean(q.KOREAN_TIME_COUNTERS)}",                   # 2024년 9월 12일 밤 11시
)

# ----------------------------------------------------------------------------- money and percent

_CURRENCY_SIGNS = r"(?:US\$|C\$|A\$|NZ\$|HK\$|S\$|R\$|[$€£¥₹₽₩฿₺₪₫₦₴₱¢₡₵₸₼₾﷼])"
_CURRENCY_CODES = _alternatives("""
    USD EUR GBP JPY CNY RMB INR RUB CHF CAD AUD KRW BRL MXN SEK NOK DKK PLN TRY ZAR HKD SGD
    AED SAR THB NZD CZK HUF ILS EGP BTC ETH
""")
_CURRENCY_WORDS = _alternatives(ignore_case=True, words="""
    dollar dollars euro euros cent cents pound pounds yen yuan renminbi rupee rupees rouble
    roubles ruble rubles peso pesos franc francs won baht dirham dirhams riyal riyals reais
    real lira złoty zloty kronor kroner dólares dólar
    рублей рубля рубль руб руб. долларов доллара доллар евро бат
    บาท ريال دولار درهم جنيه دينار يورو रुपये रुपए रुपया रु रु.
    元 円 圓 块 塊 美元 欧元 歐元 日元 港元 人民币 韩元 ドル ユーロ 원 달러 엔 유로
    英镑 英鎊 卢布 盧布 卢比 盧比 澳元 加元 瑞郎 ポンド ウォン ルーブル ルピー フラン ペソ バーツ
""")
_CURRENCY = rf"(?:{_CURRENCY_SIGNS}|(?:{_CURRENCY_CODES})(?![A-Za-z]))"
_PERCENT_WORDS = _alternatives("""
    percent per_cent pour_cent Prozent por_ciento per_cento процентов процента процент
    प्रतिशत بالمئة في_المئة เปอร์เซ็นต์
""", ignore_case=True).replace("_", r"\x20")  # per_cent: "per cent"
_MULTIPLIED = rf"{_NUMBER}{_SCALED}"

MONEY_PERCENT = _matchers(
    _DIGIT, _NEAR,
    rf"{_CURRENCY}{_GAP}?{_MULTIPLIED}",                                # $3.5M USD 40
    rf"{_MULTIPLIED}{_GAP}?(?:de{_GAP}|d['’])?"
    rf"(?:{_CURRENCY}|{_CURRENCY_WORDS}){_END}",                   # 3,5 millions d'euros
    rf"{_NUMBER}{_GAP}?(?:[%％٪‰‱]|(?:pp|bps|{_PERCENT_WORDS}){_END})",  # 12.5 %
    rf"{_START}[%٪]{_GAP}?{_NUMBER}",                                   # %50 ٪٥٠
) + _matchers(
    _DIGIT, _NEAR, rf"百分之(?:{_NUMBER}|{_NUMERALS})(?:[点點]{_NUMERALS})?",
    requires="百",                                                      # 百分之三十
) + _matchers(
    _DIGIT, _NEAR, rf"ร้อยละ{_GAP}?{_NUMBER}", requires="ร",            # ร้อยละ ๔๐ (per cent)
) + _korean(_counted_in_korean(q.KOREAN_CURRENCIES))                    # 10만 원

# ----------------------------------------------------------------------------- URLs and e-mails

_URL_CHAR = rf"[^\s<>\"'`{_U}]"
_URL_LAST = rf"[^\s<>\"'`{_U}.,;:!?)\]}}]"
_DOMAIN = rf"{_W}+(?:-+{_W}+)*(?:\.{_W}+(?:-+{_W}+)*)+"

URLS_EMAILS = (
    _matchers(r"://|www\.", 0, rf"{_START}(?<![@])(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)"
                               rf"{_URL_CHAR}*{_URL_LAST}")
    + _matchers("@", 0, rf"{_START}(?<![.+\-@])(?:mailto:)?{_W}(?:{_W}|[.+%\-](?={_W}))*"
                        rf"@{_DOMAIN}")
)

# ----------------------------------------------------------------------------- paths and versions

# Not in a path: brackets, quotes, separators, and IPA letters (/ˈoʊpɛk/ is a pronunciation).
_NOT_PATH = rf"\s<>\"'`|;,(){{}}\[\]/\\{_U}\u0250-\u02ff"
_SEGMENT = rf"(?:[^{_NOT_PATH}]*[^{_NOT_PATH}.:!?]|\.\.?)"
_EXTENSIONS = _alternatives("""
    py pyi ipynb js mjs cjs ts tsx jsx json jsonl yaml yml toml ini cfg conf env lock md rst
    txt csv tsv log sh bash zsh ps1 bat c h cc cpp hpp rs go java kt swift rb php pl lua sql
    html htm css scss xml svg png jpg jpeg gif webp pdf doc docx xls xlsx ppt pptx zip tar gz
    tgz bz2 xz 7z whl deb rpm dmg exe dll so dylib bin safetensors gguf pt pth onnx parquet
    arrow db sqlite service timer socket pem crt pub tf tfvars gradle mk cmake proto
""")
_FILE_NAMES = "Dockerfile|Makefile|Jenkinsfile|Procfile|Gemfile|Vagrantfile"
_OPERATOR = r"(?:===|==|>=|<=|~=|!=|>|<)"
_RELATIVE_PATH_END = regex.compile(r"\.[A-Za-z0-9]{1,8}$")
_HAS_LETTER = regex.compile(r"[^\W\d_]")
_HAS_DIGIT = regex.compile(r"\d")


def _relative_path(text: str) -> bool:
    """A relative path names a file with an extension, a directory (trailing slash) or
    three levels, and has a letter: not "and/or", "km/h" or "12/09/2024"."""
    deep = text.count("/") >= 2 or text.endswith("/")
    return (deep or _RELATIVE_PATH_END.search(text) is not None) \
        and _HAS_LETTER.search(text) is not None


# A name followed by its version (ingest-client 2.7, postgres 15.4): not after a function
# word ("rose to 15.4") nor before a unit or a counted noun ("15.4 km", "15.4 points").
_VERSION_AFTER_NAME = (
    rf"{_START}(?<![.\-/])(?!{_FUNCTION_WORD}{_STOP})[A-Za-z][A-Za-z0-9_+\-]*[A-Za-z0-9]"
    rf"{_GAP}[vV]?\d+(?:\.\d+)+{_STOP}(?![.,]\d)"
    rf"(?!{_GAP}?(?:{_MEASURE}{_STOP}|[%‰])|{_GAP}(?!{_FUNCTION_WORD}{_STOP}){_LETTER})")

PATHS_VERSIONS = (
    _matchers("/", 0,
              rf"{_START}(?<![/.:~\\\-])(?:~|\.\.?)?(?:/{_SEGMENT})+/?{_STOP}")  # /etc ~/.a
    + _matchers("/", 0, rf"{_START}(?<![/.\-~:]){_SEGMENT}(?:/{_SEGMENT})+/?{_STOP}",
                accept=_relative_path)                                  # src/a/b.py docs/
    + _matchers(r":\\", 0, rf"{_START}[A-Za-z]:\\(?:[^\\\s<>\"|*?:{_U}]+\\?)*")  # C:\Users\x
    + _matchers(rf"\.(?:{_EXTENSIONS})|{_FILE_NAMES}", 0,
                rf"{_START}(?<![.\-])(?:{_W}(?:[.\-]?{_W})*\.(?:{_EXTENSIONS})|{_FILE_NAMES})"
                rf"{_STOP}(?![.\-])")                                   # nginx.conf README.md
    + _matchers(r"\d+", 0,
                rf"{_START}(?<![.\-])[vV]\d+(?:\.\d+)*(?:[-+][0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?"
                rf"{_STOP}",                                            # v2.3.1
                rf"{_START}(?<![.\-])\d+\.\d+\.\d+(?:\.\d+)?"
                rf"(?:-?(?:alpha|beta|rc|dev|post|a|b)\.?\d*)?(?:\+[0-9A-Za-z.]+)?{_STOP}")
    + _matchers(r"\d\.\d", 40, _VERSION_AFTER_NAME)                  # ingest-client 2.7
    + _matchers(r"[<>=!~]", 0,
                rf"{_START}(?<![.\-])[A-Za-z][\w.\-]*(?:\[[\w,\-]+\])?{_OPERATOR}\d+"
                rf"(?:\.[\w*]+)*(?:,{_OPERATOR}\d+(?:\.[\w*]+)*)*")     # numpy>=1.26,<3
)

# ----------------------------------------------------------------------------- identifiers

_ALNUM_OR_HYPHEN = rf"(?:{_ALNUM}|-)"
# A part of a dotted name or host name: two ASCII characters or more, a letter first in the
# first part (c6i.2xlarge, db-primary.internal; not e.g., U.S. or 3.14).
_DOTTED_PART = r"[A-Za-z0-9_][A-Za-z0-9_\-]*[A-Za-z0-9_]"
_DOTTED_FIRST = r"[A-Za-z_][A-Za-z0-9_\-]*[A-Za-z0-9_]"

# Phone numbers with an area code in brackets (8 (843) 222-14-30) or a country code
# (+49 30 1234 5678): seven digits or more in groups.
_PHONE_GROUP = r"[\-.\x20\u00a0]"
_PHONE = (rf"{_START}(?<![\-.+])(?:\+\d{{1,3}}{_PHONE_GROUP}?)?(?:\d{{1,4}}{_PHONE_GROUP}?)?"
          rf"\(\d{{1,5}}\){_PHONE_GROUP}?\d{{2,5}}(?:{_PHONE_GROUP}\d{{2,5}}){{0,3}}(?!\d)"
          rf"|{_START}(?<![\-.])\+\d{{1,3}}(?:{_PHONE_GROUP}(?:\(\d{{1,5}}\)|\d{{1,5}})){{1,5}}"
          r"(?!\d)")


def _long_enough(phone: str) -> bool:
    return sum(char.isdigit() for char in phone) >= 7


IDENTIFIERS = (
    _matchers("_", 0,
              rf"{_START}_*{_ALNUM}+(?:_+{_ALNUM}+)+_*{_STOP}",        # snake_case MAX_RETRIES
              rf"{_START}__{_ALNUM}+(?:_{_ALNUM}+)*__{_STOP}")         # __init__
    + _matchers(r"\p{Ll}\p{Lu}", 0,                                   # camelCase, iPhone
                rf"{_START}\p{{Ll}}{_ALNUM}*?\p{{Lu}}{_ALNUM}*{_STOP}",
                # CamelCase with a word of three lower-case letters or more before a
                # capital (PromptCompressor), not a name like McKidd, LaMarche, MacGregor
                rf"{_START}(?=\p{{Lu}}){_ALNUM}*?\p{{Ll}}{{3}}\p{{Lu}}{_ALNUM}*{_STOP}")
    + _matchers("=", 0, rf"{_START}(?<![\-])(?:--?)?[A-Za-z_][\w.\-]*="
                        r"(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s,;)\]}]+)")    # MAX_RETRIES=5
    + _matchers("--", 0, rf"{_START}(?<![\-])--[A-Za-z][\w\-]*")       # --dry-run
    + _matchers("#", 0, rf"{_START}(?<![#&])#\d+{_STOP}")              # #1234
    + _matchers(r"\(\d|\+\d", 30, _PHONE, accept=_long_enough)       # 8 (843) 222-14-30
    + _matchers(r"\.\w|\(\)", 0,
                rf"{_START}(?<![.@/\-]){_DOTTED_FIRST}(?:\.{_DOTTED_PART})+(?::\d+|\(\))?"
                rf"|{_START}(?<![.])[A-Za-z_]\w*\(\)")   # os.path.join() db-1.internal:5432
    # (a Korean number with its counter and particle, 6,200명을, is no identifier)
    + _matchers(r"\d+", 0,                                               # iPhone15 ABC-1234
                rf"{_START}(?<![\-.])(?={_ALNUM_OR_HYPHEN}*?(?!\p{{Hangul}}){_LETTER})"
                rf"(?={_ALNUM_OR_HYPHEN}*?\d){_ALNUM}+(?:-{_ALNUM}+)*{_STOP}(?![\-])")
)

# ----------------------------------------------------------------------------- code

# Inline code is not LaTeX-style quoting (``like this''): no '' inside double backticks,
# no backtick right before or after single ones.
CODE = _matchers(None, 0, r"```[\s\S]*?```|~~~[\s\S]*?~~~",
                 r"``(?:(?!'')[^`\n])+``|(?<!`)`[^`\n]+`(?!`)")

MATCHERS: dict[str, list[Matcher]] = {
    "numbers": NUMBERS, "dates_times": DATES_TIMES, "money_percent": MONEY_PERCENT,
    "urls_emails": URLS_EMAILS, "paths_versions": PATHS_VERSIONS, "identifiers": IDENTIFIERS,
    "code": CODE,
}


def find_facts(text: str, classes: Iterable[str]) -> Iterator[tuple[int, int, str]]:
    """``(start, end, class)`` of every match of the patterns of ``classes`` in ``text``
    (overlapping, unsorted); patterns with the same trigger share their windows."""
    windows: dict[tuple, list[tuple[int, int]]] = {}
    whitespace = Whitespace(text)
    for kind in classes:
        for matcher in MATCHERS[kind]:
            key = (matcher.trigger, matcher.reach)
            if key not in windows:
                windows[key] = list(matcher.windows(text, whitespace))
            yield from ((start, end, kind) for start, end in matcher.find(text, windows[key]))
