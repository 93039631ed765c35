"""LLMLingua-2 and SecurityLingua over many prompts: word scores in shared forward passes.

Each prompt is first run until it asks the classifier for word scores
(:class:`_SharedScores` stands in for the classifier and records the request); the texts of
all prompts are then scored together, so their windows fill shared forward passes, and each
prompt's selection runs again on its own scores. A prompt that ranks with an object other
than the classifier (which may call an API) runs once, after the shared scores.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from tqdm.auto import tqdm

from ..cancel import CancelToken, Cancelled, cancellable, check_cancelled
from ..ranking.resolve import choose_ranking
from .requests import Compressor, Outcome, call_one

if TYPE_CHECKING:
    from ..scoring.classifier import TokenClassifier, WordScores

# Prompts whose word scores are computed together (bounds the scores held in memory).
LLMLINGUA2_GROUP = 64


class _ScoresNeeded(Exception):
    """Raised by :class:`_SharedScores` on its first miss while recording."""

    def __init__(self, texts: list[str], options: tuple) -> None:
        super().__init__("word scores needed")
        self.texts, self.options = texts, options


class _SharedScores:
    """A stand-in for a :class:`TokenClassifier` that answers ``score_words`` from scores
    computed for many prompts at once.

    While ``recording``, a request it cannot answer raises :class:`_ScoresNeeded` so the
    batch can collect what every prompt needs; afterwards a miss is scored directly.
    Everything else is the real classifier's.
    """

    def __init__(self, classifier: TokenClassifier) -> None:
        self._classifier = classifier
        self._scores: dict[tuple, WordScores] = {}
        self.recording = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._classifier, name)

    def score_words(self, texts: Sequence[str], *, token_to_word: str = "mean",
                    chunk_end_tokens: Sequence[str] = (".", "\n"),
                    space_tokens: Sequence[str] = ()) -> list[WordScores]:
        options = (token_to_word, tuple(chunk_end_tokens), tuple(space_tokens))
        keys = [(text, options) for text in texts]
        missing = [text for text, key in zip(texts, keys) if key not in self._scores]
        if missing and self.recording:
            raise _ScoresNeeded(list(texts), options)
        if missing:
            self.add(missing, options)
        return [self._scores[key] for key in keys]

    def add(self, texts: Iterable[str], options: tuple,
            wanted: Callable[[str], bool] | None = None) -> None:
        """Score ``texts`` (with one option set) in one batched call and keep the scores;
        a text no longer ``wanted`` (its callers left) is dropped at the next pass."""
        unique = list(dict.fromkeys(t for t in texts if (t, options) not in self._scores))
        if not unique:
            return
        token_to_word, chunk_end_tokens, space_tokens = options
        live = None if wanted is None else (lambda index: wanted(unique[index]))
        scores = self._classifier.score_words(unique, token_to_word=token_to_word,
                                              chunk_end_tokens=chunk_end_tokens,
                                              space_tokens=space_tokens, wanted=live)
        self._scores.update(((t, options), s) for t, s in zip(unique, scores)
                            if s is not None)


def compress_llmlingua2_requests(compressor: Compressor, requests: Sequence[Mapping[str, Any]],
                                 bar: tqdm, tokens: Sequence[CancelToken] | None
                                 ) -> list[Outcome]:
    """``compressor.compress_prompt(**request)`` for each request, in order (or the
    exception it raised), the word scores of up to :data:`LLMLINGUA2_GROUP` requests at a
    time computed together; ``tokens`` (one per request, or None) cancel single requests;
    ``bar`` (a tqdm bar) counts finished prompts."""
    outcomes: list[Outcome] = []
    for first in range(0, len(requests), LLMLINGUA2_GROUP):
        group = [dict(r) for r in requests[first:first + LLMLINGUA2_GROUP]]
        group_tokens = None if tokens is None else tokens[first:first + LLMLINGUA2_GROUP]
        outcomes.extend(_llmlingua2_group(compressor, group, bar, group_tokens))
    return outcomes


def _llmlingua2_group(compressor: Compressor, requests: list[dict[str, Any]], bar: tqdm,
                      tokens: Sequence[CancelToken] | None) -> list[Outcome]:
    """Record what each request needs scored, score it all at once, then finish each."""
    shared = _SharedScores(compressor.classifier)
    sharing = _with_classifier(compressor, shared)
    outcomes: list[Outcome | BaseException | None] = [None] * len(requests)
    needed: dict[tuple, list[str]] = {}
    readers: dict[str, list[int]] = {}  # text -> the requests that need it scored
    for index, request in enumerate(requests):
        if _uses_a_ranker(request):
            continue  # rankers may call an API: run those once, in the second pass
        try:
            with _on_behalf_of(tokens, index):
                outcomes[index] = sharing.compress_prompt(**request)
        except _ScoresNeeded as need:
            needed.setdefault(need.options, []).extend(need.texts)
            for text in need.texts:
                readers.setdefault(text, []).append(index)
        except (Exception, Cancelled) as error:  # noqa: BLE001 - it would fail again
            outcomes[index] = error
    wanted = None if tokens is None else \
        (lambda text: any(not tokens[i].cancelled for i in readers.get(text, ())))
    for options, texts in needed.items():
        shared.add(texts, options, wanted)
    shared.recording = False
    for index, request in enumerate(requests):
        if outcomes[index] is None:
            owner = compressor if _uses_a_ranker(request) else sharing
            outcomes[index] = _finish(owner, request, tokens, index)
        bar.update(1)
    return outcomes


@contextlib.contextmanager
def _on_behalf_of(tokens: Sequence[CancelToken] | None, index: int) -> Iterator[None]:
    """Run one request's own part of a batch under its token (checked on entry)."""
    if tokens is None:
        yield
        return
    with cancellable(tokens[index]):
        check_cancelled()
        yield


def _finish(owner: Compressor, request: Mapping[str, Any],
            tokens: Sequence[CancelToken] | None, index: int) -> Outcome | Cancelled:
    try:
        with _on_behalf_of(tokens, index):
            return call_one(owner, request)
    except Cancelled as gone:
        return gone


def _uses_a_ranker(request: Mapping[str, Any]) -> bool:
    """Whether the LLMLingua-2 request ranks with an object other than the classifier (a
    malformed rank_method counts as one: its own call reports it)."""
    question = request.get("question") or ""
    if not isinstance(question, str) or not question.strip():
        return False
    try:
        choice = choose_ranking(request.get("rank_method"), causal=False, warn=False,
                                ignore_perplexity=not request.get("with_instruction_and_question"))
    except (TypeError, ValueError):
        return True
    return choice.needs_ranker_object


def _with_classifier(compressor: Compressor, classifier: Any) -> Compressor:
    """A shallow copy of ``compressor`` scoring words with ``classifier``; the model,
    tokenizer and settings are shared, the original is left untouched (thread-safe)."""
    clone = copy.copy(compressor)
    clone.classifier = classifier
    clone.method = compressor.method.with_classifier(classifier)
    return clone
