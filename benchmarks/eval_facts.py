"""How many facts each method keeps, per language and rate, with protection on and off, against chance.

Facts are numbers, dates, times, amounts, percentages, identifiers, paths, URLs and e-mail
addresses, listed by hand for texts written for this benchmark (``benchmarks/data/facts``:
English prose, an English technical text, the on-call runbook as the dense text, Chinese,
Japanese, Arabic, Hindi, French, German, Spanish, Russian, Korean, Thai) and, for NQ dev
passages, the gold answers that hold a digit. Each text is one context, compressed by
LLMLingua (``nano``), LongLLMLingua (``nano``, with the text's question) and LLMLingua-2
(``nano-lingua2``) at each rate with ``protect=True`` (the default) and ``protect=False``
(llmlingua's behaviour), and by dropping random words until the same share of tokens
remains as protection kept (averaged over seeds). A fact is kept when its exact string is
in the output, not glued to another number; "in part" counts facts of which some digits or
letters survived but not the whole (see ``_facts.py``). The achieved rate is the one a
rate asks for: tokens of the compressed prompt over those of the original one, LongLLMLingua's
question (kept whole, paid for out of the same budget, as in llmlingua) counted in both.

"Texts whose facts fit" are judged by the method itself, as it decides: a text's facts fit
at a rate when the method, compressing it with protection on, pins every protected fact
(it issues no ``FactsOverBudgetWarning``). That is, the tokens of the units that hold the
facts (whole words around a span, the space token before a number, a particle after it),
plus the blank line a context shows, fit in 80 % (``FACT_SHARE``) of the budget the method
has for the context's free words once what it keeps anyway is paid (LongLLMLingua: once the
question is paid out of the same rate). The older estimate, the tokens touching the
protection rule's spans within 80 % of the rate's share of the text's tokens ("span tokens
fit"), is reported beside it.

With LLMLingua-2, all the hand-written texts are also compressed as the contexts of one
call, to show each script's achieved rate and kept facts beside the others. Then NQ dev
answer retention at 4x (rate 0.25, 20 documents per question: the prompts of
``eval_nq.py``) and the compression time with protection on and off (same process, the two
alternating, median, over all the texts above), both per method.

    python benchmarks/eval_facts.py              # everything (long on a CPU)
    python benchmarks/eval_facts.py --quick      # fewer NQ passages and questions, one timing run
    python benchmarks/eval_facts.py --methods llmlingua2 --languages zh ja --rates 0.5

Tables go to stdout, progress to stderr. Only NQ dev records (0..1999) are read.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _facts  # noqa: E402
import eval_nq  # noqa: E402
from _common import alternating_medians, machine, markdown_table  # noqa: E402

METHODS = {"llmlingua": "LLMLingua (nano)", "longllmlingua": "LongLLMLingua (nano)",
           "llmlingua2": "LLMLingua-2 (nano-lingua2)"}
MODELS = {"llmlingua": "nano", "longllmlingua": "nano", "llmlingua2": "nano-lingua2"}
NQ_ROWS = {"llmlingua": "LLMLingua", "longllmlingua": "LongLLMLingua"}  # eval_nq's rows
NQ_RATE = eval_nq.RATES["4x"]
MODES = {"on": True, "off": False}  # column label -> protect
RANDOM = "random"
FIT, ALL = "texts whose facts fit", "all texts"
FIT_SPANS = "texts whose span tokens fit"  # the estimate before FIT asked the method
QUICK = dict(nq_passages=5, nq_questions=3, seeds=3, time_repeats=1)
FULL = dict(nq_passages=20, nq_questions=100, seeds=5, time_repeats=5)

Run = Callable[[list, str, float, bool], str]
"""``run(contexts, question, rate, protect)``: the compressed contexts, question left out."""

ASKS = {"longllmlingua"}  # the methods given the question in the fact tables


@dataclass
class Tally:
    """Facts and tokens over some runs."""

    facts: int = 0
    kept: int = 0
    part: int = 0
    origin: int = 0
    tokens: int = 0

    def add(self, facts: int, kept: int, part: int, origin: int, tokens: int) -> None:
        self.facts += facts
        self.kept += kept
        self.part += part
        self.origin += origin
        self.tokens += tokens

    def share(self, what: str) -> str:
        return f"{getattr(self, what) / self.facts:.1%}" if self.facts else "-"

    def rate(self) -> str:
        return f"{self.tokens / self.origin:.3f}" if self.origin else "-"


# --------------------------------------------------------------------------- methods


def load_compressors(methods: list[str], device: str) -> dict[str, object]:
    """One compressor per model the methods need, keyed by method."""
    from llmlingstral import PromptCompressor

    loaded: dict[str, object] = {}
    for model in dict.fromkeys(MODELS[m] for m in methods):
        log(f"loading {model}")
        loaded[model] = PromptCompressor(model, device_map=device,
                                         use_llmlingua2=model == "nano-lingua2")
    return {m: loaded[MODELS[m]] for m in methods}


def runner(method: str, compressor) -> Run:
    """The call that compresses contexts with ``method``."""
    if method == "llmlingua2":
        def run(contexts, question, rate, protect):
            return compressor.compress_prompt_llmlingua2(
                contexts, rate=rate, protect=protect)["compressed_prompt"]
        return run
    options = eval_nq.LONGLLMLINGUA if method == "longllmlingua" else {}

    def run(contexts, question, rate, protect):
        asked = question if method in ASKS else ""
        text = compressor.compress_prompt(contexts, question=asked, rate=rate, protect=protect,
                                          show_progress=False, **options)["compressed_prompt"]
        return text[: text.rfind(asked)].rstrip() if asked and text.endswith(asked) else text
    return run


# --------------------------------------------------------------------------- facts


def compress_judged(run: Run, contexts: list, question: str, rate: float,
                    protect: bool) -> tuple[str, bool]:
    """``run``'s output, and whether the method pinned every protected fact: by its own
    accounting, it issued no ``FactsOverBudgetWarning`` (the facts fit in its budget)."""
    from llmlingstral.fact_budget import FactsOverBudgetWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FactsOverBudgetWarning)
        output = run(contexts, question, rate, protect)
    return output, not any(issubclass(w.category, FactsOverBudgetWarning) for w in caught)


def span_tokens_fit(text: _facts.FactText, tokenizer, rate: float) -> bool:
    """The estimate of fit before the methods were asked: whether the tokens touching the
    text's protected spans fit in the facts' share of a ``rate`` budget of its tokens."""
    from llmlingstral.fact_budget import FACT_SHARE
    from llmlingstral.text.protect import protected_spans

    spans = [(s.start, s.end) for s in protected_spans(text.text)]
    return _facts.budget_share(text.text, spans, tokenizer, rate) <= FACT_SHARE


def prompt_tokens(tokenizer, contexts: str, question: str) -> int:
    """Tokens of the prompt a rate applies to: the contexts and the question around them, as
    the library (and llmlingua) count it. The question is kept whole and paid for out of
    the same budget, so the contexts alone keep a little less than the rate."""
    from llmlingstral.prompt import join_prompt

    return tokenizer.count(join_prompt("", contexts, question))


def measure_facts(methods: list[str], compressors: dict, texts: list[_facts.FactText],
                  rates: list[float], seeds: int) -> tuple[dict[tuple, Tally], dict[tuple, bool]]:
    """Tallies keyed by (method, rate, group, mode); groups are the text sets, FIT,
    FIT_SPANS and ALL; modes are those of MODES and RANDOM. And whether each text's facts
    fit, keyed by (method, rate, text index)."""
    tallies: dict[tuple, Tally] = {}
    fit: dict[tuple, bool] = {}
    for method in methods:
        run, tokenizer = runner(method, compressors[method]), compressors[method].tokenizer
        for number, text in enumerate(texts):
            if method == "longllmlingua" and not text.question:
                continue
            question = text.question if method in ASKS else ""
            origin = prompt_tokens(tokenizer, text.text, question)
            for rate in rates:
                outputs = {mode: compress_judged(run, [text.text], text.question, rate, protect)
                           for mode, protect in MODES.items()}
                fit[method, rate, number] = outputs["on"][1]
                groups = [text.set_id, ALL] + ([FIT] if outputs["on"][1] else []) + \
                    ([FIT_SPANS] if span_tokens_fit(text, tokenizer, rate) else [])
                share = {}  # of the context's own tokens, for random dropping
                for mode, (output, _) in outputs.items():
                    tokens = prompt_tokens(tokenizer, output, question)
                    share[mode] = tokenizer.count(output) / tokenizer.count(text.text)
                    kept, part = _facts.grade(text, output)
                    _add(tallies, (method, rate, mode), groups, len(text.facts), kept, part,
                         origin, tokens)
                    log(f"{method}\t{text.set_id}\trate {rate}\tprotect {mode}\tkept "
                        f"{kept}/{len(text.facts)}\tin part {part}\tachieved "
                        f"{tokens / origin:.3f}\tfacts fit {'yes' if fit[method, rate, number] else 'no'}")
                for seed in range(seeds):
                    output = _facts.random_words(text.text, tokenizer, share["on"], seed)
                    kept, part = _facts.grade(text, output)
                    _add(tallies, (method, rate, RANDOM), groups, len(text.facts), kept, part,
                         origin, prompt_tokens(tokenizer, output, question))
    return tallies, fit


def _add(tallies: dict, key: tuple, groups: list[str], *counts: int) -> None:
    method, rate, mode = key
    for group in groups:
        tallies.setdefault((method, rate, group, mode), Tally()).add(*counts)


def texts_table(texts: list[_facts.FactText], tokenizer, rates: list[float]) -> str:
    from llmlingstral.text.protect import protected_spans

    rows = []
    for set_id in dict.fromkeys(t.set_id for t in texts):
        group = [t for t in texts if t.set_id == set_id]
        tokens = sum(tokenizer.count(t.text) for t in group)
        gold = sum(_facts.budget_share(t.text, _facts.gold_spans(t), tokenizer, 1.0)
                   * tokenizer.count(t.text) for t in group) / tokens
        spans = sum(_facts.budget_share(t.text, [(s.start, s.end) for s in protected_spans(t.text)],
                                        tokenizer, 1.0) * tokenizer.count(t.text)
                    for t in group) / tokens
        fit = [f"{sum(span_tokens_fit(t, tokenizer, r) for t in group)}/{len(group)}"
               for r in rates]
        rows.append([set_id, group[0].language, len(group), f"{sum(len(t.text) for t in group):,}",
                     f"{tokens:,}", sum(len(t.facts) for t in group), f"{gold:.1%}", f"{spans:.1%}",
                     *fit])
    return markdown_table(["set", "language", "texts", "characters", "tokens", "gold facts",
                           "tokens in gold facts", "tokens in protected spans",
                           *(f"span tokens fit at {r}" for r in rates)], rows)


def fit_table(fit: dict[tuple, bool], texts: list[_facts.FactText], methods: list[str],
              rates: list[float]) -> str:
    """Per text set, how many texts' facts each method pinned all of, at each rate."""
    columns = [(m, r) for m in methods for r in rates]
    rows = []
    for set_id in dict.fromkeys(t.set_id for t in texts):
        numbers = [n for n, t in enumerate(texts) if t.set_id == set_id]
        cells = []
        for method, rate in columns:
            judged = [fit[method, rate, n] for n in numbers if (method, rate, n) in fit]
            cells.append(f"{sum(judged)}/{len(judged)}" if judged else "-")
        rows.append([set_id, *cells])
    return markdown_table(["set", *(f"{METHODS[m]} at {r}" for m, r in columns)], rows)


