"""What a ``rank_method`` means for one call: the one place that reads it.

Every caller that ranks (``compress_prompt``, ``compress_prompt_llmlingua2``,
``get_rank_results``, the ``control_*`` adapters, ``compress_json``, the document components
and the batch driver) asks :func:`choose_ranking` and gets a :class:`RankChoice`: which
ranking runs, under which question condition, and which way its scores run. A compressor
then builds the ranker of a choice with :func:`ranker_for`.

The policy, in one place:

* a name is checked and made canonical by :func:`.registry.resolve_rank_method` (aliases,
  ``_`` for ``-``, surrounding spaces; llmlingua's third-party names with a
  DeprecationWarning); an object with ``rank(documents, question)`` is used as given;
  ``None`` is the model's own ranking (``"llmlingua"``);
* ``llmlingua`` and ``longllmlingua`` rank by the causal LM's perplexity. Inside a
  compression the condition is the method's own (``llmlingua`` never looks at the question,
  ``longllmlingua`` without a condition ranks by -log p(question | document)); a direct
  ``get_rank_results`` call (``as_called``) honours ``condition_in_question`` as given,
  as llmlingua does, None meaning the method's own;
* without a question (``question`` given and empty) nothing is conditioned on it;
* a token classifier ranks ``llmlingua`` by its mean keep probability and cannot rank
  ``longllmlingua``, except in LLMLingua-2's compression, which ignores both perplexity
  names as llmlingua's does (``ignore_perplexity``);
* gzip distances and question-conditioned perplexities ascend (lowest is best); every
  other score descends; an object's direction is unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, MutableMapping, Mapping

from .base import Ranker
from .registry import PERPLEXITY_METHODS, cached_ranker, resolve_rank_method

if TYPE_CHECKING:
    from ..scoring.protocol import CausalScoring

RankKind = Literal["perplexity", "keep_probability", "registry", "given"]

_NO_CLASSIFIER_PERPLEXITY = ("rank_method='longllmlingua' is perplexity ranking, which needs a "
                             "causal LM compressor; pick another rank_method such as 'bm25'")


@dataclass(frozen=True)
class RankChoice:
    """How one call ranks documents.

    kind: ``"perplexity"`` (the causal LM's), ``"keep_probability"`` (a token classifier's
        mean keep probability), ``"registry"`` (a ranker built by name, see
        :func:`.registry.build_ranker`) or ``"given"`` (the caller's own object).
    method: the canonical rank method name (None for a given object).
    condition: the question condition, ``"none"``, ``"before"`` or ``"after"``; perplexity
        ranks under it, and LLMLingua's sentence filter scores sentences under it.
    ascending: whether the scores run lowest first (None: unknown, a given object).
    given: the caller's ranker object, for kind ``"given"``.
    """

    kind: RankKind
    method: str | None
    condition: str
    ascending: bool | None
    given: Any = None

    @property
    def needs_ranker_object(self) -> bool:
        """Whether ranking calls an object that may hold another model or call an API."""
        return self.kind in ("registry", "given")


def choose_ranking(rank_method: Any, condition_in_question: str | None = "none", *,
                   causal: bool = True, question: str | None = None, as_called: bool = False,
                   ignore_perplexity: bool = False, warn: bool = True) -> RankChoice:
    """The :class:`RankChoice` for ``rank_method`` on a causal LM (``causal``) or a token
    classifier compressor. See the module docstring for the policy.

    ``condition_in_question`` None (only with ``as_called``) is the method's own condition.
    ``warn=False`` resolves legacy names without their DeprecationWarning, for callers that
    look at a choice before the call that ranks with it (which warns).
    Raises ValueError/TypeError for an unknown or malformed ``rank_method`` or condition.
    """
    from .perplexity import parse_condition, perplexity_condition

    if hasattr(rank_method, "rank"):
        mode = parse_condition(condition_in_question or "none")[0]
        return RankChoice("given", None, _asked(mode, question), None, rank_method)
    method = "llmlingua" if rank_method is None else resolve_rank_method(rank_method, warn=warn)
    if as_called and condition_in_question is not None and method in PERPLEXITY_METHODS:
        condition = parse_condition(condition_in_question)[0]
    else:
        condition = perplexity_condition(method, condition_in_question or "none")
    condition = _asked(condition, question)
    if method not in PERPLEXITY_METHODS:
        return RankChoice("registry", method, condition, method == "gzip")
    if causal:
        return RankChoice("perplexity", method, condition, condition != "none")
    if method == "longllmlingua" and not ignore_perplexity:
        raise ValueError(_NO_CLASSIFIER_PERPLEXITY)
    return RankChoice("keep_probability", method, "none", False)


def ranker_for(choice: RankChoice, *, scorer: "CausalScoring | None", loaded: Any,
               config: Mapping[str, Any] | None,
               cache: MutableMapping[tuple, Ranker]) -> Ranker | None:
    """The ranker of ``choice``: None for a classifier's keep probability.

    ``scorer`` ranks perplexity choices (joined strings, as llmlingua scores them);
    ``loaded`` (the causal LM, None on a classifier) backs ``hybrid`` and a local
    ``mistral-rerank``; rankers built by name are kept in ``cache`` with their ``config``.
    """
    if choice.kind == "given":
        return choice.given
    if choice.kind == "keep_probability":
        return None
    if choice.kind == "perplexity":
        from .perplexity import PerplexityRanker

        return PerplexityRanker(scorer, choice.condition, joined=True)
    return cached_ranker(cache, choice.method, config, loaded)


def _asked(condition: str, question: str | None) -> str:
    """No condition on a question that is not there."""
    return "none" if question is not None and not question else condition

