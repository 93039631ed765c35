"""Word labels from (original, compressed) pairs, with quality metrics and filtering.

Each word of the original (as cut by :func:`~llmlingstral.text.words.split_words`) is
labelled 1 if the compressed text kept it, else 0. The compressed words are aligned to the
original words in order (a longest common subsequence of normalised words), so a repeated
word is matched where the surrounding words also match, not at its first occurrence.

With a :class:`~..text.protect.Protection`, every word that overlaps a protected fact
(:func:`~..text.protect.protected_spans`: numbers, dates, amounts, identifiers, ...) is
labelled keep whatever the teacher did, so a classifier trained on the labels learns to keep
facts itself. The quality metrics below describe the teacher's alignment, before that.

Quality per pair, as in the LLMLingua-2 paper:

* ``variation_rate``: share of compressed words not aligned to an original word (the
  compressor added or changed words);
* ``alignment_gap``: ``hitting_rate - matching_rate``, where hitting counts compressed words
  found anywhere in the original and matching counts aligned ones (relative to the original
  length): a large gap means ambiguous alignment.

:func:`filter_labelled` drops the pairs above a percentile of either metric.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ..text.protect import DEFAULT_PROTECTION, Protection, covered, protected_spans
from ..text.words import Words, split_words
from ..validate import check_finite
from .records import CompressionPair

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-"})


@dataclass(frozen=True)
class WordLabels:
    """Keep (1) / drop (0) per original word, with the pair's alignment metrics."""

    words: list[str]
    labels: list[int]
    compression_rate: float
    variation_rate: float
    hitting_rate: float
    matching_rate: float
    protected: int = 0
    """Words the teacher dropped that are labelled keep because they hold a protected fact."""

    @property
    def alignment_gap(self) -> float:
        return self.hitting_rate - self.matching_rate

    def metrics(self) -> dict[str, float]:
        return {"compression_rate": self.compression_rate, "variation_rate": self.variation_rate,
                "hitting_rate": self.hitting_rate, "matching_rate": self.matching_rate,
                "alignment_gap": self.alignment_gap}


def normalize_word(word: str) -> str:
    """The form words are compared in: NFKC, lower case, plain quotes and dashes."""
    return unicodedata.normalize("NFKC", word).translate(_QUOTES).lower()


def label_words(original: str, compressed: str,
                protection: Protection | None = None) -> WordLabels:
    """Align ``compressed`` to ``original`` and label every original word.

    With ``protection``, the words overlapping its protected spans in ``original`` are
    labelled keep too (counted in :attr:`WordLabels.protected`); without it the labels are
    the teacher's alone.
    """
    if not isinstance(original, str) or not isinstance(compressed, str):
        raise TypeError("original and compressed must be str")
    if protection is not None and not isinstance(protection, Protection):
        raise TypeError(f"protection must be a Protection or None, got {protection!r}")
    split = split_words(original)
    labelled = np.flatnonzero(~split.is_space)
    words = [split.word(i) for i in labelled]
    kept = text_words(compressed)
    source = [normalize_word(w) for w in words]
    target = [normalize_word(w) for w in kept]
    labels = [0] * len(words)
    for i in align(source, target):
        labels[i] = 1
    matched = sum(labels)
    vocabulary = set(source)
    hits = sum(1 for w in target if w in vocabulary)
    n, m = len(words), len(kept)
    forced = 0
    if protection is not None:
        for i in np.flatnonzero(fact_words(split, labelled, protection)):
            forced += 1 - labels[i]
            labels[i] = 1
    return WordLabels(
        words=words, labels=labels,
        compression_rate=m / n if n else 0.0,
        variation_rate=1.0 - matched / m if m else 1.0,
        hitting_rate=hits / n if n else 0.0,
        matching_rate=matched / n if n else 0.0,
        protected=forced)


