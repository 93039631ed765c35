"""Protected spans: the facts and strings that compression keeps whole, in every script.

One rule for every method: :func:`protected_spans` returns the character spans of a text
that must stay whole (kept whole or dropped whole, never cut), as sorted, merged,
non-overlapping :class:`Span` tuples ``(start, end, kind)``. What it looks for is a
:class:`Protection`; ``Protection()`` protects every class below, ``Protection.off()``
protects only what it is given (force tokens, patterns, digit words: llmlingua's behaviour).

Classes of facts (each one a flag of :class:`Protection`, and the ``kind`` of its spans):

``numbers``
    Numbers in any script's digits (ASCII, full-width １２, Arabic-Indic ٣٫٥, Devanagari
    २०२४, Thai ๒๕๖๗, ...) with the separators of each convention (3,5 · 1.250 · 14,720 ·
    1 200 000 with spaces, no-break or thin spaces · 1'000), a sign, an exponent, ranges
    and ratios (10-20, 3/4, 16:9), with the scale and unit after them (14,720 km, 3,5 Mio.,
    15,6 Millionen Kilowattstunden, 27,5 гектара, ४५ करोड़ लीटर, 4.5 กิโลเมตร) or the noun
    they count (14 gares, 500 records; never a function word, a month, or after a year);
    CJK numerals (一百八十, 二十) and any number with CJK counters (3万人, 23.6万人次, 十九座,
    ３億２千万円, 第一个; not the article 一个); Korean numbers with their counter (103만 명).
    The words are listed per language in :mod:`.quantities`; approximators (about, 約, 약)
    are no part of a number in any language.
``dates_times``
    ISO dates and times (2024-09-12T11:40Z), numeric dates (12/09/2024, 12.09.2024), dates
    with month names in English, French, German, Spanish, Russian, Arabic, Hindi and Thai
    (12 September 2024, September 12, 2024, 12 de septiembre de 2024), times (11:40 pm,
    14h30, 3 p.m., 9 Uhr) with their time of day (١٠:٠٠ صباحًا, सुबह ६:००, ๑๖.๐๐ น.), CJK
    and Korean dates and times (2024年9月12日, 九月十二日, 三日間, 午後3時, 2024년 9월 12일,
    밤 11시).
``money_percent``
    Amounts with a currency sign, code or word before or after ($3.5M, €12, 3,50 €,
    USD 40, 3,5 millions d'euros, 100 рублей, ๓๕ ล้านบาท, ₹500, 50元, 10만 원) and
    percentages (12.5 %, ٪٥٠, 50 percent, 百分之三十, ร้อยละ ๔๐).
``urls_emails``
    URLs with a scheme or ``www.`` (https://example.org/a?b=1) and e-mail addresses
    (ana@example.org, mailto: included).
``paths_versions``
    File paths (/etc/nginx/nginx.conf, ~/.bashrc, ./run.sh, C:\\Users\\x, src/a/b.py),
    file names with a known extension (nginx.conf, README.md), versions (v2.3.1, 1.2.3-rc1),
    a name with its version (ingest-client 2.7) and version constraints (numpy>=1.26).
``identifiers``
    snake_case and SCREAMING_CASE names, camelCase names (getElementById, iPhone), CamelCase
    names with three lower-case letters or more before a capital (PromptCompressor; not a
    name such as McKidd or LaMarche), words mixing letters and digits (iPhone15, H100,
    ABC-1234, CVE-2024-3094, 0x1f3a, a git sha, a UUID), NAME=value settings (MAX_RETRIES=5,
    --rate=0.5), long command-line options (--dry-run), issue numbers (#1234), dotted names,
    host names and calls (os.path.join, db-1.internal:5432, compress()), phone numbers with
    an area code in brackets or a country code (8 (843) 222-14-30, +49 30 1234 5678).
``code``
    Code in backticks: inline (`pip install x`) and fenced blocks.

Beyond the classes, :class:`Protection` holds ``patterns`` (the user's own regular
expressions, kind ``patterns``), ``force_tokens`` (literal strings protected wherever they
occur, inside words too, kind ``force_tokens``) and ``force_reserve_digit`` (llmlingua's
option: every word holding a digit, kind ``force_reserve_digit``).

Spans are snapped outward so that none starts or ends inside an extended grapheme cluster
(a character with its marks, a Thai consonant with its leading vowel, an emoji sequence)
or inside a word of a script written with spaces (a force token ``ell`` protects
``hello``; the digits ``14`` protect all of ``1874``). Overlapping and touching spans are
merged, and so are facts one space apart on the same line (2024년 9월 12일 is one span); a
merged span takes the kind of its most specific part, in the order of ``FACT_CLASSES``.
A fact never takes the Korean particle written onto it (103만 명의: 103만 명).
A plain word, a capitalised name without digits, or punctuation is not a fact.

The methods call :func:`protected_spans` once per text and :func:`covered` to learn which of
their units (words, pieces, sentences) hold protected text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, fields, replace
from typing import Iterable, Iterator, NamedTuple, Pattern, Sequence, Union

import numpy as np
import regex

from ..validate import check_string_list
from .facts import KOREAN_PARTICLE, Whitespace, find_facts
from .scripts import UNSPACED_RANGES, cluster_starts

FACT_CLASSES = ("code", "urls_emails", "paths_versions", "money_percent", "dates_times",
                "identifiers", "numbers")
"""The classes of facts, most specific first (a merged span takes the first kind it holds)."""
PATTERNS, FORCE_TOKENS, DIGITS = "patterns", "force_tokens", "force_reserve_digit"
_PRIORITY = {kind: rank for rank, kind in enumerate((*FACT_CLASSES, PATTERNS, DIGITS,
                                                     FORCE_TOKENS))}

UserPattern = Union[str, Pattern[str], "regex.Pattern"]


class Span(NamedTuple):
    """A protected span of a text: ``text[start:end]``, found as a fact of ``kind``."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Protection:
    """What compression keeps whole: one flag per class of facts, the user's patterns,
    force tokens and llmlingua's ``force_reserve_digit``.

    ``Protection()`` protects every class; :meth:`off` gives llmlingua's behaviour.
    Patterns are regular expressions (strings are compiled with the ``regex`` package, so
    ``\\p{Han}`` works; compiled ``re`` or ``regex`` patterns are used as they are).
    Force tokens are literal strings, protected wherever they occur, inside words too.
    """

    numbers: bool = True
    dates_times: bool = True
    money_percent: bool = True
    urls_emails: bool = True
    paths_versions: bool = True
    identifiers: bool = True
    code: bool = True
    patterns: Sequence[UserPattern] = ()
    force_tokens: Sequence[str] = ()
    force_reserve_digit: bool = False

    def __post_init__(self) -> None:
        for name in (*FACT_CLASSES, DIGITS):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Protection.{name} must be True or False, "
                                f"got {getattr(self, name)!r}")
        tokens = tuple(check_string_list("force_tokens", self.force_tokens))
        object.__setattr__(self, "force_tokens", tokens)
        object.__setattr__(self, "patterns", _compile_patterns(self.patterns))

    @classmethod
    def off(cls, force_tokens: Sequence[str] = (), force_reserve_digit: bool = False,
            patterns: Sequence[UserPattern] = ()) -> Protection:
        """No class of facts: only ``force_tokens``, ``patterns`` and (with
        ``force_reserve_digit``) digit-bearing words are protected, as in llmlingua."""
        return cls(**dict.fromkeys(FACT_CLASSES, False), patterns=patterns,
                   force_tokens=force_tokens, force_reserve_digit=force_reserve_digit)

    def forced_only(self) -> Protection:
        """Only what llmlingua keeps whatever the budget: the force tokens and, with
        ``force_reserve_digit``, digit words (no class of facts, no patterns)."""
        return Protection.off(force_tokens=self.force_tokens,
                              force_reserve_digit=self.force_reserve_digit)

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes of facts switched on."""
        return tuple(name for name in FACT_CLASSES if getattr(self, name))

    def only(self, *classes: str) -> Protection:
        """This protection with ``classes`` on and every other class of facts off."""
        _check_classes(classes)
        return replace(self, **{name: name in classes for name in FACT_CLASSES})

    def without(self, *classes: str) -> Protection:
        """This protection with ``classes`` switched off."""
        _check_classes(classes)
        return replace(self, **dict.fromkeys(classes, False))

    def __repr__(self) -> str:
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                   if getattr(self, f.name) != f.default]
        return f"Protection({', '.join(changed)})"

    # Compiled ``regex`` patterns compare by identity, so a copy (pickled by Ray or
    # multiprocessing, rebuilt from a saved component) would differ from its original:
    # patterns are compared by what they match instead.
    def _key(self) -> tuple:
        return tuple((f.name, _pattern_keys(self.patterns) if f.name == "patterns"
                      else getattr(self, f.name)) for f in fields(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Protection):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _pattern_keys(patterns: Sequence) -> tuple:
    return tuple((type(p).__module__, p.pattern, p.flags) for p in patterns)


def _check_classes(classes: Iterable[str]) -> None:
    for name in classes:
        if name not in FACT_CLASSES:
            raise ValueError(f"{name!r} is not a class of facts; the classes are "
                             f"{', '.join(FACT_CLASSES)}")


def _compile_patterns(patterns: object) -> tuple:
    if patterns is None:
        return ()
    if isinstance(patterns, (str, re.Pattern, regex.Pattern)) \
            or not isinstance(patterns, (list, tuple)):
        raise TypeError("Protection.patterns must be a list of regular expressions, "
                        f"e.g. [r'ORD-\\d+'], got {patterns!r}")
    compiled = []
    for pattern in patterns:
        if isinstance(pattern, (re.Pattern, regex.Pattern)):
            compiled.append(pattern)
        elif isinstance(pattern, str) and pattern:
            try:
                compiled.append(regex.compile(pattern))
            except regex.error as error:
                raise ValueError(f"Protection.patterns: {pattern!r} is not a valid "
                                 f"regular expression ({error})") from None
        elif not isinstance(pattern, str):
            raise TypeError("Protection.patterns must hold strings or compiled patterns, "
                            f"got {pattern!r}")
    return tuple(compiled)


DEFAULT_PROTECTION = Protection()

ProtectOption = Union[bool, Protection]
"""What a public call's ``protect`` accepts: True (every class of facts), False (llmlingua's
behaviour: only force tokens and digit words) or a :class:`Protection`."""


def resolve_protection(protect: ProtectOption = True, force_tokens: Sequence[str] = (),
                       force_reserve_digit: bool = False) -> Protection:
    """The :class:`Protection` a call asks for: its ``protect`` option with llmlingua's
    ``force_tokens`` and ``force_reserve_digit`` added to what it protects.

    One definition for every method and entry point, so that ``protect=False`` with
    ``force_tokens`` means the same thing everywhere (llmlingua's behaviour)."""
    if protect is True:
        base = DEFAULT_PROTECTION
    elif protect is False:
        base = Protection.off()
    elif isinstance(protect, Protection):
        base = protect
    else:
        raise TypeError("protect must be True (keep numbers, dates, identifiers... whole), "
                        f"False (llmlingua's behaviour) or a Protection, got {protect!r}")
    if not isinstance(force_reserve_digit, bool):
        raise TypeError(f"force_reserve_digit must be True or False, got {force_reserve_digit!r}")
    tokens = tuple(check_string_list("force_tokens", force_tokens))
    if not tokens and not force_reserve_digit:
        return base
    merged = tuple(dict.fromkeys((*base.force_tokens, *tokens)))
    return replace(base, force_tokens=merged,
                   force_reserve_digit=base.force_reserve_digit or force_reserve_digit)


def protected_spans(text: str, protection: Protection = DEFAULT_PROTECTION) -> list[Span]:
    """The spans of ``text`` that ``protection`` keeps whole: sorted, non-overlapping,
    each snapped outward to whole clusters and whole words, touching ones merged."""
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}")
    if not isinstance(protection, Protection):
        raise TypeError(f"protection must be a Protection, got {type(protection).__name__}")
    raw = sorted(s for s in _raw_spans(text, protection) if s.end > s.start)
    return _merge(text, _snapped(text, raw)) if raw else []


