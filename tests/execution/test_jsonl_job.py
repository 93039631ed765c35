"""``llmlingstral compress-batch``: streaming, resumable JSONL compression."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmlingstral.cli import main
from texts import EXAMPLE_PROMPT, documents, missing_facts, stdlib_prose

SCRIPTS = ["東京の会議は午前十時に始まり、議題は予算と新しい研究所の建設計画でした。",
           "Le comité a voté le budget de 12,5 millions d'euros pour l'hôpital de Lyon.",
           "北京的天气预报说明天有雨，气温在十二度到十八度之间，请大家带好雨伞。"]


def _records(count: int) -> list[dict]:
    docs = documents(count, chars=350)
    records = []
    for i, doc in enumerate(docs):
        record = {"id": f"doc-{i}", "context": doc + " " + SCRIPTS[i % 3]}
        if i % 4 == 1:
            record["rate"] = 0.3
        if i % 4 == 2:
            record["question"] = "What does it return?"
        records.append(record)
    return records


def _write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                            + "\n" for r in records), encoding="utf-8")
    return path


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _batch(tmp_path, records, capsys, *extra, name="out.jsonl"):
    source = _write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / name
    code = main(["compress-batch", str(source), str(out), "--quiet", "--device", "cpu",
                 *map(str, extra)])
    return code, out, capsys.readouterr().err


def test_each_record_gets_what_compress_gives(tmp_path, v03_dir, capsys):
    records = _records(5)
    code, out, err = _batch(tmp_path, records, capsys, "--model", v03_dir, "--batch-size", 2)
    assert code == 0 and "5 records compressed" in err
    results = _read_jsonl(out)
    assert [r["id"] for r in results] == [r["id"] for r in records]
    for record, result in zip(records, results):
        prompt = tmp_path / "one.txt"
        prompt.write_text(record["context"], encoding="utf-8")
        args = ["compress", prompt, "--model", v03_dir, "--device", "cpu", "--json", "--quiet",
                "--rate", record.get("rate", 0.5), "--question", record.get("question", "")]
        assert main([str(a) for a in args]) == 0
        expected = json.loads(capsys.readouterr().out)
        assert result["compressed_prompt"] == expected["compressed_prompt"]
        assert result["compressed_tokens"] == expected["compressed_tokens"]


def test_llmlingua2_records_and_ids_from_line_numbers(tmp_path, capsys):
    records = [{"context": SCRIPTS[0]}, {"context": [SCRIPTS[1], SCRIPTS[2]], "rate": 0.6},
               {"context": stdlib_prose(900)[:900], "options": {"force_tokens": ["."]}}]
    code, out, _ = _batch(tmp_path, records, capsys, "--method", "llmlingua2")
    assert code == 0
    results = _read_jsonl(out)
    assert [r["id"] for r in results] == [1, 2, 3]
    assert len(results[1]["compressed_prompt_list"]) == 2
    prompt = tmp_path / "one.txt"
    prompt.write_text(records[2]["context"], encoding="utf-8")
    assert main(["compress", str(prompt), "--method", "llmlingua2", "--force-token", ".",
                 "--json", "--device", "cpu"]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert results[2]["compressed_prompt"] == expected["compressed_prompt"]


def test_bad_records_are_reported_and_skipped(tmp_path, v03_dir, capsys):
    good = _records(3)
    records = [good[0], "{not json", "[1, 2]", {"id": "no-context"}, good[1],
               {"id": "bad-rate", "context": "some text to compress", "rate": 3},
               {"id": "doc-0", "context": "a duplicate id"}, {"id": [1], "context": "x"},
               {"id": "extra", "context": "x", "colour": "blue"}, "", good[2]]
    code, out, err = _batch(tmp_path, records, capsys, "--model", v03_dir)
    assert code == 0
    assert [r["id"] for r in _read_jsonl(out)] == ["doc-0", "doc-1", "doc-2"]
    errors = sorted(_read_jsonl(tmp_path / "out.errors.jsonl"), key=lambda e: e["line"])
    assert [e["line"] for e in errors] == [2, 3, 4, 6, 7, 8, 9]
    assert [e["id"] for e in errors] == [None, None, "no-context", "bad-rate", "doc-0", [1],
                                         "extra"]
    messages = " | ".join(e["error"] for e in errors)
    for expected in ("not valid JSON", "JSON object", "no 'context'", "rate", "duplicate id",
                     "'id' must be", "unknown keys ['colour']"):
        assert expected in messages
    assert err.count("skipped the record") == 7 and "7 skipped as bad" in err
    # A rerun finds everything done and reports nothing again.
    code, _, err = _batch(tmp_path, records, capsys, "--model", v03_dir)
    assert code == 0 and "0 records compressed, 0 skipped" in err
    assert len(_read_jsonl(tmp_path / "out.errors.jsonl")) == 7


def test_interrupted_run_resumes_without_loss_or_repeat(tmp_path, v03_dir, capsys, monkeypatch):
    import llmlingstral.execution.batch

    records = _records(7)
    code, reference, _ = _batch(tmp_path, records, capsys, "--model", v03_dir,
                                name="reference.jsonl")
    real = llmlingstral.execution.batch.compress_requests
    calls = []

    def interrupted_on_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(llmlingstral.execution.batch, "compress_requests",
                        interrupted_on_third_batch)
    code, out, _ = _batch(tmp_path, records, capsys, "--model", v03_dir, "--batch-size", 2)
    assert code == 130
    assert [r["id"] for r in _read_jsonl(out)] == ["doc-0", "doc-1", "doc-2", "doc-3"]
    with out.open("a", encoding="utf-8") as handle:  # a line cut short by the interruption
        handle.write('{"id": "doc-4", "compressed_pro')
    monkeypatch.setattr(llmlingstral.execution.batch, "compress_requests", real)
    code, out, err = _batch(tmp_path, records, capsys, "--model", v03_dir, "--batch-size", 2)
    assert code == 0 and "3 records compressed" in err and "4 done in an earlier run" in err
    assert _read_jsonl(out) == _read_jsonl(reference)


def test_killed_process_resumes(tmp_path, v03_dir):
    records = _records(24)
    source = _write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "llmlingstral.cli", "compress-batch", str(source), str(out),
               "--model", str(v03_dir), "--device", "cpu", "--batch-size", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.is_file() and out.read_text(encoding="utf-8").count("\n") >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(out.read_text(encoding="utf-8").splitlines())
    assert 2 <= done_before < len(records)
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    ids = [r["id"] for r in _read_jsonl(out)]
    assert sorted(ids) == sorted(r["id"] for r in records) and len(set(ids)) == len(ids)


def test_missing_input_and_bad_batch_size(tmp_path, capsys):
    assert main(["compress-batch", str(tmp_path / "nope.jsonl"), str(tmp_path / "o.jsonl")]) == 3
    source = _write_jsonl(tmp_path / "in.jsonl", [{"context": "x"}])
    assert main(["compress-batch", str(source), str(tmp_path / "o.jsonl"),
                 "--batch-size", "0"]) == 2
    assert "--batch-size" in capsys.readouterr().err


# --------------------------------------------------------------------------- protection

EXAMPLE = EXAMPLE_PROMPT


@pytest.mark.parametrize("method", ["llmlingua", "llmlingua2"])
def test_records_keep_the_facts_by_default(method, tmp_path, capsys):
    records = [{"id": "example", "context": EXAMPLE.read_text(encoding="utf-8")}]
    code, out, _ = _batch(tmp_path, records, capsys, "--method", method)
    assert code == 0
    compressed = _read_jsonl(out)[0]["compressed_prompt"]
    assert not missing_facts(compressed), missing_facts(compressed)


def test_protect_of_records_and_of_the_command_mean_what_protect_means(tmp_path, nano_lingua2,
                                                                       capsys):
    from llmlingstral.text.protect import Protection

    text = EXAMPLE.read_text(encoding="utf-8")
    cases = {"default": (None, True), "off": (False, False),
             "classes": (["numbers"], Protection().only("numbers")),
             "object": ({"classes": [], "force_tokens": ["lantern"], "patterns": [r"Quay \w+"]},
                        Protection.off(force_tokens=["lantern"], patterns=[r"Quay \w+"])),
             "in options": ("options", False)}
    records = []
    for name, (spec, _) in cases.items():
        record = {"id": name, "context": text}
        if spec == "options":
            record["options"] = {"protect": False}
        elif spec is not None:
            record["protect"] = spec
        records.append(record)
    code, out, _ = _batch(tmp_path, records, capsys, "--method", "llmlingua2",
                          "--protect", "numbers,dates_times", "--protect-pattern", "Kestrel")
    assert code == 0
    command = Protection(patterns=["Kestrel"]).only("numbers", "dates_times")
    for result in _read_jsonl(out):
        protect = cases[result["id"]][1]
        protect = command if result["id"] == "default" else protect
        expected = nano_lingua2.compress_prompt(text, rate=0.5, use_context_level_filter=False,
                                                protect=protect)
        assert result["compressed_prompt"] == expected["compressed_prompt"], result["id"]


def test_a_bad_protect_in_a_record_is_reported_and_skipped(tmp_path, capsys):
    records = [{"id": "typo", "context": "The bus leaves at 11:40.", "protect": ["number"]},
               {"id": "word", "context": "The bus leaves at 11:40.", "protect": "yes"},
               {"id": "good", "context": "The bus leaves at 11:40.", "protect": True}]
    code, out, err = _batch(tmp_path, records, capsys, "--method", "llmlingua2")
    assert code == 0 and [r["id"] for r in _read_jsonl(out)] == ["good"]
    assert "'number' is not a class of facts; the classes are" in err
    assert "'protect' must be true, false, a list of classes" in err


def test_a_bad_protect_option_stops_the_command_before_any_record(tmp_path, capsys):
    code, out, err = _batch(tmp_path, [{"context": "text"}], capsys, "--method", "llmlingua2",
                            "--protect", "numbers,dates")
    assert code == 2 and "'dates' is not a class of facts" in err
    assert not out.exists()


def test_the_job_runs_from_python_under_its_documented_import_paths(tmp_path, nano_lingua2):
    """README: ``run_jsonl_job(compressor, source, output, errors, BatchSettings(...),
    split)``, from ``llmlingstral.execution.jsonl_job`` and from its earlier path
    ``llmlingstral.jsonl_job``."""
    import llmlingstral.execution.jsonl_job as job
    import llmlingstral.jsonl_job as earlier
    from llmlingstral.cli.inputs import split_documents

    assert (earlier.run_jsonl_job, earlier.BatchSettings) == (job.run_jsonl_job, job.BatchSettings)
    records = [{"id": i, "context": text} for i, text in enumerate(SCRIPTS)]
    source = _write_jsonl(tmp_path / "in.jsonl", records)
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    report = earlier.run_jsonl_job(nano_lingua2, source, out, errors,
                                   earlier.BatchSettings(method="llmlingua2", quiet=True),
                                   split_documents)
    assert (report.written, report.skipped) == (len(SCRIPTS), 0)
    for record, result in zip(records, _read_jsonl(out)):
        expected = nano_lingua2.compress_prompt_llmlingua2(record["context"], rate=0.5)
        assert result["compressed_prompt"] == expected["compressed_prompt"], record["id"]
