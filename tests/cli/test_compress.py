"""The ``llmlingstral`` command line: output, JSON report, protected text and exit codes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmlingstral import MISTRAL_MODELS, load_tokenizer
from llmlingstral.cli import main
from texts import EXAMPLE_PROMPT, documents, missing_facts, stdlib_prose

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def prompt_file(tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text(stdlib_prose(2500))
    return path


def _run(args, capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_compress_prints_compressed_text(prompt_file, v03_dir, capsys):
    code, out, _ = _run(["compress", prompt_file, "--model", v03_dir, "--rate", "0.4",
                         "--device", "cpu", "--quiet"], capsys)
    assert code == 0
    original = prompt_file.read_text().split()
    kept = out.split()
    assert 0 < len(kept) < len(original)
    it = iter(original)
    assert all(word in it for word in kept), "output words must be a subsequence of the input"


def test_compress_json_reports_counts_and_meets_target(prompt_file, v03_dir, capsys):
    code, out, _ = _run(["compress", prompt_file, "--model", v03_dir, "--target-token", "150",
                         "--json", "--device", "cpu"], capsys)
    assert code == 0
    report = json.loads(out)
    tokenizer = load_tokenizer("v3")
    assert report["compressed_tokens"] == tokenizer.count(report["compressed_prompt"])
    assert report["origin_tokens"] == tokenizer.count(prompt_file.read_text())
    assert abs(report["compressed_tokens"] - 150) <= 15
    assert report["method"] == "llmlingua" and report["ratio"] > 1


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_dtype_option_runs_the_model_in_that_dtype_and_reports_it(prompt_file, v03_dir, capsys,
                                                                  tmp_path, dtype):
    code, out, _ = _run(["compress", prompt_file, "--model", v03_dir, "--rate", "0.5", "--json",
                         "--device", "cpu", "--dtype", dtype, "--quiet"], capsys)
    assert code == 0 and json.loads(out)["dtype"] == dtype
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps({"id": 1, "context": prompt_file.read_text()}) + "\n")
    code, _, _ = _run(["compress-batch", records, tmp_path / "out.jsonl", "--model", v03_dir,
                       "--device", "cpu", "--dtype", dtype, "--quiet"], capsys)
    assert code == 0
    assert json.loads((tmp_path / "out.jsonl").read_text())["dtype"] == dtype


def test_a_wrong_dtype_is_refused_with_the_choices(prompt_file, capsys):
    with pytest.raises(SystemExit):
        main(["compress", str(prompt_file), "--dtype", "int8"])
    assert "auto, float32, bfloat16, float16" in capsys.readouterr().err.replace("'", "")


def test_force_token_survives_at_low_rate(tmp_path, v03_dir, capsys):
    first, second = documents(2, 1500)
    text = first + " The vault code is 7741-ALPHA-93. " + second
    path = tmp_path / "p.txt"
    path.write_text(text)
    code, out, _ = _run(["compress", path, "--model", v03_dir, "--rate", "0.2", "--device",
                         "cpu", "--force-token", "7741-ALPHA-93", "--force-token", "vault"],
                        capsys)
    assert code == 0
    assert "7741-ALPHA-93" in out and "vault" in out


def test_reads_stdin(v03_dir, capsys, monkeypatch):
    code, out, _ = _run(["compress", "--model", v03_dir, "--rate", "0.5", "--device", "cpu"],
                        capsys, stdin=stdlib_prose(600), monkeypatch=monkeypatch)
    assert code == 0 and out.strip()


def test_longllmlingua_needs_question(prompt_file, v03_dir, capsys):
    code, _, err = _run(["compress", prompt_file, "--model", v03_dir, "--method",
                         "longllmlingua"], capsys)
    assert code == 2 and "--question" in err


def test_longllmlingua_splits_documents_at_blank_lines(tmp_path, v03_dir, capsys):
    docs = documents(4, 400)
    path = tmp_path / "docs.txt"
    path.write_text("\n\n".join(docs))
    code, out, _ = _run(["compress", path, "--model", v03_dir, "--method", "longllmlingua",
                         "--question", "Which module parses dates?", "--rate", "0.5",
                         "--json", "--device", "cpu"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["compressed_tokens"] < report["origin_tokens"]
    assert "Which module parses dates?" in report["compressed_prompt"]


def test_longllmlingua_rank_method_picks_the_ranker(tmp_path, v03_dir, capsys):
    docs = documents(4, 400)
    path = tmp_path / "docs.txt"
    path.write_text("\n\n".join(docs))
    question = "Which module parses dates?"
    code, out, _ = _run(["compress", path, "--model", v03_dir, "--method", "longllmlingua",
                         "--rank-method", "bm25", "--question", question, "--rate", "0.3",
                         "--json", "--device", "cpu", "--quiet"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["compressed_tokens"] < report["origin_tokens"]
    code, _, err = _run(["compress", path, "--model", v03_dir, "--method", "longllmlingua",
                         "--rank-method", "no-such-ranker", "--question", question], capsys)
    assert code == 2 and "no-such-ranker" in err


@pytest.mark.parametrize("args, code, message", [
    (["compress", "no/such/file.txt"], 3, "not found"),
    (["compress", "{empty}"], 2, "empty"),
    (["compress", "{prompt}", "--model", "not a model"], 4, "preset"),
    (["compress", "{prompt}", "--model", "nope"], 4, "preset"),
    (["compress", "{prompt}", "--model", "/nonexistent/dir"], 4, "no such folder"),
])
def test_bad_input_exit_codes(args, code, message, prompt_file, tmp_path, v03_dir, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    args = [a.format(empty=empty, prompt=prompt_file) for a in args]
    if "--model" not in args:
        args += ["--model", str(v03_dir)]
    result, _, err = _run(args + ["--device", "cpu"], capsys)
    assert result == code
    assert message in err and "Traceback" not in err


def test_unavailable_model_exit_code(prompt_file, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _run(["compress", prompt_file, "--model", "someone/not-cached-model",
                         "--device", "cpu"], capsys)
    assert code == 4
    assert "someone/not-cached-model" in err and "hf download" in err


def test_models_lists_every_preset(capsys):
    code, out, _ = _run(["models", "--json"], capsys)
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == set(MISTRAL_MODELS)
    assert all(row["fetch"] for row in rows.values())


@pytest.mark.skipif(shutil.which("llmlingstral") is None and
                    not (Path(sys.executable).parent / "llmlingstral").exists(),
                    reason="console script not installed")
def test_console_script_models_table():
    script = shutil.which("llmlingstral") or str(Path(sys.executable).parent / "llmlingstral")
    done = subprocess.run([script, "models"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for name in MISTRAL_MODELS:
        assert name in done.stdout


# ----------------------------------------------------------------------------- stdin and pipes

NOT_UTF8 = "Der Bericht über das Hafenfest.\n".encode("latin-1") + b"\xff\xfe end"


def _stdin_bytes(monkeypatch, data: bytes) -> None:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stream)


def test_bytes_that_are_not_utf8_fail_alike_on_stdin_and_in_a_file(tmp_path, v03_dir, capsys,
                                                                    monkeypatch):
    path = tmp_path / "latin1.txt"
    path.write_bytes(NOT_UTF8)
    args = ["--model", str(v03_dir), "--device", "cpu", "--quiet"]
    from_file, _, file_err = _run(["compress", path, *args], capsys)
    _stdin_bytes(monkeypatch, NOT_UTF8)
    from_stdin, _, stdin_err = _run(["compress", *args], capsys)
    assert from_file == from_stdin == 3
    for err in (file_err, stdin_err):
        assert "not UTF-8 text" in err and "Traceback" not in err
    assert file_err.replace(str(path), "stdin") == stdin_err


def test_utf8_stdin_in_several_scripts_is_read_as_text(v03_dir, capsys, monkeypatch):
    text = ("港口节将于七月十二日开始。 Das Hafenfest beginnt am Freitag. "
            "Фестиваль начнётся в пятницу. ") * 20
    _stdin_bytes(monkeypatch, text.encode("utf-8"))
    code, out, _ = _run(["compress", "--model", v03_dir, "--rate", "0.9", "--device", "cpu",
                         "--quiet"], capsys)
    assert code == 0 and out.strip()


def test_closed_output_pipe_ends_quietly(prompt_file):
    """`llmlingstral compress big.txt | head -c 20`: the reader leaves before the output."""
    command = [sys.executable, "-m", "llmlingstral.cli", "compress", str(prompt_file),
               "--model", "nano", "--rate", "0.5", "--device", "cpu", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before anything is written
    _, err = process.communicate(timeout=600)
    err = err.decode("utf-8", "replace")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert process.returncode == 141


def test_longllmlingua_ranks_with_hybrid_unless_told_otherwise(tmp_path, v03_dir, capsys):
    from llmlingstral import PromptCompressor

    docs = [" ".join(d.split()) for d in documents(4, 400)]  # one paragraph each
    path = tmp_path / "docs.txt"
    path.write_text("\n\n".join(docs))
    question = "Which module parses dates?"
    base = ["compress", path, "--model", v03_dir, "--method", "longllmlingua", "--question",
            question, "--rate", "0.4", "--json", "--device", "cpu", "--quiet"]
    code, out, _ = _run(base, capsys)
    assert code == 0
    report = json.loads(out)
    assert report["rank_method"] == "hybrid"
    compressor = PromptCompressor(str(v03_dir), device_map="cpu")
    expected = compressor.compress_prompt(
        docs, question=question, rate=0.4, rank_method="hybrid",
        condition_in_question="after_condition", condition_compare=True,
        reorder_context="sort", dynamic_context_compression_ratio=0.3, context_budget="+100",
        show_progress=False)
    assert report["compressed_prompt"] == expected["compressed_prompt"]
    code, out, _ = _run(base + ["--rank-method", "longllmlingua"], capsys)
    assert code == 0 and json.loads(out)["rank_method"] == "longllmlingua"


# --------------------------------------------------------------------------- protection

EXAMPLE = EXAMPLE_PROMPT


@pytest.mark.parametrize("method", ["llmlingua", "llmlingua2"])
def test_the_readme_command_keeps_the_facts_by_default(method, capsys):
    code, out, _ = _run(["compress", EXAMPLE, "--rate", "0.5", "--method", method,
                         "--device", "cpu", "--quiet"], capsys)
    assert code == 0
    assert not missing_facts(out), missing_facts(out)


@pytest.mark.parametrize("method", ["llmlingua", "llmlingua2"])
@pytest.mark.parametrize("argv", [[], ["--no-protect"], ["--protect", "numbers,dates_times",
                                                         "--protect-pattern", r"Quay \w+"]])
def test_protect_options_mean_what_protect_means_in_python(method, argv, nano, nano_lingua2,
                                                           capsys):
    from llmlingstral.text.protect import Protection

    protect = {0: True, 1: False}.get(len(argv)) if len(argv) < 2 else \
        Protection(patterns=[r"Quay \w+"]).only("numbers", "dates_times")
    code, out, _ = _run(["compress", EXAMPLE, "--rate", "0.5", "--method", method, "--json",
                         "--device", "cpu", "--quiet", *argv], capsys)
    assert code == 0
    text = EXAMPLE.read_text(encoding="utf-8")
    if method == "llmlingua2":
        expected = nano_lingua2.compress_prompt_llmlingua2(text, rate=0.5, protect=protect)
    else:
        expected = nano.compress_prompt(text, rate=0.5, protect=protect, show_progress=False)
    assert json.loads(out)["compressed_prompt"] == expected["compressed_prompt"]


@pytest.mark.parametrize("argv, message", [
    (["--protect", "numbers,phone"], "'phone' is not a class of facts; the classes are code"),
    (["--protect-pattern", "ORD-("], "not a valid regular expression"),
    (["--protect", ""], "--protect needs a value"),
])
def test_bad_protect_options_name_the_mistake(argv, message, prompt_file, v03_dir, capsys):
    code, _, err = _run(["compress", prompt_file, "--model", v03_dir, "--device", "cpu",
                         *argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_help_names_the_classes_of_facts(capsys):
    from llmlingstral.text.protect import FACT_CLASSES

    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--no-protect" in out and "--protect-pattern" in out
    assert all(name in out for name in FACT_CLASSES)


@pytest.mark.parametrize("options, message", [
    (["--rate", "nan"], "rate"), (["--rate", "1.5"], "rate"), (["--rate", "0"], "rate"),
    (["--rate", "half"], "--rate"), (["--target-token", "0"], "target_token"),
    (["--target-token", "-5"], "target_token"), (["--target-token", "many"], "--target-token")])
def test_the_command_line_refuses_bad_budgets_with_exit_code_2(tmp_path, capsys, options,
                                                               message):
    from llmlingstral.cli import main

    source = tmp_path / "prompt.txt"
    source.write_text(documents(1)[0])
    try:
        code = main(["compress", str(source), "--model", "nano", "--device", "cpu", "--quiet",
                     *options])
    except SystemExit as exit:  # argparse refuses what is no number
        code = exit.code
    assert code == 2
    assert message in capsys.readouterr().err
