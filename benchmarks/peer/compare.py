"""llmlingstral against llmlingua 0.2.2: same models, same inputs, same settings.

Each library runs in its own worker process and virtual environment (``worker.py``); this
script prepares the inputs and models, alternates the runs, counts every prompt with the
Mistral v3 tokenizer and prints markdown tables. Use ``run.sh``, which also builds the
llmlingua environment and its offline data, rather than calling this directly.

    bash benchmarks/peer/run.sh            # full run
    bash benchmarks/peer/run.sh --quick    # 1k-token prompts, 5 NQ questions, 1 repeat
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import models  # noqa: E402
from _common import machine, markdown_table, prompt_of_tokens  # noqa: E402
from eval_nq import DEFAULT_DATA, build_examples, has_answer, load_dev  # noqa: E402

LIBS = ("ours", "llmlingua")
NAMES = {"ours": "llmlingstral", "llmlingua": "llmlingua 0.2.2"}
PACKAGES = {"ours": "llmlingstral", "llmlingua": "llmlingua"}
LONGLLMLINGUA = dict(rank_method="longllmlingua", condition_in_question="after_condition",
                     reorder_context="sort", dynamic_context_compression_ratio=0.3,
                     condition_compare=True, context_budget="+100")
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
GOALS = {"LLMLingua": 2.0, "LongLLMLingua": 2.0, "LLMLingua-2": 3.0}
REQUEST_TIMEOUT_S = 3600


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One compression setting on one input, run by both libraries."""

    method: str                    # LLMLingua, LongLLMLingua, LLMLingua-2
    setting: str                   # "rate 0.5", "target_token 256", ...
    kind: str                      # causal or classifier
    call: str                      # compress or compress2
    inputs: list[dict]             # [{"context", "kwargs", "origin_text", "answers", "question"}]
    requested: list[float]         # requested rate per input (v3 tokens)
    origin_tokens: list[int]
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.method} | {self.setting} | {self.mean_tokens}"

    @property
    def mean_tokens(self) -> int:
        return round(statistics.mean(self.origin_tokens))

    @property
    def is_nq(self) -> bool:
        return any(i.get("answers") for i in self.inputs)


def prose_cases(v3, lengths: list[int], rate: float, target_fraction: float,
                include_lingua2: bool) -> list[Case]:
    cases = []
    methods = [("LLMLingua", "causal", "compress")]
    if include_lingua2:
        methods.append(("LLMLingua-2", "classifier", "compress2"))
    for n in lengths:
        prompt = prompt_of_tokens(v3, n)
        origin = v3.count(prompt)
        target = max(1, round(origin * target_fraction))
        for method, kind, call in methods:
            cases.append(Case(method, f"rate {rate:g}", kind, call,
                              [{"context": prompt, "kwargs": {"rate": rate}, "origin_text": prompt}],
                              [rate], [origin]))
            cases.append(Case(method, f"target_token {target}", kind, call,
                              [{"context": prompt, "kwargs": {"target_token": target},
                                "origin_text": prompt}],
                              [target / origin], [origin]))
    return cases


def nq_cases(v3, data: Path, questions: int, rate: float, seed: int,
             include_lingua2: bool) -> list[Case]:
    examples = build_examples(load_dev(data, "--nq-data"), questions, 20, seed)
    long_inputs, lingua2_inputs = [], []
    for ex in examples:
        full = "\n\n".join(ex.documents + [ex.question])
        long_inputs.append({"context": ex.documents, "origin_text": full,
                            "kwargs": {"question": ex.question, "rate": rate, **LONGLLMLINGUA},
                            "answers": ex.answers, "question": ex.question})
        docs = "\n\n".join(ex.documents)
        lingua2_inputs.append({"context": ex.documents, "origin_text": docs,
                               "kwargs": {"rate": rate}, "answers": ex.answers,
                               "question": ex.question})
    cases = [Case("LongLLMLingua", f"NQ 20 docs, rate {rate:g}", "causal", "compress",
                  long_inputs, [rate] * len(examples),
                  [v3.count(i["origin_text"]) for i in long_inputs])]
    if include_lingua2:
        cases.append(Case("LLMLingua-2", f"NQ 20 docs, rate {rate:g}", "classifier", "compress2",
                          lingua2_inputs, [rate] * len(examples),
                          [v3.count(i["origin_text"]) for i in lingua2_inputs]))
    return cases