def covered(spans: Sequence[Span], starts: Sequence[int], ends: Sequence[int]) -> np.ndarray:
    """Which pieces ``[starts[i], ends[i])`` of a text overlap a protected span (the units
    or words a method must keep, or drop together with the span)."""
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    hit = np.zeros(len(starts), dtype=bool)
    if not len(spans) or not len(starts):
        return hit
    span_starts = np.array([s.start for s in spans], dtype=np.int64)
    span_ends = np.array([s.end for s in spans], dtype=np.int64)
    # The first span ending after a piece's start overlaps it iff it starts before the end.
    first = np.searchsorted(span_ends, starts, side="right")
    inside = first < len(spans)
    hit[inside] = span_starts[first[inside]] < ends[inside]
    return hit & (ends > starts)


def _raw_spans(text: str, protection: Protection) -> Iterator[Span]:
    yield from (Span(*found) for found in find_facts(text, protection.classes))
    for pattern in protection.patterns:
        yield from (Span(*m.span(), PATTERNS) for m in pattern.finditer(text))
    if protection.force_reserve_digit:
        yield from (Span(*m.span(), DIGITS) for m in _DIGIT_WORD.finditer(text))
    if protection.force_tokens:
        yield from (Span(*m.span(), FORCE_TOKENS)
                    for m in _literal_pattern(protection.force_tokens).finditer(text))


