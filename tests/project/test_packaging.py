"""Packaging conventions: version, licence, typing marker, dependencies, progress bars, and
embedded model folders that plain transformers can open."""

from __future__ import annotations

import importlib.metadata
import io
import sys
import tomllib
from pathlib import Path

import pytest

import llmlingstral
from llmlingstral import load_model, load_tokenizer
from llmlingstral.cli import main
from llmlingstral.progress import tqdm_disable, transformers_bars_hidden
from texts import stdlib_prose, tricky_strings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(llmlingstral.__file__).resolve().parent

MULTILINGUAL = [
    "The harbour festival starts at 7:40 pm on Friday, 12 July 2024.",
    "港口节将于七月十二日星期五晚上七点四十分开始，届时会有烟花表演。",
    "港の祭りは七月十二日の金曜日、午後七時四十分に始まります。",
    "เทศกาลท่าเรือจะเริ่มในวันศุกร์ที่สิบสองกรกฎาคมเวลาหนึ่งทุ่มสี่สิบนาที",
    "항구 축제는 7월 12일 금요일 오후 7시 40분에 시작됩니다.",
    "يبدأ مهرجان الميناء يوم الجمعة الثاني عشر من يوليو في السابعة وأربعين دقيقة مساءً.",
    "बंदरगाह उत्सव शुक्रवार, 12 जुलाई को शाम 7:40 बजे शुरू होगा।",
    "Фестиваль в гавани начнётся в пятницу, 12 июля, в 19:40.",
    "La fête du port commence vendredi 12 juillet à 19 h 40, près de l'hôtel.",
    "Das Hafenfest beginnt am Freitag, dem 12. Juli, um 19:40 Uhr an der Straße.",
]


def test_version_is_written_once_and_reported_by_the_cli(capsys):
    assert llmlingstral.__version__ == importlib.metadata.version("llmlingstral")
    written = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert written == llmlingstral.__version__
    assert written not in (PACKAGE / "__init__.py").read_text()
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"llmlingstral {llmlingstral.__version__}"


def test_licence_and_typing_marker_ship_with_the_package():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "llmlingstral contributors" in licence
    assert "LICENSE" in (importlib.metadata.metadata("llmlingstral").get_all("License-File") or [])
    assert (PACKAGE / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()


def test_bm25_is_installed_by_default():
    requirements = importlib.metadata.requires("llmlingstral") or []
    bm25 = [r for r in requirements if r.startswith("rank-bm25")]
    assert bm25 and all("extra ==" not in r for r in bm25)


@pytest.mark.parametrize("folder", ["nano", "nano-lingua2"])
def test_autotokenizer_opens_the_embedded_folders_with_our_ids(folder):
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(PACKAGE / "assets" / folder)
    ours = load_tokenizer("v3")
    samples = MULTILINGUAL + [t for t in tricky_strings() if "<" not in t and "[" not in t]
    for text in samples:
        ids = theirs(text)["input_ids"]
        assert ids == ours.encode(text, add_bos=True), text
        assert theirs.decode(ids, skip_special_tokens=True) == ours.decode(ids) == text


def test_embedded_models_still_tokenize_as_mistral_v3():
    v3 = load_tokenizer("v3")
    loaded = load_model("nano", device_map="cpu").tokenizer
    for text in MULTILINGUAL + tricky_strings():
        assert loaded.encode(text) == v3.encode(text), text


def test_tokenizer_files_stay_small():
    for folder in ("nano", "nano-lingua2"):
        assert (PACKAGE / "assets" / folder / "tokenizer.json").stat().st_size < 2_000_000


# ----------------------------------------------------------------------------- progress bars


def test_show_progress_means_on_a_terminal_only():
    assert tqdm_disable(False) is True
    assert tqdm_disable(True) is None and tqdm_disable(None) is None


def test_transformers_bars_come_back_after_nested_hiding():
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    with transformers_bars_hidden():
        with transformers_bars_hidden():
            assert not hf_logging.is_progress_bar_enabled()
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()


def test_loading_writes_no_progress_bar_when_stderr_is_not_a_terminal(capsys):
    load_model("nano", device_map="cpu")
    assert "Loading weights" not in capsys.readouterr().err


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def _cli_stderr(args: list[str], capsys, monkeypatch, terminal: bool) -> str:
    stream = _Terminal() if terminal else None
    if stream is not None:
        monkeypatch.setattr(sys, "stderr", stream)
    assert main(args) == 0
    return stream.getvalue() if stream is not None else capsys.readouterr().err


def test_cli_progress_bars_show_on_a_terminal_and_not_in_a_pipe(tmp_path, capsys, monkeypatch):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(stdlib_prose(800))
    args = ["compress", str(prompt), "--rate", "0.5", "--device", "cpu"]
    assert "Loading weights" in _cli_stderr(args, capsys, monkeypatch, terminal=True)
    assert "Loading weights" not in _cli_stderr(args, capsys, monkeypatch, terminal=False)


def test_quiet_hides_the_loading_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(stdlib_prose(800))
    args = ["compress", str(prompt), "--rate", "0.5", "--device", "cpu", "--quiet"]
    assert "Loading weights" not in _cli_stderr(args, capsys, monkeypatch, terminal=True)


def test_compression_bars_stay_off_a_stream_that_is_not_a_terminal(capsys):
    from llmlingstral import PromptCompressor
    from texts import stdlib_prose

    compressor = PromptCompressor("nano", device_map="cpu")
    text = stdlib_prose(3000)
    compressor.compress_prompt(text, rate=0.5, iterative_size=20, show_progress=True)
    compressor.compress_prompts([text[:400], text[400:800]], rate=0.5, show_progress=True)
    assert "compressing" not in capsys.readouterr().err
