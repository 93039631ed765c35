"""Word units for token classifiers (LLMLingua-2, SecurityLingua, label alignment).

A text is cut at whitespace into chunks; each chunk's opening and closing punctuation
(brackets, quotes, ``. , ; : ! ?``) becomes a word of its own, so a classifier can drop a
comma without dropping the word before it. Punctuation *inside* a chunk never splits it:
numbers (``3.14``, ``1,000``), identifiers (``ord_8f3a``), URLs and e-mail addresses stay
whole. In scripts written without spaces a word is a smaller piece of the run, cut by
:mod:`.scripts` (tokenizer pieces snapped to whole characters when token offsets are
given). The whitespace before a chunk belongs to the chunk and is written out only when one
of its words is kept. Where dropped words separated two kept pieces that would otherwise
read as one word or number ("100" and "200" of "100元和200元", "Python" and "Java" of
"用Python和Java开发"), a :func:`..seams.seam` (one space) is written between them, so joining
kept words never glues two words together. No word boundary cuts an extended grapheme
cluster (a character with its marks, ﾊﾞ, a Thai consonant with its vowels, an emoji
sequence).

Character spans are exact, so token offsets map tokens onto words whatever the tokenizer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Container, Sequence

import numpy as np

from .bidi import balanced_pieces
from .protect import Span
from .scripts import has_unspaced, split_span
from .seams import seam
from .units import owner_of_tokens

# How a word's score is taken from its tokens' (llmlingua's token_to_word).
TOKEN_TO_WORD = ("mean", "first")

_CHUNK = re.compile(r"(\s*)(\S+)|\s+")
_OPENERS = frozenset("([{\"'\u201c\u2018\u00ab")
_CLOSERS = frozenset(".,;:!?)]}\"'\u201d\u2019\u00bb\u2026")
_MARKS = frozenset(("Mn", "Mc", "Me"))
_CLUSTER_GLUE = frozenset("\u200c\u200d\ufe0e\ufe0f")
_PAIRS = {")": "(", "]": "[", "}": "{", "\u201d": "\u201c", "\u2019": "\u2018", "\u00bb": "\u00ab"}

# Roles of a word inside its chunk.
LEADING, CORE, TRAILING, SPACE = 0, 1, 2, 3


@dataclass(frozen=True)
class Words:
    """The words of a text.

    ``span_starts[i]:ends[i]`` is what word ``i`` covers in the text, including the chunk's
    leading whitespace for the first word of a chunk; ``word_starts[i]:ends[i]`` is the word
    alone. ``chunk`` numbers whitespace chunks; ``role`` is LEADING / CORE / TRAILING
    punctuation or SPACE (whitespace kept as a word of its own, e.g. a forced newline).
    """

    text: str
    span_starts: np.ndarray
    word_starts: np.ndarray
    ends: np.ndarray
    chunk: np.ndarray
    role: np.ndarray

    def __len__(self) -> int:
        return len(self.ends)

    def word(self, i: int) -> str:
        """Word ``i`` without the whitespace before it."""
        return self.text[self.word_starts[i]:self.ends[i]]

    def as_list(self) -> list[str]:
        return [self.word(i) for i in range(len(self))]

    @property
    def is_space(self) -> np.ndarray:
        """True where a word is whitespace only."""
        return self.role == SPACE


def split_words(text: str, *, space_tokens: Sequence[str] = (),
                token_starts: Container[int] | None = None) -> Words:
    """Split ``text`` into words (see the module docstring).

    Whitespace runs holding one of ``space_tokens`` (e.g. ``"\\n"``) become SPACE words of
    their own, so they can be kept while the words around them are dropped.
    ``token_starts`` (token start offsets, best as a set) make the pieces of unspaced
    scripts whole tokens.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}")
    spaces = [t for t in space_tokens if t and not t.strip()]
    rows: list[tuple[int, int, int, int, int]] = []
    unspaced = has_unspaced(text)
    for number, match in enumerate(_CHUNK.finditer(text)):
        start, end = match.span()
        if match.group(2) is None:  # trailing whitespace
            rows.append((start, start, end, number, SPACE))
            continue
        core_start = match.start(2)
        if core_start > start and any(t in text[start:core_start] for t in spaces):
            rows.append((start, start, core_start, number, SPACE))
            start = core_start
        chunk_rows = _split_chunk(text, start, core_start, end, number)
        if unspaced:
            chunk_rows = _split_unspaced(text, chunk_rows, token_starts)
        rows.extend(chunk_rows)
    return _to_words(text, rows)


