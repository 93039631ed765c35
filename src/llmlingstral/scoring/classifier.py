"""Keep-probabilities from a Mistral token classifier (LLMLingua-2, SecurityLingua).

:class:`TokenClassifier` turns texts into words with a keep-probability each:

1. each text is encoded once with character offsets and cut into words
   (:mod:`llmlingstral.text.words`);
2. the tokens are cut into chunks that fit the classifier's window, at word boundaries and
   preferably after a chunk-end token (".", newline);
3. the chunks of all texts run through the model in padded batches, a BOS before each;
4. token probabilities are averaged per word (or the first token's is taken).

Nothing here decides what to keep: :mod:`..methods.llmlingua2` selects by budget or
threshold; a guardrail can threshold :attr:`WordScores.probs` directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..cancel import check_cancelled
from ..errors import LLMLingstralError
from ..models.loader import LoadedModel, load_model
from ..text.scripts import token_start_set
from ..text.words import TOKEN_TO_WORD, Words, chunk_bounds, split_words, word_of_tokens
from ..validate import check_positive_int
from .forward_inputs import attention_limit, padded_batch

DEFAULT_CHUNK_END_TOKENS = (".", "\n")
# Trained window when the checkpoint does not record one (LLMLingua-2 trains on 512 tokens).
DEFAULT_MAX_SEQ_LEN = 512
# Config attribute where training records its window.
TRAINED_LENGTH_ATTRIBUTE = "llmlingua2_max_length"
# Padded tokens per forward pass on a CPU. Larger passes push the activations out of the
# CPU caches: on 2 cores, 320 chunks of 137 tokens took 1.25x as long in passes of 50
# chunks as in passes of 2048 tokens, and 96 windows of 512 tokens 1.34x as long
# (BENCHMARKS.md, "Tokens per forward pass on a CPU").
CPU_BATCH_TOKENS = 2048


@dataclass(frozen=True)
class WordScores:
    """The words of one text with a keep-probability and a token count per word."""

    words: Words
    probs: np.ndarray
    costs: np.ndarray

    @property
    def text(self) -> str:
        return self.words.text

    def spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` character span of each word, without leading whitespace."""
        return list(zip(self.words.word_starts.tolist(), self.words.ends.tolist()))


