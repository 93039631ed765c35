"""The offline examples of docs/integrations.md, docs/protection.md and the README run as
written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- example: (\w+) -->\s*```python\n(.+?)\n```", re.S)


def _examples(kind: str) -> list:
    found = []
    for name in ("docs/integrations.md", "README.md", "docs/protection.md"):
        blocks = BLOCK.findall((ROOT / name).read_text())
        found += [pytest.param(code, id=f"{name}:{n}") for n, (label, code) in enumerate(blocks)
                  if label == kind]
    return found


def test_the_docs_have_offline_and_gpu_examples():
    assert len(_examples("nano")) >= 6 and len(_examples("gpu")) >= 2


@pytest.mark.parametrize("code", _examples("nano"))
def test_offline_example_runs(code, monkeypatch, capsys):
    # Run as a module of its own, as a script would be: pydantic resolves the annotations of
    # classes defined in the example through sys.modules.
    module = types.ModuleType("docs_example")
    monkeypatch.setitem(sys.modules, "docs_example", module)
    monkeypatch.delitem(sys.modules, "llmlingua", raising=False)
    try:
        exec(compile(code, "docs_example", "exec"), module.__dict__)
    finally:
        sys.modules.pop("llmlingua", None)
    assert capsys.readouterr().out.strip(), "the example printed nothing"


@pytest.mark.parametrize("code", _examples("gpu"))
def test_gpu_example_is_valid_python(code):
    compile(code, "docs_example", "exec")
