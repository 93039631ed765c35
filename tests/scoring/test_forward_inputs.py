"""Padding and attention limits for the batched forward passes (scoring/forward_inputs.py)."""

from __future__ import annotations

import torch

from llmlingstral.scoring.forward_inputs import attention_limit, padded_batch


def test_padded_batch_right_and_left():
    ids, mask = padded_batch([[5, 6, 7], [8]], pad_id=None)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = padded_batch([[5, 6, 7], [8]], pad_id=2, left=True)
    assert ids.tolist() == [[5, 6, 7], [2, 2, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == torch.long


def test_attention_limit_clamps_to_the_sliding_window():
    class Config:
        sliding_window = 4096

    assert attention_limit(Config(), 32768) == 4096
    assert attention_limit(Config(), 32768, margin=1) == 4095
    assert attention_limit(object(), 2048) == 2048
