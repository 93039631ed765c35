"""Pointwise reranking with a Mistral instruct model: does this passage answer the question?

Each passage is put to the model in one user turn that ends with "Answer Yes or No".
The relevance score is the log-odds log p(Yes) - log p(No) of the first answer token.

* :class:`LocalMistralReranker` reads both probabilities from a local causal LM (the
  compressor's own model or any Mistral checkpoint), in padded batches.
* :class:`APIMistralReranker` asks the Mistral API's chat endpoint for one token with its
  top log-probabilities. When the log-probabilities come back, the score is the same
  log-odds (a class missing from the top list is taken to hold the rest of the mass).
  When they do not (a model or server without logprobs), the reply text is parsed:
  "Yes" scores +1, "No" -1, anything else 0, and ties keep the original document order.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np
import torch

from ..api import MistralAPI, MistralAPIError
from ..models.loader import LoadedModel
from ..scoring.forward_inputs import padded_batch
from ..tokenization import MistralTextTokenizer
from .base import ScoreRanker, score_non_blank

DEFAULT_API_RERANK_MODEL = "mistral-small-latest"
YES_SCORE, NO_SCORE, UNSURE_SCORE = 1.0, -1.0, 0.0
_BATCH_TOKENS = 8192
_ANSWERS = {"yes": ("Yes", "yes", "YES"), "no": ("No", "no", "NO")}


def relevance_prompt(passage: str, question: str) -> str:
    """The user message that asks whether ``passage`` answers ``question``."""
    return (f"Passage:\n{passage}\n\nQuestion: {question}\n\n"
            f"Does the passage contain the answer to the question? Answer Yes or No.")


# --------------------------------------------------------------------------- local


class LocalMistralReranker(ScoreRanker):
    """Yes/No log-odds from a local Mistral causal LM.

    Args:
        loaded: the model and tokenizer (``PromptCompressor.loaded`` or ``load_model(...)``).
        max_passage_tokens: passages are cut to this many tokens (their head is kept).
        batch_tokens: padded tokens per forward pass.

    An instruct checkpoint gives meaningful scores; a base model is used as it is, with the
    same chat wrapping.
    """

    def __init__(self, loaded: LoadedModel, *, max_passage_tokens: int = 1024,
                 batch_tokens: int = _BATCH_TOKENS) -> None:
        if max_passage_tokens < 1:
            raise ValueError(f"max_passage_tokens must be >= 1, got {max_passage_tokens!r}")
        self.loaded = loaded
        self.tokenizer: MistralTextTokenizer = loaded.tokenizer
        self.max_passage_tokens = max_passage_tokens
        self.batch_tokens = batch_tokens
        self.yes_ids = _single_token_ids(self.tokenizer, _ANSWERS["yes"])
        self.no_ids = _single_token_ids(self.tokenizer, _ANSWERS["no"])
        self._inst = _instruction_ids(self.tokenizer)

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """log p(Yes) - log p(No) for each document (-inf for blank documents)."""
        return score_non_blank(
            documents, lambda real: self.log_odds([self.prompt_ids(documents[i], question)
                                                   for i in real]))

    def prompt_ids(self, passage: str, question: str) -> list[int]:
        """``<s>[INST] message[/INST]`` as token ids, the passage cut to size."""
        ids = self.tokenizer.encode(passage)
        if len(ids) > self.max_passage_tokens:
            passage = self.tokenizer.decode(ids[: self.max_passage_tokens])
        start, end = self._inst
        message = self.tokenizer.encode(relevance_prompt(passage, question))
        limit = max(16, self.loaded.max_position - len(start) - len(end) - 1)
        return [self.tokenizer.bos_id, *start, *message[-limit:], *end]

    @torch.inference_mode()
    def log_odds(self, rows: list[list[int]]) -> np.ndarray:
        """Yes-vs-No log-odds of the next token after each row, in left-padded batches."""
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = np.zeros(len(rows))
        batch: list[int] = []
        for index in order:
            if batch and len(rows[index]) * (len(batch) + 1) > self.batch_tokens:
                out[batch] = self._batch_log_odds([rows[i] for i in batch])
                batch = []
            batch.append(index)
        if batch:
            out[batch] = self._batch_log_odds([rows[i] for i in batch])
        return out

    def _batch_log_odds(self, rows: list[list[int]]) -> np.ndarray:
        # Left padding puts every row's last token at the end: one logit row each.
        ids, mask = padded_batch(rows, self.tokenizer.pad_id, left=True)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        device = self.loaded.device
        logits = self.loaded.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                   position_ids=positions.to(device), use_cache=False,
                                   logits_to_keep=1).logits[:, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        yes = torch.logsumexp(logp[:, self.yes_ids], dim=-1)
        no = torch.logsumexp(logp[:, self.no_ids], dim=-1)
        return (yes - no).cpu().numpy()


def _single_token_ids(tokenizer: MistralTextTokenizer, spellings: Sequence[str]) -> list[int]:
    """Ids of the spellings that are one token (how a reply would start), deduplicated."""
    ids = []
    for word in spellings:
        encoded = tokenizer.encode(word)
        if len(encoded) == 1 and encoded[0] not in ids:
            ids.append(encoded[0])
    if not ids:  # fall back to the first piece of the plain spelling
        ids.append(tokenizer.encode(spellings[0])[0])
    return ids


def _instruction_ids(tokenizer: MistralTextTokenizer) -> tuple[list[int], list[int]]:
    """The [INST] / [/INST] control tokens, or their spelling where the vocabulary has none."""
    start, end = [], []
    for token_id, piece in ((3, "[INST]"), (4, "[/INST]")):
        found = tokenizer.id_to_piece(token_id) == piece
        target = start if piece == "[INST]" else end
        target.extend([token_id] if found else tokenizer.encode(piece))
    return start, end


# --------------------------------------------------------------------------- API


class APIMistralReranker(ScoreRanker):
    """Yes/No relevance from a Mistral chat model through the API.

    Args:
        api: the retrying client.
        model: the chat model, e.g. ``"mistral-small-latest"``.
        concurrency: requests in flight at once (one request per passage).
        top_logprobs: how many alternatives to ask for with the answer token.
        max_passage_chars: passages are cut to this many characters.
    """

    def __init__(self, api: MistralAPI, *, model: str = DEFAULT_API_RERANK_MODEL,
                 concurrency: int = 4, top_logprobs: int = 5,
                 max_passage_chars: int = 8000) -> None:
        if concurrency < 1:
            raise ValueError(f"rerank_concurrency must be >= 1, got {concurrency!r}")
        self.api = api
        self.model = model
        self.concurrency = concurrency
        self.top_logprobs = top_logprobs
        self.max_passage_chars = max_passage_chars
        self.logprobs_supported = True

    def scores(self, documents: Sequence[str], question: str) -> list[float]:
        """Relevance of each document: log-odds where available, else +1 / 0 / -1."""
        def relevance(real: list[int]) -> list[float]:
            passages = [documents[i][: self.max_passage_chars] for i in real]
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(real))) as pool:
                return list(pool.map(lambda p: self.score_one(p, question), passages))

        return score_non_blank(documents, relevance)

    def score_one(self, passage: str, question: str) -> float:
        """The relevance score of one passage."""
        messages = [{"role": "user", "content": relevance_prompt(passage, question)}]
        options: dict[str, Any] = {"temperature": 0.0, "max_tokens": 1}
        if self.logprobs_supported:
            try:
                response = self.api.chat(messages, self.model, logprobs=True,
                                         top_logprobs=self.top_logprobs, **options)
            except MistralAPIError as error:
                if error.status_code not in (400, 422):
                    raise
                self.logprobs_supported = False  # this model/server refuses logprobs
            else:
                return score_from_response(response)
        return score_from_response(self.api.chat(messages, self.model, **options))


def score_from_response(response: Any) -> float:
    """Log-odds from the answer token's log-probabilities, else the parsed reply text."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        return UNSURE_SCORE
    choice = choices[0]
    from_logprobs = _logprob_log_odds(getattr(choice, "logprobs", None))
    if from_logprobs is not None:
        return from_logprobs
    message = getattr(choice, "message", None)
    return _text_score(getattr(message, "content", None))


