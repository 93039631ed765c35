"""Write transformers tokenizer files into the embedded model folders.

Both embedded models use the Mistral v3 tokenizer. With ``tokenizer.json`` and
``tokenizer_config.json`` beside their weights, ``AutoTokenizer.from_pretrained`` opens the
folders with plain transformers and gives the same ids as llmlingstral's exact tokenizer.

    python training/export_tokenizer_files.py
"""

from __future__ import annotations

import json
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "src" / "llmlingstral" / "assets"
FOLDERS = ("nano", "nano-lingua2")


def main() -> None:
    from llmlingstral import load_tokenizer

    tokenizer = load_tokenizer("v3")
    for name in FOLDERS:
        folder = ASSETS / name
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        for path in tokenizer.save_for_transformers(
                folder, model_max_length=config.get("max_position_embeddings")):
            print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
