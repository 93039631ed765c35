"""Every public method of llmlingua 0.2.2's PromptCompressor exists here with llmlingua's
parameter names in llmlingua's positional order and its defaults; whatever this package
adds comes after them and is keyword-only."""

from __future__ import annotations

import inspect

import pytest

from llmlingua_signatures import DELIBERATE_DEFAULTS, REQUIRED, SIGNATURES
from llmlingstral import PromptCompressor

POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _same_default(ours: object, theirs: object) -> bool:
    """Equal defaults; an empty mutable llmlingua default may be None or a tuple here."""
    if isinstance(theirs, dict) and not theirs:
        return ours is None or ours == {}
    if isinstance(theirs, list):
        return ours is None and not theirs or list(ours or ()) == theirs
    return ours == theirs and type(ours) is type(theirs) or \
        (isinstance(theirs, (int, float)) and not isinstance(theirs, bool) and ours == theirs)


@pytest.mark.parametrize("method", sorted(SIGNATURES))
def test_llmlingua_parameters_in_llmlingua_order(method):
    parameters = list(inspect.signature(getattr(PromptCompressor, method)).parameters.values())
    assert parameters[0].name == "self"
    positional = [p for p in parameters[1:] if p.kind in POSITIONAL]
    expected = SIGNATURES[method]
    assert [p.name for p in positional] == [name for name, _ in expected]
    extras = [p for p in parameters[1:] if p.kind not in POSITIONAL]
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in extras), extras


@pytest.mark.parametrize("method", sorted(SIGNATURES))
def test_llmlingua_defaults(method):
    parameters = inspect.signature(getattr(PromptCompressor, method)).parameters
    for name, theirs in SIGNATURES[method]:
        ours = parameters[name].default
        if theirs is REQUIRED or (method, name) in DELIBERATE_DEFAULTS:
            continue
        assert ours is not inspect.Parameter.empty, f"{method}({name}) needs llmlingua's default"
        assert _same_default(ours, theirs), (method, name, ours, theirs)