def summary_table(tallies: dict, methods: list[str], rates: list[float]) -> str:
    rows = []
    for method in methods:
        for rate in rates:
            get = lambda group, mode: tallies.get((method, rate, group, mode), Tally())  # noqa: E731
            rows.append([METHODS[method], rate, get(FIT, "on").share("kept"),
                         get(FIT_SPANS, "on").share("kept"), get(ALL, "on").share("kept"), get(ALL, "off").share("kept"),
                         get(ALL, RANDOM).share("kept"), get(ALL, "on").share("part"),
                         get(ALL, "off").share("part"), get(ALL, RANDOM).share("part"),
                         get(ALL, "on").rate(), get(ALL, "off").rate()])
    return markdown_table(["method", "rate", "kept, on (texts whose facts fit)",
                           "kept, on (texts whose span tokens fit)", "kept, on",
                           "kept, off", "kept, random", "in part, on", "in part, off",
                           "in part, random", "achieved rate, on", "achieved rate, off"], rows)


def method_table(tallies: dict, method: str, rates: list[float], groups: list[str]) -> str:
    rows = []
    for group in [*groups, FIT, FIT_SPANS, ALL]:
        for rate in rates:
            cells = [tallies.get((method, rate, group, mode)) for mode in (*MODES, RANDOM)]
            if cells[0] is None:
                continue
            on, off, chance = cells
            rows.append([group, rate, on.facts, on.share("kept"), on.share("part"), on.rate(),
                         off.share("kept"), off.share("part"), off.rate(),
                         chance.share("kept"), chance.share("part")])
    return markdown_table(["set", "rate", "facts", "on: kept", "on: in part", "on: rate",
                           "off: kept", "off: in part", "off: rate", "random: kept",
                           "random: in part"], rows)


