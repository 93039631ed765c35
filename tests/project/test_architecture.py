"""The shape of the package: layers that only call downward, short functions, a light import,
and framework components that agree with the compression settings (the options of the
public signatures are walked in test_options.py)."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "src" / "llmlingstral"
PACKAGE = "llmlingstral"
LEAVES = {"llmlingstral.prompt": set(), "llmlingstral.budget": {"llmlingstral.errors"},
          "llmlingstral.errors": set(),
          "llmlingstral.tags": {"llmlingstral.prompt"},
          "llmlingstral.markers": {"llmlingstral.prompt"},
          "llmlingstral.validate": {"llmlingstral.prompt", "llmlingstral.errors"},
          "llmlingstral.credentials": set(), "llmlingstral.cancel": set(),
          "llmlingstral.retry": {"llmlingstral.validate", "llmlingstral.cancel"}}
# Packages that a package never imports: the command line and the service sit on top; the
# execution of many prompts sits above the layers that compress one prompt.
_FRONT_ENDS = ("llmlingstral.cli", "llmlingstral.serve", "llmlingstral.integrations")
_ABOVE_ONE_PROMPT = ("llmlingstral.execution", *_FRONT_ENDS)
NEVER_IMPORTS = {"llmlingstral.execution": _FRONT_ENDS,
                 **{f"llmlingstral.{package}": _ABOVE_ONE_PROMPT for package in
                    ("methods", "scoring", "ranking", "models", "formats", "text")}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}


def _resolve(current: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(name: str) -> set[str]:
    """Package modules ``name`` imports anywhere: top level, inside functions, under
    TYPE_CHECKING, and the lazy table of ``__init__``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in MODULES else base)
        elif isinstance(node, ast.Assign) and is_package and isinstance(node.value, ast.Dict):
            for value in node.value.values:  # the PEP 562 table: name -> ".module"
                if isinstance(value, ast.Constant) and isinstance(value.value, str) \
                        and value.value.startswith("."):
                    found.add(_resolve(name, True, 1, value.value[1:]))
    return {m for m in found if m in MODULES and m != name}


def test_no_import_cycles():
    graph = {name: imports_of(name) for name in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_leaf_modules_import_only_leaves():
    for leaf, allowed in LEAVES.items():
        assert imports_of(leaf) <= allowed, leaf


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_lower_layers_never_import_higher_packages():
    found = [f"{name} imports {imported}" for name in MODULES
             for package, higher in NEVER_IMPORTS.items() if _in_package(name, package)
             for imported in imports_of(name)
             if any(_in_package(imported, above) for above in higher)]
    assert not found, found


def test_formats_never_import_the_facade():
    for name in MODULES:
        if name.startswith("llmlingstral.formats"):
            assert "llmlingstral.compressor" not in imports_of(name), name


def test_no_function_over_sixty_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and node.end_lineno - node.lineno > 60:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno} lines")
    assert not long, long


def _class_names(node: ast.expr) -> list[str]:
    """The class names an ``isinstance`` second argument names (a name, attribute or tuple)."""
    if isinstance(node, ast.Tuple):
        return [name for item in node.elts for name in _class_names(item)]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return [node.id] if isinstance(node, ast.Name) else []


def test_scorer_and_stream_classes_are_tested_only_in_their_own_modules():
    """Callers use the scorer contract (``scoring.protocol``), never the concrete class."""
    owner = {node.name: name for name, path in MODULES.items()
             if name.startswith("llmlingstral.scoring")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.ClassDef)}
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" \
                    and len(node.args) == 2:
                found += [f"{name}:{node.lineno} isinstance(..., {cls})"
                          for cls in _class_names(node.args[1]) if owner.get(cls, name) != name]
    assert not found, found


# The attributes that say which model a compressor holds (a causal LM's scorer, a token
# classifier): asking whether one is set is asking the mode, which only its owner may do.
MODE_ATTRIBUTES = {"scorer", "classifier", "causal"}


