"""What a format needs from a compressor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Sequence

from ..prompt import Segment

if TYPE_CHECKING:
    from ..options import LLMLingua2Options, PromptOptions
    from ..ranking.base import RankResults
    from ..tokenization import MistralTextTokenizer


class SegmentCompressor(Protocol):
    """Compresses contexts already cut into segments, ranks documents, counts tokens."""

    tokenizer: "MistralTextTokenizer"

    def compress_segments(self, contexts: Sequence[Sequence[Segment]], instruction: str = "",
                          question: str = "",
                          options: "PromptOptions | LLMLingua2Options | None" = None
                          ) -> dict[str, Any]:
        """llmlingua's result for ``contexts`` compressed with ``options``.

        The result holds ``kept_context_ids`` and ``compressed_contexts``.
        """
        ...

    def get_rank_results(self, context: Sequence[str], question: str, rank_method: Any,
                         condition_in_question: str | None = None) -> "RankResults":
        """``[(index, score)]`` of the documents for ``question``, best first."""
        ...