def mixed_table(compressor, texts: list[_facts.FactText], rates: list[float]) -> str:
    """Each text's achieved rate and kept facts when all the texts are the contexts of one
    LLMLingua-2 call (scripts side by side), protect on and off."""
    contexts = [t.text for t in texts]
    origin = [compressor.tokenizer.count(c) for c in contexts]
    rows: dict[tuple, list] = {(t.set_id, r): [t.set_id, r] for t in texts for r in rates}
    for rate in rates:
        for mode, protect in MODES.items():
            result = compressor.compress_prompt_llmlingua2(contexts, rate=rate, protect=protect)
            by_context = dict(zip(result["kept_context_ids"], result["compressed_contexts"]))
            log(f"mixed call\trate {rate}\tprotect {mode}")
            for index, (text, tokens) in enumerate(zip(texts, origin)):
                output = by_context.get(index, "")  # absent: the context was dropped whole
                kept, _ = _facts.grade(text, output)
                rows[text.set_id, rate] += [f"{compressor.tokenizer.count(output) / tokens:.3f}",
                                            f"{kept / len(text.facts):.1%}"]
    return markdown_table(["set", "rate", "on: rate", "on: kept", "off: rate", "off: kept"],
                          list(rows.values()))


# --------------------------------------------------------------------------- NQ and time


