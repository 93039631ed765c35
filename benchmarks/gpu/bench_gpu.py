"""Full-size Mistral architectures with random weights: compression speed against the floor.

Three rows, each against the floor (one plain forward pass of the same model over the same
tokens; for the causal model in windows of the scorer's window, for the classifier in the
chunks and batches LLMLingua-2 uses):

* LLMLingua (``compress_prompt``, ``rate``) on a ``--tokens`` prompt with a Mistral-7B-v0.3
  shaped causal LM;
* LongLLMLingua on a 20-document prompt with a question (same model, the settings of
  ``benchmarks/peer``);
* LLMLingua-2 (``compress_prompt_llmlingua2``) on a ``--tokens`` prompt with a Ministral-3-3B
  shaped two-label token classifier.

Speed does not depend on the weights, so they are random; the models are built directly on
the device in bf16 and handed to ``PromptCompressor`` in memory (``--load folder`` saves them
with safetensors and loads them through the library's loader instead, timing both steps).
Tokenizers are the real ones: Mistral v3 for the 7B shape, tekken for Ministral 3.

    python benchmarks/gpu/bench_gpu.py --size full --device cuda      # GPU, about 22 GB
    python benchmarks/gpu/bench_gpu.py --size small --device cpu      # correctness check
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "peer"))

import bench_llmlingua as lingua  # noqa: E402
import bench_llmlingua2 as lingua2  # noqa: E402
from _common import machine, markdown_table, prompt_of_tokens  # noqa: E402
from compare import LONGLLMLINGUA  # noqa: E402
from eval_nq import build_examples, load_dev  # noqa: E402

YARN = {"rope_type": "yarn", "rope_theta": 1e6, "factor": 16.0,
        "original_max_position_embeddings": 16384, "llama_4_scaling_beta": 0.1}

# Mistral-7B-v0.3 (config.json of the release) and a narrow two-layer stand-in.
CAUSAL_SHAPES = {
    "full": dict(vocab_size=32768, hidden_size=4096, intermediate_size=14336,
                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                 head_dim=128, max_position_embeddings=32768, rope_theta=1e6,
                 sliding_window=None, rms_norm_eps=1e-5, tie_word_embeddings=False),
    "small": dict(vocab_size=32768, hidden_size=256, intermediate_size=896,
                  num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                  head_dim=32, max_position_embeddings=32768, rope_theta=1e6,
                  sliding_window=None, rms_norm_eps=1e-5, tie_word_embeddings=False),
}
# The text model of Ministral-3-3B-*-2512 (tied embeddings, yarn rope) and its stand-in.
CLASSIFIER_SHAPES = {
    "full": dict(vocab_size=131072, hidden_size=3072, intermediate_size=9216,
                 num_hidden_layers=26, num_attention_heads=32, num_key_value_heads=8,
                 head_dim=128, max_position_embeddings=262144, rope_parameters=YARN,
                 rms_norm_eps=1e-5, tie_word_embeddings=True, num_labels=2),
    "small": dict(vocab_size=131072, hidden_size=256, intermediate_size=768,
                  num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                  head_dim=32, max_position_embeddings=262144, rope_parameters=YARN,
                  rms_norm_eps=1e-5, tie_word_embeddings=True, num_labels=2),
}
MODEL_NAMES = {"causal": "Mistral-7B-v0.3 shape", "classifier": "Ministral-3-3B shape"}
QUESTION = "Which function decodes a JSON document into a Python object?"
N_DOCUMENTS = 20
GIB = 1024 ** 3


# --------------------------------------------------------------------------- models


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def build_model(kind: str, size: str, device: str, dtype: str):
    """A randomly initialised model built directly on ``device`` in ``dtype``."""
    import torch
    from transformers import (AutoModelForCausalLM, AutoModelForTokenClassification,
                              Ministral3Config, MistralConfig)

    torch.manual_seed(0)
    torch_dtype = getattr(torch, dtype)
    if kind == "causal":
        config = MistralConfig(**CAUSAL_SHAPES[size], dtype=torch_dtype)
        auto = AutoModelForCausalLM
    else:
        config = Ministral3Config(**CLASSIFIER_SHAPES[size], pad_token_id=11, dtype=torch_dtype)
        auto = AutoModelForTokenClassification
    with torch.device(device):
        model = auto.from_config(config, dtype=torch_dtype)
    return model.to(device).eval()


def weights_gib(model) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / GIB


def compressor_in_memory(kind: str, model, device: str, llmlingua2_config: dict):
    """A PromptCompressor around a model already in memory.

    ``PromptCompressor`` loads from a folder only; substituting its loader for the one
    constructor call hands it the built model without writing it to disk.
    """
    import torch
    import llmlingstral.compressor as compressor_module
    from llmlingstral import PromptCompressor, load_tokenizer
    from llmlingstral.models.loader import LoadedModel

    tokenizer = load_tokenizer("v3" if kind == "causal" else "tekken")
    loaded = LoadedModel(model=model, tokenizer=tokenizer, name=MODEL_NAMES[kind],
                         path=Path("."), device=torch.device(device))
    with mock.patch.object(compressor_module, "load_model", lambda *a, **k: loaded):
        return PromptCompressor(MODEL_NAMES[kind], device_map=device,
                                use_llmlingua2=kind == "classifier",
                                llmlingua2_config=llmlingua2_config)


def save_folder(model, folder: Path) -> float:
    """Write ``model`` with safetensors; returns the seconds it took."""
    start = time.perf_counter()
    model.save_pretrained(folder, safe_serialization=True)
    return time.perf_counter() - start


def compressor_from_folder(kind: str, folder: Path, device: str, dtype: str,
                           llmlingua2_config: dict):
    """``PromptCompressor`` loading ``folder`` through the library's loader."""
    from llmlingstral import PromptCompressor

    return PromptCompressor(str(folder), device_map=device, model_config={"dtype": dtype},
                            use_llmlingua2=kind == "classifier",
                            llmlingua2_config=llmlingua2_config)