# A digit-bearing word for force_reserve_digit: non-space characters around a digit, but
# not the letters of a script written without spaces (a whole Chinese paragraph is one
# whitespace chunk). It is tried only where such a word starts, so a search is linear.
_SPACED = rf"(?:[^\s{UNSPACED_RANGES}]|\d)"
_DIGIT_WORD = regex.compile(rf"(?<!{_SPACED}){_SPACED}*?\d{_SPACED}*")


@functools.lru_cache(maxsize=64)
def _literal_pattern(tokens: tuple[str, ...]) -> regex.Pattern:
    ordered = sorted(set(tokens), key=len, reverse=True)  # the longest token wins
    return regex.compile("|".join(regex.escape(t) for t in ordered))


_UNSPACED_CHAR = regex.compile(f"[{UNSPACED_RANGES}]")


def _snapped(text: str, raw: list[Span]) -> list[Span]:
    """``raw`` (sorted) snapped to whole clusters and words; a span inside the previous
    snapped one is folded into it, and none is widened back past the one before (it would
    touch it, and be merged with it), so each word is walked once."""
    snap = _Snapper(text)
    snapped: list[Span] = []
    for span in raw:
        last = snapped[-1] if snapped else None
        if last is not None and span.start < last.end:
            kind = _specific(last.kind, span.kind)
            floor = snapped[-2].end if len(snapped) > 1 else 0
            end = snap(last.start, span.end, kind, floor)[1] if span.end > last.end else last.end
            snapped[-1] = Span(last.start, end, kind)
        else:
            floor = last.end if last is not None else 0
            snapped.append(Span(*snap(span.start, span.end, span.kind, floor), span.kind))
    return snapped


