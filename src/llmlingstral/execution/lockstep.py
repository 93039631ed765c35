"""LLMLingua and LongLLMLingua over many prompts, in lockstep.

Each request goes through ``compress_prompt`` as usual (argument checks, settings, ranker)
under :func:`llmlingstral.methods.steps.deferring`, which hands back the prompt's
compression as steps instead of running it. Up to :data:`LOCKSTEP_PROMPTS` prompts then
advance together: at each step every active prompt asks for the scores of its next window,
and all windows go through one batched forward pass (:func:`.step_scores.score_together`).
Each prompt keeps its own KV cache, budget and keep decisions, so its result is the
one-by-one result.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..methods.steps import Deferred, ScoreRequest, Steps, deferring
from .requests import Outcome
from .step_scores import score_together

# Prompts advancing together; each holds a KV cache of up to one model window.
LOCKSTEP_PROMPTS = 16


@dataclass
class _Job:
    """One prompt's compression in progress."""

    index: int
    steps: Steps[Any]
    request: ScoreRequest | None = None


def compress_causal_requests(compressor: Any, requests: Sequence[Mapping[str, Any]],
                             bar: Any) -> list[Outcome]:
    """``compressor.compress_prompt(**request)`` for each request, in order (or the
    exception it raised), with the token-level passes advancing in lockstep; ``bar`` (a
    tqdm bar) counts finished prompts."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    waiting: deque[_Job] = deque()
    for index, request in enumerate(requests):
        try:
            with deferring():
                outcomes[index] = compressor.compress_prompt(**request)
        except Deferred as deferred:
            waiting.append(_Job(index, deferred.steps))
            continue
        except Exception as error:  # noqa: BLE001 - handed back to the caller, per prompt
            outcomes[index] = error
        bar.update(1)
    _run_in_lockstep(waiting, outcomes, bar)
    return outcomes


def _run_in_lockstep(waiting: deque[_Job], outcomes: list[Outcome | None], bar: Any) -> None:
    active: list[_Job] = []
    while waiting or active:
        while waiting and len(active) < LOCKSTEP_PROMPTS:
            job = waiting.popleft()
            if _advance(job, None, outcomes, bar):
                active.append(job)
        if not active:
            continue
        scores = _score_step([job.request for job in active])
        active = [job for job, values in zip(active, scores)
                  if _advance(job, values, outcomes, bar)]


def _score_step(requests: list[ScoreRequest]) -> list[np.ndarray | Exception]:
    """Every request's scores from one shared pass (its error for each, if it fails)."""
    try:
        return list(score_together(requests))
    except Exception as error:  # noqa: BLE001 - handed to each prompt of the step
        return [error] * len(requests)


def _advance(job: _Job, values: np.ndarray | Exception | None, outcomes: list[Outcome | None],
             bar: Any) -> bool:
    """Send ``values`` into the job (None starts it); False once the job has finished."""
    try:
        if isinstance(values, Exception):
            job.request = job.steps.throw(values)
        elif values is None:
            job.request = next(job.steps)
        else:
            job.request = job.steps.send(values)
        return True
    except StopIteration as finished:
        outcomes[job.index] = finished.value.as_dict()
    except Exception as error:  # noqa: BLE001 - handed back to the caller, per prompt
        outcomes[job.index] = error
    bar.update(1)
    return False

