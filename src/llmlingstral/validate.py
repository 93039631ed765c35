"""Checks for every public argument: one function per kind of value, one error per mistake.

Every public entry point validates through this module, so the same mistake raises the
same exception with the same advice wherever it is made: a value of the wrong type (a
string, None or a bool where a number is needed, a float where a count is) is a TypeError;
a number outside its range, NaN or an infinity is an
:class:`~llmlingstral.errors.InvalidArgumentError`, a ValueError that is also the
AssertionError llmlingua 0.2.2 raises for a rate above 1, so callers' handlers keep working.
NaN and infinity are never accepted as numbers.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Mapping, Sequence

from .errors import InvalidArgumentError
from .prompt import Segment

_SURROGATE = re.compile("[\ud800-\udfff]")
# The fewest tokens a scorer reads at once: a window must hold a BOS, the kept text it is
# conditioned on and some new tokens, or the iterative pass would score almost nothing.
MIN_WINDOW = 32
# Compute dtypes a local model can be asked for (what each means: models/precision.py).
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
# How a question conditions perplexity (llmlingua's condition_in_question, less "_condition").
CONDITIONS = ("none", "before", "after")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number(name: str, value: object, meaning: str) -> float:
    """``value`` if it is a real number (a bool, a string or None is a TypeError). Range
    checks are the caller's, written so that NaN fails them."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number ({meaning}), got {type(value).__name__} "
                        f"{value!r}")
    try:
        float(value)
    except OverflowError:  # an int of hundreds of digits: no budget is that large
        raise InvalidArgumentError(f"{name} is far too large ({meaning}): a number of "
                                   f"{len(str(abs(value)))} digits") from None
    return value


def check_text(name: str, value: object) -> str:
    """A string argument; None stands for the empty string."""
    return "" if value is None else check_str(name, value)


def check_str(name: str, value: object) -> str:
    """A string argument that must be given (None is a mistake)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return check_unicode(name, value)


def check_unicode(name: str, text: str) -> str:
    """``text`` if it is valid Unicode: a lone surrogate (text decoded with
    ``errors='surrogateescape'``, or a broken UTF-16 pair) is a ValueError.

    Such text cannot be encoded as UTF-8, so no tokenizer can read it; rather than drop or
    replace the character behind the caller's back, the call is refused.
    """
    found = _SURROGATE.search(text)
    if found is not None:
        raise ValueError(
            f"{name} holds a lone surrogate (U+{ord(found.group()):04X}) at character "
            f"{found.start()}, which is not valid Unicode text; remove it, or decode the input "
            f"with errors='replace'")
    return text


def check_rate(name: str, value: object,
               meaning: str = "the fraction of tokens to keep") -> float:
    """A keep fraction in (0, 1] (llmlingua asserts the upper bound)."""
    if not 0 < _number(name, value, meaning) <= 1:
        raise InvalidArgumentError(f"{name} must be in (0, 1] ({meaning}), got {value!r}")
    return float(value)


def check_target(name: str, value: object) -> float:
    """A token target: a positive finite number, or -1 for "use the rate"."""
    meaning = "a token count, or -1 to use the rate"
    if _number(name, value, meaning) != -1 and not 0 < value < math.inf:  # NaN fails too
        raise InvalidArgumentError(f"{name} must be a positive, finite token count (or -1 to "
                                   f"use the rate), got {value!r}")
    return value


def check_open_fraction(name: str, value: object, meaning: str) -> float:
    """A fraction strictly between 0 and 1 (both ends excluded)."""
    if not 0 < _number(name, value, meaning) < 1:
        raise InvalidArgumentError(f"{name} must be strictly between 0 and 1 ({meaning}), got "
                                   f"{value!r}")
    return float(value)


def check_optional_count(name: str, value: object, meaning: str) -> int | None:
    """None, or a whole number >= 0."""
    return None if value is None else check_non_negative_int(name, value, meaning)


def check_probability(name: str, value: object) -> float:
    """A probability in [0, 1]."""
    if not 0 <= _number(name, value, "a probability") <= 1:
        raise InvalidArgumentError(f"{name} is a probability in [0, 1], got {value!r}")
    return float(value)


def check_finite(name: str, value: object, *, allow_zero: bool = False,
                 maximum: float | None = None, meaning: str = "") -> float:
    """A finite number > 0 (>= 0 with ``allow_zero``), at most ``maximum`` if given: NaN,
    infinity and negatives are refused. ``meaning`` says what the number is for."""
    bound = ">= 0" if allow_zero else "> 0"
    bound += "" if maximum is None else f" and <= {maximum}"
    what = f" ({meaning})" if meaning else ""
    number = _number(name, value, meaning or f"finite, {bound}")
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero) \
            or (maximum is not None and number > maximum):
        raise InvalidArgumentError(f"{name} must be a finite number {bound}{what}, got "
                                   f"{value!r}")
    return float(value)


def _integer(name: str, value: object, meaning: str) -> int:
    """``value`` if it is a whole number (a bool, a float, a string or None is a TypeError)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        what = f" ({meaning})" if meaning else ""
        raise TypeError(f"{name} must be an integer{what}, got {type(value).__name__} "
                        f"{value!r}")
    return int(value)


def check_positive_int(name: str, value: object, meaning: str = "") -> int:
    if _integer(name, value, meaning) <= 0:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative_int(name: str, value: object, meaning: str = "") -> int:
    if _integer(name, value, meaning) < 0:
        what = f" ({meaning})" if meaning else ""
        raise InvalidArgumentError(f"{name} must be a non-negative integer{what}, got "
                                   f"{value!r}")
    return int(value)


