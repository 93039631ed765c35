"""Tensor operations shared by the causal scorer and its streams: surprisal from logits,
and moving cached rotary keys to other positions."""

from __future__ import annotations

import torch

# Rotary embeddings whose angles are a fixed frequency times the position: rotating a cached
# key by -d moves it exactly d positions back.
_STATIC_ROPE = {"default", "linear", "llama3", "yarn"}


def surprisal_from_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) for each row of logits; computed in fp32 for stability."""
    # cross_entropy fuses the log-softmax and the pick (about a third faster than
    # logsumexp minus gather on a CPU).
    return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")


def static_inv_freq(decoder: torch.nn.Module, head_dim: int | None) -> torch.Tensor | None:
    """The rotary frequencies when keys can be moved by rotation alone, else None."""
    rotary = getattr(decoder, "rotary_emb", None)
    inv_freq = getattr(rotary, "inv_freq", None)
    if inv_freq is None or getattr(rotary, "rope_type", None) not in _STATIC_ROPE:
        return None
    return inv_freq if head_dim == 2 * inv_freq.numel() else None


def shift_rotation(shift: torch.Tensor, inv_freq: torch.Tensor,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the angle each channel pair turns through over ``shift`` positions.

    RoPE rotates each pair of channels by position times a frequency, so turning a key
    cached at position ``p`` back through these angles (:func:`rotate_back`) gives the key
    at ``p - shift``.
    """
    angles = shift.to(device=device, dtype=torch.float32)[:, None] * inv_freq.float()[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_back(keys: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Keys turned back through the angles of :func:`shift_rotation`."""
    k = keys.float()
    half = k.shape[-1] // 2
    rotated_half = torch.cat([-k[..., half:], k[..., :half]], dim=-1)
    return (k * cos - rotated_half * sin).to(keys.dtype)
