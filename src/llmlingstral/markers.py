"""Reference markers: ``<#name#>`` tags that callers put in documents to find them again.

Frameworks such as LangChain's ``LLMLinguaCompressor`` wrap each document in markers like
``<#ref3#>`` and read them back from the compressed prompt to restore the document's
metadata. Compression must therefore never cut a marker. Markers are kept verbatim at
every level (sentences, words, LLMLingua-2 words) without pinning their document: a
document that the coarse pass drops, or whose every word the fine pass drops, takes its
markers with it (they are ``attached`` segments).
"""

from __future__ import annotations

import re

from .prompt import Segment

# "<#" + a short name without spaces, angle brackets or "#" + "#>", e.g. <#ref12#>.
REFERENCE_MARKER = re.compile(r"<#[^\s<>#]{1,64}#>")


def protect_reference_markers(contexts: list[list[Segment]]) -> list[list[Segment]]:
    """``contexts`` with every reference marker split out as a protected segment."""
    return [[piece for segment in context for piece in _split(segment)] for context in contexts]


def _split(segment: Segment) -> list[Segment]:
    if not segment.compress or "<#" not in segment.text:
        return [segment]
    pieces, position = [], 0
    for match in REFERENCE_MARKER.finditer(segment.text):
        if match.start() > position:
            pieces.append(Segment(segment.text[position:match.start()], segment.rate, True))
        pieces.append(Segment(match.group(), None, False, attached=True))
        position = match.end()
    if position < len(segment.text):
        pieces.append(Segment(segment.text[position:], segment.rate, True))
    return pieces or [segment]
