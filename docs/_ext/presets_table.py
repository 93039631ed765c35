"""MkDocs hook: the table of model presets, generated from ``llmlingstral.MISTRAL_MODELS``.

``docs/reference/models.md`` holds the line ``<!-- presets-table -->``; this hook replaces it
with one row per preset (name, model, kind, purpose), so the page lists
exactly the presets the library knows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- presets-table -->"
SOURCE = str(Path(__file__).resolve().parents[2] / "src")


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Fill the marker of the models page; other pages pass through."""
    if MARKER not in markdown:
        return markdown
    if SOURCE not in sys.path:
        sys.path.insert(0, SOURCE)
    from llmlingstral import MISTRAL_MODELS

    rows = ["| preset | model | kind | for |", "|---|---|---|---|"]
    rows += [f"| `{p.name}` | {_cell(p.source)} | {p.kind} | {_cell(p.purpose)} |"
             for p in MISTRAL_MODELS.values()]
    return markdown.replace(MARKER, "\n".join(rows))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")
