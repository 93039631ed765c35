"""Per-token surprisal from a causal Mistral language model.

Two ways in:

* :meth:`CausalScorer.sequence_surprisal` scores whole, independent sequences in padded
  batches (document and sentence perplexities, question-given-document scores).
* :class:`SurprisalStream` scores a long text chunk by chunk on a KV cache that holds only
  the tokens kept so far, so each chunk is judged given the *compressed* prefix. Dropping a
  chunk's tokens edits the cache in place; nothing is recomputed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..models.loader import LoadedModel
from .batching import attention_limit, padded_batch

# Tokens per padded batch when scoring many independent sequences, and the share of a
# batch that may be padding.
_BATCH_TOKENS = 8192
_MAX_PADDING = 0.2
# Rows of hidden states turned into vocabulary logits at once (bounds logits memory).
_HEAD_ROWS = 1024


# Rotary embeddings whose angles are a fixed frequency times the position: rotating a cached
# key by -d moves it exactly d positions back.
_STATIC_ROPE = {"default", "linear", "llama3", "yarn"}


def _surprisal_from_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) for each row of logits; computed in fp32 for stability."""
    # cross_entropy fuses the log-softmax and the pick (about a third faster than
    # logsumexp minus gather on a CPU).
    return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")


def _static_inv_freq(decoder: torch.nn.Module, head_dim: int | None) -> torch.Tensor | None:
    """The rotary frequencies when keys can be moved by rotation alone, else None."""
    rotary = getattr(decoder, "rotary_emb", None)
    inv_freq = getattr(rotary, "inv_freq", None)
    if inv_freq is None or getattr(rotary, "rope_type", None) not in _STATIC_ROPE:
        return None
    return inv_freq if head_dim == 2 * inv_freq.numel() else None


def shift_rotary_keys(keys: torch.Tensor, shift: torch.Tensor,
                      inv_freq: torch.Tensor) -> torch.Tensor:
    """Keys ``[..., n, head_dim]`` rotated as if token ``i`` sat ``shift[i]`` positions earlier.

    RoPE rotates each pair of channels by position times a frequency, so a rotation by
    ``-shift`` turns a key cached at position ``p`` into the key at ``p - shift``.
    """
    return _rotate_back(keys, *_shift_rotation(shift, inv_freq, keys.device))


