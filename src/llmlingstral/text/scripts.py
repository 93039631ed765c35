"""Where a whitespace-free run of text may be cut into smaller pieces.

Chinese, Japanese, Thai, Lao, Khmer, Burmese and a few other scripts are written without
spaces between words, so a whole paragraph can be one whitespace chunk. Compression needs
smaller pieces there, while words of scripts written with spaces stay whole.

Inside a run of such a script a piece starts at a character-cluster boundary (see
:func:`cluster_starts`: an extended grapheme cluster, such as a base character with its
combining or voiced marks or an emoji sequence, widened so that a Khmer coeng or Burmese
virama stack, a spacing vowel sign, and a Thai or Lao leading vowel with the consonant
after it stay together) and, when token offsets are given, only where a token starts as
well. Pieces are then tokenizer pieces snapped to whole clusters: every piece costs at
least one token, no token is split between two pieces and no character or mark is ever
cut off its base (see BENCHMARKS.md for the comparison with single clusters).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from typing import Container, Iterable

import regex

UNSPACED_RANGES = (
    "\u0e00-\u0eff"            # Thai, Lao
    "\u0f00-\u0fff"            # Tibetan
    "\u1000-\u109f"            # Myanmar
    "\u1780-\u17ff\u19e0-\u19ff"  # Khmer, Khmer symbols
    "\u1950-\u19df\u1a20-\u1aaf"  # Tai Le, New Tai Lue, Tai Tham
    "\u1b00-\u1b7f"            # Balinese
    "\u200b-\u200d"            # zero-width space / joiners used inside these scripts
    "\u2e80-\u2fdf\u3000-\u303f"  # CJK radicals, CJK symbols and punctuation
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3100-\u312f\u31a0-\u31bf"  # Bopomofo
    "\u3400-\u4dbf\u4e00-\u9fff"  # CJK ideographs
    "\ua000-\ua4cf"            # Yi
    "\ua980-\ua9ff\uaa60-\uaa7f"  # Javanese, Myanmar extended
    "\uf900-\ufaff"            # CJK compatibility ideographs
    "\uff00-\uffef"            # full-width and half-width forms
    "\U00020000-\U0003134f"    # CJK ideographs, supplementary planes
)
"""Character ranges (for a regular-expression class) of scripts written without spaces."""
_UNSPACED_RUN = re.compile(f"[{UNSPACED_RANGES}]+")
_GRAPHEME = regex.compile(r"\X")
# A character after one of these belongs to the same cluster (stacked consonants, joiners).
_JOINS_NEXT = frozenset("\u17d2\u1039\u200d\u0f84")
# Thai and Lao vowels written before the consonant they follow in speech.
_LEADING_VOWELS = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44\u0ec0\u0ec1\u0ec2\u0ec3\u0ec4")
_MARKS = frozenset(("Mn", "Mc", "Me"))


def has_unspaced(text: str) -> bool:
    """Whether ``text`` holds a character of a script written without spaces."""
    return _UNSPACED_RUN.search(text) is not None


def cluster_starts(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets in ``text[start:end]`` where a character cluster starts, ``end`` included.

    A cluster is an extended grapheme cluster (Unicode UAX #29: a character with its
    combining and voiced marks, a Hangul syllable, an emoji ZWJ or flag sequence), widened
    where a script keeps more together: no cluster starts at a mark, after a joiner
    (Khmer coeng, Burmese virama, ZWJ, Tibetan halanta) or after a Thai or Lao leading
    vowel. ``start`` must itself be a cluster start (a text's start or a whitespace edge).
    """
    end = len(text) if end is None else end
    if text.isascii():  # every ASCII character is a cluster of its own but CR LF
        return [p for p in range(start, end) if not _is_crlf_middle(text, p)] + [end]
    found = (m.start() for m in _GRAPHEME.finditer(text, start, end))
    return [p for p in found if p == start or _may_start_cluster(text, p)] + [end]


def _is_crlf_middle(text: str, position: int) -> bool:
    return position > 0 and text[position] == "\n" and text[position - 1] == "\r"


def _may_start_cluster(text: str, position: int) -> bool:
    """Whether the character at ``position`` may start a cluster, by the widening rules."""
    char, before = text[position], text[position - 1]
    if unicodedata.category(char) in _MARKS or char in "\u200c\u200d":
        return False
    if "\ufe00" <= char <= "\ufe0f" or "\udc00" <= char <= "\udfff":
        return False
    return before not in _JOINS_NEXT and before not in _LEADING_VOWELS


def piece_cuts(text: str, start: int, end: int,
               token_starts: Container[int] | None = None) -> list[int]:
    """Positions ``p`` with ``start < p < end`` where a piece may begin inside the
    whitespace-free span ``text[start:end]``.

    Cuts fall only inside or at the edges of runs of unspaced scripts, so a Latin word,
    a number or an identifier between them stays whole. With ``token_starts`` (token
    start offsets in ``text``, best as a set), a cut must also be a token start.
    """
    if not has_unspaced(text[start:end]):
        return []
    clusters = cluster_starts(text, start, end)
    cuts: list[int] = []
    for run in _UNSPACED_RUN.finditer(text, start, end):
        low, high = max(run.start(), start + 1), min(run.end(), end - 1)
        first = bisect.bisect_left(clusters, low)
        for position in clusters[first:bisect.bisect_right(clusters, high)]:
            if token_starts is None or position in token_starts:
                cuts.append(position)
    return sorted(set(cuts))


def split_span(text: str, start: int, end: int,
               token_starts: Container[int] | None = None) -> list[tuple[int, int]]:
    """``text[start:end]`` as consecutive ``(start, end)`` pieces cut at :func:`piece_cuts`."""
    bounds = [start, *piece_cuts(text, start, end, token_starts), end]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def token_start_set(offsets: Iterable[tuple[int, int]], shift: int = 0) -> frozenset[int]:
    """Start offsets of tokens (minus ``shift``), for :func:`piece_cuts`."""
    return frozenset(int(s) - shift for s, _ in offsets)


class ShiftedStarts:
    """Token starts of a whole text seen from a part of it that begins at ``shift``."""

    def __init__(self, starts: Container[int], shift: int) -> None:
        self.starts, self.shift = starts, shift

    def __contains__(self, position: object) -> bool:
        return isinstance(position, int) and position + self.shift in self.starts
