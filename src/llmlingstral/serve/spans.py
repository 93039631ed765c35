"""Which parts of the original text survived compression, as kept / dropped spans, and
which parts compression keeps whole (:func:`protected_character_spans`).

The methods report the character ranges they kept (:class:`llmlingstral.prompt.KeptText`);
:func:`ranges_spans` turns those into spans, exact whatever repeats. Where a result carries
no ranges (JSON objects), or they refer to another text than the request's original,
:func:`kept_spans` recovers them by aligning the compressed prompt with the original, which
can mark the wrong one of two equal words:

Every method keeps words whole, so the compressed prompt is, piece by piece, a subsequence
of the original's words. The compressed prompt is cut at blank lines (LongLLMLingua may
reorder documents, never the text inside one); each piece is matched, word after word, to
the first paragraph of the original that holds it in order, trying the paragraphs after
the last match first. A piece that fits in no single paragraph (the method removed a
paragraph break) is matched from a paragraph onwards across the following ones; one that
fits nowhere is matched as far as it goes.
Text in scripts written without spaces is compared character by character.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ..text.protect import Protection, protected_spans

# One character of a script written without spaces, else a run of word characters, else one
# other non-space character.
_NO_SPACE_SCRIPTS = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
                     "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff")
_UNIT = re.compile(rf"[{_NO_SPACE_SCRIPTS}]|[^\W{_NO_SPACE_SCRIPTS}]+|[^\w\s]")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")


def _units(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().casefold()) for m in _UNIT.finditer(text)]


def _paragraphs(text: str, units: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """Unit index ranges [first, end) of the paragraphs of ``text``."""
    bounds, first = [], 0
    breaks = [m.start() for m in _BLANK_LINE.finditer(text)]
    for cut in breaks + [len(text) + 1]:
        end = first
        while end < len(units) and units[end][0] < cut:
            end += 1
        if end > first:
            bounds.append((first, end))
        first = end
    return bounds or [(0, len(units))]


def _match(piece: list[str], keys: list[str], start: int, end: int) -> list[int] | None:
    """Positions of ``piece``'s units in ``keys[start:end]``, in order, or None."""
    found, position = [], start
    for key in piece:
        while position < end and keys[position] != key:
            position += 1
        if position >= end:
            return None
        found.append(position)
        position += 1
    return found


def _match_partial(piece: list[str], keys: list[str], start: int) -> list[int]:
    """As many of ``piece``'s units as can be found in order from ``start``."""
    found, position = [], start
    for key in piece:
        hit = next((i for i in range(position, len(keys)) if keys[i] == key), None)
        if hit is not None:
            found.append(hit)
            position = hit + 1
    return found


def _match_across(piece: list[str], keys: list[str], cursors: list[int],
                  order: list[int]) -> list[int]:
    for index in order:
        found = _match(piece, keys, cursors[index], len(keys))
        if found is not None:
            return found
    return []


def _paragraph_of(paragraphs: list[tuple[int, int]], position: int) -> int:
    return next(i for i, (first, end) in enumerate(paragraphs) if first <= position < end)


def kept_mask(original: str, compressed: str) -> tuple[list[tuple[int, int, str]], list[bool]]:
    """The units of ``original`` and, for each, whether it appears in ``compressed``."""
    units = _units(original)
    keys = [u[2] for u in units]
    kept = [False] * len(units)
    paragraphs = _paragraphs(original, units)
    cursors = [first for first, _ in paragraphs]
    last = 0
    for piece_text in _BLANK_LINE.split(compressed):
        piece = [u[2] for u in _units(piece_text)]
        if not piece:
            continue
        order = list(range(last, len(paragraphs))) + list(range(last))
        for index in order:
            found = _match(piece, keys, cursors[index], paragraphs[index][1])
            if found is not None:
                cursors[index], last = found[-1] + 1, index
                break
        else:
            found = _match_across(piece, keys, cursors, order)
            if found:
                last = _paragraph_of(paragraphs, found[-1])
                cursors[last] = found[-1] + 1
            else:
                found = _match_partial(piece, keys, cursors[last])
        for position in found:
            kept[position] = True
    return units, kept


def kept_spans(original: str, compressed: str) -> list[dict[str, Any]]:
    """The original text cut into alternating kept and dropped spans.

    Each span is ``{"start", "end", "text", "kept"}`` (character offsets into ``original``);
    together they cover the whole text. Whitespace between two units goes with the unit
    after it, except that a kept run does not start with whitespace.
    """
    units, kept = kept_mask(original, compressed)
    spans: list[dict[str, Any]] = []
    cursor = 0
    for (start, end, _), is_kept in zip(units, kept):
        if is_kept and start > cursor:
            _add(spans, original, cursor, start, False if not spans else spans[-1]["kept"])
            cursor = start
        _add(spans, original, cursor, end, is_kept)
        cursor = end
    if cursor < len(original):
        _add(spans, original, cursor, len(original), spans[-1]["kept"] if spans else False)
    return spans


def ranges_spans(original: str, ranges: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """``original`` cut into alternating kept and dropped spans, kept where ``ranges``
    (sorted, disjoint character ranges) say; the spans cover the whole text."""
    spans: list[dict[str, Any]] = []
    cursor = 0
    for start, end in ranges:
        _add(spans, original, cursor, start, False)
        _add(spans, original, start, end, True)
        cursor = max(cursor, end)
    _add(spans, original, cursor, len(original), False)
    return spans


def _add(spans: list[dict[str, Any]], text: str, start: int, end: int, kept: bool) -> None:
    if start >= end:
        return
    if spans and spans[-1]["kept"] == kept:
        spans[-1]["end"] = end
        spans[-1]["text"] = text[spans[-1]["start"]:end]
        return
    spans.append({"start": start, "end": end, "text": text[start:end], "kept": kept})


def protected_character_spans(original: str, regions: Sequence[tuple[int, int]],
                              protection: Protection) -> list[dict[str, Any]]:
    """The spans of ``original`` that ``protection`` keeps whole, found in each compressed
    region (a context) on its own: ``{"start", "end", "kind", "text"}``, character offsets
    into ``original``, sorted. ``kind`` is the class of facts (``"numbers"``, ...) or
    ``"patterns"``, ``"force_tokens"``, ``"force_reserve_digit"``."""
    found = []
    for first, end in regions:
        for span in protected_spans(original[first:end], protection):
            start, stop = first + span.start, first + span.end
            found.append({"start": start, "end": stop, "kind": span.kind,
                          "text": original[start:stop]})
    return found
