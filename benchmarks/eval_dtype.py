"""Fidelity of bf16 compute: the same inputs compressed in float32 and in bfloat16.

For LLMLingua (``nano``) and LLMLingua-2 (``nano-lingua2``) it reports, per input set:

* the share of words whose keep decision is the same in both dtypes (from each result's
  kept ranges, so every method is judged on the words of its uncompressed prompt);
* the achieved rate in each dtype;
* on NQ-open dev prompts (20 documents, records 0..1999 only), answer retention in each
  dtype: LongLLMLingua's recipe for the causal model, LLMLingua-2 on the documents for the
  classifier.

Decisions do not depend on the processor's speed, so this runs on any CPU (bf16 without
native support is only slower):

    python benchmarks/eval_dtype.py --questions 100 --rate 0.25
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table, prompt_of_tokens  # noqa: E402
from eval_nq import DEFAULT_DATA, build_examples, has_answer, load_dev  # noqa: E402

from llmlingstral.kept import word_decisions as kept_words  # noqa: E402

DTYPES = ("float32", "bfloat16")
LONGLLMLINGUA = dict(rank_method="longllmlingua", condition_in_question="after_condition",
                     reorder_context="sort", dynamic_context_compression_ratio=0.3,
                     condition_compare=True, context_budget="+100")


def word_decisions(result) -> np.ndarray:
    """Keep (True) or drop for each word of the uncompressed prompt, from ``result.kept``."""
    return kept_words(result.kept)


def compressors(method: str) -> dict:
    from llmlingstral import PromptCompressor

    model = "nano" if method == "llmlingua" else "nano-lingua2"
    return {d: PromptCompressor(model, device_map="cpu", use_llmlingua2=method == "llmlingua2",
                                model_config={"dtype": d}) for d in DTYPES}


def compress(compressor, method: str, context, rate: float, question: str = ""):
    if method == "llmlingua2":
        return compressor.compress_prompt_llmlingua2(context, rate=rate)
    options = LONGLLMLINGUA if question else {}
    return compressor.compress_prompt(context, question=question, rate=rate,
                                      show_progress=False, **options)


class Tally:
    """Identical decisions, tokens kept and answers retained, per dtype."""

    def __init__(self) -> None:
        self.same = self.words = 0
        self.kept = {d: 0 for d in DTYPES}
        self.origin = 0
        self.retained = {d: 0 for d in DTYPES}

    def add(self, results: dict, answers: list[str] | None = None) -> None:
        first, second = (word_decisions(results[d]) for d in DTYPES)
        self.same += int((first == second).sum())
        self.words += len(first)
        self.origin += results[DTYPES[0]]["origin_tokens"]
        for d in DTYPES:
            self.kept[d] += results[d]["compressed_tokens"]
            if answers is not None:
                self.retained[d] += has_answer(results[d]["compressed_prompt"], answers)

    def row(self, method: str, inputs: str, prompts: int | None) -> list:
        rates = [f"{self.kept[d] / self.origin:.3f}" for d in DTYPES]
        kept = [f"{self.retained[d] / prompts:.3f}" if prompts else "-" for d in DTYPES]
        return [method, inputs, self.words, f"{self.same / self.words:.4f}", *rates, *kept]


def prose_row(method: str, pair: dict, lengths: list[int], rate: float) -> list:
    tally = Tally()
    for n in lengths:
        text = prompt_of_tokens(pair["float32"].tokenizer, n)
        tally.add({d: compress(c, method, text, rate) for d, c in pair.items()})
    return tally.row(method, f"prose {'/'.join(map(str, lengths))} tokens, rate {rate}", None)


def nq_row(method: str, pair: dict, examples, rate: float) -> list:
    tally = Tally()
    for number, ex in enumerate(examples, 1):
        question = ex.question if method == "llmlingua" else ""
        tally.add({d: compress(c, method, ex.documents, rate, question)
                   for d, c in pair.items()}, ex.answers)
        print(f"{method}: {number}/{len(examples)} NQ prompts", file=sys.stderr, flush=True)
    return tally.row(method, f"NQ dev, {len(examples)} questions, rate {rate}", len(examples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["llmlingua2", "llmlingua"],
                        choices=["llmlingua", "llmlingua2"])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--prose-rate", type=float, default=0.5)
    parser.add_argument("--questions", type=int, default=100, help="NQ dev questions")
    parser.add_argument("--rate", type=float, default=0.25, help="rate on NQ (default 4x)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    examples = build_examples(load_dev(args.data), args.questions, 20, args.seed) \
        if args.questions else []
    rows = []
    for method in args.methods:
        pair = compressors(method)
        rows.append(prose_row(method, pair, args.lengths, args.prose_rate))
        if examples:
            rows.append(nq_row(method, pair, examples, args.rate))
    print(f"float32 against bfloat16 on the same inputs; {machine()}\n")
    print(markdown_table(["method", "inputs", "words", "identical decisions",
                          "achieved rate fp32", "achieved rate bf16", "answer retention fp32",
                          "answer retention bf16"], rows))


if __name__ == "__main__":
    main()
