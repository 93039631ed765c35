"""Checks for every public argument: one function per kind of value, one error per mistake.

Every public entry point validates through this module, so the same mistake raises the
same exception with the same advice wherever it is made: a value of the wrong type is a
TypeError, a value of the right type outside its range a ValueError.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

from .prompt import Segment


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_text(name: str, value: object) -> str:
    """A string argument; None stands for the empty string."""
    return "" if value is None else check_str(name, value)


def check_str(name: str, value: object) -> str:
    """A string argument that must be given (None is a mistake)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def check_rate(name: str, value: object) -> float:
    """A keep fraction in (0, 1]."""
    if not _is_number(value) or math.isnan(value) or not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1] (the fraction of tokens to keep), got "
                         f"{value!r}")
    return float(value)


def check_target(name: str, value: object) -> float:
    """A token target: a positive number, or -1 for "use the rate"."""
    if not _is_number(value) or math.isnan(value):
        raise TypeError(f"{name} must be a number (a token count, or -1 to use the rate), "
                        f"got {value!r}")
    if value != -1 and value <= 0:
        raise ValueError(f"{name} must be positive (or -1 to use the rate), got {value!r}")
    return value


def check_probability(name: str, value: object) -> float:
    """A probability in [0, 1]."""
    if not _is_number(value) or math.isnan(value) or not 0 <= value <= 1:
        raise ValueError(f"{name} is a probability in [0, 1], got {value!r}")
    return float(value)


def check_finite(name: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (>= 0 with ``allow_zero``): NaN, infinity and negatives are refused."""
    if not _is_number(value) or not math.isfinite(value) or value < 0 or \
            (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_count_or_unset(name: str, value: object, meaning: str) -> int:
    """A positive count, or -1 for "not set"."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or (value != -1 and value <= 0):
        raise ValueError(f"{name} is {meaning} (or -1), got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(choices)}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_string_list(name: str, value: object) -> list[str]:
    """A list of strings (empty strings dropped); None is the empty list."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"{name} must be a list of strings, e.g. ['\\n', '.'], got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold strings, got {item!r}")
    return [v for v in value if v]


def check_context_ids(name: str, ids: object, n_contexts: int) -> list[int]:
    """Indices into the contexts (booleans are not indices)."""
    if ids is None:
        return []
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set, frozenset)):
        raise TypeError(f"{name} must be a list of context indices, got {ids!r}")
    checked = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) \
                or not 0 <= int(i) < n_contexts:
            raise ValueError(f"{name} holds {i!r}, but there are {n_contexts} contexts "
                             f"(valid ids: 0..{n_contexts - 1})")
        checked.append(int(i))
    return checked


def check_contexts(context: object) -> list[str]:
    """``context`` as a list of strings (a single string is one context)."""
    if context is None:
        return []
    if isinstance(context, str):
        return [context]
    if not isinstance(context, (list, tuple)):
        raise TypeError(f"context must be a str or a list of str, got {type(context).__name__}")
    for i, c in enumerate(context):
        if not isinstance(c, str):
            raise TypeError(f"context[{i}] must be a str, got {type(c).__name__}")
    return list(context)


def context_segments(context: object, segs: Any = None, segs_rate: Any = None,
                     segs_compress: Any = None) -> list[list[Segment]]:
    """Contexts as lists of segments; plain strings become one segment each.

    ``segs`` (llmlingua's ``context_segs``) cuts each context into pieces, with an optional
    rate and compress flag per piece.
    """
    texts = check_contexts(context)
    if segs is None:
        return [[Segment(t)] for t in texts]
    if len(segs) != len(texts):
        raise ValueError(f"context_segs has {len(segs)} entries for {len(texts)} contexts")
    result = []
    for i, pieces in enumerate(segs):
        rates = segs_rate[i] if segs_rate is not None else [None] * len(pieces)
        flags = segs_compress[i] if segs_compress is not None else [True] * len(pieces)
        for p, piece in enumerate(pieces):
            check_text(f"context_segs[{i}][{p}]", piece)
        result.append([Segment(p, None if r is None else check_rate(
            f"context_segs_rate[{i}]", r), bool(f)) for p, r, f in zip(pieces, rates, flags)])
    return result
