"""Shared tensor plumbing for every model forward: padded batches and the attention window."""

from __future__ import annotations

from typing import Any, Sequence

import torch


def padded_batch(rows: Sequence[Sequence[int]], pad_id: int | None, *,
                 left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` for token rows of unequal length, on the CPU.

    Padding goes on the right, or with ``left`` on the left (so every row's last token is
    in the last column). A missing pad id pads with 0; the mask hides the padding.
    """
    pad = 0 if pad_id is None else pad_id
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[r, span] = torch.tensor(list(row), dtype=torch.long)
        mask[r, span] = 1
    return ids, mask


def attention_limit(config: Any, max_position: int, *, margin: int = 0) -> int:
    """Tokens a model may attend to at once: its position limit, clamped to its sliding
    window less ``margin`` (a scorer that caches keys keeps every cached token visible)."""
    limit = int(max_position)
    sliding = getattr(config, "sliding_window", None)
    if sliding:
        limit = min(limit, int(sliding) - margin)
    return limit
