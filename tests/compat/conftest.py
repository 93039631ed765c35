"""Compressors on the embedded models, shared by the compatibility tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def llm_lingua():
    from llmlingstral import PromptCompressor

    return PromptCompressor("nano", device_map="cpu")


@pytest.fixture(scope="session")
def llm_lingua2():
    from llmlingstral import PromptCompressor

    return PromptCompressor(model_name="nano-lingua2", device_map="cpu", use_llmlingua2=True)
