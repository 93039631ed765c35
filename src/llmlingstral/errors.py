"""Exceptions raised by llmlingstral, and where its warnings point."""

from __future__ import annotations

import sys
from pathlib import Path


class LLMLingstralError(Exception):
    """Base class for errors raised by llmlingstral."""


class ModelUnavailableError(LLMLingstralError, OSError):
    """A model is neither cached locally nor reachable.

    The message names the model and the command that fetches it.
    """

    def __init__(self, model: str, reason: str = "", fetch: str | None = None) -> None:
        self.model, self.reason = model, reason
        detail = f" ({reason})" if reason else ""
        how = fetch or (f"fetch it on a machine with access to the Hugging Face hub with "
                        f"`hf download {model}` (then copy the cache, or pass the downloaded "
                        f"folder as model_name)")
        super().__init__(
            f"Model {model!r} is not available on this machine{detail}. To get it, {how}; "
            f"or use the embedded offline model: model_name='nano'."
        )


class InvalidArgumentError(ValueError, AssertionError):
    """A value llmlingua 0.2.2 refuses with an ``assert`` (a rate above 1, too many force
    tokens, LongLLMLingua ranking without a question, a ``json_config`` whose keys differ
    from the data's).

    It is a ValueError with a message that says what to change, and an AssertionError, so
    ``except AssertionError`` written for llmlingua still catches it.
    """


class UnsupportedOptionError(ValueError, NotImplementedError):
    """An option value llmlingua 0.2.2 refuses with NotImplementedError (such as an unknown
    ``token_to_word``); also a ValueError naming the values that work."""


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside this package,
    seen from the function that calls this one."""
    frame, level = sys._getframe(2), 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
            _PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
