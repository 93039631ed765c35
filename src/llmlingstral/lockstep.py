"""LLMLingua and LongLLMLingua over many prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .batch import Outcome, call_one, quiet

if TYPE_CHECKING:
    from tqdm import tqdm

    from .compressor import PromptCompressor


def compress_causal_requests(compressor: PromptCompressor,
                             requests: Sequence[Mapping[str, Any]], bar: tqdm) -> list[Outcome]:
    """``compress_prompt`` for each request, in order."""
    outcomes = []
    for request in requests:
        outcomes.append(call_one(compressor, quiet(request)))
        bar.update(1)
    return outcomes
