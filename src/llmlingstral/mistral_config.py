"""The preset table under its earlier import path.

``MISTRAL_MODELS`` here is :data:`llmlingstral.models.registry.MISTRAL_MODELS` itself:
name -> :class:`~llmlingstral.models.registry.ModelPreset`. The model id string of a
preset is its ``source`` (``MISTRAL_MODELS["default"].source`` is
``"mistralai/Mistral-7B-v0.3"``), also given by ``str(preset)``.
"""

from __future__ import annotations

from .models.registry import MISTRAL_MODELS

__all__ = ["MISTRAL_MODELS"]
