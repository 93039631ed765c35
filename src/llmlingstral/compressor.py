"""``PromptCompressor``: the llmlingua 0.2.2 API on Mistral models.

The facade is thin: it checks arguments, turns them into settings and hands them to the
method modules. Code written for ``llmlingua.PromptCompressor`` runs after changing the
import; token counts are Mistral tokens.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .methods import llmlingua as llmlingua_method
from .methods.llmlingua import LLMLinguaSettings
from .methods.security import GuardedRequest, SecurityLingua
from .methods import llmlingua2 as llmlingua2_method
from .methods.token_level import Segment
from .models.loader import LoadedModel, load_model
from .models.registry import MISTRAL_MODELS
from .ranking.base import RankResults
from .ranking.perplexity import PerplexityRanker
from .ranking.registry import PERPLEXITY_METHODS, cached_ranker, resolve_rank_method
from .scoring.causal import CausalScorer

DEFAULT_MODEL = MISTRAL_MODELS["default"].source


class PromptCompressor:
    """Compress prompts with LLMLingua, LongLLMLingua, LLMLingua-2 or SecurityLingua.

    Args:
        model_name: a preset from :data:`MISTRAL_MODELS` (``"nano"`` runs offline on CPU),
            a Hugging Face id, or a local checkpoint folder.
        device_map: ``"auto"`` (GPU if there is one), ``"cuda"``, ``"cpu"``, ``"mps"``,
            ``"balanced"`` or a transformers device map.
        model_config: ``dtype`` and other ``from_pretrained`` keywords; ``"max_window"``
            caps the tokens the scorer attends to at once.
        open_api_config: API settings for rankers (``api_key``, ``server_url``).
        use_llmlingua2: the checkpoint is an LLMLingua-2 token classifier.
        use_slingua: the checkpoint is a SecurityLingua classifier: ``compress_prompt``
            returns the intent of the prompt (words with p(keep) >= 0.5, as llmlingua), and
            :meth:`guard_messages` guards chat requests. Works without ``use_llmlingua2``.
        llmlingua2_config: ``max_batch_size`` (default 50), ``max_force_token`` (100).
    """

    def __init__(self, model_name: str = DEFAULT_MODEL, device_map: Any = "auto",
                 model_config: Mapping[str, Any] | None = None,
                 open_api_config: Mapping[str, Any] | None = None,
                 use_llmlingua2: bool = False, use_slingua: bool = False,
                 llmlingua2_config: Mapping[str, Any] | None = None) -> None:
        options = dict(model_config or {})
        window = options.pop("max_window", None)
        self.model_name = model_name
        self.open_api_config = dict(open_api_config or {})
        self.use_llmlingua2 = bool(use_llmlingua2)
        self.use_slingua = bool(use_slingua)
        self.llmlingua2_config = dict(llmlingua2_config or {})
        task = "token-classification" if (use_llmlingua2 or use_slingua) else "causal-lm"
        self.loaded: LoadedModel = load_model(model_name, task=task, device_map=device_map,
                                              model_config=options)
        self.model = self.loaded.model
        self.tokenizer = self.loaded.tokenizer
        self.device = self.loaded.device
        self.max_position_embeddings = self.loaded.max_position
        self.scorer = CausalScorer(self.loaded, window=window) if task == "causal-lm" else None
        self.classifier = llmlingua2_method.build_classifier(self.loaded, self.llmlingua2_config) \
            if task == "token-classification" else None
        self._security: SecurityLingua | None = None

    def __repr__(self) -> str:
        return f"PromptCompressor(model_name={self.model_name!r}, device={self.device})"

    def __call__(self, *args, **kwargs) -> dict[str, Any]:
        return self.compress_prompt(*args, **kwargs)

    # ----------------------------------------------------------------------- LLMLingua

    def compress_prompt(self, context: str | Sequence[str], instruction: str = "",
                        question: str = "", rate: float = 0.5, target_token: float = -1,
                        iterative_size: int = 200, force_context_ids: Sequence[int] | None = None,
                        force_context_number: int | None = None,
                        use_sentence_level_filter: bool = False,
                        use_context_level_filter: bool = True,
                        use_token_level_filter: bool = True, keep_split: bool = False,
                        keep_first_sentence: int = 0, keep_last_sentence: int = 0,
                        keep_sentence_number: int = 0, high_priority_bonus: float = 100,
                        context_budget: str = "+100", token_budget_ratio: float = 1.4,
                        condition_in_question: str = "none", reorder_context: str = "original",
                        dynamic_context_compression_ratio: float = 0.0,
                        condition_compare: bool = False, add_instruction: bool = False,
                        rank_method: str = "llmlingua", concate_question: bool = True,
                        context_segs: Sequence[Sequence[str]] | None = None,
                        context_segs_rate: Sequence[Sequence[float]] | None = None,
                        context_segs_compress: Sequence[Sequence[bool]] | None = None,
                        strict_preserve_uncompressed: bool = True,
                        show_progress: bool | None = None, **llmlingua2_kwargs: Any) -> dict[str, Any]:
        """Compress ``context`` (a string or a list of documents) around an instruction and a
        question, which are never compressed.

        Returns llmlingua's keys: ``compressed_prompt``, ``origin_tokens``,
        ``compressed_tokens``, ``ratio``, ``rate`` and ``saving``; counts are Mistral tokens.
        ``rate`` is the fraction of tokens to keep; ``target_token`` overrides it.
        With ``use_llmlingua2=True`` or ``use_slingua=True`` this is
        :meth:`compress_prompt_llmlingua2`.
        """
        if self.use_llmlingua2 or self.use_slingua:
            return self.compress_prompt_llmlingua2(
                context, instruction=instruction, question=question, rate=rate,
                target_token=target_token, force_context_ids=force_context_ids,
                use_context_level_filter=use_context_level_filter,
                use_token_level_filter=use_token_level_filter, rank_method=rank_method,
                condition_in_question=condition_in_question, context_segs=context_segs,
                context_segs_rate=context_segs_rate, context_segs_compress=context_segs_compress,
                strict_preserve_uncompressed=strict_preserve_uncompressed, **llmlingua2_kwargs)
        if self.scorer is None:
            raise ValueError("this compressor holds a token classifier; call "
                             "compress_prompt_llmlingua2 or build it with a causal LM")
        _check_rate_and_target(rate, target_token)
        contexts = _segments(context, context_segs, context_segs_rate, context_segs_compress)
        instruction, question = _check_text("instruction", instruction), _check_text("question", question)
        if question.strip() and rank_method == "longllmlingua" and \
                not any("".join(s.text for s in c).strip() for c in contexts):
            raise ValueError("question-aware compression needs at least one non-empty "
                             "document, but the contexts are missing or all empty")
        _check_positive_int("iterative_size", iterative_size)
        settings = LLMLinguaSettings(
            rate=rate, target_token=target_token, iterative_size=iterative_size,
            force_context_ids=force_context_ids, force_context_number=force_context_number,
            use_sentence_level_filter=use_sentence_level_filter,
            use_context_level_filter=use_context_level_filter,
            use_token_level_filter=use_token_level_filter, keep_split=keep_split,
            keep_first_sentence=keep_first_sentence, keep_last_sentence=keep_last_sentence,
            keep_sentence_number=keep_sentence_number, high_priority_bonus=high_priority_bonus,
            context_budget=context_budget, token_budget_ratio=token_budget_ratio,
            condition_in_question=condition_in_question, reorder_context=reorder_context,
            dynamic_context_compression_ratio=dynamic_context_compression_ratio,
            condition_compare=condition_compare, add_instruction=add_instruction,
            rank_method=rank_method, concate_question=concate_question,
            strict_preserve_uncompressed=strict_preserve_uncompressed,
            show_progress=show_progress)
        ranker = self._ranker_for(rank_method, condition_in_question)
        outcome = llmlingua_method.compress(self.scorer, contexts, instruction, question,
                                            settings, ranker=ranker)
        return outcome.as_dict()

    def compress_prompts(self, prompts: Sequence[str | Sequence[str] | Mapping[str, Any]], *,
                         show_progress: bool | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Compress many prompts; one :meth:`compress_prompt` result per prompt, in order.

        Each prompt is a context (a string or a list of strings) or a mapping of
        :meth:`compress_prompt` keyword arguments holding ``"context"``; its keywords
        override ``kwargs``, which apply to every prompt. Results equal one-by-one calls;
        LLMLingua-2 scores the windows of all prompts in shared forward passes, LLMLingua
        advances several prompts in lockstep (see :mod:`llmlingstral.batch`). The first
        failing prompt raises its error, with a note naming its index. ``show_progress``:
        a bar over prompts (default: from 16 prompts on).
        """
        from .batch import compress_prompts

        return compress_prompts(self, prompts, show_progress=show_progress, **kwargs)

    # ----------------------------------------------------------------------- LLMLingua-2

    def compress_prompt_llmlingua2(
            self, context: str | Sequence[str], rate: float = 0.5, target_token: float = -1,
            use_context_level_filter: bool = False, use_token_level_filter: bool = True,
            target_context: int = -1, context_level_rate: float = 1.0,
            context_level_target_token: float = -1,
            force_context_ids: Sequence[int] | None = None, return_word_label: bool = False,
            word_sep: str = "\t\t|\t\t", label_sep: str = " ", token_to_word: str = "mean",
            force_tokens: Sequence[str] = (), force_reserve_digit: bool = False,
            drop_consecutive: bool = False, chunk_end_tokens: Sequence[str] = (".", "\n"),
            *, instruction: str = "", question: str = "", rank_method: Any = None,
            condition_in_question: str = "none", keep_threshold: float | None = None,
            context_segs: Sequence[Sequence[str]] | None = None,
            context_segs_rate: Sequence[Sequence[float]] | None = None,
            context_segs_compress: Sequence[Sequence[bool]] | None = None,
            strict_preserve_uncompressed: bool = True) -> dict[str, Any]:
        """Compress with LLMLingua-2: keep the words the token classifier rates most useful.

        llmlingua 0.2.2's parameters and result keys (``compressed_prompt``,
        ``compressed_prompt_list``, ``origin_tokens``, ``compressed_tokens``, ``ratio``,
        ``rate``, ``saving``; ``fn_labeled_original_prompt`` with ``return_word_label``),
        counted in Mistral tokens. Beyond llmlingua: ``instruction`` and ``question`` are
        kept verbatim around the contexts; with a ``question``, ``rank_method`` (a
        ``get_rank_results`` method name or a ranker) picks the contexts before the word
        pass; ``keep_threshold`` keeps every word with p(keep) >= it instead of a rate;
        ``context_segs*`` give per-segment rates and ``compress=False`` segments.
        With ``use_slingua=True`` the threshold defaults to ``self.security.threshold``
        (0.5) and ``rate`` is ignored: ``compressed_prompt`` is the prompt's intent.
        """
        if self.classifier is None:
            raise ValueError("compress_prompt_llmlingua2 needs a token classifier: build the "
                             "compressor with use_llmlingua2=True and an LLMLingua-2 checkpoint")
        if self.use_slingua and keep_threshold is None:
            keep_threshold = self.security.threshold
        contexts = _segments(context, context_segs, context_segs_rate, context_segs_compress)
        if context_segs is None:
            contexts = llmlingua2_method.parse_tags(contexts)
        settings = llmlingua2_method.LLMLingua2Settings(
            rate=rate, target_token=target_token, use_context_level_filter=use_context_level_filter,
            use_token_level_filter=use_token_level_filter, target_context=target_context,
            context_level_rate=context_level_rate,
            context_level_target_token=context_level_target_token,
            force_context_ids=force_context_ids, return_word_label=return_word_label,
            word_sep=word_sep, label_sep=label_sep, token_to_word=token_to_word,
            force_tokens=force_tokens, force_reserve_digit=force_reserve_digit,
            drop_consecutive=drop_consecutive, chunk_end_tokens=chunk_end_tokens,
            keep_threshold=keep_threshold, strict_preserve_uncompressed=strict_preserve_uncompressed,
            max_force_token=llmlingua2_method.max_force_token(self.llmlingua2_config))
        rank = None
        if rank_method not in (None, "llmlingua"):
            def rank(documents, query):
                return self.get_rank_results(documents, query, rank_method, condition_in_question)
        outcome = llmlingua2_method.compress(
            self.classifier, contexts, settings, instruction=_check_text("instruction", instruction),
            question=_check_text("question", question), rank=rank)
        return outcome.as_dict(word_sep, label_sep)

    # ----------------------------------------------------------------------- SecurityLingua

    @property
    def security(self) -> SecurityLingua:
        """The :class:`SecurityLingua` guard on this compressor's token classifier."""
        if self._security is None:
            if self.classifier is None:
                raise ValueError("SecurityLingua needs a token classifier: build the compressor "
                                 "with use_slingua=True and a SecurityLingua checkpoint")
            self._security = SecurityLingua(self.classifier)
        return self._security

    def guard_messages(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """New chat messages whose system instruction states the intent of the latest user
        turn and asks the model to refuse a harmful one; user messages are left untouched.
        See :meth:`SecurityLingua.guard`."""
        return self.security.guard_messages(messages)

    def guard(self, messages: Sequence[Mapping[str, Any]]) -> GuardedRequest:
        """:meth:`guard_messages` with the extracted intent and the token cost."""
        return self.security.guard(messages)

    # ----------------------------------------------------------------------- ranking

    def get_rank_results(self, context: str | Sequence[str], question: str, rank_method: str,
                         condition_in_question: str = "none",
                         context_tokens_length: Sequence[int] | None = None) -> RankResults:
        """Rank documents for ``question``: ``[(index, score)]``, best first.

        ``rank_method``: llmlingua, longllmlingua, bm25, gzip, e5-mistral, mistral-embed,
        mistral-rerank (settings in ``open_api_config``, see ``ranking.registry``), a legacy
        llmlingua name, or any object with ``rank(documents, question)``.
        """
        documents = [_check_text(f"context[{i}]", c) for i, c in
                     enumerate([context] if isinstance(context, str) else context)]
        question = _check_text("question", question)
        if not documents and question.strip():
            raise ValueError("a question was given but no contexts: pass the documents to "
                             "rank as a list of strings")
        if documents and not any(d.strip() for d in documents):
            raise ValueError("every context is empty: nothing to rank")
        ranker = self._ranker_for(rank_method, condition_in_question)
        if ranker is None:
            mode = "after" if resolve_rank_method(rank_method) == "longllmlingua" else "none"
            ranker = PerplexityRanker(self._require_scorer(), mode)
        return ranker.rank(documents, question)

    def _ranker_for(self, rank_method: Any, condition_in_question: str):
        """A ranker object, or None for the built-in perplexity ranking.

        Legacy llmlingua names map to their Mistral replacement with a DeprecationWarning.
        """
        if hasattr(rank_method, "rank"):
            return rank_method
        method = resolve_rank_method(rank_method, stacklevel=3)
        if method in PERPLEXITY_METHODS:
            return None
        return cached_ranker(self, method, self.open_api_config,
                             self.loaded if self.scorer is not None else None)

    def _require_scorer(self) -> CausalScorer:
        if self.scorer is None:
            raise ValueError("perplexity ranking needs a causal LM compressor")
        return self.scorer

    # ----------------------------------------------------------------------- structured

    def structured_compress_prompt(self, context: str | Sequence[str], instruction: str = "",
                                   question: str = "", rate: float = 0.5,
                                   target_token: float = -1, **kwargs: Any) -> dict[str, Any]:
        """Compress contexts marked up with ``<llmlingua, rate=0.4>`` /
        ``<llmlingua, compress=False>`` tags (see :mod:`llmlingstral.structured`); other
        keywords as :meth:`compress_prompt`."""
        from .structured import structured_compress_prompt

        return structured_compress_prompt(self, context, instruction, question, rate,
                                          target_token, **kwargs)

    def compress_json(self, json_data: Mapping[str, Any] | str,
                      json_config: Mapping[str, Any] | str | None = None,
                      **kwargs: Any) -> dict[str, Any]:
        """Compress the text inside a JSON object with per-key settings (rate, compress,
        value_type, pair_remove); ``compressed_prompt`` is the compressed object. Keywords
        as llmlingua's ``compress_json`` (see :mod:`llmlingstral.json_compress`)."""
        from .json_compress import compress_json

        return compress_json(self, json_data, json_config, **kwargs)

    def recover(self, original_prompt: str, compressed_prompt: str, response: str) -> str:
        """Expand the parts of ``response`` quoted from ``compressed_prompt`` to the full text
        of ``original_prompt`` they came from (see :mod:`llmlingstral.recover`)."""
        from .recover import recover

        return recover(original_prompt, compressed_prompt, response)


# --------------------------------------------------------------------------- checks


def _check_text(name: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_rate_and_target(rate: object, target_token: object) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or math.isnan(rate) \
            or not 0 < rate <= 1:
        raise ValueError(f"rate is the fraction of tokens to keep and must be in (0, 1], got "
                         f"{rate!r}")
    if isinstance(target_token, bool) or not isinstance(target_token, (int, float)) \
            or math.isnan(target_token):
        raise TypeError(f"target_token must be a number, got {target_token!r}")
    if target_token != -1 and target_token <= 0:
        raise ValueError(f"target_token must be positive (or -1 to use rate), got {target_token!r}")


def _segments(context, segs, segs_rate, segs_compress) -> list[list[Segment]]:
    """Contexts as lists of segments; plain strings become one segment each."""
    if context is None:
        context = []
    if isinstance(context, str):
        context = [context]
    if not isinstance(context, (list, tuple)):
        raise TypeError(f"context must be a str or a list of str, got {type(context).__name__}")
    for i, c in enumerate(context):
        if not isinstance(c, str):
            raise TypeError(f"context[{i}] must be a str, got {type(c).__name__}")
    texts = list(context)
    if segs is None:
        return [[Segment(t)] for t in texts]
    if len(segs) != len(texts):
        raise ValueError(f"context_segs has {len(segs)} entries for {len(texts)} contexts")
    result = []
    for i, pieces in enumerate(segs):
        rates = segs_rate[i] if segs_rate is not None else [None] * len(pieces)
        flags = segs_compress[i] if segs_compress is not None else [True] * len(pieces)
        result.append([Segment(p, r, bool(f)) for p, r, f in zip(pieces, rates, flags)])
    return result