# --------------------------------------------------------------------------- workers


class WorkerError(RuntimeError):
    pass


class Worker:
    """A library's worker process, driven by JSON lines."""

    def __init__(self, lib: str, python: str, env: dict, threads: int, offline: Path,
                 log: Path) -> None:
        self.lib = lib
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log
        self.log = open(log, "a", encoding="utf-8")
        cmd = [python, str(HERE / "worker.py"), "--lib", lib, "--threads", str(threads),
               "--offline-dir", str(offline)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env, cwd=REPO)
        self.ready = self._read()

    def _read(self) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], REQUEST_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise WorkerError(f"{self.lib} worker stopped answering; see {self.log_path}:\n"
                              + _tail(self.log_path))
        return json.loads(line)

    def ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if reply.get("op") == "error":
            raise WorkerError(f"{self.lib}: {reply['error']}\n{reply.get('traceback', '')}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Runner:
    """Starts workers with the right interpreter, environment and model."""

    def __init__(self, args, pairs: dict[str, models.ModelPair]) -> None:
        self.args = args
        self.pairs = pairs
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("OMP_", "MKL_", "TIKTOKEN_", "NLTK_"))}
        base.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                    PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="true",
                    OMP_NUM_THREADS=str(args.threads))
        ours = dict(base, PYTHONPATH=str(REPO / "src"))
        theirs = dict(base, NLTK_DATA=str(args.offline_dir / "nltk_data"),
                      TIKTOKEN_CACHE_DIR=str(args.offline_dir / "tiktoken-cache"))
        theirs.pop("PYTHONPATH", None)
        if args.real_tiktoken:
            theirs["PEER_REAL_TIKTOKEN"] = "1"
        self.env = {"ours": ours, "llmlingua": theirs}
        self.python = {"ours": args.ours_python, "llmlingua": args.peer_python}
        self.started = 0

    def start(self, lib: str, kind: str) -> tuple[Worker, dict]:
        self.started += 1
        pair = self.pairs[kind]
        model = pair.ours if lib == "ours" else pair.theirs
        worker = Worker(lib, self.python[lib], self.env[lib], self.args.threads,
                        self.args.offline_dir, self.args.work_dir / "logs" / f"{lib}-{kind}.log")
        try:
            loaded = worker.ask({"op": "load", "kind": kind, "model": str(model)})
        except WorkerError:
            worker.close()
            raise
        return worker, loaded


# --------------------------------------------------------------------------- measuring


def run_one(worker: Worker, case: Case, item: dict, memory: bool = False) -> dict:
    return worker.ask({"op": "run", "method": case.call, "context": item["context"],
                       "kwargs": item["kwargs"], "memory": memory})


def context_part(text: str, question: str | None) -> str:
    """The compressed documents without the question appended after them."""
    if question and text.rstrip().endswith(question):
        return text[: text.rstrip().rfind(question)]
    return text


def time_cases(runner: Runner, kind: str, cases: list[Case], repeats: int, v3,
               versions: dict) -> None:
    """Alternating runs of both libraries, one persistent worker each."""
    workers: dict[str, Worker] = {}

    def ensure_workers() -> None:
        for lib in LIBS:
            if lib in workers and workers[lib].proc.poll() is None:
                continue
            workers[lib], loaded = runner.start(lib, kind)
            versions[lib] = {k: loaded.get(k) for k in ("library", "transformers", "torch",
                                                        "threads", "dtype")}
            _progress(f"{NAMES[lib]} loaded the {kind} model in {loaded['seconds']:.1f} s")

    warmed: set = set()
    try:
        for case in cases:
            try:
                ensure_workers()
                time_case(workers, case, repeats, v3, warmed)
            except WorkerError as error:
                case.results = {"error": str(error).splitlines()[0]}
                _progress(f"FAILED {case.key}: {error}")
    finally:
        for worker in workers.values():
            worker.close()


