"""Each option is declared once, in :mod:`llmlingstral.options`: its name, default and check.

The llmlingua-shaped signatures read every option's default from its options class and
hand every option parameter to it; an options object checks each field when it is built.
These tests walk the classes and the public signatures to keep it so.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from pathlib import Path

import pytest

from llmlingstral import PromptCompressor
from llmlingstral.errors import InvalidArgumentError
from llmlingstral.options import (COARSE_FILTER_RANK_METHOD, CoarseToFineOptions, CommonOptions,
                                  ContextOptions, ForceOptions, JsonOptions, LLMLingua2Options,
                                  LLMLinguaOptions, PromptOptions)
from llmlingstral.text.protect import Protection

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "src" / "llmlingstral"
SEGMENTS = {"context_segs", "context_segs_rate", "context_segs_compress"}
PROMPT = {"self", "context", "instruction", "question"} | SEGMENTS
# (adapter, its options class, its parameters that are the prompt or the call itself,
# options it leaves to the library although it takes no **kwargs).
ADAPTERS = {
    "compress_prompt": (PromptOptions, PROMPT, set()),
    "structured_compress_prompt": (PromptOptions, PROMPT, set()),
    "compress_prompt_llmlingua2": (LLMLingua2Options, PROMPT,
                                   {"concate_question", "with_instruction_and_question"}),
    "compress_json": (JsonOptions, {"self", "json_data", "json_config", "instruction",
                                    "question"}, set()),
    # llmlingua's lower-level filters take the options of their step only.
    "control_context_budget": (LLMLinguaOptions, PROMPT | {"context_tokens_length",
                                                           "target_token"}, None),
    "control_sentence_budget": (LLMLinguaOptions, PROMPT | {"target_token"}, None),
    "iterative_compress_prompt": (LLMLinguaOptions, {"self", "context", "target_token",
                                                     "split_token_id", "start", "dynamic_ratio",
                                                     "segments_info"}, None),
}
# Defaults llmlingua gives these adapters, unlike compress_prompt (named in options.py).
OWN_DEFAULTS = {("control_context_budget", "rank_method"): COARSE_FILTER_RANK_METHOD,
                ("control_sentence_budget", "rank_method"): COARSE_FILTER_RANK_METHOD}
OPTION_CLASSES = [CommonOptions, ForceOptions, ContextOptions, CoarseToFineOptions,
                  LLMLinguaOptions, LLMLingua2Options, PromptOptions, JsonOptions]


def _option_parameters(name: str) -> dict[str, inspect.Parameter]:
    _, prompt, _ = ADAPTERS[name]
    parameters = inspect.signature(getattr(PromptCompressor, name)).parameters
    return {n: p for n, p in parameters.items()
            if n not in prompt and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _function_node(name: str) -> ast.FunctionDef:
    source = textwrap.dedent(inspect.getsource(getattr(PromptCompressor, name)))
    return ast.parse(source).body[0]


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_option_parameter_reads_its_default_from_its_field(name):
    cls, _, _ = ADAPTERS[name]
    function = getattr(PromptCompressor, name)
    arguments = _function_node(name).args
    defaults = dict(zip([a.arg for a in arguments.args][::-1], arguments.defaults[::-1]))
    defaults.update({a.arg: d for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults)})
    for parameter, value in _option_parameters(name).items():
        assert parameter in cls.names(), f"{name}({parameter}) is no field of {cls.__name__}"
        node = defaults[parameter]
        if (name, parameter) in OWN_DEFAULTS:
            assert value.default == OWN_DEFAULTS[name, parameter]
            assert isinstance(node, ast.Name), f"{name}({parameter}) repeats a literal"
            continue
        # Written as `_P.rate`: an attribute of the options class, the field's own name.
        assert isinstance(node, ast.Attribute) and node.attr == parameter, \
            f"{name}({parameter}) declares its default again instead of reading the field"
        assert function.__globals__[node.value.id] is cls, (name, parameter)
        assert value.default is getattr(cls, parameter)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_option_parameter_is_handed_to_the_options_object(name):
    cls, _, _ = ADAPTERS[name]
    calls = [node for node in ast.walk(_function_node(name))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id == cls.__name__]
    assert len(calls) == 1, f"{name} builds one {cls.__name__}"
    handed = {k.arg: k.value for k in calls[0].keywords if k.arg}
    for parameter in _option_parameters(name):
        value = handed.get(parameter)
        # condition_compare may be normalised on the way (bool(...)); the name must reach it.
        names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} if value else set()
        assert parameter in names, f"{name} does not hand {parameter} to {cls.__name__}"


@pytest.mark.parametrize("name", [n for n, (_, _, left) in ADAPTERS.items() if left is not None])
def test_every_option_is_reachable_from_its_signature(name):
    """A field is a parameter, or reachable through **kwargs, or set by the library."""
    cls, _, left_to_library = ADAPTERS[name]
    parameters = inspect.signature(getattr(PromptCompressor, name)).parameters
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return
    missing = cls.names() - set(parameters)
    assert missing == left_to_library, missing ^ left_to_library


def test_no_adapter_passes_locals():
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "locals", path


def _own_fields(cls: type) -> dict[str, dataclasses.Field]:
    own = cls.__dict__.get("__annotations__", {})
    return {f.name: f for f in dataclasses.fields(cls) if f.name in own}


def test_each_option_is_declared_once():
    """A name declared by two classes is two options with different defaults (llmlingua's
    LLMLingua and LLMLingua-2 differ there); one shared option lives in one group."""
    seen: dict[str, tuple[type, object]] = {}
    for cls in OPTION_CLASSES:
        for name, field in _own_fields(cls).items():
            if name in seen:
                other, default = seen[name]
                assert field.default != default, \
                    f"{name} is declared by {other.__name__} and {cls.__name__} alike"
            seen[name] = (cls, field.default)
    assert not _own_fields(PromptOptions), "PromptOptions only joins the methods' options"


def test_compress_prompt_takes_llmlinguas_declaration_where_both_methods_name_an_option():
    assert PromptOptions().use_context_level_filter is LLMLinguaOptions.use_context_level_filter
    assert PromptOptions().rank_method == "llmlingua"
    assert LLMLingua2Options().use_context_level_filter is False
    assert LLMLingua2Options().rank_method is None


# ----------------------------------------------------------------------------- checks

NAN, INF = float("nan"), float("inf")
# Values each option refuses when an options object is built: (value, exception).
BAD = {
    "rate": [("0.5", TypeError), (None, TypeError), (True, TypeError), (NAN, ValueError),
             (1.5, ValueError), (0, ValueError)],
    "target_token": [("100", TypeError), (0, ValueError), (INF, ValueError), (-5, ValueError)],
    "condition_in_question": [(1, TypeError), ("sideways", ValueError)],
    "protect": [("yes", TypeError)],
    "force_tokens": [("the", TypeError), ([1], TypeError)],
    "force_reserve_digit": [("no", TypeError)],
    "iterative_size": [(0, ValueError), (2.5, TypeError)],
    "keep_first_sentence": [(-1, ValueError), (1.5, TypeError)],
    "keep_last_sentence": [(-1, ValueError)],
    "keep_sentence_number": [(-2, ValueError)],
    "high_priority_bonus": [(NAN, ValueError), (-1, ValueError)],
    "token_budget_ratio": [(INF, ValueError), ("1.4", TypeError)],
    "force_context_number": [(-1, ValueError), (1.5, TypeError)],
    "reorder_context": [("random", ValueError), (None, TypeError)],
    "dynamic_context_compression_ratio": [(1.5, ValueError), (NAN, ValueError)],
    "budget_placement": [("best", ValueError)],
    "sentence_strings": [("glued", ValueError)],
    "token_level_bos": [("no", TypeError)],
    "target_context": [(0, ValueError), (1.5, TypeError)],
    "context_level_rate": [(0, ValueError), (2, ValueError)],
    "context_level_target_token": [(0, ValueError), (NAN, ValueError)],
    "word_sep": [(1, TypeError)],
    "label_sep": [(b" ", TypeError)],
    "token_to_word": [("max", ValueError)],
    "chunk_end_tokens": [(".", TypeError)],
    "keep_threshold": [(1.5, ValueError), ("high", TypeError)],
    "reorder_keyvalue": [("random", ValueError)],
}
# Options every value of which means something (flags read as true or false), the
# ranking method (resolved against the rankers when a call ranks), context ids (checked
# against the contexts when a call has them) and the budget expression (parsed when the
# context filter runs, see budget.apply_context_budget).
UNCHECKED = {"use_token_level_filter", "use_sentence_level_filter", "use_context_level_filter",
             "keep_split", "condition_compare", "add_instruction", "concate_question",
             "strict_preserve_uncompressed", "show_progress", "return_word_label",
             "drop_consecutive", "with_instruction_and_question", "use_keyvalue_level_filter",
             "rank_method", "force_context_ids", "context_budget"}


def test_every_option_is_checked_or_named_as_free():
    every = set().union(*(cls.names() for cls in OPTION_CLASSES))
    assert every == set(BAD) | UNCHECKED, every ^ (set(BAD) | UNCHECKED)


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_check_runs_when_the_options_are_built(name):
    for cls in OPTION_CLASSES:
        if name not in cls.names():
            continue
        for value, error in BAD[name]:
            with pytest.raises(error, match=name):
                cls(**{name: value})


def test_options_are_frozen_keyword_only_and_normalised():
    options = PromptOptions(force_tokens=("a", "", "b"), chunk_end_tokens=[".", ""])
    assert options.force_tokens == ["a", "b"] and options.chunk_end_tokens == ["."]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.rate = 0.3
    with pytest.raises(TypeError):
        LLMLinguaOptions(0.3)
    assert options.protection.force_tokens[-2:] == ("a", "b")
    assert JsonOptions(protect=False).protection == Protection.off()


def test_a_rate_and_a_batch_size_are_checked_in_one_place():
    """``rate`` is checked by the options classes (and batch sizes by validate.py): no
    module repeats the check inline."""
    rate_checks, inline = [], []
    for path in PACKAGE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check_rate" \
                    and node.args and getattr(node.args[0], "value", None) == "rate":
                rate_checks.append(path.name)
            if isinstance(node, ast.Compare) and "batch_size" in ast.unparse(node.left):
                inline.append(f"{path.name}: {ast.unparse(node)}")
    assert rate_checks == ["options.py"], rate_checks
    assert not inline, inline


@pytest.mark.parametrize("method", ["llmlingua", "llmlingua2"])
@pytest.mark.parametrize("call", ["compress_prompt", "structured_compress_prompt",
                                  "compress_json"])
def test_unknown_keywords_are_a_type_error_naming_them(compressor, nano_lingua2, method, call):
    target = compressor if method == "llmlingua" else nano_lingua2
    arguments = ({"a": "text"},) if call == "compress_json" else (["text"],)
    for name in ("no_such_option", "ratio", "condition_in_questoin"):  # the last misspelt
        with pytest.raises(TypeError, match=name):
            getattr(target, call)(*arguments, **{name: 0.55})


def test_the_service_refuses_a_bad_budget_with_the_options_check():
    from llmlingstral.serve.jobs import _check_budget

    with pytest.raises(InvalidArgumentError, match="rate must be in"):
        _check_budget({"rate": 1.5})
    with pytest.raises(TypeError, match="target_token"):
        _check_budget({"target_token": "10"})
    _check_budget({"rate": 0.5, "target_token": 100})
