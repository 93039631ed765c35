"""``llmlingstral compress-batch``: every record of a JSONL file, resumably.

This module turns the command's options into
:class:`~llmlingstral.execution.jsonl_job.BatchSettings` and reports the run; the job itself
(reading, resuming, writing) is :mod:`llmlingstral.execution.jsonl_job`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..protect_options import protection_from_args
from .arguments import DEFAULT_RANK_METHOD, add_dtype_option, add_method_options, load_compressor
from .exit_codes import EXIT_OK
from .inputs import InputFileError, split_documents


def add_compress_batch_command(commands) -> None:
    """Register ``compress-batch`` on the subparsers ``commands``."""
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
    add_method_options(cmd, rank_default=None,
                       rank_help=f"document ranking for --method longllmlingua (default "
                                 f"{DEFAULT_RANK_METHOD}, as for compress)")
    cmd.add_argument("--batch-size", type=int, default=32,
                     help="records per batch, written together (default 32)")
    cmd.add_argument("--errors", default=None,
                     help="JSONL file of skipped records (default: OUT with .errors.jsonl)")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    add_dtype_option(cmd)
    cmd.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    cmd.set_defaults(handler=run_compress_batch)


def run_compress_batch(args: argparse.Namespace) -> int:
    """Run the job the parsed ``args`` describe and report it on stderr."""
    from ..execution.jsonl_job import errors_file_for, run_jsonl_job

    source, output = Path(args.input), Path(args.output)
    if not source.is_file():
        raise InputFileError(f"input file not found: {args.input}")
    settings = batch_settings(args)
    errors = Path(args.errors) if args.errors else errors_file_for(output)
    compressor = load_compressor(args)
    report = run_jsonl_job(compressor, source, output, errors, settings, split_documents)
    earlier = f", {report.already_done} done in an earlier run" if report.already_done else ""
    where = f", errors in {errors}" if report.skipped else ""
    print(f"llmlingstral: {report.written} records compressed, {report.skipped} skipped as "
          f"bad{earlier}; results in {output}{where}", file=sys.stderr)
    return EXIT_OK


def batch_settings(args: argparse.Namespace):
    """compress-batch's options as the typed settings of the job."""
    from ..execution.jsonl_job import BatchSettings

    chosen = {} if args.rank_method is None else {"rank_method": args.rank_method}
    return BatchSettings(method=args.method, rate=args.rate, target_token=args.target_token,
                         recipe_overrides=chosen, force_tokens=tuple(args.force_token),
                         protect=protection_from_args(args), batch_size=args.batch_size,
                         quiet=args.quiet)