def _split_unspaced(text: str, rows, token_starts: Container[int] | None):
    """CORE words of a chunk cut into pieces where they hold an unspaced script."""
    result = []
    for span_start, word_start, end, number, role in rows:
        if role != CORE:
            result.append((span_start, word_start, end, number, role))
            continue
        for k, (a, b) in enumerate(split_span(text, word_start, end, token_starts)):
            result.append((span_start if k == 0 else a, a, b, number, CORE))
    return result


def _split_chunk(text: str, span_start: int, start: int, end: int, number: int):
    """Leading punctuation, the word, trailing punctuation of one whitespace chunk."""
    lead = start
    while lead < end and text[lead] in _OPENERS and not _extends(text, lead + 1):
        lead += 1
    trail = end
    while trail > lead and text[trail - 1] in _CLOSERS:
        trail -= 1
    if lead == trail:  # all punctuation ("...", "--", "(") : one word
        return [(span_start, start, end, number, CORE)]
    # A closer matching an opener inside the word stays with it: "f(x)", "list[0]".
    middle = text[lead:trail]
    while trail < end and _PAIRS.get(text[trail]) is not None and _PAIRS[text[trail]] in middle:
        trail += 1
        middle = text[lead:trail]
    rows = []
    first_start = span_start
    if lead > start:
        rows.append((first_start, start, lead, number, LEADING))
        first_start = lead
    rows.append((first_start, lead, trail, number, CORE))
    if trail < end:
        rows.append((trail, trail, end, number, TRAILING))
    return rows


def _extends(text: str, position: int) -> bool:
    """Whether the character at ``position`` belongs to the cluster before it (a combining
    mark, a joiner or a variation selector), so no word may start there."""
    if position >= len(text):
        return False
    char = text[position]
    return unicodedata.category(char) in _MARKS or char in _CLUSTER_GLUE


def _to_words(text: str, rows) -> Words:
    array = np.array(rows, dtype=np.int64).reshape(-1, 5)
    return Words(text=text, span_starts=array[:, 0], word_starts=array[:, 1], ends=array[:, 2],
                 chunk=array[:, 3], role=array[:, 4])


def word_of_tokens(words: Words, token_starts: np.ndarray) -> np.ndarray:
    """Index of the word each token belongs to, by the token's first character."""
    return owner_of_tokens(words.span_starts, token_starts)


def join_kept(words: Words, keep: np.ndarray, *, strip_start: bool = True) -> str:
    """The text of the kept words, in order, with the whitespace each needs.

    A chunk's leading whitespace is written before the first kept word of the chunk unless
    that word is trailing punctuation (which attaches to what precedes it: "Hello, there").
    If that whitespace was a SPACE word that was dropped, one space stands in for it.
    With ``strip_start``, such whitespace left at the very start of the output is removed
    when the text itself did not start with whitespace; a kept SPACE word (a forced
    newline) is never removed.
    """
    text = words.text
    return "".join(p if isinstance(p, str) else text[p[0]:p[1]]
                   for p in _kept_pieces(words, keep, strip_start))


def kept_ranges(words: Words, keep: np.ndarray, *,
                strip_start: bool = True) -> list[tuple[int, int]]:
    """The character ranges of ``words.text`` that :func:`join_kept` writes, in order; the
    one space it writes for a dropped SPACE word comes from no range."""
    return [p for p in _kept_pieces(words, keep, strip_start) if not isinstance(p, str)]


