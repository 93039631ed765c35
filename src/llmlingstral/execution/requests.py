"""One prompt of a batch: its request (``compress_prompt`` keywords) and its outcome.

A prompt is a context (a string or a list of strings) or a mapping of ``compress_prompt``
keyword arguments holding ``"context"``; its keywords override the call's.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

Prompt = str | Sequence[str] | Mapping[str, Any]
# A prompt's result, or the exception compressing it raised.
Outcome = dict[str, Any] | Exception


class Compressor(Protocol):
    """What a batch needs of a ``PromptCompressor``."""

    classifier: Any
    method: Any  # a methods.base.Method

    def compress_prompt(self, context: Any, **kwargs: Any) -> dict[str, Any]: ...


def as_request(prompt: object, defaults: Mapping[str, Any], index: int = 0) -> dict[str, Any]:
    """``compress_prompt`` keyword arguments for one prompt: its own over ``defaults``."""
    if isinstance(prompt, str):
        return {**defaults, "context": prompt}
    if isinstance(prompt, Mapping):
        if "context" not in prompt:
            raise ValueError(f"prompts[{index}] is a mapping without a 'context' key; give the "
                             f"text to compress as 'context' (keys: {sorted(map(str, prompt))})")
        return {**defaults, **prompt}
    if isinstance(prompt, (list, tuple)):
        return {**defaults, "context": list(prompt)}
    raise TypeError(f"prompts[{index}] must be a str, a list of str or a mapping of "
                    f"compress_prompt arguments, got {type(prompt).__name__}")


def quiet(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request without its own progress bar (the batch shows one over prompts)."""
    return {"show_progress": False, **request}


def call_one(compressor: Compressor, request: Mapping[str, Any]) -> Outcome:
    """``compress_prompt(**request)``, or the exception it raised."""
    try:
        return compressor.compress_prompt(**request)
    except Exception as error:  # noqa: BLE001 - handed back to the caller, per prompt
        return error
