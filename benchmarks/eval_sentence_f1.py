"""Kept-word F1 against human deletion compressions (Google sentence compression).

For every sentence the compressor is asked for the reference's own keep rate (in Mistral
tokens); its kept words and the reference's are both aligned to the sentence's words with the
LLMLingua-2 labeller, and F1 of the "keep" class is computed over all words (micro average).
The random baseline keeps as many randomly chosen words as the model kept in each sentence.

    python benchmarks/eval_sentence_f1.py --split dev-valid --split held-out

Splits: ``dev-valid`` = records 600..699 (development records not used to train
``nano-lingua2``), ``held-out`` = 700..999 (the split reserved for final reports).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table  # noqa: E402
from _data import GOOGLE_SENTENCES, require_file  # noqa: E402

SPLITS = {"dev-valid": range(600, 700), "held-out": range(700, 1000)}


def load(indices: range, path: Path = GOOGLE_SENTENCES) -> list[tuple[str, str]]:
    with require_file(path, "--data").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(indices.stop), handle)]
    return [(rows[i]["text"], rows[i]["summaries"][0]) for i in indices]


def f1(pairs: list[tuple[list[int], list[int]]]) -> float:
    tp = sum(p & g for pred, gold in pairs for p, g in zip(pred, gold))
    kept = sum(sum(pred) for pred, _ in pairs)
    wanted = sum(sum(gold) for _, gold in pairs)
    return 2 * tp / (kept + wanted) if kept + wanted else 0.0


def evaluate(name: str, compress, data: list[tuple[str, str]], tokenizer, seed: int) -> list:
    from llmlingstral.training.labels import label_words

    rng = random.Random(seed)
    model_pairs, random_pairs, rates = [], [], []
    for text, reference in data:
        gold = label_words(text, reference).labels
        rate = min(1.0, max(0.05, tokenizer.count(reference) / max(1, tokenizer.count(text))))
        predicted = label_words(text, compress(text, rate)).labels
        chosen = set(rng.sample(range(len(gold)), sum(predicted)))
        model_pairs.append((predicted, gold))
        random_pairs.append(([int(i in chosen) for i in range(len(gold))], gold))
        rates.append(sum(predicted) / len(gold))
    return [name, f"{f1(model_pairs):.3f}", f"{f1(random_pairs):.3f}",
            f"{sum(rates) / len(rates):.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", action="append", choices=sorted(SPLITS))
    parser.add_argument("--classifier", default="nano-lingua2")
    parser.add_argument("--scorer", default="nano")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=GOOGLE_SENTENCES,
                        help="google-sentence-compression-test.jsonl (default: benchmarks/data)")
    args = parser.parse_args()

    from llmlingstral import PromptCompressor

    lingua2 = PromptCompressor(args.classifier, device_map="cpu", use_llmlingua2=True)
    lingua = PromptCompressor(args.scorer, device_map="cpu")
    methods = {
        f"LLMLingua-2 ({args.classifier})":
            lambda t, r: lingua2.compress_prompt_llmlingua2(t, rate=r)["compressed_prompt"],
        f"LLMLingua ({args.scorer})":
            lambda t, r: lingua.compress_prompt(t, rate=r, show_progress=False)["compressed_prompt"],
    }
    print(f"{machine()}\n")
    for split in args.split or ["dev-valid"]:
        data = load(SPLITS[split], args.data)
        rows = [evaluate(name, fn, data, lingua.tokenizer, args.seed)
                for name, fn in methods.items()]
        print(f"split {split} ({len(data)} sentences)\n")
        print(markdown_table(["method", "kept-word F1", "random F1 (same words kept)",
                              "words kept"], rows))
        print()


if __name__ == "__main__":
    main()
