"""Sentences, and protected pieces, for the sentence filter and the command line.

Sentence boundaries come from sentencex (Wikimedia's rule-based segmenter for about 300
languages; no model, nothing downloaded), with the rules of the language the text's
letters point to (English for Latin script), plus a cut at every line break. Joining the
sentences gives back the text exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Sequence

from .protect import Protection, protected_spans
from .scripts import UNSPACED_RANGES

_NEWLINE_BREAK = re.compile(r"\n\s*")
# The language whose segmentation rules fit a script best (the script's name is the
# first word of a letter's Unicode name); Latin and anything unlisted use English rules.
_SCRIPT_LANGUAGE = {
    "CYRILLIC": "ru", "GREEK": "el", "ARABIC": "ar", "HEBREW": "he", "DEVANAGARI": "hi",
    "BENGALI": "bn", "GURMUKHI": "pa", "GUJARATI": "gu", "TAMIL": "ta", "TELUGU": "te",
    "KANNADA": "kn", "MALAYALAM": "ml", "SINHALA": "si", "THAI": "th", "LAO": "lo",
    "KHMER": "km", "MYANMAR": "my", "TIBETAN": "bo", "GEORGIAN": "ka", "ARMENIAN": "hy",
    "ETHIOPIC": "am", "HANGUL": "ko", "HIRAGANA": "ja", "KATAKANA": "ja", "CJK": "zh",
}
# Letters looked at to guess the script (enough for a paragraph, cheap for a book).
_SAMPLE = 2000


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; ``"".join(result) == text``.

    Breaks where sentencex finds a sentence end (it knows abbreviations, initials, decades
    such as "1880s." and the sentence marks of many scripts: 。！？ ؟ । ...) and at line
    breaks. Whitespace stays attached to the end of the preceding sentence.
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


def language_of(text: str) -> str:
    """The language code whose sentence rules suit ``text``: from the script most of its
    first letters are written in (``"en"`` for Latin and unlisted scripts)."""
    sample = text[:_SAMPLE]
    if sample.isascii():
        return "en"
    scripts = Counter(unicodedata.name(char, "").split(" ", 1)[0]
                      for char in sample if char.isalpha() and not char.isascii())
    scripts["LATIN"] += sum(char.isalpha() for char in sample if char.isascii())
    for script, _ in scripts.most_common():
        if script in _SCRIPT_LANGUAGE:
            return _SCRIPT_LANGUAGE[script]
        if script == "LATIN":
            break
    return "en"


def _sentence_cuts(text: str):
    """Where sentencex starts a sentence, moved past the whitespace before it."""
    from sentencex import get_sentence_boundaries

    for boundary in get_sentence_boundaries(language_of(text), text):
        start = int(boundary["start_index"])
        if start == 0:
            continue  # the first sentence; whitespace before it stays with it
        while start < len(text) and text[start].isspace():
            start += 1
        yield start


def _line_cuts(text: str):
    for match in _NEWLINE_BREAK.finditer(text):
        yield match.end()


def split_protected(text: str, protection: Protection | Sequence[str]
                    ) -> tuple[list[str], list[bool]]:
    """Split ``text`` into pieces and compress flags so that what ``protection`` keeps
    whatever the budget is never compressed: its force tokens and, with
    ``force_reserve_digit``, digit words (a list of strings is taken as force tokens).

    Returns ``(pieces, compressible)``: joining the pieces gives ``text`` back. Each
    protected span (:func:`.protect.protected_spans`) is widened to the whitespace-separated
    word it lies in, with the whitespace before it, since the token pass keeps or drops
    such words whole; in scripts written without spaces it stays as found (one ``100`` of
    ``价格是100元``, not the whole run). Facts of the protection's classes are left to the
    method, which charges them to its budget first.
    """
    if not isinstance(protection, Protection):
        protection = Protection.off(force_tokens=protection)
    spans = [s for s in protected_spans(text, protection.forced_only())
             if text[s.start:s.end].strip()]
    pieces: list[str] = []
    flags: list[bool] = []
    cursor = 0
    for span in spans:
        start, end = _widen_to_words(text, span.start, span.end)
        if start < cursor:  # overlaps the previous protected piece: merge into it
            pieces[-1] += text[cursor:max(cursor, end)]
            cursor = max(cursor, end)
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


_UNSPACED_CHAR = re.compile(f"[{UNSPACED_RANGES}]")


def _widen_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Extend a span to the whitespace around it, not into a run of a script written
    without spaces, and keep the leading whitespace with it."""
    while start > 0 and _joins_word(text[start - 1]):
        start -= 1
    while end < len(text) and _joins_word(text[end]):
        end += 1
    while start > 0 and text[start - 1].isspace():
        start -= 1
    return start, end


def _joins_word(char: str) -> bool:
    return not char.isspace() and not _UNSPACED_CHAR.match(char)
