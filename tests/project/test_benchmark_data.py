"""The evaluation data the benchmark and training scripts read ships inside the repository."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data"


def _script(relative: str):
    """The script at ``relative`` imported as a module (its own folder on sys.path)."""
    path = ROOT / relative
    name = f"script_{path.parent.name}_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))
        sys.modules[name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
    return sys.modules[name]


def _readme_rows() -> list[tuple[str, int, str]]:
    text = (DATA / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| [\d,]+ \| ([\d,]+) \| `([0-9a-f]{64})` \|$", text, re.M)
    return [(name, int(count.replace(",", "")), digest) for name, count, digest in rows]


def test_vendored_files_match_their_readme():
    rows = _readme_rows()
    assert {name for name, _, _ in rows} == {"nq-open-oracle.jsonl.gz",
                                             "google-sentence-compression-test.jsonl"}
    for name, records, digest in rows:
        raw = (DATA / name).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == digest, name
        text = gzip.decompress(raw) if name.endswith(".gz") else raw
        assert text.count(b"\n") == records, name


def test_nq_benchmark_reads_the_dev_split_from_the_repository():
    eval_nq = _script("benchmarks/eval_nq.py")
    assert eval_nq.DEFAULT_DATA.is_relative_to(ROOT)
    records = eval_nq.load_dev(eval_nq.DEFAULT_DATA)
    assert len(records) == 2000
    examples = eval_nq.build_examples(records, 3, 20, seed=0)
    assert all(eval_nq.has_answer(e.documents[e.gold_index], e.answers) for e in examples)


def test_sentence_f1_and_nano_lingua2_data_read_the_google_file(tmp_path):
    sentence_f1 = _script("benchmarks/eval_sentence_f1.py")
    pairs = sentence_f1.load(range(0, 3))
    assert len(pairs) == 3 and all(text and summary for text, summary in pairs)
    lingua2_data = _script("training/nano_lingua2_data.py")
    assert lingua2_data.GOOGLE.is_relative_to(ROOT)
    records = lingua2_data.google_records(range(598, 600))
    assert [r["source"] for r in records] == ["google-dev", "google-dev"]
    with pytest.raises(SystemExit, match="--google"):
        lingua2_data.google_records(range(0, 1), tmp_path / "missing.jsonl")


def test_missing_data_file_names_the_option():
    eval_nq = _script("benchmarks/eval_nq.py")
    with pytest.raises(SystemExit, match="--nq-data PATH"):
        eval_nq.load_dev(Path("/nonexistent/nq.jsonl.gz"), "--nq-data")


def test_peer_punkt_training_text_holds_nq_dev_passages():
    offline = _script("benchmarks/peer/offline_data.py")
    records = _script("benchmarks/eval_nq.py").load_dev(DATA / "nq-open-oracle.jsonl.gz")
    text = offline.training_text()
    assert records[0]["ctxs"][0]["text"] in text


def test_no_script_reads_data_from_outside_the_repository():
    outside = re.compile(r"\.\./shared|[\"']shared[\"']\s*/")
    for path in [*ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("benchmarks/**/*.sh"),
                 *ROOT.glob("training/**/*.py")]:
        assert not outside.search(path.read_text(encoding="utf-8")), path


# ----------------------------------------------------------------------------- facts benchmark

FACT_LANGUAGES = {"en", "en-tech", "en-dense", "zh", "ja", "ar", "hi", "fr", "de", "es", "ru",
                  "ko", "th"}


def test_every_gold_fact_occurs_whole_in_its_text():
    facts = _script("benchmarks/_facts.py")
    texts = facts.load_texts()
    assert {t.set_id for t in texts} == FACT_LANGUAGES
    assert facts.problems(texts) == []
    for text in texts:
        assert text.question and len(text.facts) >= 10, text.set_id
        # 150-400 words, or as many characters as that in scripts written without spaces
        assert 150 <= len(text.text.split()) <= 400 or 350 <= len(text.text) <= 1200, text.set_id


def test_every_gold_fact_is_one_protected_span():
    """The protection rule keeps each hand-listed fact whole, its unit, counter or counted
    noun included (18,4 Hektar, 103만 명, ๓๕ ล้านบาท, 23.6万人次, 8 (843) 222-14-30)."""
    facts = _script("benchmarks/_facts.py")
    from llmlingstral.text.protect import protected_spans

    split = []
    for text in facts.load_texts():
        spans = protected_spans(text.text)
        for fact in text.facts:
            for start in facts.whole_occurrences(fact, text.text):
                end = start + len(fact)
                if not any(s.start <= start and end <= s.end for s in spans):
                    split.append((text.set_id, fact, [text.text[s.start:s.end] for s in spans
                                                      if s.start < end and start < s.end]))
    assert split == []


def test_nq_fact_passages_are_dev_passages_with_numeric_answers():
    facts = _script("benchmarks/_facts.py")
    records = _script("benchmarks/eval_nq.py").load_dev(DATA / "nq-open-oracle.jsonl.gz")
    texts = facts.nq_texts(records, 5)
    assert len(texts) == 5 and facts.problems(texts) == []
    by_question = {r["question"]: r for r in records}
    for text in texts:
        answers = by_question[text.question]["answers"]
        assert set(text.facts) <= set(answers)
        assert all(any(c.isdigit() for c in fact) for fact in text.facts)


@pytest.mark.parametrize("text, output, expected", [
    ("The tradition began in 1874, after a storm.", "tradition began 1874 storm.", (1, 0)),
    ("The tradition began in 1874, after a storm.", "tradition began 74, storm.", (0, 1)),
    ("The tradition began in 1874, after a storm.", "tradition began storm.", (0, 0)),
    ("旅行团共一百八十人。", "旅行团十人。", (0, 1)),
    ("价格是100元和200元。", "100200元", (0, 2)),
    ("价格是100元和200元。", "100元 200元", (2, 0)),
    ("会议于2024年9月12日开始，共150人。", "2024年912150", (0, 2)),
    ("ราคา ๓๕ ล้านบาท ต่อปี", "ราคา ๓๕ ล้านบาท", (1, 0)),
])
def test_a_fact_is_kept_whole_kept_in_part_or_lost(text, output, expected):
    facts = _script("benchmarks/_facts.py")
    gold = [f for f in ("1874", "一百八十人", "100元", "200元", "2024年9月12日", "150人",
                        "๓๕ ล้านบาท") if f in text]
    assert facts.grade(facts.FactText("t", "any", text, tuple(gold)), output) == expected


def test_random_dropping_meets_the_rate_in_every_script():
    facts = _script("benchmarks/_facts.py")
    from llmlingstral.tokenization import load_tokenizer

    tokenizer = load_tokenizer("v3")
    for text in facts.load_texts():
        origin = tokenizer.count(text.text)
        for rate in (0.5, 0.33):
            output = facts.random_words(text.text, tokenizer, rate, seed=1)
            assert abs(tokenizer.count(output) / origin - rate) < 0.05, (text.set_id, rate)
            assert output != facts.random_words(text.text, tokenizer, rate, seed=2)


@pytest.mark.parametrize("rate, fits", [(0.5, True), (0.33, False)])
def test_facts_fit_as_the_method_judges_when_it_decides(nano_lingua2, rate, fits):
    """A text's facts fit exactly when the method pins them all: where it warns that some
    could not be afforded (the Arabic text at 0.33), the benchmark does not count the text
    as fitting, though the tokens of its spans alone fit in 80 % of the budget."""
    import warnings

    from llmlingstral.fact_budget import FactsOverBudgetWarning

    eval_facts = _script("benchmarks/eval_facts.py")
    text = _script("benchmarks/_facts.py").load_texts(["ar"])[0]
    run = eval_facts.runner("llmlingua2", nano_lingua2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FactsOverBudgetWarning)
        run([text.text], text.question, rate, True)
    warned = any(issubclass(w.category, FactsOverBudgetWarning) for w in caught)
    output, fit = eval_facts.compress_judged(run, [text.text], text.question, rate, True)
    assert output.strip() and fit is not warned and fit is fits
    assert eval_facts.span_tokens_fit(text, nano_lingua2.tokenizer, rate)


def _table_after(out: str, title: str) -> list[list[str]]:
    """The rows (cells stripped) of the first markdown table after the line starting with
    ``title``, header and rule left out."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[2:]


