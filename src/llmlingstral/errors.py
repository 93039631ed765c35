"""Exceptions raised by llmlingstral."""

from __future__ import annotations


class LLMLingstralError(Exception):
    """Base class for errors raised by llmlingstral."""


class ModelUnavailableError(LLMLingstralError, OSError):
    """A model is neither cached locally nor reachable.

    The message names the model and the command that fetches it.
    """

    def __init__(self, model: str, reason: str = "", fetch: str | None = None) -> None:
        self.model = model
        detail = f" ({reason})" if reason else ""
        how = fetch or (f"fetch it on a machine with access to the Hugging Face hub with "
                        f"`hf download {model}` (then copy the cache, or pass the downloaded "
                        f"folder as model_name)")
        super().__init__(
            f"Model {model!r} is not available on this machine{detail}. To get it, {how}; "
            f"or use the embedded offline model: model_name='nano'."
        )
