"""Per-token surprisal from a causal Mistral language model.

Two ways in:

* :meth:`CausalScorer.sequence_surprisal` scores whole, independent sequences in padded
  batches (document and sentence perplexities, question-given-document scores).
* :meth:`CausalScorer.stream` scores a long text chunk by chunk given the tokens kept so
  far (:mod:`.stream`), so each chunk is judged given the *compressed* prefix.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..models.loader import LoadedModel
from ..validate import MIN_WINDOW, check_choice, check_window
from .forward_inputs import attention_limit, padded_batch
from .local_batch import score_local_streams
from .stream import CONDITIONING_MODES, SurprisalStream
from .tensor_ops import static_inv_freq, surprisal_from_logits

# Tokens per padded batch when scoring many independent sequences, and the share of a
# batch that may be padding.
_BATCH_TOKENS = 8192
_MAX_PADDING = 0.2
# Rows of hidden states turned into vocabulary logits at once (bounds logits memory).
_HEAD_ROWS = 1024


def _rotary_key_width(config) -> int | None:
    """The width of a cached key when all of it is rotary in the half-split layout (so it
    can be moved to another position by rotation alone), else None.

    Multi-head latent attention (DeepSeek-V3, Mistral Large 3, Mistral 4) caches keys with a
    position-free part beside an interleaved rotary one: such keys are recomputed instead.
    """
    if getattr(config, "qk_nope_head_dim", 0) or getattr(config, "rope_interleave", False):
        return None
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


class CausalScorer:
    """Surprisal (negative log-probability, in nats) of tokens under a causal LM."""

    def __init__(self, loaded: LoadedModel, *, window: int | None = None,
                 conditioning: str = "exact") -> None:
        self.conditioning = check_choice("conditioning", conditioning, CONDITIONING_MODES)
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        limit = attention_limit(self.model.config, loaded.max_position, margin=1)
        window = check_window("window", window)
        self.window = max(MIN_WINDOW, min(limit, window or limit))
        # The transformer stack without its vocabulary projection, and the projection itself.
        self.decoder = self.model.get_decoder()
        self.head = self.model.get_output_embeddings()
        key_width = _rotary_key_width(self.model.config.get_text_config())
        self.rotary_inv_freq = static_inv_freq(self.decoder, key_width)

    @property
    def dtype(self) -> str:
        """The dtype the model computes in (surprisals are fp32 whatever it is)."""
        return self.loaded.dtype

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
        parts = [surprisal_from_logits(self.head(hidden[i:i + _HEAD_ROWS]),
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
        surprisal = surprisal_from_logits(logits[:-1], tensor[0, 1:])
        return surprisal.cpu().numpy().astype(np.float32), cache

    def stream(self, prefix: Sequence[int] = (), *, bos: bool = True) -> SurprisalStream:
        """A fresh incremental scorer whose context starts with BOS (unless ``bos=False``)
        + ``prefix``, conditioned the scorer's way (``"exact"`` or ``"in_place"``, see
        :mod:`.stream`)."""
        return SurprisalStream(self, list(prefix), conditioning=self.conditioning, bos=bos)

    def score_streams(self, requests: Sequence[tuple[SurprisalStream, Sequence[int]]]
                      ) -> list[np.ndarray]:
        """The next chunk of several of its streams, in one forward pass where the model
        allows it (see :mod:`.local_batch`)."""
        return score_local_streams([(stream, list(ids)) for stream, ids in requests])


def _fits(batch: list[int], trimmed: list[list[int]]) -> bool:
    """Whether sequences (sorted by length) make a batch within the token and padding limits."""
    width = max(len(trimmed[i]) for i in batch) + 1
    real = sum(len(trimmed[i]) + 1 for i in batch)
    padded = width * len(batch)
    return padded <= _BATCH_TOKENS and padded - real <= _MAX_PADDING * padded