class TokenClassifier:
    """Batched, chunked keep-probabilities from a loaded token-classification model.

    Args:
        loaded: a model loaded with ``load_model(..., task="token-classification")``.
        max_seq_len: tokens per forward pass, BOS included. Default: the window the
            checkpoint was trained with (``config.llmlingua2_max_length``), else 512,
            never more than the model's position limit or sliding window.
        max_batch_size: chunks per forward pass.
        max_batch_tokens: padded tokens per forward pass (a pass always holds at least one
            chunk). Default: :data:`CPU_BATCH_TOKENS` on a CPU, no limit on an accelerator.
        bidirectional: run with full (non-causal) attention, for classifiers trained that
            way. None keeps the checkpoint's ``config.is_causal``.
    """

    def __init__(self, loaded: LoadedModel, *, max_seq_len: int | None = None,
                 max_batch_size: int = 50, max_batch_tokens: int | None = None,
                 bidirectional: bool | None = None) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        config = self.model.config
        num_labels = int(getattr(config, "num_labels", 0) or 0)
        if num_labels < 2:
            raise LLMLingstralError(f"{loaded.name} has {num_labels} labels; a keep/drop "
                                    f"classifier needs at least 2 (drop, keep)")
        self.keep_index = keep_label_index(config)
        if bidirectional is not None:
            config.is_causal = not bidirectional
        self.max_seq_len = _window(config, loaded.max_position, max_seq_len)
        self.max_batch_size = check_positive_int("max_batch_size", max_batch_size)
        self.max_batch_tokens = _batch_tokens(self.device, max_batch_tokens)
        pad = self.tokenizer.pad_id
        self.pad_id = pad if pad is not None and pad >= 0 else self.tokenizer.eos_id

    @property
    def dtype(self) -> str:
        """The dtype the model computes in (keep-probabilities are fp32 whatever it is)."""
        return self.loaded.dtype

    @property
    def chunk_limit(self) -> int:
        """Text tokens per chunk (the window minus the BOS)."""
        return self.max_seq_len - 1

    # ------------------------------------------------------------------- tokens

    @property
    def is_causal(self) -> bool:
        return getattr(self.model.config, "is_causal", True) is not False

    def batches(self, sequences: Sequence[Sequence[int]],
                wanted: Callable[[int], bool] | None = None):
        """``(indices, input_ids, attention_mask)`` batches, longest sequences first, each
        within :attr:`max_batch_size` rows and :attr:`max_batch_tokens` padded tokens.

        Padding goes on the right. A causal model needs no mask then (no real token
        attends to a later pad), which keeps attention on its fastest path; the mask is
        None in that case. With ``wanted``, a sequence it no longer wants (asked just
        before each pass) is left out.
        """
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        for indices in self._passes(order, sequences):
            if wanted is not None:
                indices = [i for i in indices if wanted(i)]
                if not indices:
                    continue
            ids, mask = padded_batch([[self.tokenizer.bos_id, *sequences[i]] for i in indices],
                                     self.pad_id)
            padded = bool((mask == 0).any())
            keep_mask = padded and not self.is_causal
            yield indices, ids.to(self.device), mask.to(self.device) if keep_mask else None

    def _passes(self, order: list[int], sequences: Sequence[Sequence[int]]):
        """Consecutive runs of ``order`` (longest first), one per forward pass."""
        first = 0
        while first < len(order):
            width = len(sequences[order[first]]) + 1  # the longest row, with its BOS
            rows = self.max_batch_size
            if self.max_batch_tokens is not None:
                rows = max(1, min(rows, self.max_batch_tokens // width))
            yield order[first:first + rows]
            first += rows

    @torch.inference_mode()
    def token_probabilities(self, sequences: Sequence[Sequence[int]],
                            wanted: Callable[[int], bool] | None = None) -> list[np.ndarray]:
        """p(keep) for every token of each sequence (each at most :attr:`chunk_limit` long);
        a sequence dropped by ``wanted`` (see :meth:`batches`) gets an empty array."""
        if any(len(s) > self.chunk_limit for s in sequences):
            raise ValueError(f"a sequence is longer than the classifier window "
                             f"({self.chunk_limit} tokens after BOS); cut it with chunk_bounds")
        results: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(sequences)
        for indices, ids, mask in self.batches(sequences, wanted):
            logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            probs = logits.float().softmax(-1)[..., self.keep_index].cpu().numpy()
            for row, i in enumerate(indices):
                results[i] = probs[row, 1:1 + len(sequences[i])]
        return results

    # ------------------------------------------------------------------- words

    def score_words(self, texts: Sequence[str], *, token_to_word: str = "mean",
                    chunk_end_tokens: Sequence[str] = DEFAULT_CHUNK_END_TOKENS,
                    space_tokens: Sequence[str] = (),
                    wanted: Callable[[int], bool] | None = None) -> list[WordScores]:
        """Words, keep-probabilities and token counts for each text; one batched pass.

        ``wanted(index)`` (optional) is asked before each text is prepared and before each
        forward pass: a text it no longer wants (its caller left) is dropped from the
        passes that remain, and gets None instead of scores.
        """
        if token_to_word not in TOKEN_TO_WORD:
            raise ValueError(f"token_to_word must be 'mean' or 'first', got {token_to_word!r}")
        keep = wanted or (lambda _: True)
        prepared = [_prepare(self.tokenizer, t, space_tokens) if keep(i) else None
                    for i, t in enumerate(texts)]
        chunks, owners = [], []
        for index, ready in enumerate(prepared):
            if ready is None:
                continue
            words, ids, word_index = ready
            for start, end in chunk_bounds(words, word_index, self.chunk_limit, chunk_end_tokens):
                chunks.append(ids[start:end])
                owners.append(index)
        probs = self.token_probabilities(chunks, None if wanted is None else
                                         (lambda chunk: wanted(owners[chunk])))
        per_text: list[list[np.ndarray]] = [[] for _ in texts]
        for owner, p in zip(owners, probs):
            per_text[owner].append(p)
        return [None if ready is None or not keep(i) else
                _to_words(ready[0], ready[2], _joined(parts), token_to_word)
                for i, (ready, parts) in enumerate(zip(prepared, per_text))]

    def keep_probabilities(self, text: str, **options) -> WordScores:
        """:meth:`score_words` for one text."""
        return self.score_words([text], **options)[0]


# --------------------------------------------------------------------------- helpers


def keep_label_index(config) -> int:
    """The label index meaning "keep": a label named keep/preserve/1, else index 1."""
    for index, name in (getattr(config, "id2label", None) or {}).items():
        if str(name).lower() in {"keep", "preserve", "1", "true"}:
            return int(index)
    return 1


def _window(config, max_position: int, requested: int | None) -> int:
    limit = attention_limit(config, max_position)
    if requested is None:
        requested = int(getattr(config, TRAINED_LENGTH_ATTRIBUTE, 0) or DEFAULT_MAX_SEQ_LEN)
    elif isinstance(requested, bool) or not isinstance(requested, int) or requested < 8:
        raise ValueError(f"max_seq_len must be an integer of at least 8, got {requested!r}")
    return max(8, min(limit, requested))


def _batch_tokens(device: torch.device, requested: int | None) -> int | None:
    if requested is None:
        return CPU_BATCH_TOKENS if device.type == "cpu" else None
    return check_positive_int("max_batch_tokens", requested)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _prepare(tokenizer, text: str, space_tokens: Sequence[str]):
    """Words of ``text``, its token ids, and the word of each token."""
    check_cancelled()  # many texts take a while to prepare: stop between them
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__}")
    encoding = tokenizer.encode_with_offsets(text)
    words = split_words(text, space_tokens=space_tokens,
                        token_starts=token_start_set(encoding.offsets))
    starts = np.array([s for s, _ in encoding.offsets], dtype=np.int64)
    return words, encoding.ids, word_of_tokens(words, starts)


def _to_words(words: Words, word_index: np.ndarray, token_probs: np.ndarray,
              token_to_word: str) -> WordScores:
    n = len(words)
    costs = np.bincount(word_index, minlength=n).astype(np.int64) if len(word_index) \
        else np.zeros(n, dtype=np.int64)
    probs = np.zeros(n, dtype=np.float64)
    if len(word_index) == 0:
        return WordScores(words, probs, costs)
    if token_to_word == "mean":
        sums = np.bincount(word_index, weights=token_probs, minlength=n)
        probs = np.divide(sums, costs, out=np.zeros(n), where=costs > 0)
    else:
        first = np.flatnonzero(np.r_[True, word_index[1:] != word_index[:-1]])
        probs[word_index[first]] = token_probs[first]
    # A word holding no token start (e.g. a newline inside the token ".\n\n") takes the
    # probability of the token that covers it.
    empty = np.flatnonzero(costs == 0)
    if len(empty):
        covering = np.searchsorted(word_index, empty, side="left") - 1
        probs[empty] = token_probs[np.clip(covering, 0, len(token_probs) - 1)]
    return WordScores(words, probs, costs)


def as_token_classifier(model: "str | os.PathLike | TokenClassifier | LoadedModel",
                        device_map: object, model_config: dict | None,
                        max_seq_len: int | None, max_batch_size: int) -> TokenClassifier:
    """``model`` as a :class:`TokenClassifier`: itself, or one over a loaded model, or over
    the model a preset name, folder or Hugging Face id loads."""
    if isinstance(model, TokenClassifier):
        return model
    if not isinstance(model, LoadedModel):
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError("model must be a preset name, a folder, a Hugging Face id, a "
                            f"TokenClassifier or a LoadedModel, got {type(model).__name__}")
        model = load_model(model, task="token-classification", device_map=device_map,
                           model_config=model_config)
    return TokenClassifier(model, max_seq_len=max_seq_len, max_batch_size=max_batch_size)
