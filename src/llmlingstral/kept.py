"""Where the kept text lies in the original: character ranges carried out of the methods.

A method keeps or drops pieces of each context, stage after stage, each stage working on
the text the one before left. :func:`through` carries ranges of such a filtered text back
to the context it came from; :func:`block_ranges` and :func:`prompt_kept` place each
context's ranges in the whole uncompressed prompt (:class:`~.prompt.KeptText`), so a
reader can tell which occurrence of a repeated word survived. :func:`seamed` joins kept
ranges into text, with a separator where two kept pieces would otherwise read as one.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from .prompt import CONTEXT_SEPARATOR, KeptText, Range, join_prompt
from .text.seams import join_pieces
from .text.words import split_words


def merged(ranges: Iterable[Range]) -> list[Range]:
    """``ranges`` sorted, empty ones dropped and touching or overlapping ones joined."""
    result: list[Range] = []
    for start, end in sorted((int(a), int(b)) for a, b in ranges if b > a):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(end, result[-1][1]))
        else:
            result.append((start, end))
    return result


def cut(text: str, ranges: Iterable[Range]) -> str:
    """The characters of ``text`` in ``ranges``, joined in the order given."""
    return "".join(text[a:b] for a, b in ranges)


def seamed(text: str, ranges: Iterable[Range]) -> str:
    """The characters of ``text`` in ``ranges`` (sorted, disjoint), joined with a
    :func:`~.text.seams.seam` wherever dropped text separated two pieces that would
    otherwise read as one word or number (``100`` and ``200`` of ``100元和200元``)."""
    pieces, gaps, last_end = [], [], None
    for start, end in ranges:
        if end <= start:
            continue
        if last_end is not None:
            gaps.append(start > last_end)
        pieces.append(text[start:end])
        last_end = end
    return join_pieces(pieces, gaps)


def through(ranges: Sequence[Range], pieces: Sequence[Range]) -> list[Range]:
    """``ranges`` of a text made by joining ``pieces`` of an original (sorted, disjoint
    ranges of it), as ranges of that original."""
    result: list[Range] = []
    offset, index = 0, 0
    ordered = merged(ranges)
    for piece_start, piece_end in pieces:
        end_here = offset + piece_end - piece_start
        while index < len(ordered) and ordered[index][0] < end_here:
            start, end = ordered[index]
            low, high = max(start, offset), min(end, end_here)
            if low < high:
                result.append((piece_start + low - offset, piece_start + high - offset))
            if end > end_here:
                break  # the rest of this range lies in the next piece
            index += 1
        offset = end_here
    return merged(result)


def lstripped(text: str, ranges: Sequence[Range]) -> list[Range]:
    """``ranges`` of ``text`` less the whitespace their joined text starts with."""
    result = list(ranges)
    while result:
        start, end = result[0]
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            result[0] = (start, end)
            break
        result.pop(0)
    return result


def block_ranges(texts: Sequence[str], kept: Mapping[int, Sequence[Range]]) -> list[Range]:
    """Ranges of the contexts joined by :data:`CONTEXT_SEPARATOR` (empty ones included, as
    in the original prompt) from ``kept``: context index -> ranges of that context."""
    return _joined([(text, kept.get(i, ())) for i, text in enumerate(texts)], skip_empty=False)


def prompt_kept(instruction: str, texts: Sequence[str], question: str, block: Sequence[Range],
                *, show_instruction: bool = True, show_question: bool = True) -> KeptText:
    """The :class:`KeptText` of a prompt whose contexts kept ``block`` (ranges of the joined
    contexts, see :func:`block_ranges`); the instruction and the question are kept whole
    where shown. The source is the prompt as :func:`~.prompt.join_prompt` assembles it."""
    joined = CONTEXT_SEPARATOR.join(texts)
    parts = [(instruction, [(0, len(instruction))] if show_instruction else []),
             (joined, block),
             (question, [(0, len(question))] if show_question else [])]
    # join_prompt leaves out empty parts, and the separator with them.
    ranges = _joined(parts, skip_empty=True)
    return KeptText(join_prompt(instruction, joined, question), tuple(ranges))


def _joined(parts: Sequence[tuple[str, Sequence[Range]]], skip_empty: bool) -> list[Range]:
    """Ranges of the parts' texts joined by :data:`CONTEXT_SEPARATOR`, from each part's own.

    A part with kept text is shown in the compressed prompt, after a blank line unless it
    comes first; the blank line before each shown part but the first counts as kept.
    """
    result: list[Range] = []
    start, shown = 0, False
    for text, own in parts:
        if skip_empty and not text:
            continue
        ranges = merged(own)
        if ranges:
            if shown:
                result.append((start - len(CONTEXT_SEPARATOR), start))
            result.extend((start + a, start + b) for a, b in ranges)
            shown = True
        start += len(text) + len(CONTEXT_SEPARATOR)
    return merged(result)


def whole(texts: Sequence[str]) -> list[Range]:
    """:func:`block_ranges` for contexts kept whole (an empty one is not shown, and leaves
    no separator)."""
    return block_ranges(texts, {i: [(0, len(text))] for i, text in enumerate(texts)})


def word_decisions(kept: KeptText) -> np.ndarray:
    """Keep (True) or drop for each word of the uncompressed prompt (:mod:`.text.words`),
    by whether the word's first character lies in a kept range."""
    mask = np.zeros(len(kept.source) + 1, dtype=bool)
    for start, end in kept.ranges:
        mask[start:end] = True
    words = split_words(kept.source)
    return np.array([mask[s] for s, e in zip(words.word_starts, words.ends) if e > s],
                    dtype=bool)
