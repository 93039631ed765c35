"""Model presets: the Mistral models llmlingstral knows by short name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping

ModelKind = Literal["causal-lm", "token-classifier", "embedder", "api"]

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class ModelPreset:
    """A named model: where it comes from and what it is for.

    ``tokenizer`` names the bundled Mistral tokenizer of the model (``"v3"``, ``"tekken"``,
    ...): the loader uses it when a checkpoint folder has no tokenizer file of its own.
    ``serve_remotely``: the model needs a multi-GPU node, so the usual way to use it is to
    serve it (vLLM) and score through the server; its fetch command says so.
    """

    name: str
    source: str
    kind: ModelKind
    purpose: str
    tokenizer: str
    embedded: bool = False
    train_command: str | None = None
    serve_remotely: bool = False

    def __str__(self) -> str:
        """The model id: what to pass as ``model_name`` or to ``hf download``."""
        return self.source

    @property
    def local_path(self) -> Path | None:
        """The folder of an embedded model inside the package, else None."""
        return ASSETS_DIR / self.source if self.embedded else None

    @property
    def fetch_command(self) -> str:
        """How a user obtains the model."""
        if self.embedded:
            return "shipped inside the llmlingstral package"
        if self.kind == "api":
            return "set MISTRAL_API_KEY (Mistral API)"
        if self.train_command:
            return f"train it with `{self.train_command}` and pass the output folder"
        if self.serve_remotely:
            return (f"serve it on a multi-GPU node (`vllm serve {self.source}`) and score "
                    f"through the server, without the weights here: PromptCompressor("
                    f"{self.name!r}, model_config={{'remote_scorer': {{'base_url': "
                    f"'http://<host>:8000/v1', 'model': {self.source!r}}}}}) (see "
                    f"docs/remote-scoring.md); or `hf download {self.source}` and load it "
                    f"across GPUs with device_map='auto'")
        return f"hf download {self.source}"


_PRESETS = (
    ModelPreset("default", "mistralai/Mistral-7B-v0.3", "causal-lm",
                "LLMLingua / LongLLMLingua scorer (library default)", "v3"),
    ModelPreset("small", "mistralai/Ministral-3-3B-Instruct-2512", "causal-lm",
                "light scorer; base for LLMLingua-2 small and SecurityLingua", "tekken"),
    ModelPreset("medium", "mistralai/Ministral-3-8B-Instruct-2512", "causal-lm",
                "scorer for a standard 16-24 GB GPU", "tekken"),
    ModelPreset("large", "mistralai/Mistral-Large-3-675B-Instruct-2512", "causal-lm",
                "multi-GPU scorer, or served elsewhere", "tekken", serve_remotely=True),
    ModelPreset("quantized", "TheBloke/Mistral-7B-Instruct-v0.2-GPTQ", "causal-lm",
                "4-bit GPTQ scorer for GPUs under 8 GB (extra: llmlingstral[gptq])", "v3"),
    ModelPreset("embedding", "intfloat/e5-mistral-7b-instruct", "embedder",
                "dense ranking for LongLLMLingua (rank_method='e5-mistral')", "v1"),
    ModelPreset("mistral-embed", "mistral-embed", "api",
                "dense ranking through the Mistral API", "tekken"),
    ModelPreset("llmlingua2", "llmlingstral/llmlingua-2-mistral-7b", "token-classifier",
                "LLMLingua-2 classifier trained with this project's recipe on Mistral-7B", "v3",
                train_command="llmlingstral train-llmlingua2 --base default"),
    ModelPreset("llmlingua2-small", "llmlingstral/llmlingua-2-ministral-3-3b", "token-classifier",
                "LLMLingua-2 classifier trained with this project's recipe on Ministral-3-3B",
                "tekken", train_command="llmlingstral train-llmlingua2 --base small"),
    ModelPreset("securitylingua", "llmlingstral/securitylingua-ministral-3-3b", "token-classifier",
                "SecurityLingua jailbreak intent extractor on Ministral-3-3B", "tekken",
                train_command="llmlingstral train-securitylingua --base small"),
    ModelPreset("nano", "nano", "causal-lm",
                "embedded offline scorer (about 12M parameters, CPU)", "v3", embedded=True),
    ModelPreset("nano-lingua2", "nano-lingua2", "token-classifier",
                "embedded offline LLMLingua-2 classifier initialised from nano", "v3",
                embedded=True),
)

MISTRAL_MODELS: Mapping[str, ModelPreset] = MappingProxyType({p.name: p for p in _PRESETS})
"""Every preset by name. ``MISTRAL_MODELS["default"].source`` is the Hugging Face id."""
