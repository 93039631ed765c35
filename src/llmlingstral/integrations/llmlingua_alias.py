"""Serve ``import llmlingua`` from llmlingstral, for code that imports llmlingua itself.

LangChain's ``LLMLinguaCompressor`` and LlamaIndex's ``LongLLMLinguaPostprocessor`` run
``from llmlingua import PromptCompressor`` when they are built, even when handed a ready
compressor. llmlingstral keeps llmlingua 0.2.2's API, so it can answer that import.
"""

from __future__ import annotations

import sys
from types import ModuleType

ALIAS = "llmlingua"


def register_as_llmlingua() -> ModuleType:
    """Make ``import llmlingua`` return :mod:`llmlingstral` in this process; returns it.

    Raises ValueError when another ``llmlingua`` module is already imported: objects built
    from it would mix with llmlingstral's.
    """
    import llmlingstral

    current = sys.modules.get(ALIAS)
    if current is not None and current is not llmlingstral:
        raise ValueError(f"a module named {ALIAS!r} is already imported "
                         f"({getattr(current, '__file__', current)!r}); call "
                         f"register_as_llmlingua() before anything imports llmlingua")
    sys.modules[ALIAS] = llmlingstral
    return llmlingstral