def fact_words(words: Words, indices: np.ndarray,
               protection: Protection = DEFAULT_PROTECTION) -> np.ndarray:
    """Which of the words ``indices`` of ``words`` overlap a span ``protection`` keeps whole."""
    spans = protected_spans(words.text, protection)
    return covered(spans, words.word_starts[indices], words.ends[indices])


def align(source: Sequence[str], target: Sequence[str]) -> list[int]:
    """Indices of ``source`` matched by a longest common subsequence with ``target``.

    Of the equally long alignments, the one tracing back from the end and taking a match
    whenever it can is chosen: a repeated word goes with the words around it.
    """
    n, m = len(source), len(target)
    if n == 0 or m == 0:
        return []
    vocabulary: dict[str, int] = {}
    a = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in source])
    b = np.array([vocabulary.get(w, -1) for w in target])
    table = np.zeros((n + 1, m + 1), dtype=np.int32)
    for i in range(1, n + 1):
        previous = table[i - 1]
        candidate = previous.copy()
        candidate[1:] = np.maximum(previous[1:], np.where(b == a[i - 1], previous[:-1] + 1, 0))
        table[i] = np.maximum.accumulate(candidate)
    matched: list[int] = []
    i, j = n, m
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1] and table[i, j] == table[i - 1, j - 1] + 1:
            matched.append(i - 1)
            i, j = i - 1, j - 1
        elif table[i - 1, j] >= table[i, j - 1]:
            i -= 1
        else:
            j -= 1
    return matched[::-1]


def text_words(text: str) -> list[str]:
    """The words of ``text`` that carry labels (whitespace runs excluded)."""
    words = split_words(text)
    return [words.word(i) for i in range(len(words)) if not words.is_space[i]]


def label_pairs(pairs: Iterable[CompressionPair],
                protection: Protection | None = None) -> Iterable[dict[str, Any]]:
    """Labelled records: the pair's fields plus ``labels`` and the metrics (with
    ``protection``, fact words are labelled keep; ``protected_words`` counts the ones the
    teacher had dropped)."""
    for pair in pairs:
        if not pair.prompt.strip():
            continue
        result = label_words(pair.prompt, pair.compressed_prompt, protection)
        extra = {"protected_words": result.protected} if protection is not None else {}
        yield {**pair.extra, "id": pair.id, "prompt": pair.prompt,
               "compressed_prompt": pair.compressed_prompt, "labels": result.labels,
               **{k: round(v, 6) for k, v in result.metrics().items()}, **extra}


@dataclass(frozen=True)
class FilterReport:
    """How many records each filter step removed, and the thresholds it used."""

    total: int
    kept: int
    variation_threshold: float | None
    gap_threshold: float | None


def filter_labelled(records: Sequence[dict[str, Any]], *, variation_percentile: float = 90,
                    gap_percentile: float = 90) -> tuple[list[dict[str, Any]], FilterReport]:
    """Drop records above the given percentiles of variation rate, then of alignment gap.

    Records at the threshold are kept, so perfectly extractive data (all rates 0) survives.
    A percentile of 100 disables that step.
    """
    for name, value in (("variation_percentile", variation_percentile),
                        ("gap_percentile", gap_percentile)):
        check_finite(name, value, allow_zero=True, maximum=100,
                     meaning="a percentile; 100 turns the filter off")
    kept = list(records)
    total = len(kept)
    thresholds: list[float | None] = []
    for key, percentile in (("variation_rate", variation_percentile),
                            ("alignment_gap", gap_percentile)):
        if not kept or percentile >= 100:
            thresholds.append(None)
            continue
        missing = [r.get("id") for r in kept if key not in r]
        if missing:
            raise ValueError(f"records {missing[:3]} have no {key!r}: label them first")
        values = np.array([float(r[key]) for r in kept])
        threshold = float(np.percentile(values, percentile))
        kept = [r for r, v in zip(kept, values) if v <= threshold]
        thresholds.append(threshold)
    return kept, FilterReport(total, len(kept), thresholds[0], thresholds[1])