def nq_table(methods: list[str], compressors: dict, questions: int, documents: int) -> str:
    """Answer retention at 4x on the NQ dev prompts of ``eval_nq.py``, protect on and off."""
    examples = eval_nq.build_examples(_facts.nq_records(), questions, documents, seed=0)
    rows = []
    for method in methods:
        compressor = compressors[method]
        cells = []
        for mode, protect in MODES.items():
            run = _nq_run(method, compressor, protect)
            retained = kept = origin = 0
            for index, example in enumerate(examples):
                text = run(example, NQ_RATE)
                hit = eval_nq.has_answer(text, example.answers)
                retained += hit
                asked = example.question if method in NQ_ROWS else ""  # eval_nq asks it
                kept += prompt_tokens(compressor.tokenizer, text.rstrip(), asked)
                origin += prompt_tokens(compressor.tokenizer, "\n\n".join(example.documents),
                                        asked)
                log(f"NQ\t{method}\tprotect {mode}\tquestion {index}\tretained {int(hit)}")
            cells.append((f"{retained / len(examples):.3f}", f"{kept / origin:.3f}"))
        rows.append([METHODS[method], len(examples), cells[0][0], cells[1][0], cells[0][1],
                     cells[1][1]])
    return markdown_table(["method", "questions", "retention, on", "retention, off",
                           "achieved rate, on", "achieved rate, off"], rows)


def _nq_run(method: str, compressor, protect: bool) -> Callable:
    """``eval_nq.py``'s row for the method (LLMLingua-2 has none there: its own call)."""
    if method in NQ_ROWS:
        return eval_nq.compression_methods(compressor, {"protect": protect})[NQ_ROWS[method]]
    run = runner(method, compressor)
    return lambda example, rate: run(example.documents, example.question, rate, protect)


def time_table(methods: list[str], compressors: dict, texts: list[_facts.FactText],
               rate: float, repeats: int) -> str:
    """Seconds to compress every text once, protect on and off, the two alternating."""
    rows = []
    for method in methods:
        run = runner(method, compressors[method])
        calls = {mode: (lambda p=protect: [run([t.text], t.question, rate, p) for t in texts])
                 for mode, protect in MODES.items()}
        medians, _ = alternating_medians(calls, repeats)
        log(f"timed {method}")
        tokens = sum(compressors[method].tokenizer.count(t.text) for t in texts)
        rows.append([METHODS[method], len(texts), f"{tokens:,}", f"{medians['on']:.3f}",
                     f"{medians['off']:.3f}", f"{medians['on'] / medians['off']:.3f}"])
    return markdown_table(["method", "texts", "tokens", "s, protect on", "s, protect off",
                           "on / off"], rows)


