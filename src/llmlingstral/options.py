"""The options of each method, declared once: frozen, typed, keyword-only dataclasses.

Each option's name, default and check live here and nowhere else. An options object is
checked when it is built (through :mod:`.validate`, so a mistake raises the library's
error naming the option), so whatever holds one holds valid options.

Options shared by several methods are small groups the method classes inherit:

* :class:`CommonOptions`: what every compression call takes (budget, question, protect);
* :class:`ContextOptions`: how LLMLingua and LLMLingua-2 treat whole contexts;
* :class:`ForceOptions`: words kept whatever the budget;
* :class:`CoarseToFineOptions`: LLMLingua's passes, which JSON compression shares.

:class:`LLMLinguaOptions`, :class:`LLMLingua2Options` and :class:`JsonOptions` are the
methods' options; :class:`PromptOptions` is ``compress_prompt``'s, which takes both
methods' options (LLMLingua's declaration wins where both name one, as in llmlingua).

The llmlingua-shaped signatures of :class:`~llmlingstral.PromptCompressor` are adapters:
each parameter's default is read from its field (``rate: float = _P.rate``), so that
``help()`` and type checkers show the value and type while the value is written only
here; the body builds the options object and hands it on. ``tests/test_options.py``
walks the signatures and these classes to keep it so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping, Self, Sequence

from .budget import PLACEMENTS
from .errors import UnsupportedOptionError
from .prompt import DEFAULT_LABEL_SEP, DEFAULT_WORD_SEP
from .text.protect import ProtectOption, Protection, resolve_protection
from .text.words import TOKEN_TO_WORD
from .validate import (check_choice, check_count_or_unset, check_finite, check_non_negative_int,
                       check_optional_count, check_positive_int, check_probability, check_rate,
                       check_string_list, check_target, check_text, parse_condition)

REORDER_CHOICES = ("original", "sort", "two_stage")
# llmlingua's control_context_budget and control_sentence_budget rank question-aware by
# default, unlike compress_prompt: their rank_method default.
COARSE_FILTER_RANK_METHOD = "longllmlingua"
SENTENCE_STRINGS = ("joined", "separate")


@dataclass(frozen=True, kw_only=True)
class Options:
    """Base of the options classes: each class checks its own fields after ``__init__``
    and hands the check on to its bases (``super().__post_init__()``)."""

    def __post_init__(self) -> None:
        pass

    def _set(self, name: str, value: Any) -> None:
        """Store a checked value in its normal form (the objects are frozen)."""
        object.__setattr__(self, name, value)

    @classmethod
    def names(cls) -> frozenset[str]:
        """The names of this class's options."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    def replaced(self, **changes: Any) -> Self:
        """A copy with ``changes``, checked as when built (``dataclasses.replace``); a name
        that is not an option of this class is a TypeError naming the ones that are."""
        unknown = sorted(set(changes) - self.names())
        if unknown:
            raise TypeError(f"{type(self).__name__} has no option(s) {unknown}; its options: "
                            f"{sorted(self.names())}")
        return dataclasses.replace(self, **changes)

    def differences(self, base: Options) -> dict[str, Any]:
        """This object's options whose values differ from ``base``'s, or that ``base``
        does not have: the keywords that turn a call with ``base``'s defaults into one with
        this object's."""
        names = base.names()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in names or getattr(self, f.name) != getattr(base, f.name)}

    def shared_with(self, cls: type[Options]) -> dict[str, Any]:
        """This object's values of the options that ``cls`` also has."""
        names = cls.names()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name in names}


@dataclass(frozen=True, kw_only=True)
class CommonOptions(Options):
    """What every compression call takes.

    ``rate`` is the fraction of tokens to keep; ``target_token`` (a token count, -1: use
    the rate) overrides it. ``protect`` keeps facts whole (see
    :func:`~llmlingstral.text.protect.resolve_protection`).
    """

    rate: float = 0.5
    target_token: float = -1
    use_token_level_filter: bool = True
    condition_in_question: str = "none"
    protect: ProtectOption = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_rate("rate", self.rate)
        check_target("target_token", self.target_token)
        parse_condition(self.condition_in_question)
        self.protection  # raises on a malformed protect

    @cached_property
    def protection(self) -> Protection:
        """What this call keeps whole."""
        return resolve_protection(self.protect)