def time_case(workers: dict[str, Worker], case: Case, repeats: int, v3, warmed: set) -> None:
    warm_key = (case.call, case.is_nq)
    if warm_key not in warmed:  # the first call of a kind pays one-off costs; not timed
        for lib in LIBS:
            run_one(workers[lib], case, case.inputs[0])
        warmed.add(warm_key)
    times = {lib: [] for lib in LIBS}
    outputs = {lib: [] for lib in LIBS}
    rounds = [(r, i) for i in range(len(case.inputs)) for r in range(repeats)] \
        if not case.is_nq else [(0, i) for i in range(len(case.inputs))]
    for step, (_, i) in enumerate(rounds):
        for lib in (LIBS if step % 2 == 0 else LIBS[::-1]):
            reply = run_one(workers[lib], case, case.inputs[i])
            if reply["op"] == "unsupported":
                case.results["skipped"] = reply["reason"]
                _progress(f"skipped {case.key}: {reply['reason']}")
                return
            times[lib].append(reply["seconds"])
            if len(outputs[lib]) <= i:
                outputs[lib].append(reply)
    for lib in LIBS:
        case.results[lib] = summarise(case, times[lib], outputs[lib], v3)
    _progress(f"timed {case.key}: " + ", ".join(
        f"{NAMES[lib]} {case.results[lib]['median_s']:.3f} s" for lib in LIBS))


def summarise(case: Case, times: list[float], outputs: list[dict], v3) -> dict:
    achieved, errors, retained, cleaned = [], [], [], 0
    for item, requested, origin, out in zip(case.inputs, case.requested, case.origin_tokens,
                                            outputs):
        text = out["compressed_prompt"]
        rate = v3.count(text) / origin if origin else 1.0
        achieved.append(rate)
        errors.append(rate - requested)
        cleaned += bool(out.get("cleaned"))
        if item.get("answers"):
            retained.append(has_answer(context_part(text, item.get("question")), item["answers"]))
    summary = {"times_s": times, "median_s": statistics.median(times),
               "achieved_rate": statistics.mean(achieved),
               "requested_rate": statistics.mean(case.requested),
               "mean_abs_rate_error": statistics.mean(abs(e) for e in errors),
               "achieved_rates": achieved, "byte_pieces_decoded": cleaned,
               "sample_output": outputs[0]["compressed_prompt"][:400] if outputs else ""}
    if retained:
        summary["retention"] = sum(retained) / len(retained)
        summary["retained"] = [bool(r) for r in retained]
    return summary


def memory_cases(runner: Runner, cases: list[Case]) -> None:
    """Peak RSS of one run in a fresh worker, over the worker with its model loaded."""
    measured = 0
    for case in cases:
        if not all(lib in case.results for lib in LIBS):
            continue
        warm = warm_input(case)
        measured += 1
        for lib in (LIBS if measured % 2 else LIBS[::-1]):
            try:
                worker, loaded = runner.start(lib, case.kind)
                try:
                    run_one(worker, case, warm)
                    reply = run_one(worker, case, case.inputs[0], memory=True)
                finally:
                    worker.close()
            except WorkerError as error:
                _progress(f"FAILED memory run {case.key} ({NAMES[lib]}): {error}")
                continue
            growth = (reply["hwm_kib"] - reply["rss_before_kib"]) / 1024
            case.results[lib].update(
                peak_rss_mib=reply["hwm_kib"] / 1024, loaded_rss_mib=loaded["rss_kib"] / 1024,
                peak_growth_mib=growth, peak_reset=reply["peak_reset"])
        _progress(f"memory {case.key}: " + ", ".join(
            f"{NAMES[lib]} +{case.results[lib].get('peak_growth_mib', float('nan')):.0f} MiB"
            for lib in LIBS))


def warm_input(case: Case) -> dict:
    """A small input of the same kind, so one-off costs are paid before measuring."""
    item = dict(case.inputs[0])
    if isinstance(item["context"], list):
        item["context"] = item["context"][:3]
    else:
        item["context"] = item["context"][:1500]
        item["kwargs"] = {"rate": 0.5}
    return item


