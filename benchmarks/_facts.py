"""Texts with hand-listed facts, and how much of each fact a compressed text still holds.

The texts live in ``benchmarks/data/facts/*.json`` (written for this repository; see
``benchmarks/data/README.md``), one file per text set::

    {"id": "zh", "language": "Chinese", "kind": "prose", "question": "...",
     "paragraphs": ["...", "..."], "facts": ["2024年9月12日", "一百八十名", ...]}

A file may name a ``source`` file of ``benchmarks/data`` instead of ``paragraphs``. The facts
are exact substrings of the text, listed by hand, so the grading does not depend on the
protection rule it grades. NQ dev passages make one more set, ``nq``, whose facts are the
gold answers that hold a digit (see :func:`nq_texts`).

A fact is *kept* when its exact string occurs in the output as a whole: not glued to a
digit or numeral that would make it read as another number (``12`` inside ``912150`` or
``2024年912`` is not kept; a Korean particle after ``103만 명`` is its own word's ending). It is *kept in part* when it is not kept but some of its letters or
digits survived: the corruption ("十" of "一百八十", "74" of "1874", "3,5" glued to a
neighbour) that protection must prevent.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from _data import DATA_DIR, NQ_DEV_RECORDS, NQ_OPEN_ORACLE, require_file

from llmlingstral.text.seams import seam

FACTS_DIR = DATA_DIR / "facts"
NQ_SET = "nq"
KEPT, PART, LOST = "kept", "part", "lost"


@dataclass(frozen=True)
class FactText:
    """One text and its gold facts; ``set_id`` names its text set (a language, mostly)."""

    set_id: str
    language: str
    text: str
    facts: tuple[str, ...]
    question: str = ""


# --------------------------------------------------------------------------- loading


def set_ids() -> list[str]:
    """The text sets shipped in ``benchmarks/data/facts``, then ``nq``."""
    return sorted(p.stem for p in FACTS_DIR.glob("*.json")) + [NQ_SET]


def load_texts(ids: Sequence[str] | None = None) -> list[FactText]:
    """The hand-written texts of the sets ``ids`` (all of them by default; ``nq`` is not
    among them: see :func:`nq_texts`)."""
    texts = []
    for path in sorted(FACTS_DIR.glob("*.json")):
        if ids is not None and path.stem not in ids:
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        if "source" in record:
            text = require_file(DATA_DIR / record["source"]).read_text(encoding="utf-8")
        else:
            text = "\n\n".join(record["paragraphs"])
        texts.append(FactText(record["id"], record["language"], text.strip(),
                              tuple(record["facts"]), record.get("question", "")))
    return texts


def nq_texts(records: Sequence[dict], count: int) -> list[FactText]:
    """The first ``count`` NQ dev passages (records in file order, dev split only) whose
    gold answers hold a digit and occur whole in the passage; those answers are the facts
    and the NQ question is the question."""
    from eval_nq import passage

    texts = []
    for record in records[:NQ_DEV_RECORDS]:
        if len(texts) >= count:
            break
        text = passage(record)
        facts = tuple(dict.fromkeys(a for a in record["answers"]
                                    if any(c.isdigit() for c in a) and occurs_whole(a, text)))
        if facts:
            texts.append(FactText(NQ_SET, "English", text, facts, record["question"]))
    return texts


def nq_records() -> list[dict]:
    from eval_nq import load_dev

    return load_dev(require_file(NQ_OPEN_ORACLE))


def problems(texts: Sequence[FactText]) -> list[str]:
    """What is wrong with the gold of ``texts``: a fact that does not occur whole in its
    text, or one listed twice (empty when all is well)."""
    found = []
    for text in texts:
        for fact in text.facts:
            if not occurs_whole(fact, text.text):
                found.append(f"{text.set_id}: fact {fact!r} does not occur whole in the text")
        if len(set(text.facts)) != len(text.facts):
            found.append(f"{text.set_id}: a fact is listed twice")
    return found


# --------------------------------------------------------------------------- grading


def whole_occurrences(fact: str, text: str) -> list[int]:
    """Start offsets where ``fact`` occurs in ``text`` not glued to a neighbour."""
    starts = []
    position = text.find(fact)
    while position >= 0:
        end = position + len(fact)
        if not _glued(text[:position], fact) and not _glued(fact, text[end:]):
            starts.append(position)
        position = text.find(fact, position + 1)
    return starts


def _glued(left: str, right: str) -> bool:
    """Whether ``left`` and ``right`` side by side read as one number: they join (see
    :func:`~llmlingstral.text.seams.seam`) and a digit or numeral is at the join."""
    if not seam(left, right):
        return False
    last = next((c for c in reversed(left) if not unicodedata.combining(c)), left[-1])
    return _numeric(last) or _numeric(right[0])


def _numeric(char: str) -> bool:
    """A digit of any script or a numeral (一, 十, 万...)."""
    return unicodedata.numeric(char, None) is not None


def occurs_whole(fact: str, text: str) -> bool:
    return bool(fact) and bool(whole_occurrences(fact, text))


def aligned(text: str, output: str) -> np.ndarray:
    """For each character of ``text``, whether the output holds it at its place (the
    longest common pieces of the two, found in order)."""
    hit = np.zeros(len(text), dtype=bool)
    matcher = difflib.SequenceMatcher(None, text, output, autojunk=False)
    for block in matcher.get_matching_blocks():
        hit[block.a:block.a + block.size] = True
    return hit


def outcome(fact: str, text: str, output: str, survived: np.ndarray) -> str:
    """KEPT, PART (some of its letters or digits survived, not the whole) or LOST;
    ``survived`` is :func:`aligned` of ``text`` and ``output``."""
    if occurs_whole(fact, output):
        return KEPT
    significant = [k for k, char in enumerate(fact) if char.isalnum()]
    for start in whole_occurrences(fact, text):
        if any(survived[start + k] for k in significant):
            return PART
    return LOST


def grade(text: FactText, output: str) -> tuple[int, int]:
    """How many of the text's facts ``output`` keeps, and how many it keeps in part."""
    survived = aligned(text.text, output)
    outcomes = [outcome(f, text.text, output, survived) for f in text.facts]
    return outcomes.count(KEPT), outcomes.count(PART)


