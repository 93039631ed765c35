"""``llmlingstral models``: the Mistral model presets, and whether each is on this machine."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..models.registry import MISTRAL_MODELS, ModelPreset
from .exit_codes import EXIT_OK


def add_models_command(commands) -> None:
    """Register ``models`` on the subparsers ``commands``."""
    cmd = commands.add_parser("models", help="list the model presets",
                              description="List the Mistral model presets, what each is for, "
                                          "whether it is on this machine and how to fetch it.")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cmd.set_defaults(handler=run_models)


def run_models(args: argparse.Namespace) -> int:
    """Print the presets as a table, or as JSON with ``--json``."""
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
