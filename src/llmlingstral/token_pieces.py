"""Counting the tokens of a long text in pieces, with the same total as in one call.

A SentencePiece pipeline has no pre-tokenizer: its BPE merges run over the whole text as
one word, so one call on a long text takes time that grows faster than the text (about 2 s
for 200,000 characters, 7 s for 800,000) and holds the interpreter lock all along. Cut at
the right places, the pieces count to the same total in a fraction of the time, and the
caller can stop or pause between two pieces (:mod:`.cancel`).

Where a cut is exact depends on the pipeline (:func:`cut_rule`):

* ``"drop"``, SentencePiece (a ``▁`` is prepended and spaces become ``▁``; no vocabulary
  piece holds ``▁`` after another character, so no token crosses a word's start): cut at
  a single space between two letters and leave the space out, since the next piece's own
  ``▁`` prefix stands for it;
* ``"keep"``, byte-level BPE split by a regular expression first (tekken): cut at a single
  space between two letters and keep the space at the start of the next piece, where the
  expression puts it anyway (``" word"`` is one pre-token);
* None, any other pipeline: never cut.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

# Texts shorter than this are counted in one call; longer ones in pieces about this long.
PIECE_CHARS = 8192
SPIECE_UNDERLINE = "\u2581"
# A single space with a letter on each side (letters: word characters less digits and _).
_CUT = re.compile(r"(?<=[^\W\d_]) (?=[^\W\d_])")


def cut_rule(pipeline: Any) -> str | None:
    """``"drop"``, ``"keep"`` or None (see the module's description) for a Hugging Face
    ``tokenizers.Tokenizer``."""
    normalizer, pre_tokenizer = _state(pipeline.normalizer), _state(pipeline.pre_tokenizer)
    if pre_tokenizer is None and _prepends_underline(normalizer) and not any(
            SPIECE_UNDERLINE in piece.lstrip(SPIECE_UNDERLINE) for piece in pipeline.get_vocab()):
        return "drop"
    steps = _steps(pre_tokenizer)
    kinds = [step.get("type") for step in steps]
    if normalizer is None and kinds == ["Split", "ByteLevel"] \
            and not steps[1].get("add_prefix_space") and not steps[1].get("use_regex"):
        return "keep"
    return None


def pieces(text: str, rule: str) -> Iterator[str]:
    """``text`` cut by ``rule`` into pieces of about :data:`PIECE_CHARS` characters (a
    stretch without a cut point, such as Chinese or Japanese text, stays whole)."""
    start = 0
    while len(text) - start > PIECE_CHARS:
        cut = _CUT.search(text, start + PIECE_CHARS)
        if cut is None:
            break
        yield text[start:cut.start()]
        start = cut.end() if rule == "drop" else cut.start()
    yield text[start:]


def _state(component: Any) -> dict[str, Any] | None:
    """A pipeline component's settings (its own JSON, not the whole pipeline's)."""
    return None if component is None else json.loads(component.__getstate__())


def _prepends_underline(normalizer: Any) -> bool:
    return any(step.get("type") == "Prepend" and step.get("prepend") == SPIECE_UNDERLINE
               for step in _steps(normalizer))


def _steps(component: Any) -> list[dict[str, Any]]:
    if not isinstance(component, dict):
        return []
    if component.get("type") == "Sequence":
        return [s for key in ("normalizers", "pretokenizers") for s in component.get(key, [])]
    return [component]
