"""How many facts an LLMLingua-2 classifier keeps by itself (protection off), old vs new.

Facts are the spans :func:`llmlingstral.text.protect.protected_spans` finds in the input
(numbers, dates, times, amounts, identifiers, ...). A fact counts as kept when its text
appears verbatim in the output, in order (each one is looked for after the previous kept
one). Texts: ``examples/prompt.txt``, ``benchmarks/data/runbook.md`` and the gold passages
of the first NQ dev records (records 0..1999 are the dev split; 2000.. are never read).

    python training/eval_nano_lingua2_facts.py --model new=nano-lingua2 --model old=/tmp/old

Each ``--model`` is NAME=PRESET_OR_FOLDER; all are measured in one run on the same texts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _data import NQ_DEV_RECORDS, NQ_OPEN_ORACLE  # noqa: E402

MULTILINGUAL = {
    "fr": "Le conseil municipal s'est réuni hier soir et, après un long débat, il a approuvé "
          "la nouvelle ligne de chemin de fer à 3,5 millions d'euros. Les travaux commenceront "
          "le 12 septembre 2024 et dureront environ dix-huit mois, selon le maire.",
    "zh": "会议于2024年9月12日在北京开始，共有150人参加。与会者讨论了新铁路线的建设计划，"
          "预计总投资为3.5亿元，工程将持续大约十八个月。",
    "ja": "京都の祭りは九月十二日に始まります。毎年、約三万人の観光客が訪れ、"
          "最終バスは午後11時40分に出発します。",
}


def english_texts(nq_records: int) -> dict[str, list[str]]:
    """The English texts, by source: the README example, the runbook, NQ dev passages."""
    texts = {"examples/prompt.txt": [(ROOT / "examples" / "prompt.txt").read_text()],
             "benchmarks/data/runbook.md": [(ROOT / "benchmarks" / "data" / "runbook.md")
                                            .read_text()]}
    passages = []
    with gzip.open(NQ_OPEN_ORACLE, "rt", encoding="utf-8") as handle:
        for _, line in zip(range(min(nq_records, NQ_DEV_RECORDS)), handle):
            passages.append(json.loads(line)["ctxs"][0]["text"])
    texts["NQ dev passages"] = passages
    return texts


def kept_facts(text: str, output: str) -> tuple[Counter, Counter]:
    """Facts of ``text`` by kind, and those found verbatim and in order in ``output``."""
    from llmlingstral.text.protect import protected_spans

    found, kept, cursor = Counter(), Counter(), 0
    for span in protected_spans(text):
        found[span.kind] += 1
        at = output.find(text[span.start:span.end], cursor)
        if at >= 0:
            kept[span.kind] += 1
            cursor = at + span.end - span.start
    return found, kept


def measure(compressor, texts: list[str], rate: float) -> dict:
    found, kept, origin, compressed, seconds = Counter(), Counter(), 0, 0, 0.0
    for text in texts:
        start = time.perf_counter()
        result = compressor.compress_prompt_llmlingua2(text, rate=rate, protect=False)
        seconds += time.perf_counter() - start
        f, k = kept_facts(text, result["compressed_prompt"])
        found, kept = found + f, kept + k
        origin += result["origin_tokens"]
        compressed += result["compressed_tokens"]
    total = sum(found.values())
    return {"facts": total, "kept": sum(kept.values()),
            "share": sum(kept.values()) / total if total else float("nan"),
            "by_kind": {kind: f"{kept[kind]}/{n}" for kind, n in found.most_common()},
            "rate": compressed / origin, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=PRESET_OR_FOLDER")
    parser.add_argument("--rate", type=float, action="append")
    parser.add_argument("--nq-records", type=int, default=200)
    parser.add_argument("--show", action="store_true", help="print the multilingual outputs")
    args = parser.parse_args()

    from llmlingstral import PromptCompressor

    texts = english_texts(args.nq_records)
    every = [t for group in texts.values() for t in group]
    for name, source in (m.split("=", 1) for m in args.model):
        compressor = PromptCompressor(source, device_map="cpu", use_llmlingua2=True)
        for rate in args.rate or [0.5]:
            for group, members in {**texts, "all English": every}.items():
                row = measure(compressor, members, rate)
                print(f"{name}\trate {rate}\t{group} ({len(members)} texts)\t"
                      f"{row['kept']}/{row['facts']} = {row['share']:.1%}\t"
                      f"achieved rate {row['rate']:.3f}\t{row['seconds']:.1f} s\t{row['by_kind']}")
            if args.show:
                for language, text in MULTILINGUAL.items():
                    output = compressor.compress_prompt_llmlingua2(text, rate=rate, protect=False)
                    print(f"{name}\trate {rate}\t{language}\t{output['compressed_prompt']}")


if __name__ == "__main__":
    main()
