"""Credentials that never show their value.

A :class:`Secret` holds an API key. Its ``repr``, ``str`` and f-string forms are a mask, and
so are the ``repr`` and ``dataclasses.asdict`` of any settings object holding one, so a log
line, a traceback or a printed config cannot leak the key. The value is read only where it
is sent, with :meth:`Secret.reveal`. :func:`redact` masks keys in text that came from
elsewhere, such as an error body in which a server echoes the request's headers.
"""

from __future__ import annotations

import hmac
from typing import Any

MASK = "********"


class Secret:
    """An API key whose value is shown nowhere but where :meth:`reveal` is called."""

    __slots__ = ("_value",)

    def __init__(self, value: "str | Secret") -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"an API key must be a string, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The key itself, for the request that sends it."""
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced by the mask."""
        return text.replace(self._value, MASK) if self._value else text

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Secret cannot be changed")

    def __copy__(self) -> "Secret":
        return self

    def __deepcopy__(self, memo: dict) -> "Secret":
        return self  # immutable; dataclasses.asdict copies it as it is, masked

    def __reduce__(self):
        return Secret, (self._value,)  # pickled for worker processes, never displayed


def optional_secret(value: "str | Secret | None", name: str = "api_key") -> Secret | None:
    """``value`` as a :class:`Secret`; None and the empty string mean no key."""
    if value is None or isinstance(value, Secret):
        return value or None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return Secret(value) if value else None


def redact(text: str, *secrets: "Secret | str | None") -> str:
    """``text`` with every given key masked (None and empty keys are skipped)."""
    for secret in secrets:
        if secret:
            text = Secret(secret).redact(text)
    return text
