"""Settings dataclasses as the one declaration of a public call's options.

A method declares its options once, as a dataclass whose fields carry the public names and
defaults. The public signature repeats them (for help and type checkers); a test compares
the two. Values travel from a call to its settings with :func:`settings_from`, never
re-spelled keyword by keyword.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

T = TypeVar("T")

# Field metadata marking an option that is not a parameter of the public call.
INTERNAL = {"call": False}


def call_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass that are parameters of its public call."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("call", True)]


def settings_from(cls: type[T], values: Mapping[str, Any], **extra: Any) -> T:
    """``cls`` built from the entries of ``values`` (e.g. a call's ``locals()``) that name
    one of its fields; ``extra`` sets the rest."""
    names = {f.name for f in dataclasses.fields(cls)}
    chosen = {k: v for k, v in values.items() if k in names}
    chosen.update(extra)
    return cls(**chosen)


def shared_options(values: Mapping[str, Any], names: Mapping[str, Any] | list[str]) -> dict:
    """The entries of ``values`` whose key is in ``names``."""
    return {k: values[k] for k in names if k in values}
