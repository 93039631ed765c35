"""The ``llmlingstral`` command line: ``compress``, ``compress-batch`` and ``models``.

Exit codes: 0 success, 1 unexpected failure, 2 bad arguments or input, 3 input missing or
unreadable (not UTF-8 text), 4 model unavailable, 130 interrupted, 141 output pipe closed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import LLMLingstralError, ModelUnavailableError
from .models.registry import MISTRAL_MODELS, ModelPreset
from .progress import stderr_is_terminal, transformers_bars_hidden
from .protect_options import add_protect_arguments, protection_from_args
from .recipes import LONGLLMLINGUA, RECIPES
from .validate import DTYPE_CHOICES

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_NO_FILE, EXIT_NO_MODEL = 0, 1, 2, 3, 4
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe
METHODS = tuple(RECIPES)
DEFAULT_MODEL_FOR = {"llmlingua": "nano", "longllmlingua": "nano", "llmlingua2": "nano-lingua2"}
# The LongLLMLingua recipe's ranking, measured on NQ-open dev (BENCHMARKS.md).
DEFAULT_RANK_METHOD = LONGLLMLINGUA.rank_method
_DOCUMENT_BREAK = re.compile(r"\n[^\S\n]*\n\s*")


class InputFileError(Exception):
    """The input file cannot be read."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        return _output_closed()
    except InputFileError as exc:
        return _fail(str(exc), EXIT_NO_FILE)
    except ModelUnavailableError as exc:
        return _fail(str(exc), EXIT_NO_MODEL)
    except ImportError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except (LLMLingstralError, ValueError, TypeError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmlingstral",
        description="Prompt compression with the LLMLingua methods on Mistral models.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_compress(commands)
    _add_compress_batch(commands)
    _add_models(commands)
    from .serve.runner import add_serve_command
    from .training.cli import add_training_commands

    add_serve_command(commands)
    add_training_commands(commands)
    return parser


# --------------------------------------------------------------------------- compress


def _add_compress(commands) -> None:
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
    _add_method_options(cmd, rank_default=None,
                        rank_help=f"document ranking for --method longllmlingua: "
                                  f"{DEFAULT_RANK_METHOD} (default: bm25 fused with the model's "
                                  f"own scores), longllmlingua, bm25, gzip, llmlingua, "
                                  f"e5-mistral, mistral-embed, mistral-rerank")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    add_dtype_option(cmd)
    cmd.add_argument("--json", action="store_true",
                     help="print JSON with the compressed text, token counts and ratio")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    cmd.set_defaults(handler=_run_compress)


def _run_compress(args: argparse.Namespace) -> int:
    text = _read_input(args.input)
    if not text.strip():
        raise ValueError("the input is empty: give a file or stdin with text to compress")
    if args.method == "longllmlingua" and not args.question.strip():
        raise ValueError("--method longllmlingua needs --question")
    model = args.model or DEFAULT_MODEL_FOR[args.method]
    from .compressor import PromptCompressor  # torch import only when needed

    with transformers_bars_hidden(args.quiet):
        compressor = PromptCompressor(model, device_map=args.device,
                                      model_config={"dtype": args.dtype},
                                      use_llmlingua2=args.method == "llmlingua2")
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
    if args.method == "llmlingua2":
        return compressor.compress_prompt_llmlingua2(
            text, rate=args.rate, target_token=target, force_tokens=args.force_token,
            instruction=args.instruction, question=args.question, protect=protect, **options)
    from .text.sentences import split_protected

    documents = _documents(text) if args.method == "longllmlingua" else [text]
    # Force tokens become compress=False segments, so that the sentence and context
    # filters keep them too.
    segments = [split_protected(doc, args.force_token) for doc in documents]
    return compressor.compress_prompt(
        documents, instruction=args.instruction, question=args.question, rate=args.rate,
        target_token=target, context_segs=[p for p, _ in segments],
        context_segs_compress=[f for _, f in segments], show_progress=progress,
        protect=protect, **options)


def add_dtype_option(cmd) -> None:
    """--dtype, shared by compress and compress-batch."""
    cmd.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto",
                     help="compute dtype of the local model: auto (default: bfloat16 on a GPU, "
                          "and for llmlingua2 on CPUs with native bf16, AVX-512 BF16 or AMX; "
                          "else float32), float32, bfloat16 or float16")


# --------------------------------------------------------------------------- compress-batch


def _add_method_options(cmd, rank_default: str | None, rank_help: str) -> None:
    """--method, --rank-method, --model, --force-token and the protection options, shared
    by compress and compress-batch."""
    cmd.add_argument("--method", choices=METHODS, default="llmlingua",
                     help="compression method (default llmlingua)")
    cmd.add_argument("--rank-method", default=rank_default, help=rank_help)
    cmd.add_argument("--model", default=None,
                     help="preset, Hugging Face id or local folder (default: nano, or "
                          "nano-lingua2 for llmlingua2)")
    cmd.add_argument("--force-token", action="append", default=[], metavar="TEXT",
                     help="text that must survive compression; repeat for several")
    add_protect_arguments(cmd)