def _logprob_log_odds(logprobs: Any) -> float | None:
    content = getattr(logprobs, "content", None) or []
    if not content:
        return None
    first = content[0]
    candidates = [(first.token, first.logprob)]
    candidates += [(t.token, t.logprob) for t in (getattr(first, "top_logprobs", None) or [])]
    mass: dict[str, list[float]] = {"yes": [], "no": []}
    seen: set[str] = set()
    for token, logprob in candidates:
        label = _answer_label(token)
        if label and token not in seen and logprob is not None and math.isfinite(logprob):
            seen.add(token)
            mass[label].append(float(logprob))
    yes = _logsumexp(mass["yes"])
    no = _logsumexp(mass["no"])
    if yes is None and no is None:
        return None
    if yes is None:
        yes = _log1mexp(no)
    if no is None:
        no = _log1mexp(yes)
    return float(np.clip(yes - no, -50.0, 50.0))


def _answer_label(token: Any) -> str | None:
    word = str(token or "").strip(" \u2581\u0120\t\n.,!:;\"'").lower()
    return word if word in ("yes", "no") else None


def _text_score(content: Any) -> float:
    if isinstance(content, list):  # content chunks
        content = " ".join(str(getattr(c, "text", c)) for c in content)
    words = str(content or "").split()
    label = _answer_label(words[0]) if words else None
    return {"yes": YES_SCORE, "no": NO_SCORE}.get(label or "", UNSURE_SCORE)


def _logsumexp(values: list[float]) -> float | None:
    if not values:
        return None
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _log1mexp(logp: float) -> float:
    """log(1 - exp(logp)): the log-probability of everything else."""
    p = min(math.exp(logp), 1.0 - 1e-12)
    return math.log1p(-p)
