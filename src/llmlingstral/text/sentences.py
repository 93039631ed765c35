"""Sentences, and protected phrases, for the sentence filter and the command line.

A rule-based splitter that needs no downloaded model; joining the sentences gives back the
text exactly.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset("""
mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx dept fig inc ltd corp
gov sen lt sgt capt cmdr adm rev hon vol vols pp jan feb apr jun jul aug sep sept oct nov
dec tue thu fri u.s u.k u.n a.m p.m ph.d
""".split())

# A sentence ends at . ! ? (or …) plus closing quotes/brackets, before whitespace.
_END = re.compile(r"[.!?\u2026]+[\"'\u2019\u201d)\]]*(?=\s)")
_NEWLINE_BREAK = re.compile(r"\n\s*")


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; ``"".join(result) == text``.

    Breaks after sentence punctuation followed by whitespace and a plausible sentence start,
    and at line breaks. Common abbreviations ("Dr.", "e.g.", "U.S.") and initials ("J.")
    do not end a sentence. Whitespace stays attached to the end of the preceding sentence.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}")
    cuts = sorted(set(_sentence_cuts(text)) | set(_line_cuts(text)))
    pieces, last = [], 0
    for cut in cuts:
        if last < cut < len(text):
            pieces.append(text[last:cut])
            last = cut
    if last < len(text):
        pieces.append(text[last:])
    return pieces


def _sentence_cuts(text: str):
    for match in _END.finditer(text):
        end = match.end()
        if match.group().startswith(".") and _is_abbreviation(text, match.start()):
            continue
        following = re.match(r"\s+", text[end:])
        cut = end + (following.end() if following else 0)
        if cut < len(text) and _starts_sentence(text[cut]):
            yield cut


def _line_cuts(text: str):
    for match in _NEWLINE_BREAK.finditer(text):
        yield match.end()


def _is_abbreviation(text: str, dot: int) -> bool:
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    return word in _ABBREVIATIONS


def _starts_sentence(char: str) -> bool:
    return char.isupper() or char.isdigit() or char in "\"'\u201c\u2018([-*#" or not char.isascii()


def split_protected(text: str, phrases: list[str] | tuple[str, ...]) -> tuple[list[str], list[bool]]:
    """Split ``text`` into pieces and compress flags so every occurrence of a phrase is kept.

    Returns ``(pieces, compressible)``: joining the pieces gives ``text`` back, and the pieces
    holding a protected phrase (extended to whole words, so a number is never cut) have
    ``compressible=False``.
    """
    wanted = [p for p in dict.fromkeys(phrases) if p and p.strip()]
    if not wanted:
        return [text], [True]
    pattern = re.compile("|".join(re.escape(p) for p in sorted(wanted, key=len, reverse=True)))
    pieces: list[str] = []
    flags: list[bool] = []
    cursor = 0
    for match in pattern.finditer(text):
        start, end = _widen_to_words(text, *match.span())
        if start < cursor:  # overlaps the previous protected piece: merge into it
            pieces[-1] += text[cursor:end]
            cursor = end
            continue
        if start > cursor:
            pieces.append(text[cursor:start])
            flags.append(True)
        pieces.append(text[start:end])
        flags.append(False)
        cursor = end
    if cursor < len(text):
        pieces.append(text[cursor:])
        flags.append(True)
    return (pieces, flags) if pieces else ([text], [True])


def _widen_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Extend a span to the whitespace around it and keep the leading whitespace with it."""
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    while start > 0 and text[start - 1].isspace():
        start -= 1
    return start, end
