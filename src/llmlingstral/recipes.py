"""The named recipes: how each method is called when the caller names only the method.

A :class:`Recipe` is a method name and the keyword options ``compress_prompt`` (or
``compress_prompt_llmlingua2``) is called with. Every entry point takes its recipe from
here (``llmlingstral compress``, ``compress-batch``, the service, the LangChain and
LlamaIndex components, Ray), so the same input with the same settings gives the same output
whichever way it comes in. An option the caller sets always wins over the recipe's
(:meth:`Recipe.keywords`).

The options are a typed mapping (:class:`RecipeOptions`) with ``compress_prompt``'s own
names, so a recipe's options are the keywords of a call as they stand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping, TypedDict

MethodName = Literal["llmlingua", "longllmlingua", "llmlingua2"]


class RecipeOptions(TypedDict, total=False):
    """The ``compress_prompt`` keywords a recipe may set, with their types."""

    rank_method: str
    condition_in_question: str
    condition_compare: bool
    reorder_context: str
    dynamic_context_compression_ratio: float
    context_budget: str
    use_context_level_filter: bool


@dataclass(frozen=True)
class Recipe:
    """A method and the keyword options it is called with; read-only."""

    method: MethodName
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.options) - set(RecipeOptions.__annotations__)
        if unknown:
            raise ValueError(f"a recipe sets only {sorted(RecipeOptions.__annotations__)}; "
                             f"got {sorted(unknown)}")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def keywords(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The recipe's options with ``overrides`` (the caller's own options) on top."""
        return {**self.options, **(overrides or {})}

    @property
    def rank_method(self) -> str | None:
        """The document ranking of the recipe's coarse pass (None: the method's default)."""
        return self.options.get("rank_method")


LLMLINGUA = Recipe("llmlingua")
"""LLMLingua: ``compress_prompt``'s own defaults (question-blind ``"llmlingua"`` ranking)."""

# The ranking was chosen on NQ-open dev questions with ``nano`` (BENCHMARKS.md, "The
# LongLLMLingua recipe"): bm25 fused with the model's own scores keeps the answer far more
# often than the model's scores alone.
LONGLLMLINGUA = Recipe("longllmlingua", RecipeOptions(
    rank_method="hybrid", condition_in_question="after_condition", condition_compare=True,
    reorder_context="sort", dynamic_context_compression_ratio=0.3, context_budget="+100"))
"""LongLLMLingua: question-aware ranking, conditioning and dynamic ratios, documents most
relevant first."""

LLMLINGUA2 = Recipe("llmlingua2", RecipeOptions(use_context_level_filter=False))
"""LLMLingua-2: every context compressed by the token classifier, none dropped whole (the
default of ``compress_prompt_llmlingua2``)."""

RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {r.method: r for r in (LLMLINGUA, LONGLLMLINGUA, LLMLINGUA2)})
"""The recipes by method name."""


def recipe_for(method: str) -> Recipe:
    """The recipe of ``method``; ValueError naming the methods that have one."""
    try:
        return RECIPES[method]
    except (KeyError, TypeError):
        raise ValueError(f"no recipe for method {method!r}; one of {sorted(RECIPES)}") from None