def _specific(kind: str, other: str) -> str:
    """The more specific of two kinds (a merged span is the fact it most precisely is)."""
    return min(kind, other, key=_PRIORITY.__getitem__)


class _Snapper:
    """Widens a span to whole clusters and, in scripts written with spaces, whole words;
    a fact widened inside a Korean word stops where a particle or ending starts
    (6,200명을, 11시까지: the particle is no part of the fact)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._chunks: dict[int, frozenset[int]] = {}  # cluster starts per whitespace chunk
        self._whitespace: Whitespace | None = None

    def __call__(self, start: int, end: int, kind: str, floor: int = 0) -> tuple[int, int]:
        """``(start, end)`` widened, its start no further back than ``floor``."""
        fact = kind in FACT_CLASSES
        while True:
            new_start, new_end = self._word_edges(start, end, fact, floor)
            new_start, new_end = self._cluster_edges(new_start, new_end, floor)
            if (new_start, new_end) == (start, end):
                return start, end
            start, end = new_start, new_end

    def _word_edges(self, start: int, end: int, fact: bool, floor: int) -> tuple[int, int]:
        text = self.text
        while start > floor and _same_word(text[start - 1], text[start]):
            start -= 1
        while end < len(text) and _same_word(text[end - 1], text[end]):
            if fact and KOREAN_PARTICLE.match(text, end):
                break
            end += 1
        return start, end

    def _cluster_edges(self, start: int, end: int, floor: int) -> tuple[int, int]:
        while start > floor and not self._starts_cluster(start):
            start -= 1
        while end < len(self.text) and not self._starts_cluster(end):
            end += 1
        return start, end

    def _starts_cluster(self, position: int) -> bool:
        text = self.text
        before, char = text[position - 1], text[position]
        if before.isascii() and char.isascii():
            return before != "\r" or char != "\n"
        # Clusters of the whitespace chunk around it, counted from the whitespace before.
        self._whitespace = self._whitespace or Whitespace(text)
        low = self._whitespace.at_or_before(position - 1)
        if low not in self._chunks:
            high = self._whitespace.at_or_after(position + 1)
            self._chunks[low] = frozenset(cluster_starts(text, low, high))
        return position in self._chunks[low]


def _same_word(left: str, right: str) -> bool:
    """Whether two neighbouring characters belong to one word that a span may not cut:
    word characters of scripts written with spaces, or two digits of any script."""
    if not (_is_word_char(left) and _is_word_char(right)):
        return False
    if left.isdecimal() and right.isdecimal():
        return True
    return not (_UNSPACED_CHAR.match(left) or _UNSPACED_CHAR.match(right))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_" or unicodedata.category(char)[0] == "M"


_INLINE_GAP = regex.compile(r"[ \t\u00a0\u2009\u202f\u3000]")


def _merge(text: str, spans: list[Span]) -> list[Span]:
    """Merge overlapping and touching spans, and facts one space apart on the same line
    (the parts of one date, a list of numbers), keeping the most specific kind."""
    merged = [spans[0]]
    for span in spans[1:]:
        last = merged[-1]
        gap = text[last.end:span.start]
        one_space = len(gap) == 1 and _INLINE_GAP.match(gap) and _is_fact(last) \
            and _is_fact(span)
        if span.start <= last.end or one_space:
            merged[-1] = Span(last.start, max(last.end, span.end),
                              _specific(last.kind, span.kind))
        else:
            merged.append(span)
    return merged


def _is_fact(span: Span) -> bool:
    return span.kind in FACT_CLASSES
