"""Units: a word together with the whitespace before it, and which unit a token is in.

Keep/drop decisions of the LLMLingua token pass are made per unit, so every output word is
an input word: numbers, identifiers, URLs and multi-byte characters are never cut.
:func:`owner_of_tokens` is the one mapping from tokens to the pieces of a text (units
here, words in :mod:`.words`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

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


def split_units(text: str, *, keep_split: bool = False) -> Units:
    """Split ``text`` into units: whitespace + word, or (``keep_split``) blank-line runs."""
    pattern = _UNIT_KEEP_SPLIT if keep_split else _UNIT
    spans = [m.span() for m in pattern.finditer(text)]
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


def owner_of_tokens(piece_starts: np.ndarray, token_starts: np.ndarray) -> np.ndarray:
    """Index of the piece each token belongs to, by the token's first character.

    ``piece_starts`` are the sorted start offsets of consecutive pieces covering the text.
    """
    if len(piece_starts) == 0:
        return np.zeros(len(token_starts), dtype=np.int64)
    index = np.searchsorted(piece_starts, token_starts, side="right") - 1
    return np.clip(index, 0, len(piece_starts) - 1)
