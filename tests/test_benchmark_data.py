"""The evaluation data the benchmark and training scripts read ships inside the repository."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