# --------------------------------------------------------------------------- main


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.5, 0.33])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--languages", nargs="+", choices=_facts.set_ids(),
                        default=_facts.set_ids(), help="text sets (nq: NQ dev passages)")
    parser.add_argument("--nq-passages", type=int, help=f"NQ dev passages in the fact tables "
                        f"(default {FULL['nq_passages']}, --quick {QUICK['nq_passages']})")
    parser.add_argument("--nq-questions", type=int, help="NQ dev questions for answer retention, "
                        f"0 to skip (default {FULL['nq_questions']}, --quick "
                        f"{QUICK['nq_questions']})")
    parser.add_argument("--nq-documents", type=int, default=20,
                        help="documents per NQ prompt (as in eval_nq.py)")
    parser.add_argument("--seeds", type=int, help=f"random-dropping seeds (default "
                        f"{FULL['seeds']}, --quick {QUICK['seeds']})")
    parser.add_argument("--time-repeats", type=int, help=f"timed runs per side, 0 to skip "
                        f"(default {FULL['time_repeats']}, --quick {QUICK['time_repeats']})")
    parser.add_argument("--device", default="cpu", help="device_map of the compressors")
    parser.add_argument("--quick", action="store_true", help="smaller NQ samples, one timed run")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if any(not 0 < r < 1 for r in args.rates):
        parser.error("--rates must lie between 0 and 1")
    return args


def select_texts(args: argparse.Namespace) -> list[_facts.FactText]:
    texts = _facts.load_texts([s for s in args.languages if s != _facts.NQ_SET])
    if _facts.NQ_SET in args.languages and args.nq_passages > 0:
        texts += _facts.nq_texts(_facts.nq_records(), args.nq_passages)
    wrong = _facts.problems(texts)
    if wrong:
        raise SystemExit("gold facts that are not in their text:\n" + "\n".join(wrong))
    return texts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    texts = select_texts(args)
    compressors = load_compressors(args.methods, args.device)
    tokenizer = next(iter(compressors.values())).tokenizer
    print(f"Methods: {', '.join(METHODS[m] for m in args.methods)}; rates {args.rates}; "
          f"random dropping averaged over {args.seeds} seeds; {machine()}\n")
    print(texts_table(texts, tokenizer, args.rates) + "\n")
    tallies, fit = measure_facts(args.methods, compressors, texts, args.rates, args.seeds)
    print("Texts whose facts fit, as each method judges when it decides (it pins every "
          "protected fact):\n")
    print(fit_table(fit, texts, args.methods, args.rates) + "\n")
    print("Facts kept verbatim (share of gold facts), all text sets together:\n")
    print(summary_table(tallies, args.methods, args.rates) + "\n")
    groups = list(dict.fromkeys(t.set_id for t in texts))
    for method in args.methods:
        print(f"{METHODS[method]}, per text set:\n")
        print(method_table(tallies, method, args.rates, groups) + "\n")
    written = [t for t in texts if t.set_id != _facts.NQ_SET]
    if "llmlingua2" in args.methods and len(written) > 1:
        print(f"{METHODS['llmlingua2']}, the texts of every set but nq as the contexts of one "
              "call (achieved rate and facts kept per context):\n")
        print(mixed_table(compressors["llmlingua2"], written, args.rates) + "\n")
    if args.nq_questions > 0:
        print(f"NQ dev answer retention at rate {NQ_RATE} (4x), {args.nq_documents} documents "
              "per question:\n")
        print(nq_table(args.methods, compressors, args.nq_questions, args.nq_documents) + "\n")
    if args.time_repeats > 0:
        print(f"Compression time of all the texts above at rate {args.rates[0]}, median of "
              f"{args.time_repeats} alternating runs per side:\n")
        print(time_table(args.methods, compressors, texts, args.rates[0], args.time_repeats))


if __name__ == "__main__":
    main()
