"""Units: a word together with the whitespace before it, and which unit a token is in.

Keep/drop decisions of the LLMLingua token pass are made per unit, so every output word is
an input word: numbers, identifiers, URLs and multi-byte characters are never cut. In
scripts written without spaces (Chinese, Japanese, Thai, ...) a unit is a smaller piece
of the run, cut by :mod:`.scripts`; :func:`fused` joins the units of each protected span
into one, so a fact is kept or dropped whole.
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


def fused(units: Units, spans: Sequence[tuple[int, int]]) -> tuple[Units, np.ndarray]:
    """``units`` with the units overlapping one protected span joined into one unit, so the
    span is kept or dropped whole (never the 十 of 一百八十, never 九月二日 of 九月十二日),
    and a mask of the new units that hold a span.

    ``spans`` are sorted, disjoint ``(start, end, ...)`` tuples (:func:`.protect.protected_spans`).
    """
    if len(spans) == 0 or len(units) == 0:
        return units, np.zeros(len(units), dtype=bool)
    span_starts = np.array([s[0] for s in spans], dtype=np.int64)
    span_ends = np.array([s[1] for s in spans], dtype=np.int64)
    # The spans each unit overlaps run from ``first`` to ``last`` (none where first > last).
    first = np.searchsorted(span_ends, units.starts, side="right")
    last = np.searchsorted(span_starts, units.ends, side="left") - 1
    hit = (first <= last) & (units.ends > units.starts)
    joins = hit[1:] & hit[:-1] & (first[1:] <= last[:-1])
    heads = np.concatenate([[True], ~joins])
    tails = np.concatenate([~joins, [True]])
    alone = heads & tails
    separator = units.separator[heads] & alone[heads]
    return Units(units.starts[heads], units.ends[tails], separator), hit[heads]


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
