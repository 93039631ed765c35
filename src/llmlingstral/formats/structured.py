"""Structured prompts: contexts marked up with ``<llmlingua, ...>`` tags (see :mod:`..tags`).

Untagged text and tags without a rate are compressed at the global rate (with
``target_token``: target / context tokens); ``compress=False`` text is kept verbatim.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from ..budget import rate_for_target
from ..options import PromptOptions
from ..prompt import Segment, context_text
from ..tags import parse_tags
from ..validate import check_contexts
from .protocol import SegmentCompressor


def structured_compress_prompt(compressor: SegmentCompressor, context: str | Sequence[str],
                               instruction: str = "", question: str = "",
                               options: PromptOptions | None = None) -> dict[str, Any]:
    """Compress tagged contexts with ``compressor`` and ``options`` (default:
    ``compress_prompt``'s)."""
    options = PromptOptions() if options is None else options
    texts = check_contexts(context)
    parsed = [parse_tags(c, where=f"context[{i}]") or [Segment("")] for i, c in enumerate(texts)]
    default_rate = _global_rate(compressor, parsed, options.rate, options.target_token)
    contexts = [[s if s.rate is not None else replace(s, rate=default_rate) for s in segments]
                for segments in parsed]
    return compressor.compress_segments(contexts, instruction, question, options)


def _global_rate(compressor: SegmentCompressor, contexts: list[list[Segment]], rate: float,
                 target_token: float) -> float | None:
    """The keep rate of segments without their own: ``rate``, or target / context tokens."""
    if target_token == -1:
        return rate
    total = sum(compressor.tokenizer.count_batch([context_text(c) for c in contexts]))
    return rate_for_target(rate, target_token, total)
