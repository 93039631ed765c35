"""Export the trained nano-lingua2 classifier into the package as bf16 safetensors.

    python training/export_nano_lingua2.py --checkpoint .cache/nano_lingua2/ckpt

Writes ``src/llmlingstral/assets/nano-lingua2/`` (config and weights; the v3 tokenizer comes
from mistral-common, as for ``nano``) and ``training/results/nano_lingua2_metrics.json``
(the trainer's report). The model card is written by hand from those numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / ".cache" / "nano_lingua2" / "ckpt")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "src" / "llmlingstral" / "assets" / "nano-lingua2")
    parser.add_argument("--metrics", type=Path,
                        default=ROOT / "training" / "results" / "nano_lingua2_metrics.json")
    parser.add_argument("--max-mb", type=float, default=30.0)
    args = parser.parse_args()

    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(args.checkpoint, dtype=torch.bfloat16)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    size_mb = (args.out / "model.safetensors").stat().st_size / 1e6
    if size_mb > args.max_mb:
        raise SystemExit(f"exported weights are {size_mb:.1f} MB, over the {args.max_mb} MB limit")
    report = json.loads((args.checkpoint / "training_report.json").read_text())
    report["exported"] = {"dtype": "bfloat16", "safetensors_mb": round(size_mb, 2),
                          "parameters": sum(p.numel() for p in model.parameters())}
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({size_mb:.1f} MB) and {args.metrics}")


if __name__ == "__main__":
    main()
