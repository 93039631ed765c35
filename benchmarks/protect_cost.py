"""CPU time of compressing the facts benchmark's texts with protection on and off.

    OMP_NUM_THREADS=1 python benchmarks/protect_cost.py --model nano          # LLMLingua
    OMP_NUM_THREADS=1 python benchmarks/protect_cost.py --model nano-lingua2  # LLMLingua-2
    OMP_NUM_THREADS=1 python benchmarks/protect_cost.py --profile             # and a profile

Prints, per round, the CPU seconds (``time.process_time``) of compressing every text of
``benchmarks/data/facts`` at ``--rate`` with ``protect=True`` and with ``protect=False``,
alternating, after one warm-up round of each, then the ratio of the sums.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
import warnings
from pathlib import Path

from llmlingstral import PromptCompressor

FACTS = Path(__file__).resolve().parent / "data" / "facts"


def fact_texts() -> list[str]:
    """The written texts of the facts benchmark (one string each)."""
    texts = []
    for path in sorted(FACTS.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        text = "\n\n".join(record["paragraphs"]) if "paragraphs" in record else record.get("text")
        if text:
            texts.append(text)
    return texts


def cpu_seconds(compressor: PromptCompressor, texts: list[str], rate: float,
                protect: bool) -> float:
    started = time.process_time()
    for text in texts:
        compressor.compress_prompt(text, rate=rate, protect=protect)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nano", help="a preset (nano-lingua2: LLMLingua-2)")
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="profile one round with protection")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # facts over budget are expected in dense texts
    compressor = PromptCompressor(args.model, device_map="cpu",
                                  use_llmlingua2=args.model.endswith("lingua2"))
    texts = fact_texts()
    cpu_seconds(compressor, texts, args.rate, True)
    cpu_seconds(compressor, texts, args.rate, False)
    on = off = 0.0
    for round_number in range(1, args.rounds + 1):
        on_s = cpu_seconds(compressor, texts, args.rate, True)
        off_s = cpu_seconds(compressor, texts, args.rate, False)
        on, off = on + on_s, off + off_s
        print(f"round {round_number}: on {on_s:.2f} s, off {off_s:.2f} s")
    print(f"sum: on {on:.2f} s, off {off:.2f} s, on / off {on / off:.3f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(cpu_seconds, compressor, texts, args.rate, True)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
