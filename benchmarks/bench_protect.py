"""How much of a text the protection rule keeps whole, on ordinary prose and technical text.

For each text set, the share of characters inside a protected span, of whitespace words
touching one, and of Mistral tokens (tekken) touching one, with every class of facts on;
then the share of tokens per class (``Protection.off().only(class)``) and the time per
1,000 characters. Prose should come out low, technical text high.

Text sets: Google sentence-compression news sentences (development records 0..699), NQ
Wikipedia passages (development records 0..299), the paragraphs of ``tests/multilingual.py``
(15 languages), and two technical texts written for this benchmark:
``benchmarks/data/runbook.md`` (an on-call runbook) and ``benchmarks/data/commands.txt``
(one-line command descriptions).

    python benchmarks/bench_protect.py
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _data import (DATA_DIR, GOOGLE_DEV_RECORDS, GOOGLE_SENTENCES,  # noqa: E402
                   NQ_OPEN_ORACLE, require_file)
from multilingual import PARAGRAPHS  # noqa: E402

from llmlingstral.text.protect import (FACT_CLASSES, Protection, covered,  # noqa: E402
                                       protected_spans)
from llmlingstral.tokenization import load_tokenizer  # noqa: E402


def text_sets() -> dict[str, list[str]]:
    with open(require_file(GOOGLE_SENTENCES), encoding="utf-8") as f:
        news = [json.loads(line)["text"] for _, line in zip(range(GOOGLE_DEV_RECORDS), f)]
    with gzip.open(require_file(NQ_OPEN_ORACLE), "rt", encoding="utf-8") as f:
        wiki = [json.loads(line)["ctxs"][0]["text"] for _, line in zip(range(300), f)]
    commands = (DATA_DIR / "commands.txt").read_text(encoding="utf-8").splitlines()
    return {"news sentences (en)": news, "Wikipedia passages (en)": wiki,
            "multilingual prose (15 languages)": list(PARAGRAPHS.values()),
            "on-call runbook": [(DATA_DIR / "runbook.md").read_text(encoding="utf-8")],
            "command descriptions": [c for c in commands if c.strip()]}


def shares(texts: list[str], protection: Protection, tokenizer) -> tuple[float, float, float]:
    """Protected share of characters, whitespace words and tokens over ``texts``."""
    chars = words = tokens = 0
    total_chars = total_words = total_tokens = 0
    for text in texts:
        spans = protected_spans(text, protection)
        chars += sum(s.end - s.start for s in spans)
        total_chars += len(text)
        word_spans = [(i, i + len(w)) for i, w in _words(text)]
        words += int(covered(spans, *zip(*word_spans)).sum()) if word_spans else 0
        total_words += len(word_spans)
        offsets = tokenizer.encode_with_offsets(text).offsets
        tokens += int(covered(spans, [a for a, _ in offsets], [b for _, b in offsets]).sum())
        total_tokens += len(offsets)
    return chars / total_chars, words / total_words, tokens / total_tokens


def _words(text: str):
    position = 0
    for word in text.split():
        position = text.index(word, position)
        yield position, word
        position += len(word)


def main() -> None:
    tokenizer = load_tokenizer("tekken")
    sets = text_sets()
    print("| text set | texts | chars | protected chars | words | tokens | ms per 1k chars |")
    print("|---|---|---|---|---|---|---|")
    for name, texts in sets.items():
        start = time.perf_counter()
        for text in texts:
            protected_spans(text)
        elapsed = time.perf_counter() - start
        size = sum(map(len, texts))
        c, w, t = shares(texts, Protection(), tokenizer)
        print(f"| {name} | {len(texts)} | {size:,} | {c:.1%} | {w:.1%} | {t:.1%} "
              f"| {1000 * elapsed / size * 1000:.2f} |")
    print()
    print("Share of tokens per class (that class alone):")
    print()
    print("| text set | " + " | ".join(FACT_CLASSES) + " |")
    print("|---|" + "---|" * len(FACT_CLASSES))
    for name, texts in sets.items():
        row = [shares(texts, Protection.off().only(kind), tokenizer)[2] for kind in FACT_CLASSES]
        print(f"| {name} | " + " | ".join(f"{v:.1%}" for v in row) + " |")


if __name__ == "__main__":
    main()