@dataclass(frozen=True, kw_only=True)
class ForceOptions(CommonOptions):
    """Words kept whatever the budget: ``force_tokens`` and, with ``force_reserve_digit``,
    every word holding a digit (llmlingua's LLMLingua-2 options; both methods keep them)."""

    force_tokens: Sequence[str] = ()
    force_reserve_digit: bool = False

    def __post_init__(self) -> None:
        self._set("force_tokens", check_string_list("force_tokens", self.force_tokens))
        super().__post_init__()

    @cached_property
    def protection(self) -> Protection:
        """What this call keeps whole: ``protect`` with ``force_tokens`` and
        ``force_reserve_digit`` added."""
        return resolve_protection(self.protect, self.force_tokens, self.force_reserve_digit)


@dataclass(frozen=True, kw_only=True)
class ContextOptions(Options):
    """How LLMLingua and LLMLingua-2 treat whole contexts: ``force_context_ids`` always
    survive the context filter (checked against the contexts when a call has them), as
    does a context holding ``compress=False`` text with ``strict_preserve_uncompressed``;
    ``concate_question=False`` leaves the question out of the result and its budget."""

    force_context_ids: Sequence[int] | None = None
    strict_preserve_uncompressed: bool = True
    concate_question: bool = True


@dataclass(frozen=True, kw_only=True)
class CoarseToFineOptions(CommonOptions):
    """LLMLingua's sentence and token passes and its ranking, shared with JSON."""

    iterative_size: int = 200
    use_sentence_level_filter: bool = False
    keep_split: bool = False
    keep_first_sentence: int = 0
    keep_last_sentence: int = 0
    keep_sentence_number: int = 0
    high_priority_bonus: float = 100
    context_budget: str = "+100"
    token_budget_ratio: float = 1.4
    condition_compare: bool = False
    rank_method: Any = "llmlingua"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("iterative_size", self.iterative_size)
        for name in ("keep_first_sentence", "keep_last_sentence", "keep_sentence_number"):
            check_non_negative_int(name, getattr(self, name), "a number of sentences")
        check_finite("high_priority_bonus", self.high_priority_bonus, allow_zero=True,
                     meaning="the score added to protected sentences")
        check_finite("token_budget_ratio", self.token_budget_ratio, allow_zero=True,
                     meaning="the sentence filter's budget as a multiple of the target")


@dataclass(frozen=True, kw_only=True)
class LLMLinguaOptions(CoarseToFineOptions, ContextOptions, ForceOptions):
    """Every option of LLMLingua and LongLLMLingua (``compress_prompt``'s, llmlingua 0.2.2
    names and defaults).

    ``force_tokens`` and ``force_reserve_digit`` are LLMLingua-2 options in llmlingua,
    which ignores them here; this method keeps the words they name whatever the budget.
    Benchmark switches (keywords of ``compress_prompt``, not in its signature;
    BENCHMARKS.md has the measurements): ``budget_placement``, how the token pass places
    a context's budget over its windows ("pooled": a threshold over the context's scores
    so far; "window": each window its share; "prompt": llmlingua's threshold over the
    whole prompt's first-pass scores, at the cost of that pass); ``sentence_strings``,
    the strings the question-aware sentence filter scores ("joined": llmlingua's); and
    ``token_level_bos``, whether the token pass reads the text after BOS (True, as
    Mistral models are trained) or without it (False, llmlingua's).
    """

    force_context_number: int | None = None
    use_context_level_filter: bool = True
    reorder_context: str = "original"
    dynamic_context_compression_ratio: float = 0.0
    add_instruction: bool = False
    show_progress: bool | None = None
    budget_placement: str = "pooled"
    sentence_strings: str = "joined"
    token_level_bos: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("reorder_context", self.reorder_context, REORDER_CHOICES)
        check_choice("budget_placement", self.budget_placement, PLACEMENTS)
        check_choice("sentence_strings", self.sentence_strings, SENTENCE_STRINGS)
        if not isinstance(self.token_level_bos, bool):
            raise TypeError(f"token_level_bos must be True or False, got {self.token_level_bos!r}")
        check_optional_count("force_context_number", self.force_context_number,
                             "how many contexts to keep besides the forced ones")
        check_finite("dynamic_context_compression_ratio",
                     self.dynamic_context_compression_ratio, allow_zero=True, maximum=1,
                     meaning="the spread of keep rates from the best to the worst context")