def _mode_attribute(node: ast.AST) -> str | None:
    """The mode attribute ``node`` reads (``x.classifier``, ``not x.classifier``), if any."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    return node.attr if isinstance(node, ast.Attribute) and node.attr in MODE_ATTRIBUTES \
        else None


def _mode_switches(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, attribute)`` of each condition on a mode attribute: compared with None,
    an operand of ``and``/``or``, or the test of an ``if``, a conditional expression,
    a ``while`` or an ``assert``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(o, (ast.Is, ast.IsNot))
                                                 for o in node.ops):
            tested = [node.left, *node.comparators]
        elif isinstance(node, ast.BoolOp):
            tested = node.values
        elif isinstance(node, (ast.If, ast.IfExp, ast.While, ast.Assert)):
            tested = [node.test]
        else:
            continue
        found += [(node.lineno, a) for a in map(_mode_attribute, tested) if a]
    return found


def _owned_attributes(tree: ast.AST) -> set[str]:
    """The attributes a module's classes set on ``self`` or declare in their body."""
    owned = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and getattr(target.value, "id", None) == "self":
                owned.add(target.attr)
            elif isinstance(target, ast.Name) and isinstance(node, ast.AnnAssign):
                owned.add(target.id)
    return owned


def test_no_mode_switch_outside_the_module_that_owns_the_mode():
    """Code asks the method contract (``compressor.method``) or the service engine which
    methods it serves; only the module that holds a scorer or classifier asks if it is set."""
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        owned = _owned_attributes(tree)
        found += [f"{name}:{line} {attribute}" for line, attribute in _mode_switches(tree)
                  if attribute not in owned]
    assert not found, found


# ----------------------------------------------------------------------------- light import


def _run_without_torch(code: str) -> subprocess.CompletedProcess:
    check = f"{code}\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    return subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=120)


def test_import_does_not_load_torch():
    result = _run_without_torch("import llmlingstral\nassert llmlingstral.__version__")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["models", "--json"]])
def test_cli_help_and_models_do_not_load_torch(argv):
    code = ("import contextlib, io\nfrom llmlingstral.cli import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n"
            f"        code = main({argv!r})\n"
            "    except SystemExit as exit:\n"
            "        code = exit.code\n"
            "assert code == 0, code\nassert 'nano' in out.getvalue() or 'usage' in out.getvalue()")
    result = _run_without_torch(code)
    assert result.returncode == 0, result.stderr


def test_protection_is_public_and_loaded_on_first_use():
    result = _run_without_torch(
        "import sys, llmlingstral\n"
        "assert 'llmlingstral.text.protect' not in sys.modules\n"
        "from llmlingstral.text.protect import Protection\n"
        "assert llmlingstral.Protection is Protection and 'Protection' in llmlingstral.__all__")
    assert result.returncode == 0, result.stderr


def test_public_names_resolve_lazily():
    import llmlingstral

    for name in llmlingstral.__all__:
        assert getattr(llmlingstral, name) is not None
    assert callable(llmlingstral.recover)
    with pytest.raises(AttributeError):
        llmlingstral.no_such_name


# ----------------------------------------------------------------------------- components


# Fields a framework component has beyond the compression settings (how it loads its model
# and what it does with the result).
COMPONENT_FIELDS = {"compressor", "model_name", "device_map", "source_key", "score_mode"}


def _component_agrees(component) -> None:
    """``component``'s fields are CompressionSettings' fields (same names, same defaults),
    plus its own loading and result fields."""
    from llmlingstral.integrations.documents import CompressionSettings

    inherited = set().union(*(getattr(base, "model_fields", {}) for base in component.__mro__[1:]))
    declared = {name: info.get_default(call_default_factory=True)
                for name, info in component.model_fields.items()
                if name not in inherited | COMPONENT_FIELDS}
    settings = {f.name: f.default if f.default is not dataclasses.MISSING
                else f.default_factory() for f in dataclasses.fields(CompressionSettings)}
    assert set(declared) == set(settings), set(declared) ^ set(settings)
    for name, default in settings.items():
        assert declared[name] == default, name


@pytest.mark.parametrize("package, module, name", [
    ("langchain_core", "llmlingstral.integrations.langchain", "LLMLingstralCompressor"),
    ("llama_index.core", "llmlingstral.integrations.llama_index", "LLMLingstralPostprocessor")])
def test_framework_components_declare_the_compression_settings(package, module, name):
    import importlib

    pytest.importorskip(package)
    _component_agrees(getattr(importlib.import_module(module), name))


def test_a_component_disagreeing_with_the_settings_is_caught():
    pydantic = pytest.importorskip("pydantic")

    class Component(pydantic.BaseModel):
        method: str | None = None
        rate: float = 0.4  # CompressionSettings says 0.5
        target_token: float = -1
        rank_method: str | None = None
        order: str = "original"
        compress_kwargs: dict = pydantic.Field(default_factory=dict)

    with pytest.raises(AssertionError, match="rate"):
        _component_agrees(Component)

    class Missing(pydantic.BaseModel):
        rate: float = 0.5

    with pytest.raises(AssertionError):
        _component_agrees(Missing)
