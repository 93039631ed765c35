"""The offline examples of docs/integrations.md, docs/protection.md and the README run as
written; the GPU examples, which cannot run here, call public names that exist, with
parameters their signatures accept, values their fields accept and presets that exist."""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import sys
import tokenize
import types
from pathlib import Path
from typing import Annotated, Any, Iterator

import pydantic
import pytest

from llmlingstral import MISTRAL_MODELS

ROOT = Path(__file__).resolve().parents[2]
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


COMPUTED = object()  # an argument the example computes (a variable): any value binds


@pytest.mark.parametrize("code", _examples("gpu"))
def test_gpu_example_calls_public_names_with_arguments_they_accept(code):
    tree = ast.parse(code)
    imported = _public_imports(tree)
    instances: dict[str, Any] = {}  # variable -> the llmlingstral class it holds
    checked = 0
    for call, assigned_to in _calls(tree, code, imported):
        target = _call_target(call, imported, instances)
        if target is None:
            continue
        _check_call(target, call)
        checked += 1
        if assigned_to is not None and inspect.isclass(target):
            instances[assigned_to] = target
    assert checked, "the example calls nothing from llmlingstral"


def _public_imports(tree: ast.Module) -> dict[str, Any]:
    """Local name -> object, for each name imported from llmlingstral. Each must be public:
    in its module's ``__all__`` or an entry of the API reference (docs/reference/)."""
    referenced = {line.removeprefix(":::").strip()
                  for page in (ROOT / "docs" / "reference").glob("*.md")
                  for line in page.read_text().splitlines() if line.startswith(":::")}
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "llmlingstral":
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert alias.name in getattr(module, "__all__", ()) \
                    or f"{node.module}.{alias.name}" in referenced, \
                    f"{node.module}.{alias.name} is neither in __all__ nor in docs/reference/"
                imported[alias.asname or alias.name] = getattr(module, alias.name)
    return imported


def _calls(tree: ast.Module, code: str, imported: dict[str, Any]
           ) -> Iterator[tuple[ast.Call, str | None]]:
    """The example's calls in order, with the variable each is assigned to, then the calls
    written in its comments ("# or: LLMLingstralCompressor(model_name=...)")."""
    assigned = {id(node.value): node.targets[0].id for node in ast.walk(tree)
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    for statement in tree.body:  # in order: a variable is assigned before its methods run
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                yield node, assigned.get(id(node))
    for comment in _comments(code):
        for name in imported:
            for match in re.finditer(rf"\b{name}\(", comment):
                yield ast.parse(_balanced_call(comment[match.start():]), mode="eval").body, None


def _comments(code: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return [token.string for token in tokens if token.type == tokenize.COMMENT]


def _balanced_call(text: str) -> str:
    depth = 0
    for end, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ")" and depth == 0:
            return text[:end + 1]
    raise AssertionError(f"unbalanced call in a comment: {text}")


def _call_target(call: ast.Call, imported: dict[str, Any], instances: dict[str, Any]) -> Any:
    """What the call calls, if it is an llmlingstral name or a method of an instance of one."""
    func = call.func
    if isinstance(func, ast.Name):
        return imported.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in instances:
        cls = instances[func.value.id]
        assert hasattr(cls, func.attr), f"{cls.__name__} has no method {func.attr}"
        return getattr(cls, func.attr)
    return None


def _check_call(target: Any, call: ast.Call) -> None:
    args = [_value(arg) for arg in call.args]
    assert all(keyword.arg for keyword in call.keywords), "spell the keywords out, no **"
    kwargs = {keyword.arg: _value(keyword.value) for keyword in call.keywords}
    if inspect.isfunction(target) and "." in target.__qualname__:
        args.insert(0, COMPUTED)  # a method called on an instance: self
    bound = inspect.signature(target).bind(*args, **kwargs)  # TypeError on a bad name
    model = bound.arguments.get("model_name")
    if isinstance(model, str) and "/" not in model:  # a preset, not a hub id
        assert model in MISTRAL_MODELS, f"no preset {model!r}"
    if inspect.isclass(target) and issubclass(target, pydantic.BaseModel):
        for name, value in kwargs.items():
            if value is not COMPUTED:
                field = target.model_fields[name]
                annotation = Annotated[(field.annotation, *field.metadata)] \
                    if field.metadata else field.annotation
                pydantic.TypeAdapter(annotation).validate_python(value)


def _value(node: ast.expr) -> Any:
    assert not isinstance(node, ast.Starred), "spell the arguments out"
    try:
        return ast.literal_eval(node)
    except ValueError:
        return COMPUTED
