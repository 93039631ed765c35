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



def _positional(method: str, **values) -> list:
    """llmlingua's defaults for every parameter of ``method``, in order, with ``values``."""
    return [values.get(name, default) for name, default in SIGNATURES[method]]


def test_every_parameter_passed_by_position():
    from compat_prompts import DIALOGUE, DOCUMENTS, DOCUMENT_QUESTION, JSON_PROMPT
    from test_compat_document import JSON_CONFIG, JSON_DATA

    compressor = PromptCompressor(*_positional("__init__", model_name="nano", device_map="cpu"))
    prompt = compressor.compress_prompt(*_positional("compress_prompt", context=DOCUMENTS,
                                                     question=DOCUMENT_QUESTION, rate=0.6))
    assert prompt["compressed_prompt"].endswith(DOCUMENT_QUESTION)
    structured = compressor.structured_compress_prompt(
        *_positional("structured_compress_prompt", context=[JSON_PROMPT]))
    assert structured["compressed_prompt"].lstrip().startswith("{")
    data = compressor.compress_json(*_positional("compress_json", json_data=JSON_DATA,
                                                 json_config=JSON_CONFIG))
    assert isinstance(data["compressed_prompt"], dict)
    ranking = compressor.get_rank_results(DOCUMENTS, DOCUMENT_QUESTION, "longllmlingua", "after",
                                          [compressor.get_token_length(d) for d in DOCUMENTS])
    assert sorted(i for i, _ in ranking) == [0, 1, 2]
    assert compressor.recover(DOCUMENTS[0], prompt["compressed_prompt"], "festival") == "festival"
    lingua2 = PromptCompressor("nano-lingua2", "cpu", {}, {}, True, {"max_batch_size": 8})
    result = lingua2.compress_prompt_llmlingua2(*_positional("compress_prompt_llmlingua2",
                                                             context=DIALOGUE))
    assert result["compressed_prompt"] == "\n\n".join(result["compressed_prompt_list"])
