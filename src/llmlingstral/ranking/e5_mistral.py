"""Dense ranking with intfloat/e5-mistral-7b-instruct through sentence-transformers.

The question is embedded with an instruction (``Instruct: {task}\\nQuery: {question}``),
documents without one, both pooled on their last token (the EOS the model was trained to
summarise into) and L2-normalised; the score is the cosine similarity.

The model's files come through the library's one loader
(:func:`~llmlingstral.models.loader.resolve_checkpoint`): the local cache first, and a fast
:class:`~llmlingstral.errors.ModelUnavailableError` when the model is neither cached nor
downloadable; sentence-transformers only ever reads a local folder.

That pooling holds however the model is given: a sentence-transformers folder or hub model
configured for last-token pooling is used as it is; a plain transformers checkpoint (which
sentence-transformers would mean-pool) gets last-token pooling here; a configuration that
asks for another pooling is refused, since its scores would not be e5-mistral's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import LLMLingstralError
from ..models.loader import resolve_checkpoint
from ..models.registry import MISTRAL_MODELS
from ..progress import stderr_is_terminal, transformers_bars_hidden
from ..validate import check_positive_int
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
        if check_positive_int("max_length", max_length) < 8:
            raise ValueError(f"max_length must be >= 8, got {max_length!r}")
        self.model_name = os.fspath(model_name)
        self.task = task
        self.batch_size = check_positive_int("batch_size", batch_size, "texts per forward pass")
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
        """The sentence-transformers model, loaded on first use, pooled on the last token."""
        if self._model is None:
            folder = _model_folder(self.model_name)
            model = _load(folder, self.device)
            self._model = with_last_token_pooling(model, folder)
            self._model.default_prompt_name = None  # documents never get an instruction
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


def with_last_token_pooling(model: Any, folder: str | os.PathLike) -> Any:
    """``model`` (loaded from ``folder``) pooled on its last token, or a clear error when its
    configuration says otherwise.

    Without a sentence-transformers configuration (``modules.json``), sentence-transformers
    builds a mean-pooling head by default; that head is replaced.
    """
    from sentence_transformers.sentence_transformer.modules import Pooling

    keys = list(model._modules)
    poolings = [k for k in keys if isinstance(model._modules[k], Pooling)]
    modes = [model._modules[k].pooling_mode for k in poolings]
    if modes == ["lasttoken"]:
        return model
    if not (Path(folder) / "modules.json").is_file() and len(poolings) == 1:
        dimension = model._modules[poolings[0]].embedding_dimension
        model._modules[poolings[0]] = Pooling(dimension, pooling_mode="lasttoken")
        return model
    found = ", ".join(map(str, modes)) or "no pooling module"
    raise LLMLingstralError(
        f"{folder} is configured with {found} pooling, but e5-mistral embeddings are the "
        f"last token's hidden state (pooling_mode='lasttoken'). Use "
        f"{DEFAULT_E5_MODEL} as published, a sentence-transformers folder saved with "
        f"last-token pooling, or a plain transformers checkpoint folder")


def _model_folder(model_name: str) -> Path:
    """The local folder of ``model_name`` (a folder, a preset or a cached hub id)."""
    local = Path(model_name).expanduser()
    if local.exists() and not local.is_dir():
        raise LLMLingstralError(f"{local} is a file; pass a sentence-transformers model folder")
    if local.is_dir():  # a sentence-transformers folder may keep config.json in a subfolder
        return local
    return resolve_checkpoint(model_name, purpose="embedding")[0]


def _load(folder: Path, device: str | None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ImportError("rank_method='e5-mistral' needs sentence-transformers: "
                          "pip install 'llmlingstral[rankers]'") from error
    try:
        with transformers_bars_hidden(not stderr_is_terminal()):
            return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except (OSError, ValueError) as error:
        raise LLMLingstralError(f"{folder} is not a loadable sentence-transformers or "
                                f"transformers model folder: {error}") from error
