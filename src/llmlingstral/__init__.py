"""llmlingstral: prompt compression with the LLMLingua methods, on Mistral models."""

from .api import MistralAPIError
from .compressor import PromptCompressor
from .errors import LLMLingstralError, ModelUnavailableError
from .methods.security import GuardedRequest, IntentExtraction, SecurityLingua
from .models.loader import load_model
from .models.registry import MISTRAL_MODELS, ModelPreset
from .ranking.registry import RANK_METHODS
from .recover import recover
from .tokenization import MistralTextTokenizer, load_tokenizer

__version__ = "0.1.0"

__all__ = [
    "GuardedRequest",
    "IntentExtraction",
    "LLMLingstralError",
    "MISTRAL_MODELS",
    "MistralAPIError",
    "MistralTextTokenizer",
    "ModelPreset",
    "ModelUnavailableError",
    "PromptCompressor",
    "RANK_METHODS",
    "SecurityLingua",
    "load_model",
    "load_tokenizer",
    "recover",
    "__version__",
]
