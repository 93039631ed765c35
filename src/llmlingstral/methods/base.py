"""The method contract: compress a prompt's parts with options into a result.

A :class:`~llmlingstral.PromptCompressor` holds the method its model calls for (a causal LM:
:class:`LLMLinguaMethod`, which hands question-aware calls to :class:`LongLLMLinguaMethod`;
a token classifier: :class:`LLMLingua2Method` or :class:`SecurityLinguaMethod`) and asks
it, instead of checking which model it loaded.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

from ..errors import InvalidArgumentError
from ..options import LLMLingua2Options, LLMLinguaOptions, Options
from ..prompt import Segment, context_text
from ..ranking.base import Ranker
from ..ranking.resolve import RankChoice, choose_ranking
from ..scoring.causal import CausalScorer
from ..scoring.classifier import TokenClassifier
from . import llmlingua as llmlingua_method
from . import llmlingua2 as llmlingua2_method
from .security import SecurityLingua


class Method(ABC):
    """One compression method on the model that runs it."""

    name: ClassVar[str]                  # as llmlingua names it
    family: ClassVar[str]                # "llmlingua" (a causal LM) or "llmlingua2" (a classifier)
    options_type: ClassVar[type[Options]]  # the options it reads
    wrong_options: ClassVar[str]         # why other options do not fit, and what to do

    def for_options(self, options: Options) -> Method:
        """The method that runs a call with ``options``: this one, unless it refuses them."""
        if not isinstance(options, self.options_type):
            raise ValueError(self.wrong_options)
        return self

    def rank_choice(self, options: Any, question: str) -> RankChoice:
        """How this call ranks its contexts: ``options.rank_method`` read by the one
        resolver, :func:`~llmlingstral.ranking.resolve.choose_ranking`."""
        return choose_ranking(options.rank_method, options.condition_in_question,
                              causal=self.family == "llmlingua", question=question)

    @abstractmethod
    def compress(self, contexts: list[list[Segment]], instruction: str, question: str,
                 options: Any, ranker: Ranker | None) -> dict[str, Any]:
        """llmlingua's result for ``contexts`` between ``instruction`` and ``question``."""


class LLMLinguaMethod(Method):
    """LLMLingua: coarse-to-fine compression scored by a causal LM."""

    name, family = "llmlingua", "llmlingua"
    options_type = LLMLinguaOptions
    wrong_options = ("compress_prompt_llmlingua2 needs a token classifier: build the "
                     "compressor with use_llmlingua2=True and an LLMLingua-2 checkpoint")

    def __init__(self, scorer: CausalScorer) -> None:
        self.scorer = scorer

    def for_options(self, options: Options) -> Method:
        method = super().for_options(options)
        # Read as the ranking reads it (a padded name too); its own call warns for a legacy one.
        if choose_ranking(options.rank_method, options.condition_in_question,
                          warn=False).method == "longllmlingua":
            return LongLLMLinguaMethod(self.scorer)
        return method

    def compress(self, contexts: list[list[Segment]], instruction: str, question: str,
                 options: LLMLinguaOptions, ranker: Ranker | None) -> dict[str, Any]:
        outcome = llmlingua_method.compress(self.scorer, contexts, instruction, question,
                                            options, ranker=ranker)
        return outcome.as_dict()


class LongLLMLinguaMethod(LLMLinguaMethod):
    """LongLLMLingua: LLMLingua with the contexts ranked by how well they answer the
    question (``rank_method="longllmlingua"``), which it therefore needs."""

    name = "longllmlingua"

    def compress(self, contexts: list[list[Segment]], instruction: str, question: str,
                 options: LLMLinguaOptions, ranker: Ranker | None) -> dict[str, Any]:
        if not question.strip():
            raise InvalidArgumentError("rank_method='longllmlingua' ranks the contexts by how "
                                       "well they answer the question: pass question=..., or "
                                       "use rank_method='llmlingua'")
        if not any(context_text(c).strip() for c in contexts):
            raise ValueError("question-aware compression needs at least one non-empty "
                             "document, but the contexts are missing or all empty")
        return super().compress(contexts, instruction, question, options, ranker)


class LLMLingua2Method(Method):
    """LLMLingua-2: each word kept or dropped by a token classifier's keep-probability."""

    name, family = "llmlingua2", "llmlingua2"
    options_type = LLMLingua2Options
    wrong_options = "a token classifier takes LLMLingua2Options or PromptOptions"

    def __init__(self, classifier: TokenClassifier, config: dict[str, Any]) -> None:
        self.classifier, self.config = classifier, config

    def with_classifier(self, classifier: TokenClassifier) -> LLMLingua2Method:
        """This method scoring words with ``classifier`` (shared batches, see batch.py)."""
        clone = copy.copy(self)
        clone.classifier = classifier
        return clone

    def rank_choice(self, options: LLMLingua2Options, question: str) -> RankChoice:
        # llmlingua's LLMLingua-2 ignores the perplexity names: the classifier ranks.
        return choose_ranking(options.rank_method, options.condition_in_question,
                              causal=False, question=question,
                              ignore_perplexity=not options.with_instruction_and_question)

    def compress(self, contexts: list[list[Segment]], instruction: str, question: str,
                 options: LLMLingua2Options, ranker: Ranker | None) -> dict[str, Any]:
        llmlingua2_method.check_force_token_count(options, self.config)
        outcome = llmlingua2_method.compress(self.classifier, contexts, options,
                                             instruction=instruction, question=question,
                                             ranker=ranker)
        return outcome.as_dict(options.word_sep, options.label_sep)


class SecurityLinguaMethod(LLMLingua2Method):
    """SecurityLingua: the intent of a prompt, the words its classifier marks as the
    request (p(keep) >= the guard's threshold unless a call sets ``keep_threshold``)."""

    name = "securitylingua"

    def __init__(self, guard: SecurityLingua, config: dict[str, Any]) -> None:
        super().__init__(guard.classifier, config)
        self.guard = guard

    def compress(self, contexts: list[list[Segment]], instruction: str, question: str,
                 options: LLMLingua2Options, ranker: Ranker | None) -> dict[str, Any]:
        return super().compress(contexts, instruction, question,
                                intent_options(options, self.guard.threshold), ranker)


def intent_options(options: LLMLingua2Options, threshold: float) -> LLMLingua2Options:
    """SecurityLingua's reading of LLMLingua-2 options: the words with p(keep) >=
    ``threshold`` unless the call sets ``keep_threshold``; and what the classifier marks as
    the request, as :meth:`SecurityLingua.extract_intent` gives it, so ``protect=True``
    adds no facts (a Protection still does)."""
    changes: dict[str, Any] = {}
    if options.keep_threshold is None:
        changes["keep_threshold"] = threshold
    if options.protect is True:
        changes["protect"] = False
    return replace(options, **changes) if changes else options