def _shift_rotation(shift: torch.Tensor, inv_freq: torch.Tensor,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the angle each channel pair turns through over ``shift`` positions."""
    angles = shift.to(device=device, dtype=torch.float32)[:, None] * inv_freq.float()[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def _rotate_back(keys: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    k = keys.float()
    half = k.shape[-1] // 2
    rotated_half = torch.cat([-k[..., half:], k[..., :half]], dim=-1)
    return (k * cos - rotated_half * sin).to(keys.dtype)


class CausalScorer:
    """Surprisal (negative log-probability, in nats) of tokens under a causal LM."""

    def __init__(self, loaded: LoadedModel, *, window: int | None = None) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        limit = attention_limit(self.model.config, loaded.max_position, margin=1)
        self.window = max(32, min(limit, window or limit))
        # The transformer stack without its vocabulary projection, and the projection itself.
        self.decoder = self.model.get_decoder()
        self.head = self.model.get_output_embeddings()
        config = self.model.config.get_text_config()
        head_dim = getattr(config, "head_dim", None) or \
            config.hidden_size // config.num_attention_heads
        self.rotary_inv_freq = _static_inv_freq(self.decoder, head_dim)

    @torch.inference_mode()
    def forward_logits(self, ids: Sequence[int]) -> torch.Tensor:
        """Logits of one plain forward pass (the speed floor benchmarks compare against)."""
        input_ids = torch.tensor([list(ids)], device=self.device)
        return self.model(input_ids=input_ids, use_cache=False).logits[0]

    @torch.inference_mode()
    def sequence_surprisal(self, sequences: Sequence[Sequence[int]],
                           tails: Sequence[int] | None = None) -> list[np.ndarray]:
        """Surprisal of the tokens of each sequence, in padded batches of similar length.

        A BOS is prepended to each sequence; sequences longer than the model window keep
        their last ``window - 1`` tokens. With ``tails``, only the last ``tails[i]`` tokens
        of sequence ``i`` are scored (the vocabulary projection, most of a small model's
        work, is skipped for the rest). Empty sequences give empty arrays.
        """
        trimmed = [list(s)[-(self.window - 1):] for s in sequences]
        wanted = [len(t) if tails is None else max(0, min(int(tails[i]), len(t)))
                  for i, t in enumerate(trimmed)]
        results: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(trimmed)
        order = sorted(range(len(trimmed)), key=lambda i: len(trimmed[i]))
        batch: list[int] = []
        for index in order:
            if batch and not _fits(batch + [index], trimmed):
                self._score_batch(batch, trimmed, wanted, results)
                batch = []
            batch.append(index)
        if batch:
            self._score_batch(batch, trimmed, wanted, results)
        return results

    def _score_batch(self, batch: list[int], trimmed: list[list[int]], wanted: list[int],
                     results: list[np.ndarray]) -> None:
        bos = self.tokenizer.bos_id
        rows = [[bos, *trimmed[i]] for i in batch]
        ids, mask = padded_batch(rows, self.tokenizer.pad_id)
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        # Position p predicts token p + 1: the scored tokens of row r are its last wanted[i].
        row_index, position = [], []
        for r, index in enumerate(batch):
            end = len(rows[r]) - 1
            row_index.extend([r] * wanted[index])
            position.extend(range(end - wanted[index], end))
        rows_t = torch.tensor(row_index, dtype=torch.long, device=self.device)
        pos_t = torch.tensor(position, dtype=torch.long, device=self.device)
        surprisal = self._head_surprisal(hidden[rows_t, pos_t], ids[rows_t, pos_t + 1])
        start = 0
        for index in batch:
            results[index] = surprisal[start:start + wanted[index]]
            start += wanted[index]

    def _head_surprisal(self, hidden: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        """Surprisal of ``targets`` from final hidden states, projected in bounded slices."""
        parts = [_surprisal_from_logits(self.head(hidden[i:i + _HEAD_ROWS]),
                                        targets[i:i + _HEAD_ROWS])
                 for i in range(0, len(hidden), _HEAD_ROWS)]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return torch.cat(parts).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def surprisal_with_cache(self, ids: Sequence[int], past: Any = None,
                             end: int | None = None) -> tuple[np.ndarray, Any]:
        """Surprisal of ``ids[p + 1:end]``, where ``p`` tokens are already in the KV cache
        ``past`` (None: none), and the cache extended to ``end``.

        ``ids`` is the whole sequence, its first token the context of the second (no BOS is
        added). ``end`` is capped at ``p`` plus the model window. This is llmlingua's
        ``get_ppl`` contract: the first new token, predicted from the cache, is not scored.
        """
        from transformers import DynamicCache

        ids = list(ids)
        cache = past if past is not None else DynamicCache(config=self.model.config)
        done = cache.get_seq_length()
        stop = min(len(ids) if end is None else int(end), done + self.window)
        if stop - done < 1:
            return np.zeros(0, dtype=np.float32), cache
        tensor = torch.tensor([ids[done:stop]], device=self.device)
        logits = self.model(input_ids=tensor, cache=cache, use_cache=True).logits[0]
        surprisal = _surprisal_from_logits(logits[:-1], tensor[0, 1:])
        return surprisal.cpu().numpy().astype(np.float32), cache

    def stream(self, prefix: Sequence[int] = ()) -> "SurprisalStream":
        """A fresh incremental scorer whose context starts with BOS + ``prefix``."""
        return SurprisalStream(self, list(prefix))


def _fits(batch: list[int], trimmed: list[list[int]]) -> bool:
    """Whether sequences (sorted by length) make a batch within the token and padding limits."""
    width = max(len(trimmed[i]) for i in batch) + 1
    real = sum(len(trimmed[i]) + 1 for i in batch)
    padded = width * len(batch)
    return padded <= _BATCH_TOKENS and padded - real <= _MAX_PADDING * padded


class SurprisalStream:
    """Incremental scoring of a text on a KV cache of the kept tokens.

    Call :meth:`score` with the next chunk of token ids, then :meth:`commit` with the keep
    decision for that chunk. Kept tokens keep their original position ids, so relative
    distances inside the cache match the text. When positions would pass the model window,
    the cache is cut back to the prefix and the most recent kept tokens, moved to the
    positions right after the prefix (by rotating their keys where the model's rotary
    embedding allows, else by recomputing them), so memory and positions stay bounded
    however long the text is.
    """

    def __init__(self, scorer: CausalScorer, prefix: list[int]) -> None:
        self.scorer = scorer
        self.model = scorer.model
        self.device = scorer.device
        # prefix, recent kept tokens and one chunk each take at most a quarter, a quarter
        # and half of the window. A long prefix keeps its head and tail.
        limit = scorer.window // 4 - 1
        self.prefix = prefix if len(prefix) <= limit else prefix[: limit // 2] + prefix[-(limit // 2):]
        self.kept: list[int] = []
        self._pending: tuple[list[int], torch.Tensor] | None = None
        self._restart([])

    # -- public ---------------------------------------------------------------------

    @property
    def chunk_limit(self) -> int:
        """The most tokens one :meth:`score` call takes."""
        return self.scorer.window // 2 - 1

    @torch.inference_mode()
    def score(self, ids: Sequence[int]) -> np.ndarray:
        """Surprisal of each token of ``ids`` given the kept context so far."""
        ids = self.begin(ids)
        if not ids:
            return np.zeros(0, dtype=np.float32)
        tensor = torch.tensor([ids], device=self.device)
        positions = self.next_positions(len(ids))
        logits = self.model(input_ids=tensor, position_ids=positions.to(self.device).unsqueeze(0),
                            cache=self.cache, use_cache=True).logits[0]
        return self.finish(ids, logits)

    def begin(self, ids: Sequence[int]) -> list[int]:
        """Check a chunk and make room for it in the window; the first half of :meth:`score`
        (a batched scorer runs the forward pass itself, see :mod:`.batched`)."""
        ids = list(ids)
        if self._pending is not None:
            raise RuntimeError("commit() the previous chunk before scoring the next one")
        chunk_limit = self.chunk_limit
        if len(ids) > chunk_limit:
            raise ValueError(f"chunks are limited to {chunk_limit} tokens for this model")
        if ids and self.position + len(ids) > self.scorer.window:
            self._rebuild()
        return ids

    def next_positions(self, count: int) -> torch.Tensor:
        """Position ids of the next ``count`` tokens (on the host, so no device sync)."""
        return torch.arange(self.position, self.position + count)

    def finish(self, ids: list[int], logits: torch.Tensor) -> np.ndarray:
        """Record a scored chunk whose keys and values are now in :attr:`cache`; its
        surprisal from the chunk's ``logits`` and the logits before it."""
        positions = self.next_positions(len(ids))
        targets = torch.tensor(ids, device=logits.device)
        self.cache_positions = torch.cat([self.cache_positions, positions])
        first = _surprisal_from_logits(self.next_logits.unsqueeze(0), targets[:1])
        rest = _surprisal_from_logits(logits[:-1], targets[1:])
        self._pending = (ids, logits)
        self.position += len(ids)
        return torch.cat([first, rest]).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def commit(self, keep: Sequence[bool] | np.ndarray) -> None:
        """Keep only the chosen tokens of the last scored chunk in the context."""
        if self._pending is None:
            raise RuntimeError("score() a chunk before committing it")
        ids, logits = self._pending
        self._pending = None
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(ids),):
            raise ValueError(f"keep mask has shape {keep.shape}, expected ({len(ids)},)")
        kept_index = np.flatnonzero(keep)
        if len(kept_index) < len(ids):
            self._drop_from_cache(len(ids), kept_index)
        if len(kept_index):
            self.next_logits = logits[int(kept_index[-1])]
            self.kept.extend(ids[i] for i in kept_index)

    # -- cache management -------------------------------------------------------------

    def _drop_from_cache(self, chunk_length: int, kept_index: np.ndarray) -> None:
        start = len(self.cache_positions) - chunk_length
        self._select_cache(torch.cat([torch.arange(start),
                                      torch.as_tensor(kept_index, dtype=torch.long) + start]))

    def _select_cache(self, index: torch.Tensor, shift: torch.Tensor | None = None) -> None:
        """Keep the cache entries at ``index``; rotate the keys of entries with a shift."""
        on_device = index.to(self.device)
        # The same rotation serves every layer; a zero shift leaves a key exactly as it was.
        rotation = None if shift is None else \
            _shift_rotation(shift, self.scorer.rotary_inv_freq, self.device)
        for layer in self.cache.layers:
            keys = layer.keys.index_select(-2, on_device)
            layer.keys = keys if rotation is None else _rotate_back(keys, *rotation)
            layer.values = layer.values.index_select(-2, on_device)
            if hasattr(layer, "cumulative_length"):
                layer.cumulative_length = layer.keys.shape[-2]
        self.cache_positions = self.cache_positions[index]

    def _restart(self, recent: list[int]) -> None:
        from transformers import DynamicCache

        self.cache = DynamicCache(config=self.model.config)
        context = [self.scorer.tokenizer.bos_id, *self.prefix, *recent]
        tensor = torch.tensor([context], device=self.device)
        # Only the last position's logits are needed: skip the vocabulary projection for the rest.
        hidden = self.scorer.decoder(input_ids=tensor, cache=self.cache,
                                     use_cache=True).last_hidden_state[0]
        self.next_logits = self.scorer.head(hidden[-1:])[0]
        self.position = len(context)
        self.cache_positions = torch.arange(len(context))

    def _rebuild(self) -> None:
        """Cut the cache back to the prefix and the most recent kept tokens."""
        room = max(0, self.scorer.window // 4 - 1)
        if self.scorer.rotary_inv_freq is None:
            self._restart(self.kept[-room:] if room else [])
            return
        # The cache holds BOS + prefix, then kept tokens only; the newest of those move
        # to the positions right after the prefix, keeping what they saw when computed.
        head = 1 + len(self.prefix)
        total = len(self.cache_positions)
        recent = min(room, total - head)
        index = torch.cat([torch.arange(head), torch.arange(total - recent, total)])
        shift = self.cache_positions[index] - torch.arange(head + recent)
        self._select_cache(index, shift)
        self.cache_positions = torch.arange(head + recent)
        self.position = head + recent


class ContrastiveStream:
    """LongLLMLingua's contrastive score: how much more likely a token is given the question.

    score = surprisal(token | kept text) - surprisal(token | question, kept text); tokens the
    question makes predictable score high and are kept.
    """

    def __init__(self, plain: SurprisalStream, conditioned: SurprisalStream) -> None:
        self.plain = plain
        self.conditioned = conditioned

    @property
    def chunk_limit(self) -> int:
        return min(self.plain.chunk_limit, self.conditioned.chunk_limit)

    def score(self, ids: Sequence[int]) -> np.ndarray:
        return self.plain.score(ids) - self.conditioned.score(ids)

    def commit(self, keep: Sequence[bool] | np.ndarray) -> None:
        self.plain.commit(keep)
        self.conditioned.commit(keep)
