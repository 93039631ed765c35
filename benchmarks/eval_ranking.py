"""Offline document ranking on NQ-open 20-document prompts (dev split): bm25, the model's own
question-aware ranking, and fusions of the two, by gold-document recall@1 and recall@5.

The prompts are those of ``eval_nq.py`` (gold passage at position 1, 5, 10, 15 or 20 in
turn). Each ranker's scores are computed once; every fusion is then computed from them.
The questions are split in two halves: fusion settings are compared on the first half and
the chosen one is checked on the second.

    python benchmarks/eval_ranking.py --model nano --limit 2000

Only records 0..1999 (the dev split) are read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table  # noqa: E402
from eval_nq import DEFAULT_DATA, Example, build_examples, load_dev, recall_at  # noqa: E402

Fusion = Callable[[np.ndarray, np.ndarray], np.ndarray]


def score_array(results: list[tuple[int, float]], n: int) -> np.ndarray:
    """Scores in document order from ``get_rank_results``'s (index, score) pairs."""
    scores = np.empty(n)
    for index, score in results:
        scores[index] = score
    return scores


def compute_scores(compressor, examples: list[Example], method: str) -> tuple[np.ndarray, float]:
    """Scores of every document of every example, and the seconds per prompt."""
    start = time.perf_counter()
    rows = [score_array(compressor.get_rank_results(ex.documents, ex.question, method),
                        len(ex.documents))
            for ex in tqdm(examples, desc=method, unit="prompt", disable=None)]
    return np.stack(rows), (time.perf_counter() - start) / len(examples)


def rrf(k: float, weight: float = 1.0) -> Fusion:
    """Reciprocal-rank fusion: sum of 1 / (k + rank) over the two rankings."""
    def fuse(lexical: np.ndarray, model: np.ndarray) -> np.ndarray:
        def ranks(x):
            order = np.argsort(-x, kind="stable")
            out = np.empty(len(x))
            out[order] = np.arange(1, len(x) + 1)
            return out
        return 1 / (k + ranks(lexical)) + weight / (k + ranks(model))
    return fuse


def zsum(weight: float) -> Fusion:
    """z-scored bm25 plus ``weight`` times the z-scored model score: the library's
    ``rank_method="hybrid"`` with ``hybrid_model_weight=weight``."""
    from llmlingstral.ranking.hybrid import fuse

    return lambda lexical, model: fuse(lexical, model, weight)


def minmax_sum(weight: float) -> Fusion:
    def scale(x):
        spread = x.max() - x.min()
        return (x - x.min()) / spread if spread > 0 else np.zeros_like(x)
    return lambda lexical, model: scale(lexical) + weight * scale(model)


def fusions() -> dict[str, Fusion]:
    table: dict[str, Fusion] = {}
    for k in (1, 10, 60):
        table[f"RRF k={k}"] = rrf(k)
    for k, w in ((10, 0.5), (60, 0.5)):
        table[f"RRF k={k}, model weight {w}"] = rrf(k, w)
    for w in (0.1, 0.2, 0.3, 0.5, 0.75, 1.0):
        table[f"z-score sum, model weight {w}"] = zsum(w)
    for w in (0.25, 0.5):
        table[f"min-max sum, model weight {w}"] = minmax_sum(w)
    return table


def gold_ranks(scores: np.ndarray, gold: np.ndarray) -> list[int]:
    """Position of the gold document in each example's ranking (stable for ties)."""
    return [int(np.nonzero(np.argsort(-row, kind="stable") == g)[0][0])
            for row, g in zip(scores, gold)]


def recall_row(name: str, scores: np.ndarray, gold: np.ndarray, halves: list[slice]) -> list:
    cells = [name]
    for half in halves:
        ranks = gold_ranks(scores[half], gold[half])
        cells += [f"{recall_at(ranks, 1):.3f}", f"{recall_at(ranks, 5):.3f}"]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nano", help="scorer preset, hub id or folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=2000, help="number of dev questions")
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", default=None,
                        help="also rank with this rank_method through the library and report "
                             "it (e.g. hybrid)")
    parser.add_argument("--save", type=Path, default=None,
                        help="write the raw scores and gold positions to this .npz file")
    args = parser.parse_args()

    from llmlingstral import PromptCompressor

    compressor = PromptCompressor(args.model, device_map="cpu")
    examples = build_examples(load_dev(args.data, "--data"), args.limit, args.documents,
                              args.seed)
    gold = np.array([ex.gold_index for ex in examples])
    lexical, lexical_s = compute_scores(compressor, examples, "bm25")
    model, model_s = compute_scores(compressor, examples, "longllmlingua")
    if args.save:
        np.savez_compressed(args.save, bm25=lexical, longllmlingua=model, gold=gold)
    middle = len(examples) // 2
    halves = [slice(0, middle), slice(middle, None), slice(None)]
    rows = [recall_row("bm25", lexical, gold, halves),
            recall_row(f"longllmlingua ({args.model})", model, gold, halves)]
    for name, fuse in fusions().items():
        fused = np.stack([fuse(a, b) for a, b in zip(lexical, model)])
        rows.append(recall_row(name, fused, gold, halves))
    if args.check:
        checked, check_s = compute_scores(compressor, examples, args.check)
        rows.append(recall_row(f"rank_method={args.check!r}", checked, gold, halves))
        print(f"{args.check}: {check_s:.3f} s / prompt", file=sys.stderr)
    print(f"model: {args.model}; {len(examples)} dev questions ({middle} + "
          f"{len(examples) - middle}), {args.documents} documents each; bm25 {lexical_s:.3f} "
          f"s / prompt, longllmlingua {model_s:.3f} s / prompt; {machine()}\n")
    headers = ["ranking"] + [f"{part}: recall@{k}" for part in ("first half", "second half",
                                                                  "all") for k in (1, 5)]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
