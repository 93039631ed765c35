"""The ``protect`` option as written outside Python: JSON and the command line.

In Python, ``protect`` is True, False or a :class:`~llmlingstral.text.protect.Protection`
(see :func:`~llmlingstral.text.protect.resolve_protection` for what each means). Service
requests, ``compress-batch`` records and saved framework components write it in JSON:

* ``true`` / ``false``: every class of facts / llmlingua's behaviour;
* a list of class names, e.g. ``["numbers", "dates_times"]``: those classes only;
* an object ``{"classes": [...], "patterns": [...], "force_tokens": [...],
  "force_reserve_digit": false}``, every key optional (no ``classes``: every class).

The command line writes it as ``--protect all|none|CLASS,CLASS`` (``--no-protect`` is
``--protect none``) and ``--protect-pattern REGEX`` (repeatable).
"""

from __future__ import annotations

import argparse
import re
from typing import Any, Mapping

import regex

from .text.protect import FACT_CLASSES, Protection, ProtectOption

SPEC_KEYS = ("classes", "patterns", "force_tokens", "force_reserve_digit")
_ALL, _NONE = ("all", "on"), ("none", "off")
PROTECT_HELP = ("what compression keeps whole: 'all' (default: every class), 'none' "
                "(llmlingua's behaviour: only --force-token and --protect-pattern text), or "
                "a comma-separated list of classes: " + ", ".join(FACT_CLASSES))


def protection_from_spec(value: Any, *, where: str = "protect", allow_patterns: bool = True,
                         max_patterns: int | None = None,
                         max_pattern_length: int | None = None) -> ProtectOption:
    """The ``protect`` option a JSON value describes (see the module's docstring).

    ``allow_patterns=False`` refuses user patterns (a service that does not trust its
    clients' regular expressions); ``max_patterns`` and ``max_pattern_length`` bound them.
    Raises TypeError or ValueError naming ``where`` and what to write instead.
    """
    if isinstance(value, (bool, Protection)):
        return value
    if isinstance(value, (list, tuple)):
        return Protection().only(*_class_names(value, where))
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be true, false, a list of classes of facts or an "
                        f"object with {', '.join(SPEC_KEYS)}; got {value!r}")
    unknown = sorted(set(value) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {unknown}; it may hold "
                         f"{', '.join(SPEC_KEYS)}")
    patterns = _patterns(value.get("patterns") or [], where, allow_patterns, max_patterns,
                         max_pattern_length)
    classes = value.get("classes")
    base = Protection() if classes is None else \
        Protection().only(*_class_names(classes, f"{where}.classes"))
    digits = value.get("force_reserve_digit", False)
    if not isinstance(digits, bool):
        raise TypeError(f"{where}.force_reserve_digit must be true or false, got {digits!r}")
    tokens = value.get("force_tokens") or []
    if not isinstance(tokens, (list, tuple)):
        raise TypeError(f"{where}.force_tokens must be a list of strings, got {tokens!r}")
    return Protection(**{name: getattr(base, name) for name in FACT_CLASSES},
                      patterns=patterns, force_tokens=tokens, force_reserve_digit=digits)


def _class_names(classes: Any, where: str) -> list[str]:
    if isinstance(classes, str) or not isinstance(classes, (list, tuple)) \
            or not all(isinstance(c, str) for c in classes):
        raise TypeError(f"{where} must be a list of class names ({', '.join(FACT_CLASSES)}), "
                        f"got {classes!r}")
    unknown = [c for c in classes if c not in FACT_CLASSES]
    if unknown:
        raise ValueError(f"{where}: {', '.join(map(repr, unknown))} "
                         f"{'is not a class' if len(unknown) == 1 else 'are not classes'} of "
                         f"facts; the classes are {', '.join(FACT_CLASSES)}")
    return list(classes)


def _patterns(patterns: Any, where: str, allowed: bool, max_count: int | None,
              max_length: int | None) -> list[str]:
    if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"{where}.patterns must be a list of regular expressions (strings), "
                        f"got {patterns!r}")
    if patterns and not allowed:
        raise ValueError(f"{where}.patterns: this service does not accept regular expressions "
                         "from requests (the operator allows them with "
                         "--allow-protect-patterns); use classes and force_tokens")
    if max_count is not None and len(patterns) > max_count:
        raise ValueError(f"{where}.patterns: {len(patterns)} given, at most {max_count} "
                         f"are accepted")
    for pattern in patterns:
        if max_length is not None and len(pattern) > max_length:
            raise ValueError(f"{where}.patterns: a pattern of {len(pattern)} characters, at "
                             f"most {max_length} are accepted")
    return list(patterns)


def protection_spec(protect: ProtectOption) -> bool | dict[str, Any]:
    """``protect`` as JSON (what :func:`protection_from_spec` reads back): True and False
    as they are, a :class:`Protection` as an object. Patterns are written as their source
    text; flags given apart from it (``re.I``) must be written inline (``(?i)``)."""
    if isinstance(protect, bool):
        return protect
    if not isinstance(protect, Protection):
        raise TypeError(f"protect must be True, False or a Protection, got {protect!r}")
    spec: dict[str, Any] = {"classes": list(protect.classes)}
    if protect.patterns:
        spec["patterns"] = [_source(p) for p in protect.patterns]
    if protect.force_tokens:
        spec["force_tokens"] = list(protect.force_tokens)
    if protect.force_reserve_digit:
        spec["force_reserve_digit"] = True
    return spec


def _source(pattern: Any) -> str:
    engine = re if isinstance(pattern, re.Pattern) else regex
    if engine.compile(pattern.pattern).flags != pattern.flags:
        raise ValueError(f"the pattern {pattern.pattern!r} was compiled with flags that its "
                         f"text does not hold; write them inline, e.g. '(?i)...', to save it")
    return pattern.pattern


# --------------------------------------------------------------------------- command line


def add_protect_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--protect``, ``--no-protect`` and ``--protect-pattern`` on a command."""
    cmd.add_argument("--protect", default="all", metavar="WHAT", help=PROTECT_HELP)
    cmd.add_argument("--no-protect", dest="protect", action="store_const", const="none",
                     help="same as --protect none")
    cmd.add_argument("--protect-pattern", action="append", default=[], metavar="REGEX",
                     help="a regular expression whose matches are kept whole; repeat for "
                          "several")


def protection_from_args(args: argparse.Namespace) -> ProtectOption:
    """The ``protect`` option that ``--protect`` and ``--protect-pattern`` describe."""
    words = [w.strip() for w in str(args.protect).split(",") if w.strip()]
    patterns = list(getattr(args, "protect_pattern", None) or [])
    if len(words) == 1 and words[0].lower() in _ALL + _NONE:
        every = words[0].lower() in _ALL
        if not patterns:
            return every
        return Protection(patterns=patterns) if every else Protection.off(patterns=patterns)
    if not words:
        raise ValueError(f"--protect needs a value: {PROTECT_HELP}")
    classes = _class_names(words, "--protect")
    return Protection(**{name: name in classes for name in FACT_CLASSES}, patterns=patterns)
