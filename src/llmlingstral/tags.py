"""The ``<llmlingua, ...>`` tags that give parts of a context their own setting.

``<llmlingua, rate=0.4>text</llmlingua>`` compresses ``text`` to 40 %;
``<llmlingua, compress=False>text</llmlingua>`` keeps it verbatim; ``<llmlingua>text</llmlingua>``
and untagged text follow the global rate. Attributes may come in any order, separated by
commas or spaces. Segment text may contain ``<`` and any other markup: only ``<llmlingua...>``
and ``</llmlingua>`` are tags. Tags do not nest; a tag left open, closed twice or nested, a
``<llmlingua`` or ``</llmlingua`` without its closing ``>``, and an unknown or malformed
attribute, raise a ValueError that says where. Every entry point that reads tags
(``compress_prompt``, ``compress_prompt_llmlingua2``, ``structured_compress_prompt``) reads
them here, so the same text gets the same answer on every path.

The one parser of these tags, for every method.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from .prompt import Segment

_TAG = re.compile(r"<(/?)llmlingua\b([^<>]*)>", re.IGNORECASE)
_TAG_START = re.compile(r"</?llmlingua\b", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s,]+)\s*")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def parse_tags(text: str, *, where: str = "context") -> list[Segment]:
    """Split a tagged context into segments; joining their texts gives the untagged text."""
    if not isinstance(text, str):
        raise TypeError(f"{where} must be a str, got {type(text).__name__}")
    _check_tag_ends(text, where)
    segments: list[Segment] = []
    open_tag: tuple[int, float | None, bool] | None = None  # (position, rate, compress)
    cursor = 0
    for match in _TAG.finditer(text):
        closing, attributes = match.group(1) == "/", match.group(2)
        inner = text[cursor:match.start()]
        if closing:
            if attributes.strip():
                raise ValueError(f"{where}: closing tag {match.group()!r} at character "
                                 f"{match.start()} takes no attributes; write </llmlingua>")
            if open_tag is None:
                raise ValueError(f"{where}: </llmlingua> at character {match.start()} has no "
                                 f"matching <llmlingua> before it")
            _append(segments, inner, open_tag[1], open_tag[2])
            open_tag = None
        else:
            if open_tag is not None:
                raise ValueError(f"{where}: <llmlingua> tags cannot nest: the tag at character "
                                 f"{match.start()} opens before the one at character "
                                 f"{open_tag[0]} is closed")
            _append(segments, inner, None, True)
            rate, compress = _parse_attributes(attributes, where, match.start())
            open_tag = (match.start(), rate, compress)
        cursor = match.end()
    if open_tag is not None:
        raise ValueError(f"{where}: the <llmlingua> tag at character {open_tag[0]} is never "
                         f"closed; add </llmlingua>")
    _append(segments, text[cursor:], None, True)
    return _shift_trailing_space(segments)


def _check_tag_ends(text: str, where: str) -> None:
    """Every ``<llmlingua`` / ``</llmlingua`` must be a whole tag, ended by ``>``."""
    whole = {match.start() for match in _TAG.finditer(text)}
    for start in _TAG_START.finditer(text):
        if start.start() not in whole:
            raise ValueError(f"{where}: the tag {text[start.start():start.start() + 30]!r}... "
                             f"at character {start.start()} has no closing '>'; write e.g. "
                             f"<llmlingua, compress=False>text</llmlingua>")


def _shift_trailing_space(segments: list[Segment]) -> list[Segment]:
    """Move whitespace ending a compressible segment to the start of the next segment.

    Whitespace travels with the word after it; left at the end of a segment it would be a
    piece of its own that compression may drop, gluing the words on either side together.
    """
    shifted = list(segments)
    for k in range(len(shifted) - 1):
        current = shifted[k]
        body = current.text.rstrip()
        if not current.compress or not body or body == current.text:
            continue
        following = shifted[k + 1]
        shifted[k] = Segment(body, current.rate, current.compress)
        shifted[k + 1] = Segment(current.text[len(body):] + following.text,
                                       following.rate, following.compress)
    return shifted


def _append(segments: list[Segment], text: str, rate: float | None,
            compress: bool) -> None:
    if text:
        segments.append(Segment(text, rate, compress))


def _parse_attributes(raw: str, where: str, position: int) -> tuple[float | None, bool]:
    rate: float | None = None
    compress = True
    rest = raw.strip()
    if rest.startswith(","):
        rest = rest[1:]
    for part in filter(None, (p.strip() for p in re.split(r",|\s+(?=\w+\s*=)", rest))):
        match = _ATTRIBUTE.fullmatch(part)
        if match is None:
            raise ValueError(f"{where}: malformed attribute {part!r} in the <llmlingua> tag at "
                             f"character {position}; use e.g. <llmlingua, rate=0.4> or "
                             f"<llmlingua, compress=False>")
        name, value = match.group(1).lower(), match.group(2).strip("\"'")
        if name == "rate":
            rate = _parse_rate(value, where, position)
        elif name == "compress":
            compress = _parse_bool(value, where, position)
        else:
            raise ValueError(f"{where}: unknown attribute {name!r} in the <llmlingua> tag at "
                             f"character {position}; only 'rate' and 'compress' exist")
    return rate, compress


def _parse_rate(value: str, where: str, position: int) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if not 0 < rate <= 1:
        raise ValueError(f"{where}: rate={value!r} in the <llmlingua> tag at character "
                         f"{position} must be a number in (0, 1] (the fraction to keep)")
    return rate


def _parse_bool(value: str, where: str, position: int) -> bool:
    lowered = value.lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError(f"{where}: compress={value!r} in the <llmlingua> tag at character "
                     f"{position} must be True or False")


def has_tags(text: str) -> bool:
    """Whether ``text`` holds an ``<llmlingua`` or ``</llmlingua`` tag, whole or broken."""
    return _TAG_START.search(text) is not None


def parse_context_tags(contexts: Sequence[Sequence[Segment]]) -> list[list[Segment]]:
    """Contexts whose single segment holds tags, split into tagged segments.

    Tag-free contexts, and contexts already cut into several segments, are returned as
    they are.
    """
    result = []
    for i, segments in enumerate(contexts):
        segments = list(segments)
        if len(segments) == 1 and has_tags(segments[0].text):
            segments = parse_tags(segments[0].text, where=f"context[{i}]") or [Segment("")]
        result.append(segments)
    return result
