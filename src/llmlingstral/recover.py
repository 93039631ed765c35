"""Map a response written from a compressed prompt back to the original text.

A model that read the compressed prompt may quote it ("capital France Paris"). ``recover``
finds the runs of response words that were copied from the compressed prompt and replaces
each by the span of the original prompt those words came from ("the capital of France is
Paris"), so users see complete text.

How (all on words, compared case-insensitively and without surrounding punctuation):

1. The compressed prompt is aligned to the original as a subsequence twice, greedily from
   the left and from the right. Together they bound where each compressed word can come
   from, so a quoted run is never mapped to an unrelated, far-away part of the original.
2. Each response position starts the longest run of words found contiguously in the
   compressed prompt.
3. Inside its bounds, the run is matched to the shortest original window that contains its
   words in order; that window's text replaces the run, while the response's own
   punctuation around the run is kept.

Words that cannot be placed are left as they are: unmatched, empty or unrelated input comes
back unchanged. Text in scripts written without spaces (CJK) is compared per character.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from .validate import check_str

# A CJK character, or a run of other non-space characters.
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
                   r"|[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_EDGE_PUNCTUATION = "\"'`.,;:!?()[]{}<>*_\u2018\u2019\u201c\u201d\u00ab\u00bb"
# Shortest-window search tries at most this many starting points per run.
_MAX_STARTS = 256


@dataclass(frozen=True)
class _Words:
    """The words of a text: comparison keys and the character span of each word's core."""

    keys: list[str]
    starts: list[int]
    ends: list[int]

    def __len__(self) -> int:
        return len(self.keys)


def _words(text: str) -> _Words:
    keys, starts, ends = [], [], []
    for match in _WORD.finditer(text):
        word = match.group()
        core = word.strip(_EDGE_PUNCTUATION)
        if core:
            lead = word.index(core)
            start = match.start() + lead
            keys.append(core.casefold())
            starts.append(start)
            ends.append(start + len(core))
        else:  # punctuation only: matched as is
            keys.append(word)
            starts.append(match.start())
            ends.append(match.end())
    return _Words(keys, starts, ends)


def _positions(keys: list[str]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        index.setdefault(key, []).append(i)
    return index


def recover(original_prompt: str, compressed_prompt: str, response: str) -> str:
    """``response`` with every run copied from ``compressed_prompt`` expanded to the full
    text of ``original_prompt`` it stands for.

    Never raises on empty or unrelated input; such input comes back unchanged.
    """
    for name, value in (("original_prompt", original_prompt),
                        ("compressed_prompt", compressed_prompt), ("response", response)):
        check_str(name, value)
    original, compressed, answer = _words(original_prompt), _words(compressed_prompt), \
        _words(response)
    if not len(original) or not len(compressed) or not len(answer):
        return response
    aligner = _Aligner(original, compressed)
    pieces, cursor, i = [], 0, 0
    while i < len(answer):
        run = aligner.longest_run(answer.keys, i)
        if run is None:
            i += 1
            continue
        length, window = run
        first, last = i, i + length - 1
        if window[1] - window[0] + 1 == length:  # nothing was dropped there: keep as written
            i += length
            continue
        pieces.append(response[cursor:answer.starts[first]])
        pieces.append(original_prompt[original.starts[window[0]]:original.ends[window[1]]])
        cursor = answer.ends[last]
        i += length
    pieces.append(response[cursor:])
    return "".join(pieces)


class _Aligner:
    """Where compressed words come from in the original, and runs quoted from them."""

    def __init__(self, original: _Words, compressed: _Words) -> None:
        self.original = original
        self.compressed = compressed
        self.in_original = _positions(original.keys)
        self.in_compressed = _positions(compressed.keys)
        self.lower, self.upper = self._bounds()

    def _bounds(self) -> tuple[list[int], list[int]]:
        """For each compressed word, the first and last original index it may map to."""
        n_orig, keys = len(self.original), self.compressed.keys
        lower, pointer = [], 0
        for key in keys:
            found = self._next(key, pointer)
            lower.append(found if found is not None else pointer)
            pointer = found + 1 if found is not None else pointer
        upper, pointer = [0] * len(keys), n_orig - 1
        for j in range(len(keys) - 1, -1, -1):
            found = self._previous(keys[j], pointer)
            upper[j] = found if found is not None else pointer
            pointer = found - 1 if found is not None else pointer
        # Where the two greedy passes cross (the text is not a subsequence), do not constrain.
        for j in range(len(keys)):
            if upper[j] < lower[j]:
                lower[j], upper[j] = 0, n_orig - 1
        return lower, upper

    def _next(self, key: str, start: int) -> int | None:
        spots = self.in_original.get(key, [])
        k = bisect.bisect_left(spots, start)
        return spots[k] if k < len(spots) else None

    def _previous(self, key: str, end: int) -> int | None:
        spots = self.in_original.get(key, [])
        k = bisect.bisect_right(spots, end) - 1
        return spots[k] if k >= 0 else None

    def longest_run(self, keys: list[str], i: int) -> tuple[int, tuple[int, int]] | None:
        """The longest run starting at response word ``i`` that is quoted from the compressed
        prompt and can be placed in the original, with its original window (the shortest
        one among equally long runs)."""
        lengths: dict[int, list[int]] = {}
        for j in self.in_compressed.get(keys[i], []):
            length = 1
            while (i + length < len(keys) and j + length < len(self.compressed)
                   and self.compressed.keys[j + length] == keys[i + length]):
                length += 1
            lengths.setdefault(length, []).append(j)
        for length in sorted(lengths, reverse=True):
            windows = [w for w in (self._window(j, length) for j in lengths[length]) if w]
            if windows:
                return length, min(windows, key=lambda w: (w[1] - w[0], w[0]))
        return None

    def _window(self, j: int, length: int) -> tuple[int, int] | None:
        """The shortest original window holding compressed words j..j+length-1 in order."""
        keys = self.compressed.keys[j:j + length]
        low, high = self.lower[j], self.upper[j + length - 1]
        spots = self.in_original.get(keys[0], [])
        begin = bisect.bisect_left(spots, low)
        best: tuple[int, int] | None = None
        for start in spots[begin:begin + _MAX_STARTS]:
            if start > high:
                break
            end = self._match_from(keys, start, high)
            if end is not None and (best is None or end - start < best[1] - best[0]):
                best = (start, end)
        return best

    def _match_from(self, keys: list[str], start: int, high: int) -> int | None:
        """Index of the last word when ``keys`` are matched in order from ``start``."""
        position = start
        for key in keys[1:]:
            found = self._next(key, position + 1)
            if found is None or found > high:
                return None
            position = found
        return position
