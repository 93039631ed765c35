"""The frameworks are optional: only their own integration modules import them."""

from __future__ import annotations

import ast
import subprocess
import sys

FRAMEWORKS = ("langchain", "langchain_core", "langchain_classic", "langchain_community",
              "llama_index", "llmlingua")


def _imported_frameworks(statement: str) -> list[str]:
    probe = (f"{statement}\nimport sys\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FRAMEWORKS)!r}))")
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                            text=True).stdout
    return ast.literal_eval(output.strip().splitlines()[-1])


def test_the_package_imports_no_framework():
    assert _imported_frameworks("import llmlingstral, llmlingstral.integrations, "
                                "llmlingstral.integrations.documents") == []


def test_each_integration_imports_only_its_framework():
    langchain = _imported_frameworks("import llmlingstral.integrations.langchain")
    assert "langchain_core" in langchain and "llama_index" not in langchain
    llama_index = _imported_frameworks("import llmlingstral.integrations.llama_index")
    assert "llama_index" in llama_index and not any(m.startswith("langchain") for m in llama_index)
