"""LLMLingua compression time against the floor: plain forward passes over the same prompt.

For each prompt length the script times ``compress_prompt`` (with ``rate`` and with
``target_token``) and the floor, which is one plain forward pass of the same model over the
same tokens, cut into windows of the scorer's context length (the least work any
perplexity-based compressor must do). Runs alternate and the median is reported. Peak memory is
measured in a fresh process per run, as growth of the resident set over the loaded model.

    python benchmarks/bench_llmlingua.py                       # embedded nano model
    python benchmarks/bench_llmlingua.py --random wide         # random 8-layer, 1024-wide model
    python benchmarks/bench_llmlingua.py --dtype float32 bfloat16   # rows for both dtypes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (alternating_medians, dtype_label, in_subprocess, machine,  # noqa: E402
                     markdown_table, prompt_of_tokens, rss_growth_mb)  # noqa: E402
from llmlingstral.validate import DTYPE_CHOICES  # noqa: E402

RANDOM_SHAPES = {
    # hidden, intermediate, layers, heads, kv heads, window
    "nano": (256, 704, 6, 8, 2, 1024),
    "wide": (1024, 2816, 8, 16, 4, 4096),
}


def build_random_model(shape: str, folder: Path) -> Path:
    """A randomly initialised MistralForCausalLM with the v3 vocabulary."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    hidden, inter, layers, heads, kv, window = RANDOM_SHAPES[shape]
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=32768, hidden_size=hidden, intermediate_size=inter,
                           num_hidden_layers=layers, num_attention_heads=heads,
                           num_key_value_heads=kv, max_position_embeddings=window,
                           sliding_window=None, tie_word_embeddings=True)
    MistralForCausalLM(config).save_pretrained(folder)
    return folder


def load(model: str, conditioning: str = "exact", dtype: str = "auto"):
    from llmlingstral import PromptCompressor

    return PromptCompressor(model, device_map="cpu",
                            model_config={"conditioning": conditioning, "dtype": dtype})


def floor_call(compressor, prompt: str):
    scorer = compressor.scorer
    ids = scorer.tokenizer.encode(prompt)
    window = scorer.window

    def run():
        for start in range(0, len(ids), window):
            scorer.forward_logits(ids[start:start + window])
    return run


def compress_call(compressor, prompt: str, mode: str, rate: float):
    if mode == "rate":
        return lambda: compressor.compress_prompt(prompt, rate=rate, show_progress=False)
    target = int(compressor.tokenizer.count(prompt) * rate)
    return lambda: compressor.compress_prompt(prompt, target_token=target, show_progress=False)


def time_one(model: str, n_tokens: int, rate: float, repeats: int, dtype: str = "auto") -> dict:
    """Alternating timings of floor, rate and target_token compression for one length, and
    of rate compression with in-place conditioning, all in ``dtype``."""
    compressor = load(model, dtype=dtype)
    prompt = prompt_of_tokens(compressor.tokenizer, n_tokens)
    calls = {"floor": floor_call(compressor, prompt),
             "rate": compress_call(compressor, prompt, "rate", rate),
             "target": compress_call(compressor, prompt, "target", rate),
             "in_place": compress_call(load(model, "in_place", dtype), prompt, "rate", rate)}
    times, results = alternating_medians(calls, repeats)
    origin = compressor.tokenizer.count(prompt)
    return {"tokens": origin, "dtype": dtype_label(dtype, compressor.dtype), **times,
            "rate_achieved": results["rate"]["compressed_tokens"] / origin,
            "target_achieved": results["target"]["compressed_tokens"] / origin}


def memory_one(model: str, n_tokens: int, rate: float, what: str, dtype: str = "auto") -> float:
    """Peak RSS growth (MiB) of one floor or compression run over the loaded model."""
    compressor = load(model, dtype=dtype)
    return rss_growth_mb(compressor, n_tokens, what, floor_call, compress_call, rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nano", help="preset, hub id or folder (default nano)")
    parser.add_argument("--random", choices=sorted(RANDOM_SHAPES),
                        help="benchmark a randomly initialised model of this shape instead")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--dtype", nargs="+", choices=DTYPE_CHOICES, default=["auto"],
                        help="compute dtypes to measure, each in its own rows (default auto)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_random_model(args.random, Path(tmp) / args.random)) if args.random \
            else args.model
        label = f"random {args.random} shape" if args.random else args.model
        rows = []
        for n, dtype in ((n, d) for n in args.lengths for d in args.dtype):
            t = in_subprocess(time_one, model, n, args.rate, args.repeats, dtype)
            mem = ("-", "-") if args.no_memory else (
                f"{in_subprocess(memory_one, model, n, args.rate, 'floor', dtype):.0f}",
                f"{in_subprocess(memory_one, model, n, args.rate, 'rate', dtype):.0f}")
            rows.append([t["tokens"], t["dtype"], f"{t['floor']:.3f}", f"{t['rate']:.3f}",
                         f"{t['rate'] / t['floor']:.2f}", f"{t['target'] / t['floor']:.2f}",
                         f"{t['in_place'] / t['floor']:.2f}",
                         f"{t['rate_achieved']:.3f}", f"{t['target_achieved']:.3f}", *mem])
            print(f"done {n} tokens in {dtype}", file=sys.stderr, flush=True)
    print(f"model: {label}; rate {args.rate}; median of {args.repeats}; {machine()}\n")
    print(markdown_table(
        ["prompt tokens", "dtype", "floor s", "compress s (rate)", "ratio (rate)", "ratio (target_token)",
         "ratio (rate, in_place)",
         "achieved rate", "achieved rate (target)", "floor peak MiB", "compress peak MiB"],
        rows))


if __name__ == "__main__":
    main()
