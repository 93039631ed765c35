"""The official ``mistralai`` SDK, found once for everything that talks to the Mistral API.

Both :class:`llmlingstral.api.MistralAPI` (rankers, the chat-based training data collection)
and the proxy's Mistral upstream (:mod:`llmlingstral.serve.upstream`) build their clients
from :func:`mistral_client_class`, so they agree on which SDK versions work and on what to
install when it is missing. Importing this module imports no SDK.
"""

from __future__ import annotations

from typing import Any

INSTALL_HINTS = {"rankers": "pip install 'llmlingstral[rankers]'",
                 "serve": "pip install 'llmlingstral[serve]'"}


def mistral_client_class(needed_by: str = "the Mistral API rankers", extra: str = "rankers"
                         ) -> type:
    """The SDK's ``Mistral`` client class (mistralai 2+ or 1.x).

    Raises ImportError naming ``needed_by`` and the pip extra that installs the SDK.
    """
    try:
        from mistralai.client import Mistral  # mistralai >= 2
    except ImportError:
        try:
            from mistralai import Mistral  # mistralai 1.x
        except ImportError as error:
            raise ImportError(f"{needed_by} need the mistralai SDK: "
                              f"{INSTALL_HINTS.get(extra, INSTALL_HINTS['rankers'])}") from error
    return Mistral


def http_module() -> Any:
    """The HTTP library the installed SDK builds its clients with (httpx2 or httpx), or None."""
    for name in ("httpx2", "httpx"):
        try:
            return __import__(name)
        except ImportError:
            continue
    return None


def transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level exception classes of the HTTP libraries the SDK versions use."""
    found: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        try:
            found.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)
