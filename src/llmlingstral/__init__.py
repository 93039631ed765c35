"""llmlingstral: prompt compression with the LLMLingua methods, on Mistral models.

Names are imported on first use (PEP 562), so ``import llmlingstral`` (and the command
line's ``--help`` and ``models``) stays light: torch loads only with a model.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _installed_version
from typing import TYPE_CHECKING, Any

# Eager and light: the submodule ``recover`` would otherwise shadow the function.
from .recover import recover

try:
    __version__ = _installed_version("llmlingstral")  # written once, in pyproject.toml
except _PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "0+unknown"

# Public name -> module (relative to this package) that defines it.
_LAZY = {
    "GuardedRequest": ".methods.security",
    "IntentExtraction": ".methods.security",
    "InvalidArgumentError": ".errors",
    "LLMLingstralError": ".errors",
    "MISTRAL_MODELS": ".models.registry",
    "MistralAPIError": ".api",
    "MistralTextTokenizer": ".tokenization",
    "ModelPreset": ".models.registry",
    "ModelUnavailableError": ".errors",
    "PromptCompressor": ".compressor",
    "Protection": ".text.protect",
    "RANK_METHODS": ".ranking.registry",
    "SecurityLingua": ".methods.security",
    "UnsupportedOptionError": ".errors",
    "load_model": ".models.loader",
    "load_tokenizer": ".tokenization",
}

__all__ = [*sorted(_LAZY), "recover", "__version__"]

if TYPE_CHECKING:
    from .api import MistralAPIError
    from .compressor import PromptCompressor
    from .errors import (InvalidArgumentError, LLMLingstralError, ModelUnavailableError,
                         UnsupportedOptionError)
    from .methods.security import GuardedRequest, IntentExtraction, SecurityLingua
    from .models.loader import load_model
    from .models.registry import MISTRAL_MODELS, ModelPreset
    from .ranking.registry import RANK_METHODS
    from .text.protect import Protection
    from .tokenization import MistralTextTokenizer, load_tokenizer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
