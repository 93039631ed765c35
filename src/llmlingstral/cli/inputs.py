"""The input of a command: text read from a file or stdin, cut into documents."""

from __future__ import annotations

import re
import sys
from pathlib import Path

_DOCUMENT_BREAK = re.compile(r"\n[^\S\n]*\n\s*")


class InputFileError(Exception):
    """The input file cannot be read."""


def split_documents(text: str) -> list[str]:
    """The documents of ``text``, separated by blank lines (the whole text if none)."""
    parts = [p for p in _DOCUMENT_BREAK.split(text) if p.strip()]
    return parts or [text]


def read_input(source: str) -> str:
    """The text of the file ``source``, or of stdin for ``-``."""
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