def _add_compress_batch(commands) -> None:
    cmd = commands.add_parser(
        "compress-batch", help="compress every record of a JSONL file (resumable)",
        description="Compress the 'context' of every JSON record of IN (one per line) and "
                    "append one result per record to OUT. Rerunning after an interruption "
                    "continues where the last run stopped; bad records are reported and "
                    "skipped.")
    cmd.add_argument("input", help="JSONL file of records: {'id', 'context', 'question', ...}")
    cmd.add_argument("output", help="JSONL file the results are appended to")
    budget = cmd.add_mutually_exclusive_group()
    budget.add_argument("--rate", type=float, default=0.5,
                        help="fraction of tokens to keep, for records without their own "
                             "(default 0.5)")
    budget.add_argument("--target-token", type=int, default=None,
                        help="Mistral tokens to keep, for records without their own budget")
    _add_method_options(cmd, rank_default=None,
                        rank_help=f"document ranking for --method longllmlingua (default "
                                  f"{DEFAULT_RANK_METHOD}, as for compress)")
    cmd.add_argument("--batch-size", type=int, default=32,
                     help="records per batch, written together (default 32)")
    cmd.add_argument("--errors", default=None,
                     help="JSONL file of skipped records (default: OUT with .errors.jsonl)")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    add_dtype_option(cmd)
    cmd.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    cmd.set_defaults(handler=_run_compress_batch)


def _run_compress_batch(args: argparse.Namespace) -> int:
    from .jsonl_job import errors_file_for, run_jsonl_job

    source, output = Path(args.input), Path(args.output)
    if not source.is_file():
        raise InputFileError(f"input file not found: {args.input}")
    settings = _batch_settings(args)
    errors = Path(args.errors) if args.errors else errors_file_for(output)
    from .compressor import PromptCompressor  # torch import only when needed

    compressor = PromptCompressor(args.model or DEFAULT_MODEL_FOR[args.method],
                                  device_map=args.device, model_config={"dtype": args.dtype},
                                  use_llmlingua2=args.method == "llmlingua2")
    report = run_jsonl_job(compressor, source, output, errors, settings, _documents)
    earlier = f", {report.already_done} done in an earlier run" if report.already_done else ""
    where = f", errors in {errors}" if report.skipped else ""
    print(f"llmlingstral: {report.written} records compressed, {report.skipped} skipped as "
          f"bad{earlier}; results in {output}{where}", file=sys.stderr)
    return EXIT_OK


def _batch_settings(args: argparse.Namespace):
    """compress-batch's options as the typed settings of the job."""
    from .jsonl_job import BatchSettings

    chosen = {} if args.rank_method is None else {"rank_method": args.rank_method}
    return BatchSettings(method=args.method, rate=args.rate, target_token=args.target_token,
                         recipe_overrides=chosen, force_tokens=tuple(args.force_token),
                         protect=protection_from_args(args), batch_size=args.batch_size,
                         quiet=args.quiet)


def _documents(text: str) -> list[str]:
    parts = [p for p in _DOCUMENT_BREAK.split(text) if p.strip()]
    return parts or [text]


def _read_input(source: str) -> str:
    if source == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise ValueError("no input: pass a file name or pipe text on stdin")
        raw = getattr(sys.stdin, "buffer", None)
        return _decode(raw.read() if raw is not None else sys.stdin.read(), "stdin")
    path = Path(source)
    if not path.is_file():
        raise InputFileError(f"input file not found: {source}")
    try:
        return _decode(path.read_bytes(), source)
    except OSError as exc:
        raise InputFileError(f"cannot read {source}: {exc}") from exc


def _decode(data: bytes | str, source: str) -> str:
    """The input as text; bytes that are not UTF-8 are an unreadable input, wherever read."""
    try:
        if isinstance(data, str):  # already decoded: undecodable bytes show as surrogates
            data.encode("utf-8")
            return data
        return data.decode("utf-8")
    except UnicodeError as exc:
        raise InputFileError(f"cannot read {source}: it is not UTF-8 text ({exc.reason} at "
                             f"position {exc.start}); convert it, e.g. with iconv") from exc


def _json_report(result: dict[str, Any], args: argparse.Namespace, model: str) -> dict[str, Any]:
    origin, kept = result["origin_tokens"], result["compressed_tokens"]
    return {"compressed_prompt": result["compressed_prompt"], "origin_tokens": origin,
            "compressed_tokens": kept, "ratio": round(origin / kept, 3) if kept else None,
            "rate": round(kept / origin, 4) if origin else None,
            "method": args.method, "model": model, "dtype": result.get("dtype"),
            **({"rank_method": args.rank_method or DEFAULT_RANK_METHOD}
               if args.method == "longllmlingua" else {})}


# --------------------------------------------------------------------------- models


def _add_models(commands) -> None:
    cmd = commands.add_parser("models", help="list the model presets",
                              description="List the Mistral model presets, what each is for, "
                                          "whether it is on this machine and how to fetch it.")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cmd.set_defaults(handler=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    rows = [_preset_row(p) for p in MISTRAL_MODELS.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    headers = ("name", "kind", "local", "source", "purpose", "how to get it")
    table = [headers] + [(r["name"], r["kind"], "yes" if r["available"] else "no", r["source"],
                          r["purpose"], r["fetch"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join(cells + [row[-1]]))
    return EXIT_OK


def _preset_row(preset: ModelPreset) -> dict[str, Any]:
    return {"name": preset.name, "kind": preset.kind, "source": preset.source,
            "tokenizer": preset.tokenizer, "purpose": preset.purpose, "available": is_available(preset),
            "fetch": preset.fetch_command}


def is_available(preset: ModelPreset) -> bool:
    """Whether the preset's weights (or, for API models, a key) are on this machine."""
    if preset.embedded:
        return preset.local_path is not None and (preset.local_path / "config.json").is_file()
    if preset.kind == "api":
        return bool(os.environ.get("MISTRAL_API_KEY"))
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(preset.source, "config.json")
    return isinstance(cached, str)


# --------------------------------------------------------------------------- helpers


def _output_closed() -> int:
    """The reader of stdout went away (``| head``): stop quietly, as command-line tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the final flush at exit must not fail again
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (a test's capture): nothing left to flush
    return EXIT_PIPE_CLOSED


def _fail(message: str, code: int) -> int:
    print(f"llmlingstral: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
