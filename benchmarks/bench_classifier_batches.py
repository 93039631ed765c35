"""Tokens per forward pass of the LLMLingua-2 classifier: how big a pass should be.

Scores the same chunks (token ids cut from prose) with ``TokenClassifier.token_probabilities``
under several ``max_batch_tokens`` caps (``max_batch_size`` 50, as llmlingua's default),
for NQ-passage-sized chunks (136 tokens) and full windows (511 tokens). Median seconds of
alternating runs; the last column compares each cap with no cap. On a CPU the best cap is
where the activations of one pass still fit in the caches; it sets ``CPU_BATCH_TOKENS``.

    python benchmarks/bench_classifier_batches.py
    python benchmarks/bench_classifier_batches.py --caps 1024 2048 4096 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import alternating_medians, machine, markdown_table, prose  # noqa: E402

SHAPES = {136: 320, 511: 96}  # chunk length: chunks scored


def chunks_of(tokenizer, length: int, count: int) -> list[list[int]]:
    ids = tokenizer.encode(prose(length * count * 6))
    return [ids[i * length:(i + 1) * length] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="nano-lingua2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--caps", nargs="+", type=int, default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from llmlingstral import PromptCompressor

    compressor = PromptCompressor(args.model, device_map=args.device, use_llmlingua2=True)
    classifier = compressor.classifier
    rows = []
    for length, count in SHAPES.items():
        chunks = chunks_of(compressor.tokenizer, length, count)

        def run(cap):
            def call():
                classifier.max_batch_tokens = cap
                classifier.token_probabilities(chunks)
            return call

        caps = {str(cap): run(cap) for cap in args.caps}
        times, _ = alternating_medians({**caps, "none": run(None)}, args.repeats)
        for cap, seconds in times.items():
            rows.append([length, count, cap, f"{seconds:.3f}",
                         f"{times['none'] / seconds:.2f}x"])
    print(f"machine: {machine()}\n")
    print(markdown_table(["chunk tokens", "chunks", "max_batch_tokens", "seconds",
                          "speed-up over no cap"], rows))


if __name__ == "__main__":
    main()
