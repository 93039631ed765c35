"""The pieces of a prompt: segments, how they are joined, and the result of compressing.

A leaf module: everything that builds or reads a prompt uses these, and it imports nothing
of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

CONTEXT_SEPARATOR = "\n\n"
DEFAULT_WORD_SEP = "\t\t|\t\t"
DEFAULT_LABEL_SEP = " "
# ``saving`` keeps llmlingua's sentence (", Saving $X.X in GPT-4.") with a Mistral model:
# the input-token price of Mistral Large 3 on Mistral's API, USD per token ($0.50 per
# million input tokens at the time of writing), times the tokens the compression removed.
SAVING_MODEL = "mistral-large-latest"
SAVING_USD_PER_TOKEN = 0.50 / 1_000_000
# A half-open character range [start, end) of a text.
Range = tuple[int, int]


@dataclass(frozen=True)
class Segment:
    """A piece of a context with its own compression setting.

    ``rate`` is the keep fraction for this piece (None: the global rate);
    ``compress=False`` keeps the piece verbatim. An ``attached`` piece (a reference
    marker) is kept verbatim while its context keeps other text, and leaves with it.
    """

    text: str
    rate: float | None = None
    compress: bool = True
    attached: bool = False


Context = Sequence[Segment]


def context_text(segments: Context) -> str:
    """The text of a context: its segments joined."""
    return "".join(s.text for s in segments)


def join_contexts(texts: Sequence[str]) -> str:
    """Contexts as they stand in a prompt: non-empty ones, separated by a blank line (an
    empty context leaves no separator behind)."""
    return CONTEXT_SEPARATOR.join(t for t in texts if t)


def join_prompt(instruction: str, context: str, question: str) -> str:
    """Instruction, contexts and question, each present part separated by a blank line."""
    return CONTEXT_SEPARATOR.join(p for p in (instruction, context, question) if p)


def result_dict(compressed_prompt: Any, origin: int, compressed: int) -> dict[str, Any]:
    """llmlingua's result keys, counted in Mistral tokens; safe for empty prompts.

    ``saving`` has llmlingua's shape, priced for :data:`SAVING_MODEL`.
    """
    ratio = origin / compressed if compressed else (1.0 if origin == 0 else float("inf"))
    rate = compressed / origin if origin else 1.0
    saving = (origin - compressed) * SAVING_USD_PER_TOKEN
    return {"compressed_prompt": compressed_prompt, "origin_tokens": origin,
            "compressed_tokens": compressed, "ratio": f"{ratio:.1f}x",
            "rate": f"{100 * rate:.1f}%", "saving": f", Saving ${saving:.1f} in {SAVING_MODEL}."}


@dataclass(frozen=True)
class KeptText:
    """Which characters of the uncompressed prompt a compression kept.

    ``source`` is the uncompressed prompt as the method assembled it: instruction, every
    context (empty ones included) and question joined by :data:`CONTEXT_SEPARATOR`, tags
    removed. ``ranges`` are the sorted, disjoint ranges of ``source`` that the compressed
    prompt holds; the blank line before each part shown after another counts as kept.
    Joined in order they give the compressed prompt, except where contexts were reordered
    (each part then appears whole, at its own place) and where LLMLingua-2 wrote one space
    for a dropped line break or between kept pieces that would otherwise read as one word
    or number (:func:`~llmlingstral.text.seams.seam`).
    """

    source: str
    ranges: tuple[Range, ...]


class CompressionResult(dict):
    """llmlingua's result dict, carrying :class:`KeptText` as the attribute ``kept`` (not a
    key, so the result's keys stay llmlingua's); None where a path cannot say."""

    kept: KeptText | None = None


@dataclass
class CompressionOutcome:
    """What compressing a prompt produced, before it is formatted as llmlingua's result.

    ``kept_context_ids`` are the surviving contexts in prompt order and
    ``compressed_contexts`` their compressed texts, aligned with them. ``word_labels``
    is set when the caller asked for them (LLMLingua-2). ``with_list`` adds llmlingua-2's
    ``compressed_prompt_list``. ``kept`` locates the kept text in the original prompt.
    ``dtype`` names the dtype the local model computed in (None: scored by a server).
    """

    compressed_prompt: str
    origin_tokens: int
    compressed_tokens: int
    kept_context_ids: list[int] = field(default_factory=list)
    compressed_contexts: list[str] = field(default_factory=list)
    word_labels: list[tuple[str, int]] | None = None
    with_list: bool = False
    kept: KeptText | None = None
    dtype: str | None = None

    @property
    def compressed_prompt_list(self) -> list[str]:
        """Each kept context's compressed text (llmlingua-2's key)."""
        return list(self.compressed_contexts)

    def as_dict(self, word_sep: str = DEFAULT_WORD_SEP,
                label_sep: str = DEFAULT_LABEL_SEP) -> CompressionResult:
        """llmlingua's keys, plus ``kept_context_ids`` and ``compressed_contexts`` for the
        contexts that appear in the compressed prompt, in the order they appear, and
        ``dtype`` where a local model scored; ``kept`` rides along as an attribute."""
        result = CompressionResult(result_dict(self.compressed_prompt, self.origin_tokens,
                                               self.compressed_tokens))
        result.kept = self.kept
        if self.with_list:
            result["compressed_prompt_list"] = self.compressed_prompt_list
        shown = [(i, t) for i, t in zip(self.kept_context_ids, self.compressed_contexts) if t]
        result["kept_context_ids"] = [i for i, _ in shown]
        result["compressed_contexts"] = [t for _, t in shown]
        if self.word_labels is not None:
            result["fn_labeled_original_prompt"] = word_sep.join(
                f"{word}{label_sep}{label}" for word, label in self.word_labels)
        if self.dtype is not None:
            result["dtype"] = self.dtype
        return result
