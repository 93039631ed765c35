"""What the command-line modules share: methods, default models, exit codes, input errors
and the split of a text into documents. A leaf, so command modules never import ``cli``."""

from __future__ import annotations

import re

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_NO_FILE, EXIT_NO_MODEL = 0, 1, 2, 3, 4
METHODS = ("llmlingua", "longllmlingua", "llmlingua2")
DEFAULT_MODEL_FOR = {"llmlingua": "nano", "longllmlingua": "nano", "llmlingua2": "nano-lingua2"}
_DOCUMENT_BREAK = re.compile(r"\n[^\S\n]*\n\s*")


class InputFileError(Exception):
    """The input file cannot be read."""


def split_documents(text: str) -> list[str]:
    """The documents of ``text``: the parts between blank lines (the whole text if none)."""
    parts = [p for p in _DOCUMENT_BREAK.split(text) if p.strip()]
    return parts or [text]
