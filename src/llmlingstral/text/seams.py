"""Seams: what stays between two kept pieces of text when the text between them is dropped.

Dropping the words between two kept pieces joins them. In a script written with spaces the
dropped words take their spaces with them, but the kept pieces still carry their own; in
Chinese or Japanese nothing separates them. Where the two pieces meet with characters that
would read as one word or one number (``100`` + ``200`` -> ``100200``, ``Python`` + ``Java``
-> ``PythonJava``, ``2024年9`` + ``12`` -> ``2024年912``), the output would say something the
input never said. :func:`seam` gives the separator that keeps them apart (a space), or
nothing where the join reads as the input did (two Han characters, a word and punctuation).
"""

from __future__ import annotations

import unicodedata

SEPARATOR = " "

# Numerals written with Han characters: two of them side by side read as one number.
_CJK_NUMERALS = frozenset("〇零一二三四五六七八九十百千万萬亿億兩两壱弐参拾")
# Scripts written without spaces between words: two of their letters side by side are
# ordinary text, not a new word.
_UNSPACED_PREFIXES = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR",
                      "TIBETAN", "HALFWIDTH KATAKANA", "IDEOGRAPHIC", "BOPOMOFO", "YI ")


def seam(left: str, right: str) -> str:
    """The separator to put between kept text ending with ``left`` and kept text starting
    with ``right`` when something between them was dropped: a space where the two would
    otherwise read as one word or number, else ``""``."""
    if not left or not right:
        return ""
    return SEPARATOR if _joins(_last_base(left), right[0]) else ""


def join_pieces(pieces: list[str], gaps: list[bool]) -> str:
    """``pieces`` joined in order, with a :func:`seam` wherever ``gaps[i]`` says text was
    dropped between ``pieces[i]`` and ``pieces[i + 1]``."""
    if len(gaps) != max(len(pieces) - 1, 0):
        raise ValueError(f"{len(pieces)} pieces need {max(len(pieces) - 1, 0)} gaps, "
                         f"got {len(gaps)}")
    out: list[str] = []
    tail = ""
    for index, piece in enumerate(pieces):
        if index and gaps[index - 1] and piece and tail:
            out.append(seam(tail, piece))
        out.append(piece)
        if piece:
            tail = piece
    return "".join(out)


def _last_base(text: str) -> str:
    """The last character of ``text`` that is not a combining mark (a mark belongs to the
    letter before it)."""
    for char in reversed(text):
        if not unicodedata.combining(char) and unicodedata.category(char) not in ("Mn", "Me"):
            return char
    return text[-1]


def _joins(left: str, right: str) -> bool:
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind is None or right_kind is None:
        return False
    if left_kind == "numeral" or right_kind == "numeral":
        return left_kind == right_kind == "numeral" or {left_kind, right_kind} == {
            "numeral", "digit"}
    return True  # digits and letters of spaced scripts, in any mix, read as one token


def _kind(char: str) -> str | None:
    """``"digit"``, ``"letter"`` (a letter of a script written with spaces), ``"numeral"``
    (a Han numeral) or None (punctuation, space, a letter of an unspaced script)."""
    if char in _CJK_NUMERALS:
        return "numeral"
    category = unicodedata.category(char)
    if category == "Nd":
        return "digit"
    if category[0] not in ("L", "M") and char != "_":
        return None
    if char == "_":
        return "letter"
    name = unicodedata.name(char, "")
    if name.startswith(_UNSPACED_PREFIXES) or category == "Lo" and "IDEOGRAPH" in name:
        return None
    return "letter"
