"""Dense ranking with the Mistral API's embedding model (``mistral-embed``)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..api import MistralAPI
from ..validate import check_positive_int
from .base import ScoreRanker, score_non_blank

DEFAULT_EMBED_MODEL = "mistral-embed"


class MistralEmbedRanker(ScoreRanker):
    """Ranks documents by cosine similarity of Mistral API embeddings.

    The question and the non-blank documents are sent together, ``batch_size`` texts per
    request; blank documents are not sent and rank last. Retries and errors are those of
    :class:`~llmlingstral.api.MistralAPI`.
    """

    def __init__(self, api: MistralAPI, *, model: str = DEFAULT_EMBED_MODEL,
                 batch_size: int = 64) -> None:
        self.api = api
        self.model = model
        self.batch_size = check_positive_int("embed_batch_size", batch_size,
                                             "texts per request")

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Cosine similarity of each document to the question."""
        def similarity(real: list[int]) -> np.ndarray:
            # The API rejects empty inputs; a blank question still needs a vector.
            texts = [question if question.strip() else " ", *(documents[i] for i in real)]
            vectors = _normalise(self.api.embed(texts, model=self.model,
                                                batch_size=self.batch_size))
            return vectors[1:] @ vectors[0]

        return score_non_blank(documents, similarity)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
