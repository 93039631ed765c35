"""Score the next chunk of several local causal-LM streams in one forward pass.

Each :class:`SurprisalStream` keeps its own KV cache, of its own length, with its own
position ids. For one step their caches are stacked into a batch (each padded at its end),
the chunks (each stream's kept tokens still to compute, then its next window; see
:meth:`SurprisalStream.begin`) are appended after them, and a padding mask hides every
entry a row does not own: row ``i`` sees its cache and the tokens of its chunk up to
itself, exactly what it would see alone. The new keys and values of each row's real tokens
then go back to its own cache, so the streams stay independent between steps (each commits its own keep mask,
cuts its own cache back at the window).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .forward_inputs import padded_batch
from .stream import SurprisalStream


@torch.inference_mode()
def score_local_streams(parts: list[tuple[SurprisalStream, list[int]]]) -> list[np.ndarray]:
    """``stream.score(ids)`` for each part, the streams all of one
    :class:`.causal.CausalScorer`: one pass for all chunks, or each on its own where
    only one chunk has tokens or the model attends through a sliding window (whose mask
    counts cache slots, which padding would shift)."""
    if len(parts) == 1 or not _batchable(parts[0][0].scorer):
        return [stream.score(ids) for stream, ids in parts]
    chunks = [stream.begin(ids) for stream, ids in parts]
    results = [np.zeros(0, dtype=np.float32)] * len(parts)
    live = [i for i, ids in enumerate(chunks) if ids]
    if len(live) <= 1:
        return [stream.score_begun(fed) for (stream, _), fed in zip(parts, chunks)]
    streams = [parts[i][0] for i in live]
    logits = _forward(streams[0].scorer, streams, [chunks[i] for i in live])
    for i, stream, row_logits in zip(live, streams, logits):
        results[i] = stream.finish(chunks[i], row_logits)
    return results


def _batchable(scorer: Any) -> bool:
    config = scorer.model.config.get_text_config()
    return not getattr(config, "sliding_window", None)


def _forward(scorer: Any, streams: list[SurprisalStream],
             chunks: list[list[int]]) -> list[torch.Tensor]:
    """One decoder pass over every stream's chunk on its own cache; the logits of each
    chunk, and each chunk's keys and values appended to its stream's cache."""
    from transformers import DynamicCache

    device = scorer.device
    cached = [s.cache.get_seq_length() for s in streams]
    lengths = [len(c) for c in chunks]
    past = max(cached)
    ids, chunk_mask = padded_batch(chunks, scorer.tokenizer.pad_id)
    width = ids.shape[1]
    # Padding tokens continue the row's positions; no real token attends to them.
    positions = torch.stack([stream.next_positions(width) for stream in streams])
    cache_mask = torch.zeros((len(chunks), past), dtype=torch.long)
    for row, count in enumerate(cached):
        cache_mask[row, :count] = 1
    mask = torch.cat([cache_mask, chunk_mask], dim=1)
    batch_cache = DynamicCache(config=scorer.model.config)
    # A stream without BOS or prefix has nothing cached before its first chunk.
    for layer_index in range(len(streams[0].cache.layers) if past else 0):
        keys, values = _stacked(streams, layer_index, past)
        batch_cache.update(keys, values, layer_index)
    hidden = scorer.decoder(input_ids=ids.to(device), attention_mask=mask.to(device),
                            position_ids=positions.to(device), cache=batch_cache,
                            use_cache=True).last_hidden_state
    for row, stream in enumerate(streams):
        _append(stream, batch_cache, row, slice(past, past + lengths[row]))
    return [scorer.head(hidden[row, :lengths[row]]) for row in range(len(streams))]


def _stacked(streams: list[SurprisalStream], layer_index: int,
             length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's cached keys and values of every stream, each zero-padded to ``length``."""
    layers = [stream.cache.layers[layer_index] for stream in streams]
    first = next(layer for layer in layers if layer.keys is not None)
    batch, heads, _, dim = first.keys.shape
    keys = first.keys.new_zeros((len(streams), heads, length, dim))
    values = first.values.new_zeros((len(streams), heads, length, first.values.shape[-1]))
    for row, layer in enumerate(layers):
        if layer.keys is None:  # nothing cached yet
            continue
        count = layer.keys.shape[-2]
        keys[row, :, :count] = layer.keys[0]
        values[row, :, :count] = layer.values[0]
    return keys, values


def _append(stream: SurprisalStream, batch_cache, row: int, columns: slice) -> None:
    for layer, batch_layer in zip(stream.cache.layers, batch_cache.layers):
        keys = batch_layer.keys[row:row + 1, :, columns]
        values = batch_layer.values[row:row + 1, :, columns]
        if layer.keys is None:  # nothing cached before this chunk
            layer.lazy_initialization(keys, values)
        layer.keys = torch.cat([layer.keys, keys], dim=-2)
        layer.values = torch.cat([layer.values, values], dim=-2)
        if hasattr(layer, "cumulative_length"):
            layer.cumulative_length = layer.keys.shape[-2]
