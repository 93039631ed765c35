"""Incremental scoring of a long text on a KV cache of the tokens kept so far.

LLMLingua's fine pass scores a window, keeps some of its tokens, and scores the next window
given what was kept. Two ways to carry the kept tokens forward:

* ``"exact"`` (the default): the cache holds only keys and values computed from the
  compressed text. A window's kept tokens are computed again at the start of the next
  window's forward pass, at consecutive positions after the kept prefix, so every window
  is scored exactly as a fresh encoding of the compressed prefix would score it (as
  llmlingua does by re-encoding the kept tokens).
* ``"in_place"``: dropped tokens' entries are deleted from the cache and nothing is
  computed again. Faster, but the kept tokens keep keys and values computed while the
  dropped words were present, and their original positions.

The context starts with BOS, as Mistral models are trained to read text; ``bos=False``
starts it with the prefix (or the text itself) as llmlingua's token-level pass does, and
then the first token of a text with nothing before it has no surprisal (NaN).

Past the model window, the context is cut back to the prefix and the most recent kept
tokens (computed again in exact mode; moved by rotating their keys where the rotary
embedding allows in in-place mode).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..validate import check_choice
from .tensor_ops import rotate_back, shift_rotation, surprisal_from_logits

CONDITIONING_MODES = ("exact", "in_place")


class SurprisalStream:
    """Surprisal of each chunk of a text given BOS (unless ``bos=False``), a prefix and the
    tokens kept so far.

    Call :meth:`score` with the next chunk of token ids, then :meth:`commit` with the keep
    decision for that chunk. A batch driver may split :meth:`score` into :meth:`begin`, its
    own forward pass over the returned ids, and :meth:`finish` (see :mod:`.local_batch`).
    """

    def __init__(self, scorer: Any, prefix: list[int], *, conditioning: str = "exact",
                 bos: bool = True) -> None:
        check_choice("conditioning", conditioning, CONDITIONING_MODES)
        self.scorer = scorer
        self.bos_ids = [scorer.tokenizer.bos_id] if bos else []
        self.model = scorer.model
        self.device = scorer.device
        self.exact = conditioning == "exact"
        # prefix, recent kept tokens and one chunk each take at most a quarter, a quarter
        # and half of the window. A long prefix keeps its head and tail.
        limit = scorer.window // 4 - 1
        self.prefix = prefix if len(prefix) <= limit else prefix[: limit // 2] + prefix[-(limit // 2):]
        # Kept tokens in the current context, and (exact mode) those at its end whose keys
        # and values are not computed yet: the last committed chunk's.
        self.context: list[int] = []
        self.unsettled: list[int] = []
        self._scored: tuple[list[int], Any, int] | None = None
        self._settling = 0
        self._restart([])

    # -- public ---------------------------------------------------------------------

    @property
    def chunk_limit(self) -> int:
        """The most tokens one :meth:`score` call takes."""
        return self.scorer.window // 2 - 1

    @property
    def batch_scorer(self) -> Any:
        """Its scorer, which scores several streams' chunks in one pass."""
        return self.scorer

    def batch_parts(self) -> list[tuple["SurprisalStream", float]]:
        return [(self, 1.0)]

    @torch.inference_mode()
    def score(self, ids: Sequence[int]) -> np.ndarray:
        """Surprisal of each token of ``ids`` given the kept context so far."""
        return self.score_begun(self.begin(ids))

    @torch.inference_mode()
    def score_begun(self, fed: list[int]) -> np.ndarray:
        """Run the forward pass over the ids :meth:`begin` returned, and :meth:`finish`."""
        if not fed:
            return np.zeros(0, dtype=np.float32)
        tensor = torch.tensor([fed], device=self.device)
        positions = self.next_positions(len(fed)).to(self.device).unsqueeze(0)
        logits = self.model(input_ids=tensor, position_ids=positions, cache=self.cache,
                            use_cache=True).logits[0]
        return self.finish(fed, logits)

    def begin(self, ids: Sequence[int]) -> list[int]:
        """Check a chunk and make room for it; the ids to feed the model next: the
        unsettled kept tokens, then the chunk (none for an empty chunk)."""
        ids = list(ids)
        if self._scored is not None:
            raise RuntimeError("commit() the previous chunk before scoring the next one")
        if len(ids) > self.chunk_limit:
            raise ValueError(f"chunks are limited to {self.chunk_limit} tokens for this model")
        if not ids:
            self._scored = ([], None, 0)  # nothing to compute; commit() has nothing to do
            return []
        if self.position + len(self.unsettled) + len(ids) > self.scorer.window:
            self._cut_back()
        self._settling = len(self.unsettled)
        return self.unsettled + ids

    def next_positions(self, count: int) -> torch.Tensor:
        """Position ids of the next ``count`` fed tokens (on the host, so no device sync)."""
        return torch.arange(self.position, self.position + count)

    def finish(self, fed: list[int], logits: torch.Tensor) -> np.ndarray:
        """Record a forward pass whose keys and values are now in ``self.cache``; the
        surprisal of the chunk's tokens from the pass's ``logits``."""
        settling = self._settling
        ids = fed[settling:]
        targets = torch.tensor(ids, device=logits.device)
        before_first = logits[settling - 1] if settling else self.next_logits
        if before_first is None:  # nothing before the first token: no BOS, no prefix, no text
            first = torch.full((1,), float("nan"), device=logits.device)
        else:
            first = surprisal_from_logits(before_first.unsqueeze(0), targets[:1])
        rest = surprisal_from_logits(logits[settling:-1], targets[1:])
        self.cache_positions = torch.cat([self.cache_positions, self.next_positions(len(fed))])
        self.position += len(fed)
        self._scored = (ids, logits, settling)
        return torch.cat([first, rest]).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def commit(self, keep: Sequence[bool] | np.ndarray) -> None:
        """Keep only the chosen tokens of the last scored chunk in the context."""
        if self._scored is None:
            raise RuntimeError("score() a chunk before committing it")
        ids, logits, settling = self._scored
        self._scored = None
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(ids),):
            raise ValueError(f"keep mask has shape {keep.shape}, expected ({len(ids)},)")
        if not ids:
            return
        kept_index = np.flatnonzero(keep)
        kept = [ids[i] for i in kept_index]
        self.context.extend(kept)
        if self.exact:
            self._settle(len(ids), logits, settling, kept)
        else:
            self._drop_in_place(len(ids), logits, kept_index)

    # -- cache management -------------------------------------------------------------

    def _settle(self, chunk_length: int, logits: torch.Tensor, settling: int,
                kept: list[int]) -> None:
        """Exact mode: the chunk's entries saw the dropped tokens, so none stay; the tokens
        settled by this pass do, and the chunk's kept tokens wait for the next pass."""
        self._select_cache(torch.arange(len(self.cache_positions) - chunk_length))
        self.position -= chunk_length
        if settling:
            self.next_logits = logits[settling - 1]
        self.unsettled = kept

    def _drop_in_place(self, chunk_length: int, logits: torch.Tensor,
                       kept_index: np.ndarray) -> None:
        """In-place mode: delete the dropped tokens' entries; the kept ones stay as computed."""
        if len(kept_index) < chunk_length:
            start = len(self.cache_positions) - chunk_length
            self._select_cache(torch.cat([torch.arange(start),
                                          torch.as_tensor(kept_index, dtype=torch.long) + start]))
        if len(kept_index):
            self.next_logits = logits[int(kept_index[-1])]

    def _select_cache(self, index: torch.Tensor, shift: torch.Tensor | None = None) -> None:
        """Keep the cache entries at ``index``; rotate the keys of entries with a shift."""
        on_device = index.to(self.device)
        # The same rotation serves every layer; a zero shift leaves a key exactly as it was.
        rotation = None if shift is None else \
            shift_rotation(shift, self.scorer.rotary_inv_freq, self.device)
        for layer in self.cache.layers:
            keys = layer.keys.index_select(-2, on_device)
            layer.keys = keys if rotation is None else rotate_back(keys, *rotation)
            layer.values = layer.values.index_select(-2, on_device)
            if hasattr(layer, "cumulative_length"):
                layer.cumulative_length = layer.keys.shape[-2]
        self.cache_positions = self.cache_positions[index]

    def _restart(self, recent: list[int]) -> None:
        """A fresh cache of BOS + prefix + ``recent`` kept tokens, at consecutive positions."""
        from transformers import DynamicCache

        self.cache = DynamicCache(config=self.model.config)
        context = [*self.bos_ids, *self.prefix, *recent]
        self.next_logits = None
        if context:
            tensor = torch.tensor([context], device=self.device)
            # Only the last position's logits are needed: skip the vocabulary projection
            # for the rest.
            hidden = self.scorer.decoder(input_ids=tensor, cache=self.cache,
                                         use_cache=True).last_hidden_state[0]
            self.next_logits = self.scorer.head(hidden[-1:])[0]
        self.position = len(context)
        self.cache_positions = torch.arange(len(context))
        self.context, self.unsettled = list(recent), []

    def _cut_back(self) -> None:
        """Cut the context back to the prefix and the most recent kept tokens."""
        room = max(0, self.scorer.window // 4 - 1)
        recent = self.context[-room:] if room else []
        if self.exact or self.scorer.rotary_inv_freq is None:
            self._restart(recent)
            return
        # The cache holds BOS + prefix, then kept tokens only; the newest of those move
        # to the positions right after the prefix, keeping what they saw when computed.
        head = len(self.bos_ids) + len(self.prefix)
        total = len(self.cache_positions)
        index = torch.cat([torch.arange(head), torch.arange(total - len(recent), total)])
        shift = self.cache_positions[index] - torch.arange(head + len(recent))
        self._select_cache(index, shift)
        self.cache_positions = torch.arange(head + len(recent))
        self.position = head + len(recent)
        self.context = recent


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

    # Not scored directly: a batch driver scores its two streams and subtracts.
    batch_scorer = None

    def batch_parts(self) -> list[tuple[Any, float]]:
        return [(self.plain, 1.0), (self.conditioned, -1.0)]

    def score(self, ids: Sequence[int]) -> np.ndarray:
        return self.plain.score(ids) - self.conditioned.score(ids)

    def commit(self, keep: Sequence[bool] | np.ndarray) -> None:
        self.plain.commit(keep)
        self.conditioned.commit(keep)
