"""Batch API against a one-by-one loop: ``compress_prompts`` vs ``compress_prompt`` per prompt.

On NQ-shaped prompts (20 passages of about 136 tokens and a question; see
``nq_shaped.py``), with the embedded models on the CPU:

* LLMLingua-2 (``nano-lingua2``, rate 0.25): the batch scores the passages of all prompts
  in shared forward passes;
* LLMLingua (``nano``, rate 0.25, perplexity ranking of the passages, then the token-level
  pass) and LongLLMLingua (question-aware ranking and contrastive token scores): the
  token-level passes of the prompts advance in lockstep, one forward pass per step.

The two sides alternate ``--repeats`` times after a warm-up on one prompt; the table gives
the median seconds per prompt and whether both sides returned the same results.

    python benchmarks/batch/bench_batch.py
    python benchmarks/batch/bench_batch.py --methods llmlingua2 --prompts 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine, markdown_table  # noqa: E402
from nq_shaped import nq_shaped_prompts  # noqa: E402

LONGLLMLINGUA = {"rank_method": "longllmlingua", "condition_in_question": "after_condition",
                 "reorder_context": "sort", "dynamic_context_compression_ratio": 0.3,
                 "condition_compare": True, "context_budget": "+100"}
METHODS = {
    "llmlingua2": ("LLMLingua-2", "nano-lingua2", True, {"rate": 0.25}),
    "llmlingua": ("LLMLingua", "nano", False, {"rate": 0.25}),
    "longllmlingua": ("LongLLMLingua", "nano", False, {"rate": 0.25, **LONGLLMLINGUA}),
}


def measure(method: str, count: int, repeats: int, device: str) -> list:
    from llmlingstral import PromptCompressor

    label, model, lingua2, options = METHODS[method]
    compressor = PromptCompressor(model, device_map=device, use_llmlingua2=lingua2)
    prompts = nq_shaped_prompts(compressor.tokenizer, count)
    tokens = statistics.mean(compressor.tokenizer.count(
        "\n\n".join(p["context"] + [p["question"]])) for p in prompts)

    def loop():
        return [compressor.compress_prompt(**p, **options) for p in prompts]

    def batch():
        return compressor.compress_prompts(prompts, show_progress=False, **options)

    compressor.compress_prompts(prompts[:2], show_progress=False, **options)  # warm-up
    times = {"loop": [], "batch": []}
    results = {}
    for _ in range(repeats):
        for name, run in (("loop", loop), ("batch", batch)):
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
    loop_s, batch_s = (statistics.median(times[k]) / count for k in ("loop", "batch"))
    return [label, model, count, f"{tokens:.0f}", f"{loop_s:.3f}", f"{batch_s:.3f}",
            f"**{loop_s / batch_s:.2f}x**", "yes" if results["loop"] == results["batch"] else "NO"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS),
                        default=["llmlingua2", "llmlingua", "longllmlingua"])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = [measure(m, args.prompts, args.repeats, args.device) for m in args.methods]
    print(f"machine: {machine()}\n")
    print(markdown_table(["method", "model", "prompts", "mean prompt tokens", "loop s/prompt",
                          "batch s/prompt", "speed-up", "same results"], rows))


if __name__ == "__main__":
    main()
