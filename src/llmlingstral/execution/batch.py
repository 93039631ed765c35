"""Compress many prompts in one call (``PromptCompressor.compress_prompts``).

Every prompt gets exactly what ``compress_prompt`` would return for it; what changes is how
the model work is shared:

* LLMLingua-2 (and SecurityLingua): the word scores of all prompts are computed together,
  so their windows fill shared forward passes (see :mod:`.shared_scores`).
* LLMLingua / LongLLMLingua: the token-level passes of several prompts advance in
  lockstep, one batched forward pass per step (see :mod:`.lockstep`).

What a prompt may be is in :mod:`.requests`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tqdm.auto import tqdm

from ..cancel import CancelToken
from ..progress import bar_disable
from .lockstep import compress_causal_requests
from .requests import Compressor, Outcome, Prompt, as_request, quiet
from .shared_scores import compress_llmlingua2_requests

# Show the progress bar by default from this many prompts on.
_PROGRESS_MIN_PROMPTS = 16


def compress_prompts(compressor: Compressor, prompts: Sequence[Prompt], *,
                     show_progress: bool | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """One ``compress_prompt`` result per prompt, in order; the first failure is raised,
    with a note naming the prompt."""
    if isinstance(prompts, (str, Mapping)) or not isinstance(prompts, Sequence):
        raise TypeError("prompts must be a list of prompts (strings, lists of strings or "
                        "mappings); to compress one prompt call compress_prompt")
    requests = [as_request(p, kwargs, i) for i, p in enumerate(prompts)]
    results = []
    for index, outcome in enumerate(compress_requests(compressor, requests,
                                                      show_progress=show_progress)):
        if isinstance(outcome, Exception):
            outcome.add_note(f"raised while compressing prompts[{index}]")
            raise outcome
        results.append(outcome)
    return results


def compress_requests(compressor: Compressor, requests: Sequence[Mapping[str, Any]], *,
                      show_progress: bool | None = None,
                      cancel_tokens: Sequence[CancelToken] | None = None) -> list[Outcome]:
    """The result of ``compress_prompt(**request)`` for each request, or the exception it
    raised: one bad request does not stop the others.

    With ``cancel_tokens`` (one per request, LLMLingua-2 only), a request whose token is
    cancelled stops at its next check and gets :class:`~llmlingstral.cancel.Cancelled`; its
    texts leave the shared forward passes at the next pass; the other requests go on.
    """
    disable = bar_disable(show_progress, len(requests) >= _PROGRESS_MIN_PROMPTS)
    requests = [quiet(r) for r in requests]
    if cancel_tokens is not None and len(cancel_tokens) != len(requests):
        raise ValueError(f"cancel_tokens must hold one token per request: {len(requests)} "
                         f"requests, {len(cancel_tokens)} tokens")
    with tqdm(total=len(requests), desc="compressing prompts", unit="prompt",
              disable=disable, leave=False) as bar:
        if compressor.method.family == "llmlingua2":
            return compress_llmlingua2_requests(compressor, requests, bar, cancel_tokens)
        if cancel_tokens is not None:
            raise ValueError("cancel_tokens are for LLMLingua-2 batches; run causal "
                             "requests under cancel.cancellable instead")
        return compress_causal_requests(compressor, requests, bar)