def release() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- inputs


def twenty_documents(tokenizer, n_tokens: int) -> tuple[list[str], str]:
    """20 documents of about ``n_tokens / 20`` tokens each, cut from the prose prompt."""
    text = prompt_of_tokens(tokenizer, n_tokens)
    offsets = tokenizer.encode_with_offsets(text).offsets
    per = max(1, len(offsets) // N_DOCUMENTS)
    documents, start = [], 0
    for k in range(1, N_DOCUMENTS + 1):
        end = len(text)
        if k < N_DOCUMENTS:
            cut = text.rfind(" ", start + 1, offsets[min(k * per, len(offsets)) - 1][1])
            end = cut if cut > start else offsets[min(k * per, len(offsets)) - 1][1]
        documents.append(f"Document [{k}] {text[start:end].strip()}")
        start = end
    return documents, QUESTION


def nq_documents(path: Path) -> tuple[list[str], str]:
    """The first 20-document NQ-open dev prompt of ``benchmarks/eval_nq.py``."""
    example = build_examples(load_dev(path), 1, N_DOCUMENTS, 0)[0]
    return example.documents, example.question


# --------------------------------------------------------------------------- timing


def measure(calls: dict[str, Callable[[], Any]], repeats: int, device) -> dict[str, dict]:
    """Alternating runs after one warm-up each: median seconds, peak GPU memory, last result."""
    import torch

    cuda = device.type == "cuda"
    for fn in calls.values():
        fn()
        _sync(device)
    out = {name: {"times": [], "peak": 0.0, "result": None} for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            result = fn()
            _sync(device)
            out[name]["times"].append(time.perf_counter() - start)
            out[name]["result"] = result
            if cuda:
                out[name]["peak"] = max(out[name]["peak"], torch.cuda.max_memory_allocated() / GIB)
    for entry in out.values():
        entry["median"] = statistics.median(entry["times"])
    return out


def row(method: str, setting: str, tokens: int, floor: dict, compress: dict, cuda: bool) -> dict:
    achieved = compress["result"]["compressed_tokens"] / compress["result"]["origin_tokens"]
    return {"method": method, "setting": setting, "tokens": tokens,
            "floor_s": floor["median"], "compress_s": compress["median"],
            "floor_tps": tokens / floor["median"], "compress_tps": tokens / compress["median"],
            "ratio": compress["median"] / floor["median"], "achieved_rate": achieved,
            "floor_peak_gib": floor["peak"] if cuda else None,
            "compress_peak_gib": compress["peak"] if cuda else None,
            "floor_times": floor["times"], "compress_times": compress["times"]}


def bench_causal(compressor, args, methods: list[str]) -> list[dict]:
    device = compressor.device
    cuda = device.type == "cuda"
    rows = []
    if "llmlingua" in methods:
        prompt = prompt_of_tokens(compressor.tokenizer, args.tokens)
        tokens = compressor.tokenizer.count(prompt)
        timed = measure({"floor": lingua.floor_call(compressor, prompt),
                         "compress": lingua.compress_call(compressor, prompt, "rate", args.rate)},
                        args.repeats, device)
        rows.append(row("LLMLingua", f"rate {args.rate:g}", tokens, timed["floor"],
                        timed["compress"], cuda))
        print(f"done LLMLingua ({tokens} tokens)", file=sys.stderr, flush=True)
    if "longllmlingua" in methods:
        documents, question = nq_documents(args.nq_data) if args.nq_data \
            else twenty_documents(compressor.tokenizer, args.tokens)
        full = "\n\n".join(documents + [question])
        tokens = compressor.tokenizer.count(full)

        def compress():
            return compressor.compress_prompt(documents, question=question, rate=args.long_rate,
                                              show_progress=False, **LONGLLMLINGUA)
        timed = measure({"floor": lingua.floor_call(compressor, full), "compress": compress},
                        args.repeats, device)
        source = "NQ dev" if args.nq_data else "prose"
        rows.append(row("LongLLMLingua", f"{N_DOCUMENTS} docs ({source}) + question, "
                        f"rate {args.long_rate:g}", tokens, timed["floor"], timed["compress"],
                        cuda))
        print(f"done LongLLMLingua ({tokens} tokens)", file=sys.stderr, flush=True)
    return rows


def bench_classifier(compressor, args) -> list[dict]:
    device = compressor.device
    prompt = prompt_of_tokens(compressor.tokenizer, args.tokens)
    tokens = compressor.tokenizer.count(prompt)
    timed = measure({"floor": lingua2.floor_call(compressor, prompt),
                     "compress": lingua2.compress_call(compressor, prompt, "rate", args.rate)},
                    args.repeats, device)
    print(f"done LLMLingua-2 ({tokens} tokens)", file=sys.stderr, flush=True)
    classifier = compressor.classifier
    setting = (f"rate {args.rate:g}, window {classifier.max_seq_len}, "
               f"batch {classifier.max_batch_size}"
               + (", bidirectional" if not classifier.is_causal else ""))
    return [row("LLMLingua-2", setting, tokens, timed["floor"], timed["compress"],
                device.type == "cuda")]


def run_kind(kind: str, args, tmp: Path, models: list[dict]) -> list[dict]:
    """Build one model, wrap it, benchmark its methods, free it."""
    import torch

    info: dict[str, Any] = {"model": MODEL_NAMES[kind]}
    start = time.perf_counter()
    model = build_model(kind, args.size, args.device, args.dtype)
    _sync(torch.device(args.device))
    info["build s"] = time.perf_counter() - start
    info["params"] = sum(p.numel() for p in model.parameters())
    info["weights GiB"] = weights_gib(model)
    config = {"max_batch_size": args.batch_size}
    if args.bidirectional:
        config["bidirectional"] = True
    if args.load == "folder":
        folder = tmp / kind
        info["save s"] = save_folder(model, folder)
        del model  # the loaded copy replaces it
        release()
        start = time.perf_counter()
        compressor = compressor_from_folder(kind, folder, args.device, args.dtype, config)
        _sync(compressor.device)
        info["load s"] = time.perf_counter() - start
        shutil.rmtree(folder)
    else:
        compressor = compressor_in_memory(kind, model, args.device, config)
        del model
    print(f"built {info['model']}: " + ", ".join(
        f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in info.items()
        if k != "model"), file=sys.stderr, flush=True)
    try:
        if kind == "causal":
            rows = bench_causal(compressor, args, args.methods)
        else:
            rows = bench_classifier(compressor, args)
    finally:
        del compressor
        release()
    for r in rows:
        r["model"] = info["model"]
    models.append(info)
    return rows


# --------------------------------------------------------------------------- report


def fmt_gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(args, models: list[dict], rows: list[dict]) -> str:
    lines = [f"Random-weight {args.size}-size models, {args.dtype}, device {args.device}; "
             f"median of {args.repeats} (after one warm-up); {machine()}", ""]
    model_rows = [[m["model"], f"{m['params'] / 1e9:.3f} B", f"{m['weights GiB']:.2f}",
                   f"{m['build s']:.1f}", f"{m['save s']:.1f}" if "save s" in m else "-",
                   f"{m['load s']:.1f}" if "load s" in m else "-"] for m in models]
    lines.append(markdown_table(["model", "parameters", "weights GiB", "build s",
                                 "save s (safetensors)", "load s (PromptCompressor)"],
                                model_rows))
    lines.append("")
    lines.append(markdown_table(
        ["method", "model", "setting", "prompt tokens", "floor s", "floor tok/s", "compress s",
         "compress tok/s", "compress / floor", "achieved rate", "floor peak GiB",
         "compress peak GiB"],
        [[r["method"], r["model"], r["setting"], r["tokens"], f"{r['floor_s']:.3f}",
          f"{r['floor_tps']:,.0f}", f"{r['compress_s']:.3f}", f"{r['compress_tps']:,.0f}",
          f"{r['ratio']:.2f}", f"{r['achieved_rate']:.3f}", fmt_gib(r["floor_peak_gib"]),
          fmt_gib(r["compress_peak_gib"])] for r in rows]))
    return "\n".join(lines)


def parse_args(argv=None):
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("full", "small"), default="full",
                        help="full: real shapes (needs a GPU); small: 2-layer, 256-wide stand-ins")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cuda or cpu (default cuda when available)")
    parser.add_argument("--dtype", default="bfloat16", help="weights dtype (default bfloat16)")
    parser.add_argument("--tokens", type=int, default=None,
                        help="prompt length in each model's tokens (default 10000 full, "
                             "2000 small)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per call after one warm-up (default 3)")
    parser.add_argument("--rate", type=float, default=0.5,
                        help="rate for LLMLingua and LLMLingua-2 (default 0.5)")
    parser.add_argument("--long-rate", type=float, default=0.25,
                        help="rate for LongLLMLingua (default 0.25, as benchmarks/peer)")
    methods = ["llmlingua", "longllmlingua", "llmlingua2"]
    parser.add_argument("--methods", nargs="+", default=methods, choices=methods)
    parser.add_argument("--batch-size", type=int, default=50,
                        help="LLMLingua-2 max_batch_size (default 50)")
    parser.add_argument("--bidirectional", action="store_true",
                        help="run the classifier with full attention")
    parser.add_argument("--nq-data", type=Path, default=None,
                        help="take the LongLLMLingua prompt from NQ-open (eval_nq.py's file) "
                             "instead of 20 prose documents of --tokens/20 tokens each")
    parser.add_argument("--load", choices=("memory", "folder"), default="memory",
                        help="hand the built model to PromptCompressor in memory (default) or "
                             "save it with safetensors and load the folder")
    parser.add_argument("--tmp-dir", default=None, help="where --load folder saves the weights")
    parser.add_argument("--json", type=Path, default=None, help="also write all numbers here")
    args = parser.parse_args(argv)
    if args.tokens is None:
        args.tokens = 10000 if args.size == "full" else 2000
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is available")
    if args.size == "full" and not args.device.startswith("cuda"):
        print("warning: full-size models on CPU need about 22 GB of memory and hours",
              file=sys.stderr)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    rows: list[dict] = []
    models: list[dict] = []
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        if {"llmlingua", "longllmlingua"} & set(args.methods):
            rows += run_kind("causal", args, Path(tmp), models)
        if "llmlingua2" in args.methods:
            rows += run_kind("classifier", args, Path(tmp), models)
    text = report(args, models, rows)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(), "args": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "models": models, "rows": rows, "report": text}, indent=2))


if __name__ == "__main__":
    main()