@dataclass(frozen=True, kw_only=True)
class LLMLingua2Options(ContextOptions, ForceOptions):
    """Every option of LLMLingua-2 (``compress_prompt_llmlingua2``'s, llmlingua 0.2.2 names
    and defaults).

    Beyond llmlingua: ``keep_threshold`` (keep words with p(keep) >= it, ignoring rate),
    ``rank_method`` (with a question, the ranker of the context filter; None: the
    classifier's mean keep-probability), ``strict_preserve_uncompressed``, and, set by the
    library, ``with_instruction_and_question``: False is llmlingua 0.2.2's LLMLingua-2
    result, the compressed contexts alone; ``compress_prompt_llmlingua2`` sets it to keep
    the instruction and question around them.
    """

    use_context_level_filter: bool = False
    target_context: int = -1
    context_level_rate: float = 1.0
    context_level_target_token: float = -1
    return_word_label: bool = False
    word_sep: str = DEFAULT_WORD_SEP
    label_sep: str = DEFAULT_LABEL_SEP
    token_to_word: str = "mean"
    drop_consecutive: bool = False
    chunk_end_tokens: Sequence[str] = (".", "\n")
    keep_threshold: float | None = None
    rank_method: Any = None
    with_instruction_and_question: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_target("context_level_target_token", self.context_level_target_token)
        check_rate("context_level_rate", self.context_level_rate)
        check_count_or_unset("target_context", self.target_context, "a number of contexts to keep")
        if self.token_to_word not in TOKEN_TO_WORD:  # llmlingua: NotImplementedError
            raise UnsupportedOptionError(f"token_to_word must be one of {list(TOKEN_TO_WORD)}, "
                                         f"got {self.token_to_word!r}")
        self._set("chunk_end_tokens", check_string_list("chunk_end_tokens",
                                                        self.chunk_end_tokens))
        if self.keep_threshold is not None:
            check_probability("keep_threshold", self.keep_threshold)
        check_text("word_sep", self.word_sep)
        check_text("label_sep", self.label_sep)


@dataclass(frozen=True, kw_only=True)
class PromptOptions(LLMLinguaOptions, LLMLingua2Options):
    """``compress_prompt``'s options: LLMLingua's and LLMLingua-2's together, as llmlingua
    0.2.2's ``compress_prompt`` takes both. Where both methods name an option, LLMLingua's
    default holds.

    ``compress_prompt`` returns llmlingua's keys: ``compressed_prompt``, ``origin_tokens``,
    ``compressed_tokens``, ``ratio``, ``rate`` and ``saving``; counts are Mistral tokens.
    Also ``kept_context_ids`` (the contexts that appear in the compressed prompt, in the
    order they appear) and ``compressed_contexts`` (their compressed texts, aligned).
    ``<llmlingua, ...>`` tags in a context set a part's rate or protect it (see
    :mod:`llmlingstral.tags`) unless ``context_segs`` is given. The LLMLingua-2 options
    (from ``target_context`` to ``chunk_end_tokens``) apply when the compressor is a token
    classifier, except ``force_tokens`` and ``force_reserve_digit``, which keep their words
    with both methods. With ``use_llmlingua2=True`` or ``use_slingua=True``,
    ``compress_prompt`` is ``compress_prompt_llmlingua2`` as llmlingua 0.2.2 calls it: the
    result holds the compressed contexts alone (no instruction or question), and the
    LongLLMLingua options are ignored (but checked). Keyword-only extras: ``show_progress``,
    LLMLingua-2's ``keep_threshold`` and ``protect``: True (the default) keeps numbers,
    dates, amounts, URLs, paths, identifiers and code whole; False is llmlingua's behaviour
    (only ``force_tokens`` and, with ``force_reserve_digit``, digit words); a
    :class:`~llmlingstral.text.protect.Protection` chooses classes and adds patterns.
    """


@dataclass(frozen=True, kw_only=True)
class JsonOptions(CoarseToFineOptions):
    """``compress_json``'s options: LLMLingua's passes over the object's strings, plus
    the key-value filter (``use_keyvalue_level_filter``, pairs ranked and kept within the
    budget, put back in the order ``reorder_keyvalue`` asks for)."""

    use_keyvalue_level_filter: bool = False
    reorder_keyvalue: str = "original"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("reorder_keyvalue", self.reorder_keyvalue, REORDER_CHOICES)

    def for_strings(self, rate: float) -> PromptOptions:
        """The options the strings of the object are compressed with, at ``rate``: each
        string is a context of its own, never dropped by the context filter."""
        return PromptOptions(**{**self.shared_with(PromptOptions), "rate": rate,
                                "target_token": -1, "use_context_level_filter": False,
                                "concate_question": False})


def known_options(cls: type[Options], values: Mapping[str, Any], call: str) -> Mapping[str, Any]:
    """``values`` (keywords a call takes beyond its signature), once each is an option of
    ``cls``: an unknown one is a TypeError naming it, as Python names an unexpected keyword."""
    unknown = sorted(set(values) - cls.names())
    if unknown:
        raise TypeError(f"{call}() got unexpected keyword argument(s) {unknown}; see the "
                        f"parameters of compress_prompt and compress_prompt_llmlingua2")
    return values
