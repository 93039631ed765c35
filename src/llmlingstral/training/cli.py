"""Command-line subcommands of the LLMLingua-2 and SecurityLingua recipes.

``collect-llmlingua2`` (texts -> compressions from a Mistral chat model),
``import-meetingbank`` (MeetingBank-LLMCompressed parquet/JSON -> compression records),
``label-llmlingua2`` (pairs -> word labels, filtered), ``train-llmlingua2``
(labels -> classifier) and ``train-securitylingua`` (jailbreak pairs -> intent
classifier). Each ``add_*`` function registers one subcommand on an argparse
subparsers object; the handler is stored as ``handler`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK = 0
# securitylingua.DEFAULT_BASE, repeated so building the parser imports no torch.
DEFAULT_BASE = "small"


def add_training_commands(subparsers) -> None:
    """Register collect-llmlingua2, import-meetingbank, label-llmlingua2, train-llmlingua2
    and train-securitylingua."""
    add_collect_llmlingua2_command(subparsers)
    add_import_meetingbank_command(subparsers)
    add_label_llmlingua2_command(subparsers)
    add_train_llmlingua2_command(subparsers)
    add_train_securitylingua_command(subparsers)


# --------------------------------------------------------------------------- train


def add_train_llmlingua2_command(subparsers) -> argparse.ArgumentParser:
    """Register ``train-llmlingua2``: fine-tune a Mistral token classifier."""
    cmd = subparsers.add_parser(
        "train-llmlingua2", help="train an LLMLingua-2 token classifier on a Mistral model",
        description="Fine-tune a Mistral model as an LLMLingua-2 keep/drop classifier. DATA is "
                    "JSONL with 'prompt' and 'labels' (from label-llmlingua2) or "
                    "'prompt' and 'compressed_prompt'. The output folder loads with "
                    "PromptCompressor(OUTPUT, use_llmlingua2=True).")
    cmd.add_argument("--data", required=True, help="training JSONL file")
    cmd.add_argument("--base", required=True,
                     help="base model: preset (e.g. small, default), Hugging Face id or folder")
    _add_protect_argument(cmd, "records labelled here (those with 'compressed_prompt' and no "
                               "'labels')")
    _add_trainer_arguments(cmd)
    cmd.set_defaults(handler=_run_train)
    return cmd


def _add_trainer_arguments(cmd: argparse.ArgumentParser) -> None:
    """The options of the shared token-classifier trainer (:class:`.llmlingua2.TrainConfig`)."""
    cmd.add_argument("--output", required=True, help="folder for the trained classifier")
    cmd.add_argument("--epochs", type=float, default=3, help="passes over the data (default 3)")
    cmd.add_argument("--lr", type=float, default=None,
                     help="learning rate (default 2e-5, or 2e-4 with --lora)")
    cmd.add_argument("--batch-size", type=int, default=8, help="windows per batch (default 8)")
    cmd.add_argument("--grad-accum", type=int, default=1,
                     help="batches per optimiser step (default 1)")
    cmd.add_argument("--lora", action="store_true", help="train LoRA adapters (merged on save)")
    cmd.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default 16)")
    cmd.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha (default 32)")
    cmd.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout (0.05)")
    cmd.add_argument("--max-length", type=int, default=512,
                     help="tokens per training window, BOS included (default 512)")
    cmd.add_argument("--seed", type=int, default=42, help="seed for split, order, init (42)")
    cmd.add_argument("--bf16", action="store_true",
                     help="bfloat16 autocast (with --lora: also a bf16 frozen base)")
    cmd.add_argument("--valid-fraction", type=float, default=0.1,
                     help="share of records held out for validation (default 0.1)")
    cmd.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (1.0)")
    cmd.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    cmd.add_argument("--warmup-ratio", type=float, default=0.05, help="warm-up share of steps")
    cmd.add_argument("--bidirectional", action="store_true",
                     help="train with full attention (config.is_causal=False)")
    cmd.add_argument("--gradient-checkpointing", action="store_true",
                     help="trade compute for memory (7B bases)")
    cmd.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_protect_argument(cmd: argparse.ArgumentParser, what: str) -> None:
    cmd.add_argument("--protect", action=argparse.BooleanOptionalAction, default=True,
                     help=f"label every word of a protected fact (number, date, amount, "
                          f"identifier, ...) keep in {what}, so the classifier learns to keep "
                          f"facts (default on; --no-protect keeps the teacher's labels)")


def _train_config(args: argparse.Namespace):
    from .llmlingua2 import TrainConfig

    return TrainConfig(
        protect=getattr(args, "protect", True),
        data=args.data, base=args.base, output=args.output, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, grad_accum=args.grad_accum, lora=args.lora,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        max_length=args.max_length, seed=args.seed, bf16=args.bf16,
        valid_fraction=args.valid_fraction, max_grad_norm=args.max_grad_norm,
        weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio,
        bidirectional=args.bidirectional, gradient_checkpointing=args.gradient_checkpointing,
        device=args.device, max_steps=args.max_steps, show_progress=not args.quiet)


def _run_train(args: argparse.Namespace) -> int:
    from .llmlingua2 import train_llmlingua2

    report = train_llmlingua2(_train_config(args))
    summary = {"output": str(report.output), "steps": report.steps,
               "train_examples": report.train_examples, "valid_examples": report.valid_examples,
               "best": report.best}
    print(json.dumps(summary, indent=2))
    return EXIT_OK


# --------------------------------------------------------------------------- SecurityLingua


def add_train_securitylingua_command(subparsers) -> argparse.ArgumentParser:
    """Register ``train-securitylingua``: jailbreak pairs -> labels -> intent classifier."""
    cmd = subparsers.add_parser(
        "train-securitylingua", help="train a SecurityLingua intent classifier on a Mistral model",
        description="Label the words of each jailbreak prompt kept by its plain request, drop "
                    "badly aligned pairs, and fine-tune a Mistral token classifier on the "
                    "labels. DATA is JSONL with 'extended' (jailbreak prompt) and 'original' "
                    "(plain request), as in SecurityLingua/securitylingua-jailbreak-pairs, or "
                    "'prompt' and 'compressed_prompt'. The output folder loads with "
                    "SecurityLingua(OUTPUT) or PromptCompressor(OUTPUT, use_slingua=True).")
    cmd.add_argument("--data", default=None,
                     help="pairs JSONL file (default: the small example set shipped with the "
                          "package)")
    cmd.add_argument("--base", default=DEFAULT_BASE,
                     help=f"base model: preset, Hugging Face id or folder (default {DEFAULT_BASE}"
                          f" = Ministral-3-3B, text-only); an LLMLingua-2 classifier also works")
    cmd.add_argument("--variation-percentile", type=float, default=90,
                     help="drop pairs above this percentile of variation rate (90; 100 = off)")
    cmd.add_argument("--gap-percentile", type=float, default=90,
                     help="drop pairs above this percentile of alignment gap (90; 100 = off)")
    cmd.add_argument("--max-samples", type=int, default=None,
                     help="use only the first N pairs (default: all)")
    _add_trainer_arguments(cmd)
    cmd.set_defaults(handler=_run_train_securitylingua)
    return cmd


def _run_train_securitylingua(args: argparse.Namespace) -> int:
    from .securitylingua import EXAMPLE_PAIRS, train_securitylingua

    if args.data is None:
        args.data = str(EXAMPLE_PAIRS)
    report = train_securitylingua(_train_config(args),
                                  variation_percentile=args.variation_percentile,
                                  gap_percentile=args.gap_percentile,
                                  max_samples=args.max_samples)
    summary = {"output": str(report.training.output), "pairs": report.pairs,
               "kept_after_filter": report.filtering.kept, "steps": report.training.steps,
               "train_examples": report.training.train_examples,
               "valid_examples": report.training.valid_examples, "best": report.training.best}
    print(json.dumps(summary, indent=2))
    return EXIT_OK


# --------------------------------------------------------------------------- collect


def add_collect_llmlingua2_command(subparsers) -> argparse.ArgumentParser:
    """Register ``collect-llmlingua2``: extractive compressions from a Mistral chat model."""
    from .collect import DEFAULT_MODEL

    cmd = subparsers.add_parser(
        "collect-llmlingua2", help="collect extractive compressions from the Mistral API",
        description="Cut texts into chunks of at most --max-chunk-tokens Mistral tokens and "
                    "ask a Mistral chat model to compress each by deleting words. Appends to "
                    "OUTPUT and skips chunks already there, so a stopped run resumes. The key "
                    "comes from MISTRAL_API_KEY.")
    cmd.add_argument("--input", required=True,
                     help="JSONL with 'text' (and 'id'), a .txt file, or a folder of .txt files")
    cmd.add_argument("--output", required=True, help="JSONL file of compression pairs")
    cmd.add_argument("--model", default=DEFAULT_MODEL, help=f"chat model (default {DEFAULT_MODEL})")
    cmd.add_argument("--max-chunk-tokens", type=int, default=512, help="chunk size (512)")
    cmd.add_argument("--tokenizer", default="v3", help="tokenizer for chunk sizes (v3, tekken)")
    cmd.add_argument("--concurrency", type=int, default=4, help="requests in flight (4)")
    cmd.add_argument("--rps", type=float, default=1.0, help="requests per second (1.0)")
    cmd.add_argument("--max-attempts", type=int, default=6, help="tries per chunk (6)")
    cmd.add_argument("--temperature", type=float, default=0.3, help="sampling temperature (0.3)")
    cmd.add_argument("--server-url", default=None, help="API endpoint (default: Mistral's)")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd.set_defaults(handler=_run_collect)
    return cmd


def _run_collect(args: argparse.Namespace) -> int:
    from .collect import CollectConfig, collect, read_sources

    config = CollectConfig(model=args.model, max_chunk_tokens=args.max_chunk_tokens,
                           tokenizer=args.tokenizer, concurrency=args.concurrency,
                           requests_per_second=args.rps, max_attempts=args.max_attempts,
                           temperature=args.temperature, server_url=args.server_url,
                           show_progress=not args.quiet)
    stats = collect(read_sources(args.input), args.output, config)
    print(json.dumps(stats.__dict__))
    return EXIT_OK if stats.failed == 0 else 1


# --------------------------------------------------------------------------- MeetingBank


def add_import_meetingbank_command(subparsers) -> argparse.ArgumentParser:
    """Register ``import-meetingbank``: the published dataset files -> JSONL records."""
    cmd = subparsers.add_parser(
        "import-meetingbank", help="turn MeetingBank-LLMCompressed files into training records",
        description="Read microsoft/MeetingBank-LLMCompressed as downloaded from the Hugging "
                    "Face hub (a .parquet file, the download folder, or the collection "
                    "scripts' .json) and write JSONL compression records for "
                    "label-llmlingua2 (or train-llmlingua2). Rows whose chunk lists differ in "
                    "length are skipped and counted. Reading parquet needs pyarrow "
                    "(pip install 'llmlingstral[train]').")
    cmd.add_argument("--input", required=True,
                     help=".parquet, .json or .jsonl file, or a folder holding them")
    cmd.add_argument("--output", required=True, help="JSONL file of compression records")
    cmd.add_argument("--whole-texts", action="store_true",
                     help="one pair per transcript (prompt, compressed_prompt) instead of one "
                          "per chunk")
    cmd.add_argument("--limit", type=int, default=None, help="write at most N records")
    cmd.set_defaults(handler=_run_import_meetingbank)
    return cmd


def _run_import_meetingbank(args: argparse.Namespace) -> int:
    from .meetingbank import ImportReport, meetingbank_records, read_meetingbank
    from .records import write_jsonl

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    report = ImportReport()
    records = meetingbank_records(read_meetingbank(args.input), report,
                                  whole_texts=args.whole_texts, limit=args.limit)
    write_jsonl(args.output, records)
    print(json.dumps(report.__dict__))
    return EXIT_OK


# --------------------------------------------------------------------------- label


def add_label_llmlingua2_command(subparsers) -> argparse.ArgumentParser:
    """Register ``label-llmlingua2``: word labels and quality filtering."""
    cmd = subparsers.add_parser(
        "label-llmlingua2", help="label words kept/dropped and filter noisy pairs",
        description="Align each compressed text to its original, label every original word "
                    "1 (kept) or 0 (dropped), every word of a fact 1, and drop pairs above a "
                    "percentile of variation rate and of alignment gap. Input: JSONL with prompt/compressed_prompt "
                    "(or prompt_list/compressed_prompt_list).")
    cmd.add_argument("--input", required=True, help="JSONL of compression pairs")
    cmd.add_argument("--output", required=True, help="JSONL of labelled records")
    cmd.add_argument("--variation-percentile", type=float, default=90,
                     help="drop pairs above this percentile of variation rate (90; 100 = off)")
    cmd.add_argument("--gap-percentile", type=float, default=90,
                     help="drop pairs above this percentile of alignment gap (90; 100 = off)")
    _add_protect_argument(cmd, "the output")
    cmd.set_defaults(handler=_run_label)
    return cmd


def _run_label(args: argparse.Namespace) -> int:
    from ..text.protect import DEFAULT_PROTECTION
    from .labels import filter_labelled, label_pairs
    from .records import read_pairs, write_jsonl

    protection = DEFAULT_PROTECTION if args.protect else None
    labelled = list(label_pairs(read_pairs(args.input), protection))
    kept, report = filter_labelled(labelled, variation_percentile=args.variation_percentile,
                                   gap_percentile=args.gap_percentile)
    write_jsonl(args.output, kept)
    print(json.dumps(report.__dict__), file=sys.stdout)
    return EXIT_OK
