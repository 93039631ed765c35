"""The ``llmlingstral`` program: the parser with every command, and ``main``.

Exit codes (:mod:`.exit_codes`): 0 success, 1 unexpected failure, 2 bad arguments or input,
3 input missing or unreadable (not UTF-8 text), 4 model unavailable, 130 interrupted, 141
output pipe closed.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .. import __version__
from ..errors import LLMLingstralError, ModelUnavailableError
from .compress import add_compress_command
from .compress_batch import add_compress_batch_command
from .exit_codes import (EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_NO_FILE,
                         EXIT_NO_MODEL, EXIT_PIPE_CLOSED)
from .inputs import InputFileError
from .models import add_models_command


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
        return _fail("interrupted", EXIT_INTERRUPTED)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each command's handler is its ``handler`` default."""
    parser = argparse.ArgumentParser(
        prog="llmlingstral",
        description="Prompt compression with the LLMLingua methods on Mistral models.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_compress_command(commands)
    add_compress_batch_command(commands)
    add_models_command(commands)
    from ..serve.runner import add_serve_command
    from ..training.cli import add_training_commands

    add_serve_command(commands)
    add_training_commands(commands)
    return parser


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

