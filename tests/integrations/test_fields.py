"""The settings the LangChain and LlamaIndex components share (integrations/fields.py):
bad budgets are refused as compress_prompt refuses them."""

from __future__ import annotations

import importlib

import pytest

WRONG_TYPES = ["0.5", None, True, [0.5]]
BAD_RATES = [float("nan"), float("inf"), 1.5, 0, -0.1]
BAD_TARGETS = [float("nan"), float("inf"), 0, -5]


COMPONENTS = {"langchain": ("langchain_core", "llmlingstral.integrations.langchain",
                            "LLMLingstralCompressor"),
              "llama_index": ("llama_index.core", "llmlingstral.integrations.llama_index",
                              "LLMLingstralPostprocessor")}


@pytest.mark.parametrize("framework", sorted(COMPONENTS))
@pytest.mark.parametrize("keyword, value, error", [
    *[("rate", v, TypeError) for v in WRONG_TYPES],
    *[("target_token", v, TypeError) for v in WRONG_TYPES[:3] + ["100"]],
    *[("rate", v, ValueError) for v in BAD_RATES],
    *[("target_token", v, ValueError) for v in BAD_TARGETS]])
def test_framework_components_refuse_like_compress_prompt(compressor, framework, keyword,
                                                         value, error):
    package, module, name = COMPONENTS[framework]
    pytest.importorskip(package)
    component = getattr(importlib.import_module(module), name)
    with pytest.raises(error, match=keyword) as raised:
        component(compressor=compressor, **{keyword: value})
    if error is TypeError:  # not the framework's own ValidationError (a ValueError)
        assert not isinstance(raised.value, ValueError)
