"""Bidirectional controls stay balanced: each opener and its closer are kept or dropped together.

Embeddings and overrides (LRE, RLE, LRO, RLO) end at a PDF, isolates (LRI, RLI, FSI) at a
PDI. Dropping a closer while its opener stays lets the opener reorder everything after it
up to the end of the paragraph, so that code mixed with Arabic or Hebrew reads differently
from what it is ("Trojan Source"). The rule, for every method: a matched pair is kept when
any text between its two controls is kept, and dropped otherwise. Controls without a
partner in the original are left as they are.

A leaf module: it works on a text and character ranges of it.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

EMBEDDINGS = "\u202a\u202b\u202d\u202e"    # LRE RLE LRO RLO, closed by PDF
ISOLATES = "\u2066\u2067\u2068"             # LRI RLI FSI, closed by PDI
PDF, PDI = "\u202c", "\u2069"
CONTROLS = EMBEDDINGS + ISOLATES + PDF + PDI
_ANY_CONTROL = re.compile(f"[{CONTROLS}]")
# A paragraph ends every embedding and isolate (Unicode bidi rule P1).
_PARAGRAPH_ENDS = "\n\r\x1c\x1d\x1e\x85\u2029"
_EVENT = re.compile(f"[{CONTROLS}{_PARAGRAPH_ENDS}]")
Range = tuple[int, int]
Piece = tuple[int, int] | str


def has_controls(text: str) -> bool:
    """Whether ``text`` holds any embedding, override or isolate control."""
    return _ANY_CONTROL.search(text) is not None


def matched_pairs(text: str) -> list[tuple[int, int]]:
    """``(opener, closer)`` positions of the controls of ``text`` that close each other.

    A PDF closes the innermost embedding unless an isolate is open inside it; a PDI closes
    the innermost open isolate and with it the embeddings opened inside that isolate,
    which stay unmatched. A paragraph end closes everything still open.
    """
    if not has_controls(text):
        return []
    pairs, stack = [], []
    for match in _EVENT.finditer(text):
        position, char = match.start(), match.group()
        if char == PDF:
            if stack and text[stack[-1]] in EMBEDDINGS:
                pairs.append((stack.pop(), position))
        elif char == PDI:
            isolates = [k for k, p in enumerate(stack) if text[p] in ISOLATES]
            if isolates:
                pairs.append((stack[isolates[-1]], position))
                del stack[isolates[-1]:]
        elif char in _PARAGRAPH_ENDS:
            stack.clear()
        else:
            stack.append(position)
    return sorted(pairs)


def balanced(text: str, ranges: Sequence[Range]) -> list[Range]:
    """``ranges`` of ``text`` (sorted, disjoint) with every matched pair of controls kept
    when text between them is kept, and dropped otherwise."""
    pairs = matched_pairs(text)
    if not pairs:
        return [(int(a), int(b)) for a, b in ranges]
    kept = np.zeros(len(text), dtype=bool)
    for a, b in ranges:
        kept[a:b] = True
    control = np.array([c in CONTROLS for c in text], dtype=bool)
    before = np.concatenate([[0], np.cumsum(kept & ~control)])
    for opener, closer in pairs:
        kept[[opener, closer]] = before[closer] > before[opener + 1]
    edges = np.flatnonzero(np.diff(np.concatenate([[False], kept, [False]]).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


def balanced_pieces(text: str, pieces: Sequence[Piece]) -> list[Piece]:
    """:func:`balanced` for output written as pieces: ranges of ``text`` in order, with
    strings (a space standing in for dropped whitespace) between them that stay put. A
    control brought back goes where it stood: before such a space when no whitespace
    separates it from the text before it, after it otherwise."""
    ranges = [p for p in pieces if not isinstance(p, str)]
    if not matched_pairs(text):
        return list(pieces)
    wanted = balanced(text, ranges)
    had = np.zeros(len(text), dtype=bool)
    for a, b in ranges:
        had[a:b] = True
    added = [p for a, b in wanted for p in range(a, b) if not had[p]]
    result: list[Piece] = []
    last_end, next_starts = 0, [p[0] for p in ranges] + [len(text)]
    for piece in pieces:
        if isinstance(piece, str):
            while added and added[0] < next_starts[0] \
                    and not any(c.isspace() for c in text[last_end:added[0]]):
                result.append(_one(added.pop(0)))
            result.append(piece)
            continue
        while added and added[0] < piece[0]:
            result.append(_one(added.pop(0)))
        result.extend(_within(wanted, piece))
        last_end = piece[1]
        next_starts.pop(0)
    result.extend(_one(p) for p in added)
    return result


def _one(position: int) -> Range:
    return position, position + 1


def _within(ranges: Sequence[Range], piece: Range) -> list[Range]:
    """The parts of ``piece`` that ``ranges`` cover."""
    a, b = piece
    return [(max(a, s), min(b, e)) for s, e in ranges if s < b and e > a]
