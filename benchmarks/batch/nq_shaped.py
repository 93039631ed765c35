"""NQ-shaped prompts built from text in this repository's benchmark helpers.

NQ-open prompts in the other benchmarks hold 20 retrieved passages of about 136 Mistral
tokens each and a question (about 2,730 tokens in all). For speed runs, which should not
spend evaluation questions, these prompts have the same shape but are made of
standard-library docstring prose (``benchmarks/_common.prose``): 20 passages of about 136 tokens, cut at word
boundaries from different places of the text, and a question made of a few words of one
passage. Speed depends on the shape, not on the words.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import prose  # noqa: E402

PASSAGES = 20
PASSAGE_TOKENS = 136


def nq_shaped_prompts(tokenizer, count: int, seed: int = 0) -> list[dict]:
    """``count`` prompts ``{"context": [20 passages], "question": str}``."""
    words = prose(400_000).split()
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        passages = [_passage(tokenizer, words, rng.randrange(len(words) - 400))
                    for _ in range(PASSAGES)]
        source = rng.choice(passages).split()
        start = rng.randrange(max(1, len(source) - 8))
        question = "What is " + " ".join(source[start:start + 6]).strip(".,;:") + "?"
        prompts.append({"context": passages, "question": question})
    return prompts


def _passage(tokenizer, words: list[str], start: int) -> str:
    """Words from ``start`` on, as many as fit in about PASSAGE_TOKENS tokens."""
    text = " ".join(words[start:start + PASSAGE_TOKENS])
    while tokenizer.count(text) > PASSAGE_TOKENS:
        text = text.rsplit(" ", 1)[0]
    return text
