"""MkDocs hook: the command-line page, generated from the ``llmlingstral`` argparse parser.

``docs/reference/cli.md`` holds the line ``<!-- cli-reference -->``; this hook replaces it
with every command's usage, description and options, read from the parser that the
``llmlingstral`` script runs (its entry point in ``pyproject.toml``). The page therefore
lists what ``--help`` lists, and an option added to the parser appears without an edit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

MARKER = "<!-- cli-reference -->"
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "llmlingstral"
USAGE_WIDTH = "88"  # argparse wraps usage lines to $COLUMNS


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Fill the marker of the command-line page; other pages pass through."""
    if MARKER not in markdown:
        return markdown
    os.environ["COLUMNS"] = USAGE_WIDTH  # the mkdocs process only: not in script_parser()
    return markdown.replace(MARKER, "\n".join(_command_sections(script_parser())))


def script_parser() -> argparse.ArgumentParser:
    """The parser of the console script: ``build_parser`` beside its ``main``."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module_name = scripts[SCRIPT].split(":", 1)[0]
    source = str(ROOT / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    module = importlib.import_module(module_name)
    if not hasattr(module, "build_parser"):
        raise RuntimeError(f"{module_name}, the module of the {SCRIPT} script, has no "
                           f"build_parser(); point {__file__} at the function that builds "
                           f"the parser")
    return module.build_parser()


def _command_sections(parser: argparse.ArgumentParser) -> Iterator[str]:
    yield from _section(parser, SCRIPT, "command", level=2)
    for name, command in subcommands(parser):
        yield from _section(command, f"{SCRIPT} {name}", f"command-{name}", level=3)


def subcommands(parser: argparse.ArgumentParser
                ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Each command of ``parser`` once, by its name (aliases share a parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, command in action.choices.items():
                if id(command) not in seen:
                    seen.add(id(command))
                    yield name, command


def _section(parser: argparse.ArgumentParser, title: str, anchor: str,
             level: int) -> Iterator[str]:
    yield f"{'#' * level} `{title}` {{ #{anchor} }}\n"
    if parser.description:
        yield f"{_escape(parser.description)}\n"
    yield f"```text\n{parser.format_usage().strip()}\n```\n"
    rows = [_option_row(action, parser.prog) for action in parser._actions
            if action.help != argparse.SUPPRESS
            and not isinstance(action, argparse._SubParsersAction)]
    if rows:
        yield "| argument | meaning |\n|---|---|"
        yield from rows
        yield ""
    if parser.epilog:
        yield f"{_escape(parser.epilog)}\n"


def _option_row(action: argparse.Action, prog: str) -> str:
    if action.metavar is not None:
        value = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.choices is not None:
        value = "{" + ",".join(str(choice) for choice in action.choices) + "}"
    else:
        value = action.dest.upper() if action.option_strings else action.dest
    names = ", ".join(action.option_strings)
    if not names:
        names = value
    elif action.nargs != 0:
        names += f" {value}"
    return f"| `{names}` | {_escape(_expanded_help(action, prog))} |"


def _expanded_help(action: argparse.Action, prog: str) -> str:
    """The help text with argparse's ``%(default)s``-style fields filled in, as ``--help``."""
    params = {key: value for key, value in vars(action).items() if value is not argparse.SUPPRESS}
    params["prog"] = prog
    if action.choices is not None:
        params["choices"] = ", ".join(str(choice) for choice in action.choices)
    return (action.help or "") % params


def _escape(text: str) -> str:
    """Text safe in a Markdown paragraph or table cell."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")
