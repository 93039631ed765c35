"""Model presets and loaders."""

from .loader import LoadedModel, load_model, resolve_checkpoint
from .registry import MISTRAL_MODELS, ModelPreset

__all__ = ["LoadedModel", "MISTRAL_MODELS", "ModelPreset", "load_model", "resolve_checkpoint"]
