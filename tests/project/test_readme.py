"""The README's commands are the ones CI runs and the files they name exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```bash\n(.+?)\n```", text, re.S)
    assert match, "README.md must mark its test command with <!-- test-command -->"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert _readme_test_command() in script.splitlines()


def test_readme_example_prompt_exists():
    text = (ROOT / "README.md").read_text()
    for name in re.findall(r"compress (examples/\S+)", text):
        assert (ROOT / name).is_file(), name