def _kept_pieces(words: Words, keep: np.ndarray,
                 strip_start: bool) -> list[tuple[int, int] | str]:
    """What :func:`join_kept` writes: ranges of the text, or a string (a space standing in
    for a dropped SPACE word, a seam between pieces that would read as one); bidirectional
    controls balanced (see :mod:`.bidi`)."""
    text = words.text
    pieces: list[tuple[int, int] | str] = []
    strip = strip_start and not text[:1].isspace()
    last_chunk, after_newline = -1, False
    for i in np.flatnonzero(keep):
        chunk, role = int(words.chunk[i]), int(words.role[i])
        if chunk != last_chunk and role not in (TRAILING, SPACE):
            space = _leading_whitespace(words, keep, i)
            written = space if isinstance(space, str) else text[space[0]:space[1]]
            if after_newline and "\n" not in written:
                space = ""  # the line already starts here: no stray indent
            if space and not (strip and not pieces):
                pieces.append(space)
        start, end = int(words.word_starts[i]), int(words.ends[i])
        if pieces and not isinstance(pieces[-1], str) and pieces[-1][1] < start:
            between = seam(text[pieces[-1][0]:pieces[-1][1]], text[start:end])
            if between:  # dropped text separated them: keep them apart
                pieces.append(between)
        pieces.append((start, end))
        after_newline = text[start:end].endswith("\n")
        last_chunk = chunk
    return balanced_pieces(text, pieces)


def _leading_whitespace(words: Words, keep: np.ndarray, i: int) -> tuple[int, int] | str:
    """The whitespace before word ``i``'s chunk, as written before its first kept word: its
    range in the text, or one space for a dropped SPACE word."""
    j = i
    chunk = words.chunk[i]
    while j > 0 and words.chunk[j - 1] == chunk:
        j -= 1
    if words.role[j] == SPACE:
        return "" if keep[j] else " "
    return int(words.span_starts[j]), int(words.word_starts[j])


def span_groups(words: Words, spans: Sequence[Span]) -> np.ndarray:
    """For each word, the index of the group of ``spans`` it overlaps, or -1.

    The words one protected span covers are kept or dropped together; a word overlapping
    two spans (a piece of an unspaced script across their edge) joins them into one group.
    Whitespace words never join a group: they are kept by force tokens of their own.
    """
    group = np.full(len(words), -1, dtype=np.int64)
    if not len(spans) or not len(words):
        return group
    span_starts = np.array([s.start for s in spans], dtype=np.int64)
    span_ends = np.array([s.end for s in spans], dtype=np.int64)
    starts, ends = words.word_starts, words.ends
    first = np.searchsorted(span_ends, starts, side="right")  # first span ending after start
    last = np.searchsorted(span_starts, ends, side="left") - 1  # last span starting before end
    hit = (first <= last) & (ends > starts) & ~words.is_space
    joined = np.zeros(len(spans), dtype=bool)  # span k belongs to the group of span k - 1
    for a, b in zip(first[hit & (last > first)], last[hit & (last > first)]):
        joined[a + 1:b + 1] = True
    group_of_span = np.cumsum(~joined) - 1
    group[hit] = group_of_span[first[hit]]
    return group


def chunk_bounds(words: Words, word_index: np.ndarray, limit: int,
                 chunk_end_tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Token ranges of at most ``limit`` tokens, cut between words.

    A cut goes after the last chunk-end token that fits, else after the last whole word
    that fits; only a single word longer than ``limit`` tokens is cut inside.
    """
    n = len(word_index)
    if n == 0:
        return []
    starts_word = np.ones(n, dtype=bool)
    starts_word[1:] = word_index[1:] != word_index[:-1]
    cuts = np.flatnonzero(starts_word)
    preferred = cuts[_breaks_before(words, chunk_end_tokens)[word_index[cuts]]]
    bounds, start = [], 0
    while n - start > limit:
        end = _last_in(preferred, start, start + limit)
        if end is None:
            end = _last_in(cuts, start, start + limit) or start + limit
        bounds.append((start, end))
        start = end
    bounds.append((start, n))
    return bounds


def _last_in(positions: np.ndarray, low: int, high: int) -> int | None:
    """The largest position p with low < p <= high, or None."""
    index = np.searchsorted(positions, high, side="right") - 1
    if index >= 0 and positions[index] > low:
        return int(positions[index])
    return None


def _breaks_before(words: Words, end_tokens: Sequence[str]) -> np.ndarray:
    """True for words that follow a chunk-end token (e.g. after "." or at a newline)."""
    text = words.text
    marks = [t for t in end_tokens if t]
    result = np.zeros(len(words), dtype=bool)
    for i in range(1, len(words)):
        before = text[words.word_starts[i - 1]:words.ends[i - 1]]
        leading = text[words.span_starts[i]:words.word_starts[i]]
        if words.role[i] == SPACE:
            leading = text[words.span_starts[i]:words.ends[i]]
        result[i] = any(before.endswith(t) or t in leading for t in marks)
    return result
