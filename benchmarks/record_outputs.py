"""Record what every method and format returns on a small corpus, to check a refactoring.

Runs LLMLingua, LongLLMLingua, LLMLingua-2, SecurityLingua, structured prompts, JSON and
llmlingua's lower-level adapters with the embedded ``nano`` and ``nano-lingua2`` models on
texts in several scripts (English, French, Russian, Chinese, Japanese, Thai, Arabic), with
and without a question, force tokens and protection on and off. Each case's result (every
key, and the kept spans) is written as JSON; ``--compare`` reports the cases whose output
differs from a recording, byte for byte. ``--time`` prints the per-call time of a small
``compress_prompt`` (median of repeats, wall and CPU time; run with OMP_NUM_THREADS=1 so
that CPU time is comparable on a shared machine), the overhead a call adds around the model.

    python benchmarks/record_outputs.py --out /tmp/before.json
    python benchmarks/record_outputs.py --compare /tmp/before.json
    python benchmarks/record_outputs.py --time
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from texts import documents, multilingual_documents  # noqa: E402

from llmlingstral import PromptCompressor  # noqa: E402
from llmlingstral.text.protect import Protection  # noqa: E402

QUESTION = "When does the harbour festival open?"
TAGGED = ("<llmlingua, compress=False>Keep this header: 2024-05-01.</llmlingua>"
          "<llmlingua, rate=0.4>The harbour festival opens on the second Saturday of June, "
          "and boats from the northern islands arrive the evening before.</llmlingua>"
          " The market stays open until midnight; entry costs 12,50 € per adult.")
JSON_DATA = {"id": 987654, "title": "Harbour festival", "summary": documents(1, 600)[0],
             "notes": ["Boats arrive the evening before.", multilingual_documents()[3]],
             "place": {"city": "Marseille", "detail": multilingual_documents()[1]}}
JSON_CONFIG = {"id": {"rate": 1.0, "compress": False, "value_type": "int", "pair_remove": False},
               "title": {"rate": 0.8, "compress": True, "pair_remove": False},
               "summary": {"rate": 0.3, "compress": True, "pair_remove": True},
               "notes": {"rate": 0.5, "compress": True, "pair_remove": True},
               "place": {"rate": 0.5, "compress": True, "pair_remove": True}}


def _corpus() -> dict[str, Any]:
    mixed = multilingual_documents()
    return {"en": documents(3, 700), "mixed": mixed, "one": mixed[0] + " " + mixed[4]}


def llmlingua_cases(c: PromptCompressor) -> dict[str, Callable[[], Any]]:
    """LLMLingua and LongLLMLingua through the public calls and the llmlingua adapters."""
    t = _corpus()
    return {
        "ll_plain": lambda: c.compress_prompt(t["en"], rate=0.4),
        "ll_target": lambda: c.compress_prompt(t["mixed"], target_token=120),
        "ll_question": lambda: c.compress_prompt(t["mixed"], instruction="Answer.",
                                                 question=QUESTION, rate=0.5),
        "ll_no_protect": lambda: c.compress_prompt(t["mixed"], rate=0.3, protect=False),
        "ll_protect_some": lambda: c.compress_prompt(
            t["en"], rate=0.3, protect=Protection().only("numbers")),
        "ll_force": lambda: c.compress_prompt(t["en"], rate=0.3, force_tokens=["the", "\n"],
                                              force_reserve_digit=True),
        "ll_sentence": lambda: c.compress_prompt(
            t["en"], rate=0.4, use_sentence_level_filter=True, keep_first_sentence=1,
            keep_split=True, iterative_size=50),
        "ll_no_token": lambda: c.compress_prompt(
            t["en"], rate=0.4, use_sentence_level_filter=True, use_token_level_filter=False),
        "longll": lambda: c.compress_prompt(
            t["mixed"], question=QUESTION, rate=0.4, rank_method="longllmlingua",
            condition_in_question="after_condition", reorder_context="sort",
            dynamic_context_compression_ratio=0.3, condition_compare=True,
            context_budget="+50", force_context_ids=[2], concate_question=False),
        "longll_bm25": lambda: c.compress_prompt(
            t["mixed"], question=QUESTION, rate=0.3, rank_method="bm25",
            reorder_context="two_stage", force_context_number=2),
        "ll_tags": lambda: c.compress_prompt([TAGGED, t["one"]], rate=0.4),
        "ll_segs": lambda: c.compress_prompt(
            [t["one"]], rate=0.4, context_segs=[[t["one"][:40], t["one"][40:]]],
            context_segs_rate=[[1.0, 0.3]], context_segs_compress=[[False, True]]),
        "structured": lambda: c.structured_compress_prompt([TAGGED, t["one"]], rate=0.5,
                                                          question=QUESTION),
        "structured_target": lambda: c.structured_compress_prompt([TAGGED], target_token=40),
        "json": lambda: c.compress_json(JSON_DATA, JSON_CONFIG, question=QUESTION, rate=0.4),
        "json_filter": lambda: c.compress_json(
            JSON_DATA, None, rate=0.3, use_keyvalue_level_filter=True,
            reorder_keyvalue="sort", rank_method="longllmlingua", question=QUESTION,
            protect=False),
        "batch": lambda: c.compress_prompts([t["en"][:2], {"context": t["mixed"], "rate": 0.3}],
                                            rate=0.5),
        "control_context": lambda: c.control_context_budget(
            t["mixed"], [c.get_token_length(d) for d in t["mixed"]], 150, question=QUESTION,
            condition_in_question="after", reorder_context="sort"),
        "control_sentence": lambda: c.control_sentence_budget(
            t["en"], 200, keep_first_sentence=1, question=QUESTION,
            condition_in_question="after"),
        "iterative": lambda: c.iterative_compress_prompt(t["en"][:2], 150, iterative_size=60),
    }


def llmlingua2_cases(c: PromptCompressor) -> dict[str, Callable[[], Any]]:
    """LLMLingua-2 through both public calls, structured prompts and JSON."""
    t = _corpus()
    return {
        "l2_plain": lambda: c.compress_prompt(t["mixed"], rate=0.4),
        "l2_labels": lambda: c.compress_prompt_llmlingua2(
            t["mixed"], rate=0.5, return_word_label=True, force_tokens=["\n", "."],
            drop_consecutive=True),
        "l2_no_protect": lambda: c.compress_prompt_llmlingua2(t["en"], rate=0.3, protect=False),
        "l2_question": lambda: c.compress_prompt_llmlingua2(
            t["mixed"], rate=0.4, instruction="Answer.", question=QUESTION, rank_method="bm25",
            use_context_level_filter=True, context_level_rate=0.6),
        "l2_context_filter": lambda: c.compress_prompt_llmlingua2(
            t["en"], target_token=150, use_context_level_filter=True, target_context=2,
            force_context_ids=[0], token_to_word="first"),
        "l2_threshold": lambda: c.compress_prompt_llmlingua2(t["mixed"], keep_threshold=0.6),
        "l2_tags": lambda: c.compress_prompt([TAGGED, t["one"]], rate=0.4),
        "l2_structured": lambda: c.structured_compress_prompt([TAGGED], rate=0.5),
        "l2_json": lambda: c.compress_json(JSON_DATA, JSON_CONFIG, rate=0.4),
        "l2_batch": lambda: c.compress_prompts([t["en"], t["mixed"]], rate=0.4),
    }


def security_cases(c: PromptCompressor) -> dict[str, Callable[[], Any]]:
    t = _corpus()
    return {"sl_prompt": lambda: c.compress_prompt(t["mixed"][:3]),
            "sl_protect": lambda: c.compress_prompt(t["en"][:1], protect=Protection())}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        out = {str(k): _jsonable(v) for k, v in value.items()}
        kept = getattr(value, "kept", None)
        if kept is not None:
            out["__kept__"] = repr(kept)
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def record() -> dict[str, Any]:
    warnings.simplefilter("ignore")
    nano = PromptCompressor("nano", device_map="cpu")
    lingua2 = PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
    security = PromptCompressor("nano-lingua2", device_map="cpu", use_slingua=True)
    cases = {**llmlingua_cases(nano), **llmlingua2_cases(lingua2), **security_cases(security)}
    results = {}
    for name, call in cases.items():
        try:
            results[name] = _jsonable(call())
        except Exception as error:  # a refusal is an output too
            results[name] = f"{type(error).__name__}: {error}"
    return results


def time_calls(repeats: int) -> None:
    """Median seconds per small compress_prompt call, for each method."""
    warnings.simplefilter("ignore")
    small = multilingual_documents()[:2]
    for label, compressor in (("llmlingua", PromptCompressor("nano", device_map="cpu")),
                              ("llmlingua2", PromptCompressor("nano-lingua2", device_map="cpu",
                                                              use_llmlingua2=True))):
        compressor.compress_prompt(small, rate=0.5)
        wall, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            compressor.compress_prompt(small, rate=0.5, question=QUESTION)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"{label}: median {statistics.median(wall) * 1000:.2f} ms wall, "
              f"{statistics.median(cpu) * 1000:.2f} ms CPU over {repeats} calls")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="write the outputs here")
    parser.add_argument("--compare", type=Path, help="compare with a recording")
    parser.add_argument("--time", action="store_true", help="time small calls")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if args.time:
        time_calls(args.repeats)
        return 0
    results = record()
    text = json.dumps(results, ensure_ascii=False, indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"{len(results)} cases written to {args.out}")
    if args.compare:
        before = json.loads(args.compare.read_text(encoding="utf-8"))
        changed = sorted(k for k in before.keys() | results.keys()
                         if before.get(k) != results.get(k))
        print(f"{len(results)} cases; differ: {changed or 'none'}")
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
