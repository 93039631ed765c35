"""``llmlingstral compress``: one prompt from a file or stdin, printed compressed."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..progress import stderr_is_terminal, transformers_bars_hidden
from ..protect_options import protection_from_args
from ..recipes import RECIPES
from .arguments import (DEFAULT_MODEL_FOR, DEFAULT_RANK_METHOD, add_dtype_option,
                        add_method_options, load_compressor)
from .exit_codes import EXIT_OK
from .inputs import read_input, split_documents


def add_compress_command(commands) -> None:
    """Register ``compress`` on the subparsers ``commands``."""
    cmd = commands.add_parser(
        "compress", help="compress a prompt from a file or stdin",
        description="Compress a prompt. Prints the compressed text, or JSON with --json. "
                    "With --method longllmlingua the input is split into documents at blank "
                    "lines and ranked against --question. Numbers, dates, amounts, URLs, "
                    "paths, identifiers and code are kept whole (see --protect).")
    cmd.add_argument("input", nargs="?", default="-",
                     help="file holding the prompt, or '-' (default) for stdin")
    budget = cmd.add_mutually_exclusive_group()
    budget.add_argument("--rate", type=float, default=0.5,
                        help="fraction of tokens to keep, in (0, 1] (default 0.5)")
    budget.add_argument("--target-token", type=int, default=None,
                        help="number of Mistral tokens to keep (overrides --rate)")
    cmd.add_argument("--question", default="", help="question the prompt must answer")
    cmd.add_argument("--instruction", default="", help="instruction kept verbatim before the text")
    add_method_options(cmd, rank_default=None,
                       rank_help=f"document ranking for --method longllmlingua: "
                                 f"{DEFAULT_RANK_METHOD} (default: bm25 fused with the model's "
                                 f"own scores), longllmlingua, bm25, gzip, llmlingua, "
                                 f"e5-mistral, mistral-embed, mistral-rerank")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    add_dtype_option(cmd)
    cmd.add_argument("--json", action="store_true",
                     help="print JSON with the compressed text, token counts and ratio")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    cmd.set_defaults(handler=run_compress)


def run_compress(args: argparse.Namespace) -> int:
    """Compress the input the parsed ``args`` name and print the result."""
    text = read_input(args.input)
    if not text.strip():
        raise ValueError("the input is empty: give a file or stdin with text to compress")
    if args.method == "longllmlingua" and not args.question.strip():
        raise ValueError("--method longllmlingua needs --question")
    model = args.model or DEFAULT_MODEL_FOR[args.method]
    with transformers_bars_hidden(args.quiet):
        compressor = load_compressor(args)
    result = _compress(compressor, text, args)
    if args.json:
        print(json.dumps(_json_report(result, args, model), ensure_ascii=False, indent=2))
    else:
        print(result["compressed_prompt"])
    return EXIT_OK


def _compress(compressor, text: str, args: argparse.Namespace) -> dict[str, Any]:
    target = -1 if args.target_token is None else args.target_token
    progress = None if not args.quiet and stderr_is_terminal() else False
    protect = protection_from_args(args)
    chosen = {} if args.rank_method is None else {"rank_method": args.rank_method}
    options = RECIPES[args.method].keywords(chosen)
    if args.method == "llmlingua2":  # the classifier keeps force tokens inside words too
        return compressor.compress_prompt(
            text, rate=args.rate, target_token=target, force_tokens=args.force_token,
            instruction=args.instruction, question=args.question, protect=protect, **options)
    from ..text.sentences import split_protected

    documents = split_documents(text) if args.method == "longllmlingua" else [text]
    # Force tokens become compress=False segments, so that the sentence and context
    # filters keep them too.
    segments = [split_protected(doc, args.force_token) for doc in documents]
    return compressor.compress_prompt(
        documents, instruction=args.instruction, question=args.question, rate=args.rate,
        target_token=target, context_segs=[p for p, _ in segments],
        context_segs_compress=[f for _, f in segments], show_progress=progress,
        protect=protect, **options)


def _json_report(result: dict[str, Any], args: argparse.Namespace, model: str) -> dict[str, Any]:
    origin, kept = result["origin_tokens"], result["compressed_tokens"]
    return {"compressed_prompt": result["compressed_prompt"], "origin_tokens": origin,
            "compressed_tokens": kept, "ratio": round(origin / kept, 3) if kept else None,
            "rate": round(kept / origin, 4) if origin else None,
            "method": args.method, "model": model, "dtype": result.get("dtype"),
            **({"rank_method": args.rank_method or DEFAULT_RANK_METHOD}
               if args.method == "longllmlingua" else {})}
