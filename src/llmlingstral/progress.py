"""Progress bars: shown on a terminal, hidden in logs, pipes and CI.

tqdm hides a bar whose ``disable`` is None when its output is not a terminal; every bar of
llmlingstral goes through :func:`tqdm_disable` so that ``show_progress=True`` means "show it
where a person can see it". transformers draws its own bars (the "Loading weights" bar) with
``disable=False``; :func:`transformers_bars_hidden` switches them off around a load.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterator, TextIO

_lock = threading.Lock()
_hiders = 0
_restore_transformers_bars = False


def tqdm_disable(show: bool | None) -> bool | None:
    """tqdm's ``disable`` for a ``show_progress`` setting: off when False, else terminal only."""
    return True if show is False else None


def stderr_is_terminal(stream: TextIO | None = None) -> bool:
    """Whether progress written to ``stream`` (default: stderr) would reach a terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextlib.contextmanager
def transformers_bars_hidden(hide: bool = True) -> Iterator[None]:
    """transformers' progress bars off inside the block (when ``hide``), restored after.

    Nested and concurrent blocks share one switch: the bars come back when the last block
    ends, and only if they were on before the first began.
    """
    if not hide:
        yield
        return
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _hiders, _restore_transformers_bars
    from transformers.utils import logging as hf_logging

    with _lock:
        if _hiders == 0:
            _restore_transformers_bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
        _hiders += 1


def _leave() -> None:
    global _hiders
    from transformers.utils import logging as hf_logging

    with _lock:
        _hiders -= 1
        if _hiders == 0 and _restore_transformers_bars:
            hf_logging.enable_progress_bar()
