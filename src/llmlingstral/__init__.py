"""llmlingstral: prompt compression with the LLMLingua methods, on Mistral models."""

from .compressor import PromptCompressor
from .errors import LLMLingstralError, ModelUnavailableError
from .models.loader import load_model
from .models.registry import MISTRAL_MODELS, ModelPreset
from .tokenization import MistralTextTokenizer, load_tokenizer

__version__ = "0.1.0"

__all__ = [
    "LLMLingstralError",
    "MISTRAL_MODELS",
    "MistralTextTokenizer",
    "ModelPreset",
    "ModelUnavailableError",
    "PromptCompressor",
    "load_model",
    "load_tokenizer",
    "__version__",
]
