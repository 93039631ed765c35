"""Units for scripts written without spaces: rate error and readability of three choices.

Runs LLMLingua (``nano``) and LLMLingua-2 (``nano-lingua2``) on the paragraphs of
``tests/multilingual.py`` at rates 0.3 and 0.5, with the pieces of unspaced runs cut as:

* ``whitespace (before)``: no cut inside a whitespace chunk (the former behaviour);
* ``tokens``: tokenizer pieces snapped to whole characters (the library's choice);
* ``clusters``: single grapheme clusters, whatever the tokens;
* ``budoux``: BudouX phrases (Chinese, Japanese, Thai; clusters elsewhere), needs
  ``pip install budoux``, skipped without it.

The alternatives are swapped in for the library's cut function in this process only.
Columns: mean |achieved/requested - 1| in %, the worst case, empty outputs, and (a
readability proxy) the mean length in characters of the runs of input text kept together
in the output, for the unspaced languages. A second table gives, per tokenizer, the share
of units that start inside a token: such a unit costs no token of its own, so a token
budget cannot price it and keeping it splits a token.

    python benchmarks/bench_multilingual.py
"""

from __future__ import annotations

import statistics
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from multilingual import PARAGRAPHS, UNSPACED  # noqa: E402

from llmlingstral import PromptCompressor  # noqa: E402
from llmlingstral.text import scripts, units, words  # noqa: E402

RATES = (0.3, 0.5)
_BUDOUX_LANGUAGES = {"zh": "simplified_chinese", "ja": "japanese", "th": "thai"}


class _Everywhere:
    """Every position is a token start: pieces are single clusters."""

    def __contains__(self, position: object) -> bool:
        return True


def _cluster_split(text, start, end, token_starts=None):
    return _library_split(text, start, end, _Everywhere())


def _whitespace_split(text, start, end, token_starts=None):
    return [(start, end)]


def _budoux_parser(parsers: dict, run: str):
    if any("\u3040" <= c <= "\u30ff" for c in run):
        return parsers["ja"]
    if any("\u0e00" <= c <= "\u0e7f" for c in run):
        return parsers["th"]
    if any("\u4e00" <= c <= "\u9fff" for c in run):
        return parsers["zh"]
    return None


def _budoux_split(parsers: dict):
    def split(text, start, end, token_starts=None):
        parser = _budoux_parser(parsers, text[start:end])
        if parser is None:
            return _library_split(text, start, end, _Everywhere())
        bounds, position = [], start
        for phrase in parser.parse(text[start:end]):
            bounds.append((position, position + len(phrase)))
            position += len(phrase)
        return bounds
    return split


_library_split = scripts.split_span


def choices() -> dict:
    found = {"whitespace (before)": _whitespace_split, "tokens": _library_split,
             "clusters": _cluster_split}
    try:
        import budoux
    except ImportError:
        print("budoux is not installed: its rows are skipped", file=sys.stderr)
        return found
    parsers = {language: getattr(budoux, f"load_default_{name}_parser")()
               for language, name in _BUDOUX_LANGUAGES.items()}
    found["budoux"] = _budoux_split(parsers)
    return found


def kept_runs(output: str, source: str) -> list[int]:
    """Lengths of the runs of consecutive source characters in ``output`` (greedy match)."""
    runs, position, previous = [], 0, -2
    for char in output:
        position = source.index(char, position)
        if position == previous + 1 and runs:
            runs[-1] += 1
        else:
            runs.append(1)
        previous, position = position, position + 1
    return runs


def measure(compressors: dict, languages) -> dict:
    rows = {}
    for method, call in compressors.items():
        errors, empty, runs = [], 0, []
        for language in languages:
            text = PARAGRAPHS[language]
            for rate in RATES:
                result = call(text, rate)
                output = result["compressed_prompt"]
                achieved = result["compressed_tokens"] / result["origin_tokens"]
                errors.append(abs(achieved / rate - 1) * 100)
                empty += not output.strip()
                runs.extend(kept_runs(output, text) if output else [])
        rows[method] = (statistics.mean(errors), max(errors), empty,
                        statistics.mean(runs) if runs else 0.0)
    return rows


def unpriced_units(tokenizer_name: str) -> dict:
    """Per choice: % of the unspaced paragraphs' units that hold no token start (a budget
    cannot price them) and % of tokens cut between two units, with ``tokenizer_name``."""
    from llmlingstral import load_tokenizer
    from llmlingstral.text.scripts import token_start_set

    tokenizer = load_tokenizer(tokenizer_name)
    found = {}
    for name, split in (("tokens", _library_split), ("clusters", _cluster_split)):
        units.split_span = split
        free = total = 0
        for language in UNSPACED:
            text = PARAGRAPHS[language]
            starts = token_start_set(tokenizer.encode_with_offsets(text).offsets)
            pieces = units.split_units(text, token_starts=starts)
            free += sum(int(a) not in starts for a in pieces.starts)
            total += len(pieces)
        found[name] = 100 * free / total
    units.split_span = _library_split
    return found


def main() -> None:
    warnings.simplefilter("ignore")
    nano = PromptCompressor("nano", device_map="cpu")
    lingua2 = PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
    compressors = {
        "llmlingua": lambda t, r: nano.compress_prompt(t, rate=r),
        "llmlingua2": lambda t, r: lingua2.compress_prompt_llmlingua2(t, rate=r),
    }
    print("| units | method | mean rate error % | worst % | empty outputs | mean kept run (chars) |")
    print("|---|---|---|---|---|---|")
    for name, split in choices().items():
        units.split_span = words.split_span = split
        for method, (mean, worst, empty, run) in measure(compressors, UNSPACED).items():
            print(f"| {name} | {method} | {mean:.1f} | {worst:.1f} | {empty} | {run:.2f} |")
    units.split_span = words.split_span = _library_split
    print()
    print("| tokenizer | units | units without a token start % |")
    print("|---|---|---|")
    for tokenizer_name in ("v3", "tekken"):
        for name, share in unpriced_units(tokenizer_name).items():
            print(f"| {tokenizer_name} | {name} | {share:.1f} |")


if __name__ == "__main__":
    main()
