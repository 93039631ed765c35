"""What LLMLingua's pipeline needs from a causal scorer and from its token streams.

Three scorers fill the contract: the local causal LM (:class:`.causal.CausalScorer`, whose
streams keep a KV cache), the remote one (:class:`.remote.RemoteScorer`, whose streams
resend their kept text to an OpenAI-compatible server), and any future one. A stream
scores the next chunk of a text given what was kept of it; :class:`.stream.ContrastiveStream`
combines two streams of one scorer. Each stream says how a batch driver may score it
together with other prompts' streams (:meth:`TokenStream.batch_parts`,
:attr:`TokenStream.batch_scorer`), so the lockstep driver
(:func:`llmlingstral.execution.step_scores.score_together`) never asks which class a stream
is.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

# A stream's score is the sum of its parts' scores, each times its weight.
BatchParts = Sequence[tuple["TokenStream", float]]


class TokenStream(Protocol):
    """Scores chunks of tokens given what was kept before (higher = more worth keeping).

    Call :meth:`score` with the next chunk (at most :attr:`chunk_limit` ids), then
    :meth:`commit` with the keep decision for it.
    """

    @property
    def chunk_limit(self) -> int:
        """The most tokens one :meth:`score` call takes."""
        ...

    @property
    def batch_scorer(self) -> "StreamScorer | None":
        """The scorer that scores this stream's chunks together with those of its other
        streams (one forward pass, or one request); None: this stream is not scored
        directly in a batch (it is made of parts that are, or it is scored alone)."""
        ...

    def batch_parts(self) -> BatchParts:
        """The streams whose weighted scores sum to this one's: ``[(self, 1.0)]`` for a
        stream a scorer scores directly, the plain and question-conditioned streams (1.0,
        -1.0) for a contrastive one."""
        ...

    def score(self, ids: Sequence[int]) -> np.ndarray:
        """The score of each token of the chunk ``ids``."""
        ...

    def commit(self, keep: Sequence[bool] | np.ndarray) -> None:
        """Keep only the chosen tokens of the last scored chunk in the context."""
        ...


class StreamScorer(Protocol):
    """Scores the next chunk of several of its streams at once."""

    def score_streams(self, requests: Sequence[tuple[TokenStream, Sequence[int]]]
                      ) -> list[np.ndarray]:
        """``stream.score(ids)`` for each ``(stream, ids)``, sharing work between them."""
        ...


class CausalScoring(StreamScorer, Protocol):
    """What LLMLingua and LongLLMLingua need from a causal LM scorer, local or remote:
    its tokenizer and window, whole-sequence surprisal (ranking, sentence filter) and
    token streams (the token-level pass)."""

    tokenizer: object
    window: int

    @property
    def dtype(self) -> str | None:
        """The compute dtype (None where it is not known here, e.g. a server's)."""
        ...

    def sequence_surprisal(self, sequences: Sequence[Sequence[int]],
                           tails: Sequence[int] | None = None) -> list[np.ndarray]:
        """Surprisal (nats) of the last ``tails[i]`` tokens of each sequence after BOS."""
        ...

    def stream(self, prefix: Sequence[int] = (), *, bos: bool = True) -> TokenStream:
        """A fresh stream whose context starts with BOS (unless ``bos=False``) + ``prefix``."""
        ...