def _progress(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- report


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def fmt_mem(result: dict) -> str:
    return f"{result['peak_growth_mib']:.0f}" if "peak_growth_mib" in result else "-"


def mem_ratio(case: Case) -> str:
    a, b = (case.results[lib].get("peak_growth_mib") for lib in LIBS)
    if a is None or b is None:
        return "-"
    return f"{a / b:.2f}" if b > 1 else "-"


def prose_table(cases: list[Case]) -> str:
    rows = []
    for case in cases:
        if case.is_nq:
            continue
        if "skipped" in case.results or "error" in case.results:
            rows.append([case.method, case.setting, case.mean_tokens,
                         "skipped" if "skipped" in case.results else "failed", *["-"] * 8])
            continue
        o, t = case.results["ours"], case.results["llmlingua"]
        rows.append([case.method, case.setting, case.mean_tokens, f"{o['requested_rate']:.3f}",
                     f"{o['achieved_rate']:.3f}", f"{t['achieved_rate']:.3f}",
                     f"{o['median_s']:.3f}", f"{t['median_s']:.3f}",
                     ratio(o["median_s"], t["median_s"]), fmt_mem(o), fmt_mem(t), mem_ratio(case)])
    return markdown_table(
        ["method", "setting", "prompt tokens", "requested rate", "achieved (ours)",
         "achieved (llmlingua)", "ours s", "llmlingua s", "time ours/llmlingua",
         "ours peak +MiB", "llmlingua peak +MiB", "memory ours/llmlingua"], rows)


def nq_table(cases: list[Case]) -> str:
    rows = []
    for case in cases:
        if not case.is_nq:
            continue
        if "skipped" in case.results or "error" in case.results:
            rows.append([case.method, case.setting, len(case.inputs),
                         "skipped" if "skipped" in case.results else "failed", *["-"] * 10])
            continue
        o, t = case.results["ours"], case.results["llmlingua"]
        rows.append([case.method, case.setting, len(case.inputs), case.mean_tokens,
                     f"{o['achieved_rate']:.3f}", f"{t['achieved_rate']:.3f}",
                     f"{o['retention']:.3f}", f"{t['retention']:.3f}",
                     f"{o['median_s']:.3f}", f"{t['median_s']:.3f}",
                     ratio(o["median_s"], t["median_s"]), fmt_mem(o), fmt_mem(t), mem_ratio(case)])
    return markdown_table(
        ["method", "setting", "questions", "mean prompt tokens", "achieved (ours)",
         "achieved (llmlingua)", "retention (ours)", "retention (llmlingua)",
         "ours s/prompt", "llmlingua s/prompt", "time ours/llmlingua", "ours peak +MiB",
         "llmlingua peak +MiB", "memory ours/llmlingua"], rows)


def goal_lines(cases: list[Case]) -> list[str]:
    lines = []
    for method, goal in GOALS.items():
        ratios = [c.results["ours"]["median_s"] / c.results["llmlingua"]["median_s"]
                  for c in cases if c.method == method and "ours" in c.results
                  and "llmlingua" in c.results]
        if ratios:
            worst = max(ratios)
            lines.append(f"- {method}: speed-up {1 / worst:.2f}x to {1 / min(ratios):.2f}x "
                         f"(goal {goal:g}x): {'met' if 1 / worst >= goal else 'NOT met'}")
    return lines


def plot(cases: list[Case], path: Path, title: str) -> None:
    """Time against prompt length: LLMLingua / LongLLMLingua left, LLMLingua-2 right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"ours": "tab:blue", "llmlingua": "tab:orange"}
    markers = {"rate": "o", "target_token": "s"}
    panels = {"causal": "LLMLingua / LongLLMLingua (causal LM)",
              "classifier": "LLMLingua-2 (token classifier)"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.8))
    for ax, (kind, panel_title) in zip(axes, panels.items()):
        series: dict[tuple, list[tuple[int, float]]] = {}
        for case in cases:
            if case.kind != kind or not all(lib in case.results for lib in LIBS) or case.is_nq:
                continue
            for lib in LIBS:
                series.setdefault((case.setting.split()[0], lib), []).append(
                    (case.mean_tokens, case.results[lib]["median_s"]))
        for (mode, lib), points in sorted(series.items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points],
                    "-" if mode == "rate" else "--", marker=markers[mode], color=colours[lib],
                    label=f"{NAMES[lib]}: {mode}")
        for case in cases:
            if case.kind == kind and case.is_nq and all(lib in case.results for lib in LIBS):
                for lib in LIBS:
                    ax.scatter([case.mean_tokens], [case.results[lib]["median_s"]], s=110,
                               marker="*" if lib == "ours" else "P", color=colours[lib],
                               zorder=3, label=f"{NAMES[lib]}: {case.method}, NQ 20 docs "
                                               f"(median per prompt)")
        if not ax.has_data():
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
        else:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("prompt length (Mistral v3 tokens)")
        ax.set_ylabel("compression time (s, median)")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} logical CPUs"
    except OSError:
        pass
    return f"{os.cpu_count()} logical CPUs"


# --------------------------------------------------------------------------- main


def prepare_real_tiktoken(path: Path, cache_dir: Path) -> None:
    """Put a real cl100k_base file where tiktoken looks for it, after checking its hash."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise SystemExit(f"{path} is not cl100k_base.tiktoken (sha256 mismatch)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / hashlib.sha1(CL100K_URL.encode()).hexdigest()).write_bytes(data)


