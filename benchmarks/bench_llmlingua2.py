"""LLMLingua-2 compression time against the floor: the classifier's plain forward passes.

For each prompt length the script times ``compress_prompt_llmlingua2`` (budget mode, rate
0.33, and threshold mode) and the floor: plain forward passes of the same classifier over
the same tokens, in windows of the classifier's length (BOS + 511 tokens) and batches of
``max_batch_size``, with nothing else (no words, no selection, no softmax). Runs alternate
and the median is reported. Then tokens per second of compression at several batch sizes,
and peak memory (growth of the resident set over the loaded model, in a fresh process).

The classifier is a randomly initialised MistralForTokenClassification built here (speed
does not depend on the weights):

    python benchmarks/bench_llmlingua2.py                      # nano shape, CPU
    python benchmarks/bench_llmlingua2.py --shape wide --device cuda
    python benchmarks/bench_llmlingua2.py --dtype float32 bfloat16   # rows for both dtypes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (alternating_medians, dtype_label, in_subprocess, machine,  # noqa: E402
                     markdown_table, prompt_of_tokens, rss_growth_mb)
from llmlingstral.validate import DTYPE_CHOICES  # noqa: E402

SHAPES = {
    # hidden, intermediate, layers, heads, kv heads
    "nano": (256, 704, 6, 8, 2),
    "wide": (1024, 2816, 8, 16, 4),
}


def build_classifier(shape: str, folder: Path) -> Path:
    """A randomly initialised two-label MistralForTokenClassification, v3 vocabulary."""
    import torch
    from transformers import MistralConfig, MistralForTokenClassification

    hidden, inter, layers, heads, kv = SHAPES[shape]
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=32768, hidden_size=hidden, intermediate_size=inter,
                           num_hidden_layers=layers, num_attention_heads=heads,
                           num_key_value_heads=kv, max_position_embeddings=4096,
                           sliding_window=None, tie_word_embeddings=True, num_labels=2,
                           dtype=torch.float32)
    MistralForTokenClassification(config).save_pretrained(folder)
    return folder


def load(model: str, device: str, batch_size: int = 50, dtype: str = "auto"):
    from llmlingstral import PromptCompressor

    return PromptCompressor(model, device_map=device, use_llmlingua2=True,
                            model_config={"dtype": dtype},
                            llmlingua2_config={"max_batch_size": batch_size})


def _sync(compressor) -> None:
    import torch

    if compressor.device.type == "cuda":
        torch.cuda.synchronize()


def floor_call(compressor, prompt: str):
    """Plain forward passes over the prompt's tokens: fixed windows, same batch size."""
    import torch

    classifier = compressor.classifier
    ids = classifier.tokenizer.encode(prompt)
    limit = classifier.chunk_limit
    windows = [ids[i:i + limit] for i in range(0, len(ids), limit)]
    batches = [(b[1], b[2]) for b in classifier.batches(windows)]

    def run():
        with torch.inference_mode():
            for input_ids, mask in batches:
                classifier.model(input_ids=input_ids, attention_mask=mask)
        _sync(compressor)
    return run


def compress_call(compressor, prompt: str, mode: str, rate: float):
    if mode == "threshold":
        return lambda: compressor.compress_prompt_llmlingua2(prompt, keep_threshold=0.5)
    return lambda: compressor.compress_prompt_llmlingua2(prompt, rate=rate,
                                                         force_tokens=["\n", "."])


def time_one(model: str, device: str, n_tokens: int, rate: float, repeats: int,
             dtype: str = "auto") -> dict:
    """Alternating timings of the floor, budget mode and threshold mode for one length."""
    compressor = load(model, device, dtype=dtype)
    prompt = prompt_of_tokens(compressor.tokenizer, n_tokens)
    calls = {"floor": floor_call(compressor, prompt),
             "rate": compress_call(compressor, prompt, "rate", rate),
             "threshold": compress_call(compressor, prompt, "threshold", rate)}
    times, results = alternating_medians(calls, repeats)
    origin = compressor.tokenizer.count(prompt)
    return {"tokens": origin, "dtype": dtype_label(dtype, compressor.dtype), **times,
            "rate_achieved": results["rate"]["compressed_tokens"] / origin}


def throughput_one(model: str, device: str, n_tokens: int, batch_size: int, rate: float,
                   repeats: int, dtype: str = "auto") -> float:
    """Compression tokens per second with ``max_batch_size=batch_size``."""
    compressor = load(model, device, batch_size, dtype)
    prompt = prompt_of_tokens(compressor.tokenizer, n_tokens)
    times, _ = alternating_medians({"rate": compress_call(compressor, prompt, "rate", rate)},
                                   repeats)
    return compressor.tokenizer.count(prompt) / times["rate"]


def memory_one(model: str, device: str, n_tokens: int, rate: float, what: str,
               dtype: str = "auto") -> float:
    """Peak RSS growth (MiB) of one floor or compression run over the loaded model."""
    compressor = load(model, device, dtype=dtype)
    return rss_growth_mb(compressor, n_tokens, what, floor_call, compress_call, rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="an LLMLingua-2 checkpoint instead of a random classifier")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="nano",
                        help="shape of the random classifier (default nano)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--throughput-tokens", type=int, default=8192)
    parser.add_argument("--rate", type=float, default=0.33)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--dtype", nargs="+", choices=DTYPE_CHOICES, default=["auto"],
                        help="compute dtypes to measure, each in its own rows (default auto)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_classifier(args.shape, Path(tmp) / args.shape))
        label = args.model or f"random {args.shape}-shape MistralForTokenClassification"
        rows = []
        for n, dtype in ((n, d) for n in args.lengths for d in args.dtype):
            t = in_subprocess(time_one, model, args.device, n, args.rate, args.repeats, dtype)
            mem = ("-", "-") if args.no_memory else tuple(
                f"{in_subprocess(memory_one, model, args.device, n, args.rate, what, dtype):.0f}"
                for what in ("floor", "rate"))
            rows.append([t["tokens"], t["dtype"], f"{t['floor']:.3f}", f"{t['rate']:.3f}",
                         f"{t['rate'] / t['floor']:.2f}", f"{t['threshold'] / t['floor']:.2f}",
                         f"{t['rate_achieved']:.3f}", *mem])
            print(f"done {n} tokens in {dtype}", file=sys.stderr, flush=True)
        speeds = []
        for size, dtype in ((s, d) for s in args.batch_sizes for d in args.dtype):
            speed = in_subprocess(throughput_one, model, args.device, args.throughput_tokens,
                                  size, args.rate, args.repeats, dtype)
            speeds.append([size, dtype, f"{speed:,.0f}"])
    print(f"model: {label}; device {args.device}; rate {args.rate}; median of {args.repeats}; "
          f"{machine()}\n")
    print(markdown_table(
        ["prompt tokens", "dtype", "floor s", "compress s (rate)", "ratio (rate)",
         "ratio (threshold)",
         "achieved rate", "floor peak MiB", "compress peak MiB"], rows))
    print(f"\nCompression throughput on a {args.throughput_tokens}-token prompt:\n")
    print(markdown_table(["max_batch_size", "dtype", "tokens/s"], speeds))


if __name__ == "__main__":
    main()
