"""How near a piece of text is to a question: the question's words in the sentence (or the
clause, between semicolons) around it.

When protected facts do not all fit in the budget, the ones a reader most needs are kept,
and a fact in a sentence that shares words with the question is the likeliest answer
("When does the last bus leave?" -> "the last bus back leaves the harbour at 11:40 pm").
Words are compared case-folded; in scripts written without spaces, where a word has no
edges to find, the question's character pairs stand for its words.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import regex

from .scripts import UNSPACED_RANGES

_WORD = regex.compile(r"\w+")
_UNSPACED_RUN = regex.compile(f"[{UNSPACED_RANGES}]+")
# Where a sentence ends, for the sentence around a piece (a cheap stand-in for a segmenter);
# a semicolon ends a clause, which says as much of its own facts as a sentence ("the last
# bus leaves at 11:40 pm; tickets cost 3 pounds": the time is the one a bus question needs).
_SENTENCE_END = regex.compile(r"[.!?。！？؟।\n;；؛]")
# Short words (the, of, à, в) say nothing about which sentence answers the question.
_MIN_LETTERS = 3
# How far from a piece its sentence is looked for, each way.
REACH = 300


def question_terms(question: str) -> frozenset[str]:
    """The words of ``question`` worth finding near a fact: case-folded words of three
    letters or more, any number, and the character pairs of runs in unspaced scripts."""
    terms: set[str] = set()
    folded = question.casefold()
    for word in _WORD.findall(_UNSPACED_RUN.sub(" ", folded)):
        if len(word) >= _MIN_LETTERS or word.isdecimal():
            terms.add(word)
    for run in _UNSPACED_RUN.findall(folded):
        terms.update(run[i:i + 2] for i in range(len(run) - 1))
    return frozenset(terms)


def nearness(text: str, pieces: Sequence[tuple[int, int]], terms: frozenset[str]) -> np.ndarray:
    """For each ``(start, end)`` piece of ``text``, how many of ``terms`` (see
    :func:`question_terms`) occur in the sentence or clause around it."""
    counts = np.zeros(len(pieces), dtype=np.int64)
    if not terms:
        return counts
    for index, (start, end) in enumerate(pieces):
        sentence = _sentence_around(text, start, end).casefold()
        counts[index] = sum(term in sentence for term in terms)
    return counts


def _sentence_around(text: str, start: int, end: int) -> str:
    low = max(0, start - REACH)
    before = [m.end() for m in _SENTENCE_END.finditer(text, low, start)]
    after = _SENTENCE_END.search(text, end, min(len(text), end + REACH))
    return text[before[-1] if before else low:after.start() if after else end + REACH]