def ours_has_lingua2() -> str | None:
    from llmlingstral import PromptCompressor

    if hasattr(PromptCompressor, "compress_prompt_llmlingua2"):
        return None
    return "llmlingstral has no PromptCompressor.compress_prompt_llmlingua2 yet"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small check: 1k-token prompts, 5 NQ questions, 1 repeat")
    parser.add_argument("--lengths", type=int, nargs="+", help="prompt lengths in v3 tokens "
                        "(default 1024 4096 16384)")
    parser.add_argument("--rate", type=float, default=0.5, help="rate for the rate rows")
    parser.add_argument("--target-fraction", type=float, default=0.25,
                        help="target_token rows ask for this fraction of the prompt")
    parser.add_argument("--repeats", type=int, help="timed runs per prose case (default 3)")
    parser.add_argument("--nq-questions", type=int, help="NQ dev questions (default 100)")
    parser.add_argument("--nq-rate", type=float, default=0.25)
    parser.add_argument("--nq-data", type=Path, default=DEFAULT_DATA,
                        help="nq-open-oracle.jsonl.gz (default: benchmarks/data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--methods", nargs="+", default=["llmlingua", "longllmlingua",
                                                         "llmlingua2"],
                        choices=["llmlingua", "longllmlingua", "llmlingua2"])
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--random-models", action="store_true",
                        help="random nano-shaped weights even where embedded ones exist")
    parser.add_argument("--ours-python", default=sys.executable)
    parser.add_argument("--peer-python", default=str(REPO / ".cache" / "peer-venv" / "bin" / "python"))
    parser.add_argument("--offline-dir", type=Path, default=REPO / ".cache" / "peer-offline")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "peer-bench")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--real-tiktoken", type=Path,
                        help="a genuine cl100k_base.tiktoken to use instead of the stand-in")
    args = parser.parse_args(argv)
    quick = args.quick
    args.lengths = args.lengths or ([1024] if quick else [1024, 4096, 16384])
    args.repeats = args.repeats or (1 if quick else 3)
    args.nq_questions = args.nq_questions if args.nq_questions is not None else (5 if quick else 100)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from llmlingstral import load_tokenizer

    if args.real_tiktoken:
        prepare_real_tiktoken(args.real_tiktoken, args.offline_dir / "tiktoken-cache")
    v3 = load_tokenizer("v3")
    lingua2_gap = ours_has_lingua2() if "llmlingua2" in args.methods else "not requested"
    if lingua2_gap and "llmlingua2" in args.methods:
        _progress(f"LLMLingua-2 rows skipped: {lingua2_gap}")
    include_lingua2 = lingua2_gap is None

    started = time.perf_counter()
    cases = []
    if "llmlingua" in args.methods or include_lingua2:
        all_prose = prose_cases(v3, args.lengths, args.rate, args.target_fraction, include_lingua2)
        cases += [c for c in all_prose if c.method != "LLMLingua" or "llmlingua" in args.methods]
    if args.nq_questions > 0 and ("longllmlingua" in args.methods or include_lingua2):
        all_nq = nq_cases(v3, args.nq_data, args.nq_questions, args.nq_rate, args.seed,
                          include_lingua2)
        cases += [c for c in all_nq if c.method != "LongLLMLingua" or "longllmlingua" in args.methods]

    pairs = {kind: models.prepare(kind, args.work_dir / "models", args.random_models)
             for kind in sorted({c.kind for c in cases})}
    runner = Runner(args, pairs)
    versions: dict[str, dict] = {}
    for kind in ("causal", "classifier"):
        kind_cases = [c for c in cases if c.kind == kind]
        if kind_cases:
            time_cases(runner, kind, kind_cases, args.repeats, v3, versions)
    if not args.no_memory:
        memory_cases(runner, cases)
    elapsed = time.perf_counter() - started

    where = f"{machine()}; CPU: {cpu_name()}"
    model_lines = [f"- {kind} model: {p.label}, model.safetensors sha256 {p.sha256[:12]}"
                   for kind, p in pairs.items()]
    tiktoken_note = ("genuine cl100k_base" if args.real_tiktoken else
                     "offline stand-in built from the Mistral v3 vocabulary (counts v3 tokens)")
    header = [
        f"Machine: {where}",
        f"Workers: {args.threads} torch threads each; "
        + "; ".join(f"{PACKAGES[lib]} {v.get('library')} with transformers {v.get('transformers')}"
                    f", computing in {v.get('dtype')}" for lib, v in versions.items()),
        *model_lines,
        f"Timing: median of {args.repeats} alternating runs per prose case; NQ: median "
        f"s/prompt over {args.nq_questions} dev questions, libraries alternating; every rate "
        f"counted with the Mistral v3 tokenizer; llmlingua's tiktoken: {tiktoken_note}.",
        "Memory: peak RSS growth of one run in a fresh worker, over the worker with its model "
        "loaded and warmed up." if not args.no_memory else "Memory: not measured (--no-memory).",
    ]
    if lingua2_gap and "llmlingua2" in args.methods:
        header.append(f"LLMLingua-2: skipped ({lingua2_gap}).")
    report = "\n".join(header) + "\n\n" + prose_table(cases) + "\n\n" + nq_table(cases) + \
        "\n\nSpeed goals (llmlingua time / ours):\n" + "\n".join(goal_lines(cases) or ["- none measured"])
    print(report)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "peer"
    payload = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": where, "threads": args.threads, "elapsed_s": elapsed, "versions": versions,
        "models": {k: {"label": p.label, "embedded": p.embedded, "sha256": p.sha256}
                   for k, p in pairs.items()},
        "settings": {"lengths": args.lengths, "rate": args.rate,
                     "target_fraction": args.target_fraction, "repeats": args.repeats,
                     "nq_questions": args.nq_questions, "nq_rate": args.nq_rate,
                     "longllmlingua": LONGLLMLINGUA, "seed": args.seed,
                     "tiktoken": tiktoken_note, "quick": args.quick},
        "skipped": lingua2_gap if lingua2_gap and "llmlingua2" in args.methods else None,
        "cases": [{"method": c.method, "setting": c.setting, "kind": c.kind,
                   "inputs": len(c.inputs), "mean_prompt_tokens": c.mean_tokens,
                   "origin_tokens": c.origin_tokens, "requested_rates": c.requested,
                   **c.results} for c in cases],
        "report": report,
    }
    (args.out / f"{stem}.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    plot(cases, args.out / f"{stem}_time.png",
         f"compression time against prompt length, {where}")
    (args.out / f"{stem}.md").write_text(report + "\n", encoding="utf-8")
    _progress(f"wrote {args.out / stem}.json, .md and _time.png in {elapsed / 60:.1f} min "
              f"({runner.started} worker processes)")


if __name__ == "__main__":
    main()