def test_facts_benchmark_runs_end_to_end(capsys):
    eval_facts = _script("benchmarks/eval_facts.py")
    eval_facts.main(["--methods", "llmlingua2", "--languages", "ja", "--rates", "0.5",
                     "--seeds", "1", "--nq-questions", "1", "--nq-documents", "3",
                     "--time-repeats", "1"])
    out, err = capsys.readouterr()
    per_set = _table_after(out, "LLMLingua-2 (nano-lingua2), per text set")
    assert [row[:3] for row in per_set] == [["ja", "0.5", "15"],
                                           ["texts whose facts fit", "0.5", "15"],
                                           ["texts whose span tokens fit", "0.5", "15"],
                                           ["all texts", "0.5", "15"]]
    assert _table_after(out, "Texts whose facts fit") == [["ja", "1/1"]]
    shares = [float(cell.rstrip("%")) for cell in per_set[0][3:5] + per_set[0][6:8]
              + per_set[0][9:11]]
    assert all(0 <= share <= 100 for share in shares)
    assert all(abs(float(per_set[0][k]) - 0.5) < 0.1 for k in (5, 8))  # achieved rates
    retention = _table_after(out, "NQ dev answer retention")
    assert len(retention) == 1 and retention[0][1] == "1"
    assert all(0 <= float(cell) <= 1 for cell in retention[0][2:])
    timing = _table_after(out, "Compression time")
    assert len(timing) == 1 and timing[0][1] == "1" and float(timing[0][5]) > 0
    assert "llmlingua2\tja\trate 0.5\tprotect off" in err
