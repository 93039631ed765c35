"""Answer retention and gold-document recall on NQ-open multi-document prompts (dev split).

Each prompt holds 20 Wikipedia passages: the gold passage of a dev question plus 19 passages of
other dev questions (never one that contains an answer string), with the gold passage at
position 1, 5, 10, 15 or 20 in turn. Every method compresses the documents to 2x and 4x with
the question kept; a prompt "retains" the answer when a normalised answer string is still in
the compressed documents. Rank methods are also scored by where they put the gold passage.

    python benchmarks/eval_nq.py --model nano --limit 100

Only records 0..1999 (the dev split) are read; the held-out records are never touched.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import string
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table  # noqa: E402
from _data import NQ_DEV_RECORDS, NQ_OPEN_ORACLE, require_file  # noqa: E402

DEV_RECORDS = NQ_DEV_RECORDS
POSITIONS = (1, 5, 10, 15, 20)
DEFAULT_DATA = NQ_OPEN_ORACLE
RATES = {"2x": 0.5, "4x": 0.25}
LONGLLMLINGUA = dict(rank_method="longllmlingua", condition_in_question="after_condition",
                     reorder_context="sort", dynamic_context_compression_ratio=0.3,
                     condition_compare=True, context_budget="+100")
"""The LongLLMLingua settings of every question-aware row (those of ``benchmarks/peer``)."""


@dataclass
class Example:
    question: str
    answers: list[str]
    documents: list[str]
    gold_index: int


def normalise(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the usual QA normalisation)."""
    text = text.lower()
    text = "".join(ch if ch not in string.punctuation else " " for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def has_answer(text: str, answers: list[str]) -> bool:
    norm = f" {normalise(text)} "
    return any(f" {normalise(a)} " in norm for a in answers if normalise(a))


def load_dev(path: Path, option: str = "--data") -> list[dict]:
    with gzip.open(require_file(path, option), "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(DEV_RECORDS), handle)]
    return records


def passage(record: dict) -> str:
    ctx = record["ctxs"][0]
    return f"(Title: {ctx['title']}) {ctx['text']}"


def build_examples(records: list[dict], limit: int, n_docs: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    order = list(range(len(records)))
    rng.shuffle(order)
    examples = []
    for i, index in enumerate(order[:limit]):
        record = records[index]
        distractors: list[str] = []
        while len(distractors) < n_docs - 1:
            other = records[rng.randrange(len(records))]
            text = passage(other)
            if other is not record and not has_answer(text, record["answers"]) \
                    and text not in distractors:
                distractors.append(text)
        gold_index = min(POSITIONS[i % len(POSITIONS)], n_docs) - 1
        docs = distractors[:gold_index] + [passage(record)] + distractors[gold_index:]
        docs = [f"Document [{k + 1}]{d}" for k, d in enumerate(docs)]
        examples.append(Example(record["question"], record["answers"], docs, gold_index))
    return examples


# --------------------------------------------------------------------------- methods


def random_drop(example: Example, rate: float, seed: int) -> str:
    """Keep each word with probability ``rate``."""
    rng = random.Random(seed)
    words = "\n\n".join(example.documents).split(" ")
    keep = [rng.random() < rate for _ in words]
    return " ".join(w for w, k in zip(words, keep) if k)


def compression_methods(compressor, extra: dict | None = None
                        ) -> dict[str, Callable[[Example, float], str]]:
    """The compression rows; ``extra`` options go to every compress_prompt call."""
    def call(**options):
        def run(ex: Example, rate: float) -> str:
            result = compressor.compress_prompt(ex.documents, question=ex.question, rate=rate,
                                                show_progress=False, **options, **(extra or {}))
            text = result["compressed_prompt"]
            return text[: text.rfind(ex.question)] if text.endswith(ex.question) else text
        return run

    longllmlingua = LONGLLMLINGUA
    return {
        "LongLLMLingua": call(**longllmlingua),
        "LongLLMLingua, coarse only": call(**longllmlingua, use_token_level_filter=False),
        "LongLLMLingua, bm25 ranking": call(**{**longllmlingua, "rank_method": "bm25"}),
        "LongLLMLingua, hybrid ranking": call(**{**longllmlingua, "rank_method": "hybrid"}),
        "LongLLMLingua, original order": call(**{**longllmlingua, "reorder_context": "original"}),
        "LongLLMLingua, sentence filter": call(**longllmlingua, use_sentence_level_filter=True),
        "LLMLingua": call(rank_method="llmlingua"),
        "LLMLingua, token level only": call(rank_method="llmlingua",
                                            use_context_level_filter=False),
        "bm25, coarse only": call(rank_method="bm25", use_token_level_filter=False),
        "random dropping": lambda ex, rate: random_drop(ex, rate, zlib.crc32(ex.question.encode())),
    }


def recall_at(ranks: list[int], k: int) -> float:
    return sum(r < k for r in ranks) / len(ranks) if ranks else 0.0


def evaluate_rankers(compressor, examples: list[Example], methods: list[str]) -> list[list]:
    rows = []
    for method in methods:
        ranks = []
        start = time.perf_counter()
        for ex in examples:
            order = [i for i, _ in compressor.get_rank_results(ex.documents, ex.question, method)]
            ranks.append(order.index(ex.gold_index))
        seconds = (time.perf_counter() - start) / len(examples)
        rows.append([method, f"{recall_at(ranks, 1):.3f}", f"{recall_at(ranks, 5):.3f}",
                     f"{seconds:.3f}"])
        print(f"ranked with {method}", file=sys.stderr, flush=True)
    return rows


def evaluate_compression(compressor, examples: list[Example], only: list[str] | None,
                         extra: dict | None = None, rates: dict[str, float] = RATES
                         ) -> list[list]:
    """One row per method and rate. Each question's outcome at each rate is also printed to
    stderr as it comes, so a run cut short still gives paired results."""
    tokenizer = compressor.tokenizer
    rows = []
    for name, run in compression_methods(compressor, extra).items():
        if only is not None and name not in only:
            continue
        totals = {label: [0, 0, 0, 0.0] for label in rates}  # retained, kept, origin, seconds
        for index, ex in enumerate(examples):
            origin = tokenizer.count("\n\n".join(ex.documents))
            for label, rate in rates.items():
                start = time.perf_counter()
                text = run(ex, rate)
                total = totals[label]
                total[3] += time.perf_counter() - start
                retained, kept = has_answer(text, ex.answers), tokenizer.count(text)
                total[0] += retained
                total[1] += kept
                total[2] += origin
                print(f"{name}\t{label}\tquestion {index}\tretained {int(retained)}\t"
                      f"tokens {kept}/{origin}", file=sys.stderr, flush=True)
        for label, (retained, kept, origin, seconds) in totals.items():
            rows.append([name, label, f"{retained / len(examples):.3f}", f"{kept / origin:.3f}",
                         f"{seconds / len(examples):.2f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nano", help="scorer preset, hub id or folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="nq-open-oracle.jsonl.gz (default: benchmarks/data)")
    parser.add_argument("--limit", type=int, default=100, help="number of dev questions")
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rankers", nargs="*",
                        default=["bm25", "gzip", "llmlingua", "longllmlingua"])
    parser.add_argument("--methods", nargs="*", default=None,
                        help="compression rows to run (default: all)")
    parser.add_argument("--rates", nargs="*", choices=sorted(RATES), default=list(RATES),
                        help="compressions to run (default: all)")
    parser.add_argument("--conditioning", choices=["exact", "in_place"], default="exact",
                        help="how the token-level pass conditions on the kept text")
    parser.add_argument("--placement", choices=["pooled", "window", "prompt"], default=None,
                        help="how the token-level pass places each context's budget over its "
                             "windows (default: the library's)")
    parser.add_argument("--sentence-strings", choices=["joined", "separate"], default=None,
                        help="how the question-aware sentence filter forms the scored string "
                             "(default: the library's)")
    parser.add_argument("--bos", choices=["on", "off"], default=None,
                        help="whether the token-level pass reads the text after BOS "
                             "(default: the library's)")
    args = parser.parse_args()
    bos = None if args.bos is None else args.bos == "on"
    extra = {key: value for key, value in (("budget_placement", args.placement),
                                           ("sentence_strings", args.sentence_strings),
                                           ("token_level_bos", bos))
             if value is not None}

    from llmlingstral import PromptCompressor

    compressor = PromptCompressor(args.model, device_map="cpu",
                                  model_config={"conditioning": args.conditioning})
    examples = build_examples(load_dev(args.data), args.limit, args.documents, args.seed)
    full_retention = sum(has_answer("\n\n".join(e.documents), e.answers) for e in examples)
    print(f"model: {args.model}; conditioning {args.conditioning}; options {extra}; {len(examples)} dev questions, {args.documents} documents "
          f"each, gold at positions {POSITIONS}; uncompressed retention "
          f"{full_retention / len(examples):.3f}; {machine()}\n")
    print(markdown_table(["rank method", "recall@1", "recall@5", "s / prompt"],
                         evaluate_rankers(compressor, examples, args.rankers)))
    print()
    print(markdown_table(["method", "compression", "answer retention", "achieved rate",
                          "s / prompt"], evaluate_compression(compressor, examples, args.methods, extra,
                                              {label: RATES[label] for label in args.rates})))


if __name__ == "__main__":
    main()
