"""Units: a word together with the whitespace before it, and which unit a token is in.

Keep/drop decisions of the LLMLingua token pass are made per unit, so every output word is
an input word: numbers, identifiers, URLs and multi-byte characters are never cut. In
scripts written without spaces (Chinese, Japanese, Thai, ...) a unit is a smaller piece
of the run, cut by :mod:`.scripts`.
:func:`owner_of_tokens` is the one mapping from tokens to the pieces of a text (units
here, words in :mod:`.words`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Container, Sequence

import numpy as np

from .scripts import has_unspaced, split_span

_UNIT = re.compile(r"\s*\S+|\s+")
# With keep_split, a whitespace run holding a blank line is a unit of its own (kept).
_UNIT_KEEP_SPLIT = re.compile(r"[^\S\n]*\n[^\S\n]*\n\s*|\s*\S+|\s+")
_PARAGRAPH = re.compile(r"[^\S\n]*\n[^\S\n]*\n")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Units:
    """Character spans of a text's units; ``separator`` marks blank-line units."""

    starts: np.ndarray
    ends: np.ndarray
    separator: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)


def split_units(text: str, *, keep_split: bool = False,
                token_starts: Container[int] | None = None) -> Units:
    """Split ``text`` into units: whitespace + word, or (``keep_split``) blank-line runs.

    Words of scripts written without spaces are cut further (:func:`.scripts.split_span`;
    at token starts when ``token_starts`` gives them), the whitespace staying with the
    first piece.
    """
    pattern = _UNIT_KEEP_SPLIT if keep_split else _UNIT
    spans = [m.span() for m in pattern.finditer(text)]
    if has_unspaced(text):
        spans = [piece for span in spans for piece in _pieces(text, span, token_starts)]
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e in spans], dtype=np.int64)
    separator = np.array([keep_split and "\n" in text[s:e] and not text[s:e].strip()
                          and bool(_PARAGRAPH.search(text[s:e])) for s, e in spans], dtype=bool)
    return Units(starts, ends, separator)


def protected_units(text: str, units: Units, phrases: Sequence[str] = (),
                    digits: bool = False) -> np.ndarray:
    """Units that must be kept: those overlapping an occurrence of one of ``phrases``
    (llmlingua's ``force_tokens``) and, with ``digits``, those holding a digit.

    Units are whole words, so a protected phrase keeps the words it touches.
    """
    protected = np.zeros(len(units), dtype=bool)
    if digits:
        protected |= np.array([bool(_DIGIT.search(text[a:b]))
                               for a, b in zip(units.starts, units.ends)], dtype=bool)
    wanted = sorted({p for p in phrases if p}, key=len, reverse=True)
    if not wanted or len(units) == 0:
        return protected
    for match in re.finditer("|".join(re.escape(p) for p in wanted), text):
        first = int(np.searchsorted(units.ends, match.start(), side="right"))
        last = int(np.searchsorted(units.starts, match.end(), side="left")) - 1
        protected[first:max(first, last) + 1] = True
    return protected


def _pieces(text: str, span: tuple[int, int],
            token_starts: Container[int] | None) -> list[tuple[int, int]]:
    start, end = span
    word_start = start + (len(text[start:end]) - len(text[start:end].lstrip()))
    if word_start >= end:
        return [span]
    pieces = split_span(text, word_start, end, token_starts)
    return [(start, pieces[0][1]), *pieces[1:]]


def owner_of_tokens(piece_starts: np.ndarray, token_starts: np.ndarray) -> np.ndarray:
    """Index of the piece each token belongs to, by the token's first character.

    ``piece_starts`` are the sorted start offsets of consecutive pieces covering the text.
    """
    if len(piece_starts) == 0:
        return np.zeros(len(token_starts), dtype=np.int64)
    index = np.searchsorted(piece_starts, token_starts, side="right") - 1
    return np.clip(index, 0, len(piece_starts) - 1)
