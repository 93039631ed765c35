"""The named recipes: how each method is called when the caller names only the method.

A :class:`Recipe` is a method name and a value of that method's options class
(:mod:`.options`, where each option's name, type, default and check live): the LongLLMLingua
recipe is a :class:`~.options.PromptOptions`, the LLMLingua-2 recipe an
:class:`~.options.LLMLingua2Options`. Every entry point takes its recipe from here
(``llmlingstral compress``, ``compress-batch``, the service, the LangChain and LlamaIndex
components, Ray), so the same input with the same settings gives the same output whichever
way it comes in. An option the caller sets always wins over the recipe's
(:meth:`Recipe.with_options`, :meth:`Recipe.keywords`).

The entry points call ``compress_prompt``: :meth:`Recipe.keywords` gives the keywords that
make a ``compress_prompt`` call the recipe's, the options where the recipe differs from
``compress_prompt``'s own defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Mapping

from .options import LLMLingua2Options, LLMLinguaOptions, Options, PromptOptions

MethodName = Literal["llmlingua", "longllmlingua", "llmlingua2"]
# The options class each method reads: ``methods.base.Method.options_type``, restated here
# because that module loads torch and this one is read at start-up by the command line
# (tests/test_recipes.py checks that the two agree).
OPTIONS_OF: Mapping[str, type[Options]] = MappingProxyType({
    "llmlingua": LLMLinguaOptions, "longllmlingua": LLMLinguaOptions,
    "llmlingua2": LLMLingua2Options})
# ``compress_prompt``'s defaults, which the keywords of a recipe are laid over.
_CALL_DEFAULTS = PromptOptions()


@dataclass(frozen=True)
class Recipe:
    """A method and the options it is called with (a frozen options object); read-only."""

    method: MethodName
    options: Options

    def __post_init__(self) -> None:
        if self.method not in OPTIONS_OF:
            raise ValueError(f"a recipe's method is one of {sorted(OPTIONS_OF)}, got "
                             f"{self.method!r}")
        wanted = OPTIONS_OF[self.method]
        if not isinstance(self.options, wanted):
            raise TypeError(f"the options of a {self.method} recipe are a {wanted.__name__} "
                            f"(or PromptOptions), got {type(self.options).__name__}")

    def with_options(self, **changes: Any) -> Recipe:
        """This recipe with the caller's ``changes`` over its options; an unknown option is
        a TypeError naming the valid ones, a bad value the options' own error."""
        return Recipe(self.method, self.options.replaced(**changes))

    def keywords(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``compress_prompt`` keywords of the recipe (its options where they differ
        from ``compress_prompt``'s defaults), with ``overrides`` (the caller's own keywords,
        checked by the call) on top."""
        return {**self.options.differences(_CALL_DEFAULTS), **(overrides or {})}

    @property
    def rank_method(self) -> Any:
        """The document ranking of the recipe's coarse pass (None: the model's own)."""
        return self.options.rank_method


LLMLINGUA = Recipe("llmlingua", PromptOptions())
"""LLMLingua: ``compress_prompt``'s own defaults (question-blind ``"llmlingua"`` ranking)."""

# The ranking was chosen on NQ-open dev questions with ``nano`` (BENCHMARKS.md, "The
# LongLLMLingua recipe"): bm25 fused with the model's own scores keeps the answer far more
# often than the model's scores alone.
LONGLLMLINGUA = Recipe("longllmlingua", PromptOptions(
    rank_method="hybrid", condition_in_question="after_condition", condition_compare=True,
    reorder_context="sort", dynamic_context_compression_ratio=0.3, context_budget="+100"))
"""LongLLMLingua: question-aware ranking, conditioning and dynamic ratios, documents most
relevant first."""

LLMLINGUA2 = Recipe("llmlingua2", LLMLingua2Options(with_instruction_and_question=True))
"""LLMLingua-2 as ``compress_prompt_llmlingua2`` calls it: every context compressed by the
token classifier, none dropped whole, and the instruction and question kept verbatim around
them (in the result and its budget), as the other recipes keep them. ``compress_prompt``
with :meth:`Recipe.keywords` gives this result too, on a token classifier."""

RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {r.method: r for r in (LLMLINGUA, LONGLLMLINGUA, LLMLINGUA2)})
"""The recipes by method name."""


def recipe_for(method: str) -> Recipe:
    """The recipe of ``method``; ValueError naming the methods that have one."""
    try:
        return RECIPES[method]
    except (KeyError, TypeError):
        raise ValueError(f"no recipe for method {method!r}; one of {sorted(RECIPES)}") from None
