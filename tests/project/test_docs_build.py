"""The documentation site builds in strict mode: the guides, and an API reference generated
from the docstrings that covers the public API and the command line.

A warning fails the build: a broken link, a docstring section the parser cannot read, or a
cross-reference role (``:func:`...```) that names nothing in the package, in any docstring.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import griffe
import pytest

import llmlingstral
import llmlingstral.integrations as integrations
import llmlingstral.serve as serve

# One worker runs this module, so that the site is built once under pytest -n.
pytestmark = pytest.mark.xdist_group("docs_build")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import cli_reference  # noqa: E402  (the build's extensions, beside mkdocs.yml)
import sphinx_roles  # noqa: E402

# Public names whose reference entry has another path than the package's attribute.
ENTRY_OF = {"llmlingstral.recover": "llmlingstral.recover.recover",
            "llmlingstral.serve.create_app": "llmlingstral.serve.app.create_app"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(site_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    warnings = [line for line in build.stderr.splitlines() if "WARNING" in line]
    assert build.returncode == 0 and not warnings, build.stderr[-6000:]
    return site_dir


def _anchors(site: Path) -> set[str]:
    return {anchor for page in (site / "reference").rglob("*.html")
            for anchor in re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8"))}


def _public_names() -> list[str]:
    names = [f"llmlingstral.{name}" for name in llmlingstral.__all__ if name != "__version__"]
    names += [f"llmlingstral.integrations.{name}" for name in integrations.__all__]
    names += [f"llmlingstral.serve.{name}" for name in serve.__all__]
    names += ["llmlingstral.integrations.langchain.LLMLingstralCompressor",
              "llmlingstral.integrations.llama_index.LLMLingstralPostprocessor",
              "llmlingstral.integrations.ray.compress_dataset"]
    return names


def test_the_reference_documents_every_public_name(site):
    anchors = _anchors(site)
    missing = [name for name in _public_names() if ENTRY_OF.get(name, name) not in anchors]
    assert not missing, f"add these to a page of docs/reference/: {missing}"


def test_the_reference_documents_the_compression_calls(site):
    anchors = _anchors(site)
    for method in ("compress_prompt", "compress_prompt_llmlingua2", "compress_prompts",
                   "structured_compress_prompt", "compress_json", "get_rank_results",
                   "recover", "get_token_length", "iterative_compress_prompt"):
        assert f"llmlingstral.PromptCompressor.{method}" in anchors, method


def test_the_command_line_page_lists_every_command_and_option(site):
    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    commands = dict(cli_reference.subcommands(cli_reference.script_parser()))
    assert {"compress", "compress-batch", "models", "serve"} <= set(commands)
    sections = dict(re.findall(r'id="command-([\w-]+)"(.*?)(?=id="command-|$)', page, re.S))
    for name, command in commands.items():
        assert name in sections, f"no section for {name}"
        in_code = {word for code in re.findall(r"<code>([^<]*)</code>", sections[name])
                   for word in re.split(r"[\s,]+", code)}
        missing = [option for action in command._actions for option in action.option_strings
                   if option not in in_code]
        assert not missing, f"{name}: {missing}"


def test_the_models_page_lists_every_preset(site):
    page = (site / "reference" / "models" / "index.html").read_text(encoding="utf-8")
    listed = re.findall(r"<tr>\s*<td><code>([^<]+)</code></td>", page)
    assert listed == list(llmlingstral.MISTRAL_MODELS)


def test_the_site_loads_nothing_from_the_network(site):
    remote = [(page.relative_to(site), url) for page in site.rglob("*.html")
              for url in re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="(https?:[^"]*)"',
                                    page.read_text(encoding="utf-8"))]
    assert not remote, remote


def test_a_role_resolves_as_sphinx_does_and_a_stale_one_is_a_warning(caplog):
    loader = griffe.GriffeLoader(search_paths=[str(ROOT / "src")])
    package = loader.load("llmlingstral")
    holder = package["compressor"]

    def markdown(role: str) -> str:
        return sphinx_roles._link(sphinx_roles.ROLE.search(role), holder, loader)

    # A name imported into the module resolves to where it is defined; ~ keeps the last part.
    assert 'identifier="llmlingstral.models.registry.MISTRAL_MODELS"' in markdown(
        ":data:`MISTRAL_MODELS`")
    assert "<code>Protection</code>" in markdown(":class:`~llmlingstral.text.protect.Protection`")
    assert markdown(":func:`json.loads`") == "`json.loads`"  # another package: code, no warning
    assert not caplog.records
    assert markdown(":func:`llmlingstral.compressor.no_such_function`") == (
        "`llmlingstral.compressor.no_such_function`")
    assert "names nothing in llmlingstral" in caplog.text
