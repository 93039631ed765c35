"""Model ids by preset name, as plain strings.

``MISTRAL_MODELS["default"]`` is ``"mistralai/Mistral-7B-v0.3"``: what to pass as
``model_name`` (or to ``hf download``). Embedded presets map to their name (``"nano"``),
which ``PromptCompressor`` resolves to the folder inside the package. The full presets,
with their purpose, tokenizer and how to obtain them, are
:data:`llmlingstral.models.registry.MISTRAL_MODELS`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from .models.registry import MISTRAL_MODELS as _PRESETS

MISTRAL_MODELS: Mapping[str, str] = MappingProxyType(
    {name: preset.source for name, preset in _PRESETS.items()})
"""Preset name -> model id string."""
