"""HTTP service: ``/v1/compress``, a chat-completions proxy, health, metrics and a page.

Needs the ``serve`` extra (``pip install 'llmlingstral[serve]'``); start it with
``llmlingstral serve`` or build the app with :func:`~llmlingstral.serve.app.create_app`.
The web stack is imported only when ``create_app`` is first used.
"""

from __future__ import annotations

from typing import Any

from .config import ServeConfig, load_api_keys

__all__ = ["ServeConfig", "create_app", "load_api_keys"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
