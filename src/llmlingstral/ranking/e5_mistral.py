"""Dense ranking with intfloat/e5-mistral-7b-instruct through sentence-transformers.

The question is embedded with an instruction (``Instruct: {task}\\nQuery: {question}``),
documents without one, both pooled on their last token (the EOS the model was trained to
summarise into) and L2-normalised; the score is the cosine similarity.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import LLMLingstralError, ModelUnavailableError
from ..models.registry import MISTRAL_MODELS
from .base import ScoreRanker, score_non_blank

DEFAULT_E5_MODEL = MISTRAL_MODELS["embedding"].source
DEFAULT_TASK = "Given a question, retrieve passages that answer the question"


def query_prompt(task: str) -> str:
    """The instruction prefix e5-mistral expects in front of a query."""
    return f"Instruct: {task}\nQuery: "


class E5MistralRanker(ScoreRanker):
    """Ranks documents by cosine similarity of e5-mistral embeddings.

    Args:
        model_name: a Hugging Face id or a local sentence-transformers folder.
        task: the one-sentence task description put in the query instruction.
        batch_size: texts per forward pass.
        max_length: longest input in tokens (longer texts keep their head).
        device: ``"cpu"``, ``"cuda"``...; None lets sentence-transformers choose.
        append_eos: add the EOS token to every text. None: only when the tokenizer does not
            already add it (last-token pooling must land on EOS, as in training).
    """

    def __init__(self, model_name: str | os.PathLike = DEFAULT_E5_MODEL, *,
                 task: str = DEFAULT_TASK, batch_size: int = 8, max_length: int = 4096,
                 device: str | None = None, append_eos: bool | None = None) -> None:
        if batch_size < 1 or max_length < 8:
            raise ValueError("batch_size must be >= 1 and max_length >= 8")
        self.model_name = os.fspath(model_name)
        self.task = task
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.append_eos = append_eos
        self._model: Any = None
        self._eos_suffix = ""

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Cosine similarity of each document to the question (-inf for blank documents)."""
        def similarity(real: list[int]) -> np.ndarray:
            query = self.embed([question], query=True)[0]
            return self.embed([documents[i] for i in real], query=False) @ query

        return score_non_blank(documents, similarity)

    def embed(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        """Normalised embeddings; queries get the instruction prefix."""
        model = self.model
        inputs = [t + self._eos_suffix for t in texts]
        prompt = query_prompt(self.task) if query else None
        vectors = model.encode(inputs, prompt=prompt, batch_size=self.batch_size,
                               normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    @property
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            self._model = _load(self.model_name, self.device)
            self._model.max_seq_length = self.max_length
            self._eos_suffix = self._needed_eos_suffix(self._model)
        return self._model

    def _needed_eos_suffix(self, model: Any) -> str:
        tokenizer = getattr(model, "tokenizer", None)
        eos = getattr(tokenizer, "eos_token", None)
        if self.append_eos is False or not eos:
            return ""
        if self.append_eos is None:
            probe = tokenizer("probe")["input_ids"]
            if probe and probe[-1] == tokenizer.eos_token_id:
                return ""  # the tokenizer adds EOS itself
        return eos


def _load(model_name: str, device: str | None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ImportError("rank_method='e5-mistral' needs sentence-transformers: "
                          "pip install 'llmlingstral[rankers]'") from error
    local = Path(model_name).expanduser()
    if local.exists() and not local.is_dir():
        raise LLMLingstralError(f"{local} is a file; pass a sentence-transformers model folder")
    try:
        return SentenceTransformer(str(local) if local.is_dir() else model_name, device=device)
    except (OSError, ValueError) as error:
        if local.is_dir():
            raise LLMLingstralError(f"{local} is not a loadable sentence-transformers or "
                                    f"transformers model folder: {error}") from error
        raise ModelUnavailableError(model_name, f"sentence-transformers could not load it: "
                                                f"{type(error).__name__}") from error