def check_window(name: str, value: object) -> int | None:
    """A scorer window in tokens: None (the model's own limit) or an integer >= MIN_WINDOW.

    Windows above the model's context length are capped there by the scorer.
    """
    if value is None:
        return None
    meaning = (f"an integer >= {MIN_WINDOW}, the tokens the scorer reads at once, capped at "
               f"the model's context length")
    if _is_number(value) and not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be {meaning}; got {value!r}")
    if _integer(name, value, meaning) < MIN_WINDOW:
        raise InvalidArgumentError(f"{name} must be {meaning}; got {value!r}")
    return int(value)


def check_count_or_unset(name: str, value: object, meaning: str) -> int:
    """A positive count, or -1 for "not set"."""
    if _integer(name, value, meaning) != -1 and value <= 0:
        raise InvalidArgumentError(f"{name} is {meaning} (or -1), got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(choices)}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def parse_condition(condition_in_question: object) -> tuple[str, bool]:
    """``(mode, token_level)`` of llmlingua's ``condition_in_question``.

    ``mode`` is "none", "before" or "after"; a ``_condition`` suffix also conditions the
    token-level pass on the question (``token_level``).
    """
    if not isinstance(condition_in_question, str):
        raise TypeError("condition_in_question must be a string such as 'after_condition'")
    token_level = condition_in_question.endswith("_condition")
    mode = condition_in_question[: -len("_condition")] if token_level else condition_in_question
    if mode not in CONDITIONS:
        raise ValueError(f"condition_in_question must be one of 'none', 'before', 'after', "
                         f"optionally with '_condition', got {condition_in_question!r}")
    return mode, token_level


def check_dtype_name(name: str, value: object) -> str:
    """A compute dtype by name, one of :data:`DTYPE_CHOICES` (a ``torch.`` prefix and any
    case allowed); None is ``"auto"``."""
    if value is None:
        return "auto"
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(DTYPE_CHOICES)}, got "
                        f"{type(value).__name__} {value!r}")
    text = value.strip().lower().removeprefix("torch.")
    if text not in DTYPE_CHOICES:
        raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(DTYPE_CHOICES)}")
    return text


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


def check_mapping(name: str, value: object) -> dict[str, Any]:
    """A dict of settings; None (or an empty dict) means none."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict of settings, got {type(value).__name__} "
                        f"{value!r}")
    return dict(value)


def check_contexts(context: object) -> list[str]:
    """``context`` as a list of strings (a single string is one context)."""
    if context is None:
        return []
    if isinstance(context, str):
        return [check_unicode("context", context)]
    if not isinstance(context, (list, tuple)):
        raise TypeError(f"context must be a str or a list of str, got {type(context).__name__}")
    for i, c in enumerate(context):
        if not isinstance(c, str):
            raise TypeError(f"context[{i}] must be a str, got {type(c).__name__}")
        check_unicode(f"context[{i}]", c)
    return list(context)


def context_segments(context: object, segs: Any = None, segs_rate: Any = None,
                     segs_compress: Any = None) -> list[list[Segment]]:
    """Contexts as lists of segments; plain strings become one segment each.

    ``segs`` (llmlingua's ``context_segs``) cuts each context into pieces that must join
    back to it, with an optional rate and compress flag per piece: every list must match
    ``segs`` piece for piece, or the text would be replaced or lost.
    """
    texts = check_contexts(context)
    if segs is None:
        if segs_rate is not None or segs_compress is not None:
            raise ValueError("context_segs_rate and context_segs_compress describe the pieces "
                             "of context_segs: pass context_segs too")
        return [[Segment(t)] for t in texts]
    pieces = _segment_lists("context_segs", segs, texts, None)
    rates = _segment_lists("context_segs_rate", segs_rate, texts, pieces)
    flags = _segment_lists("context_segs_compress", segs_compress, texts, pieces)
    for i, (text, parts) in enumerate(zip(texts, pieces)):
        for p, piece in enumerate(parts):
            check_str(f"context_segs[{i}][{p}]", piece)
        if "".join(parts) != text:
            raise ValueError(f"context_segs[{i}] does not join back to context[{i}]: the "
                             f"pieces must be the context cut into consecutive parts")
    return [[Segment(p, None if r is None else check_rate(f"context_segs_rate[{i}][{k}]", r),
                     bool(f)) for k, (p, r, f) in enumerate(zip(parts, rs, fs))]
            for i, (parts, rs, fs) in enumerate(zip(pieces, rates, flags))]


def _segment_lists(name: str, value: Any, texts: list[str],
                   pieces: list[list[str]] | None) -> list[list[Any]]:
    """``value`` as one list per context, each as long as that context's pieces (None: one
    default per piece)."""
    if value is None:
        default = None if name == "context_segs_rate" else True
        return [[default] * len(p) for p in pieces or []]
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list with one list per context, got "
                        f"{type(value).__name__}")
    if len(value) != len(texts):
        raise ValueError(f"{name} has {len(value)} entries for {len(texts)} contexts")
    lists = []
    for i, entry in enumerate(value):
        if isinstance(entry, (str, bytes)) or not isinstance(entry, (list, tuple)):
            raise TypeError(f"{name}[{i}] must be a list, got {type(entry).__name__}")
        if pieces is not None and len(entry) != len(pieces[i]):
            raise ValueError(f"{name}[{i}] has {len(entry)} entries for the "
                             f"{len(pieces[i])} pieces of context_segs[{i}]")
        lists.append(list(entry))
    return lists