# --------------------------------------------------------------------------- chance


def random_words(text: str, tokenizer, rate: float, seed: int) -> str:
    """``text`` with words dropped at random until about ``rate`` of its tokens remain.

    Words are the library's word units (pieces of a run in scripts written without
    spaces), so chance drops the same units in every script.
    """
    from llmlingstral.text.words import join_kept, split_words, word_of_tokens

    offsets = tokenizer.encode_with_offsets(text).offsets
    token_starts = np.array([start for start, _ in offsets], dtype=np.int64)
    words = split_words(text, token_starts=set(token_starts.tolist()))
    costs = np.bincount(word_of_tokens(words, token_starts), minlength=len(words))
    order = np.random.default_rng(seed).permutation(len(words))
    spent = np.cumsum(costs[order])
    keep = np.zeros(len(words), dtype=bool)
    keep[order[spent <= rate * len(offsets)]] = True
    return join_kept(words, keep)


def budget_share(text: str, spans: Sequence[tuple[int, int]], tokenizer, rate: float) -> float:
    """The share of a ``rate`` budget taken by the tokens touching ``spans``."""
    from llmlingstral.text.protect import Span, covered

    offsets = tokenizer.encode_with_offsets(text).offsets
    if not offsets:
        return 0.0
    spans = [Span(a, b, "") for a, b in sorted(spans)]
    touched = covered(spans, [a for a, _ in offsets], [b for _, b in offsets]).sum()
    return float(touched) / (rate * len(offsets))


def gold_spans(text: FactText) -> list[tuple[int, int]]:
    """Every whole occurrence of every gold fact, merged where they overlap."""
    spans = sorted((s, s + len(f)) for f in text.facts for s in whole_occurrences(f, text.text))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
