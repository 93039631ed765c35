"""``PromptCompressor``: the llmlingua 0.2.2 API on Mistral models.

The facade is thin: each llmlingua-shaped call builds its options object (see
:mod:`.options`, where every option's default and check live) and hands it to the method
modules. Code written for ``llmlingua.PromptCompressor`` runs after changing the
import; token counts are Mistral tokens.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from .facade_base import LLMLinguaMethods
from .formats import json as json_format
from .markers import protect_reference_markers
from .formats import structured as structured_format
from .methods import llmlingua2 as llmlingua2_method
from .methods.base import LLMLingua2Method, LLMLinguaMethod, Method, SecurityLinguaMethod
from .methods.security import GuardedRequest, SecurityLingua
from .models.loader import LoadedModel, load_model
from .models.precision import check_dtype
from .models.registry import MISTRAL_MODELS
from .options import JsonOptions, LLMLingua2Options, PromptOptions, known_options
from .prompt import Segment
from .ranking.base import Ranker, RankResults
from .ranking.registry import ranker_cache_key, resolve_rank_method
from .ranking.resolve import RankChoice, choose_ranking, ranker_for
from .recover import recover as recover_text
from .scoring.causal import CausalScorer
from .scoring.stream import CONDITIONING_MODES
from .tags import parse_context_tags
from .text.protect import ProtectOption
from .validate import (check_choice, check_context_ids, check_mapping, check_text, check_window,
                       context_segments)

DEFAULT_MODEL = MISTRAL_MODELS["default"].source
# Each option's default is read from its options class (see the docstring of .options).
_P, _L2, _J = PromptOptions, LLMLingua2Options, JsonOptions
# llmlingua's context_segs, context_segs_rate and context_segs_compress: per context, its pieces.
_Pieces = Sequence[Sequence[str]]
_PieceRates = Sequence[Sequence[float]]
_PieceFlags = Sequence[Sequence[bool]]


class PromptCompressor(LLMLinguaMethods):
    """Compress prompts with LLMLingua, LongLLMLingua, LLMLingua-2 or SecurityLingua.

    Args:
        model_name: a preset from :data:`MISTRAL_MODELS` (``"nano"`` runs offline on CPU),
            a Hugging Face id, or a local checkpoint folder.
        device_map: ``"auto"`` (GPU if there is one), ``"cuda"``, ``"cpu"``, ``"mps"``,
            ``"balanced"`` or a transformers device map.
        model_config: ``"dtype"``: the compute dtype, ``"auto"`` (default: bf16 on a GPU,
            and for token classifiers on CPUs with native bf16, AVX-512 BF16 or AMX; else
            fp32; see :mod:`llmlingstral.models.precision`), ``"float32"``,
            ``"bfloat16"`` or ``"float16"``; the one that ran is :attr:`dtype` and each
            result's ``"dtype"``. Other ``from_pretrained`` keywords pass through.
            ``"max_window"`` caps the tokens the scorer attends to at once (an
            integer of at least 32; above the model's context length it is capped there).
            ``"conditioning"``: how the iterative pass conditions each window on the kept text, ``"exact"`` (default:
            as a fresh encoding of the compressed prefix) or ``"in_place"`` (faster: the
            cache of the full text with the dropped tokens deleted; see
            :mod:`llmlingstral.scoring.stream`). ``"remote_scorer"``:
            ``{"base_url": "http://host:8000/v1", "model": "mistralai/Mistral-7B-v0.3"}``
            scores through an OpenAI-compatible server (vLLM) instead of loading the
            weights; ``model_name`` then only picks the tokenizer (see
            :mod:`llmlingstral.scoring.remote` for the other keys).
        open_api_config: API settings for rankers (``api_key``, ``server_url``).
        use_llmlingua2: the checkpoint is an LLMLingua-2 token classifier.
        llmlingua2_config: ``max_batch_size`` (default 50), ``max_batch_tokens`` (padded
            tokens per pass; default 2048 on a CPU, unlimited elsewhere), ``max_force_token``
            (100), ``max_seq_len``, ``bidirectional`` (see ``docs/llmlingua2.md``).
        use_slingua: (keyword only) the checkpoint is a SecurityLingua classifier: ``compress_prompt``
            returns the intent of the prompt (words with p(keep) >= 0.5, as llmlingua), and
            :meth:`guard_messages` guards chat requests. Works without ``use_llmlingua2``.

    Besides the compression calls, llmlingua's lower-level methods are here with its
    signatures (``get_token_length``, ``get_ppl``, ``get_condition_ppl``,
    ``control_context_budget``, ``control_sentence_budget``, ``iterative_compress_prompt``,
    ``segment_structured_context``; see :mod:`llmlingstral.facade_base`), and ``tokenizer`` can
    be called like a Hugging Face tokenizer (``tokenizer(text).input_ids``). Token counts are
    Mistral tokens.
    """

    def __init__(self, model_name: str = DEFAULT_MODEL, device_map: Any = "auto",
                 model_config: Mapping[str, Any] | None = None,
                 open_api_config: Mapping[str, Any] | None = None,
                 use_llmlingua2: bool = False,
                 llmlingua2_config: Mapping[str, Any] | None = None, *,
                 use_slingua: bool = False) -> None:
        _check_model_name(model_name)
        for name, value in (("model_config", model_config), ("open_api_config", open_api_config),
                            ("llmlingua2_config", llmlingua2_config)):
            check_mapping(name, value)
        options = dict(model_config or {})
        window = check_window("model_config['max_window']", options.pop("max_window", None))
        conditioning = check_choice("model_config['conditioning']",
                                    options.pop("conditioning", "exact"), CONDITIONING_MODES)
        remote = options.pop("remote_scorer", None)
        if remote is not None:
            _check_remote_options(options, conditioning)
        self.model_name = model_name
        self.open_api_config = dict(open_api_config or {})
        self.use_llmlingua2 = bool(use_llmlingua2)
        self.use_slingua = bool(use_slingua)
        self.llmlingua2_config = dict(llmlingua2_config or {})
        task = "token-classification" if (use_llmlingua2 or use_slingua) else "causal-lm"
        if remote is not None:
            self._use_remote_scorer(remote, task, window)
            return
        self.loaded: LoadedModel = load_model(model_name, task=task, device_map=device_map,
                                              model_config=options)
        self.model = self.loaded.model
        self.dtype: str | None = self.loaded.dtype
        self.tokenizer = self.loaded.tokenizer
        self.device = self.loaded.device
        self.max_position_embeddings = self.loaded.max_position
        self.scorer = CausalScorer(self.loaded, window=window, conditioning=conditioning) \
            if task == "causal-lm" else None
        self.classifier = llmlingua2_method.build_classifier(self.loaded, self.llmlingua2_config) \
            if task == "token-classification" else None
        self._security: SecurityLingua | None = None
        self._rankers: dict[tuple, Ranker] = {}  # rankers built for this compressor
        self.method: Method = self._method()

    def _method(self) -> Method:
        """The method this compressor's model calls for."""
        if self.scorer is not None:
            return LLMLinguaMethod(self.scorer)
        if self.use_slingua:
            return SecurityLinguaMethod(self.security, self.llmlingua2_config)
        return LLMLingua2Method(self.classifier, self.llmlingua2_config)

    def _use_remote_scorer(self, config: Mapping[str, Any], task: str, window: int | None) -> None:
        """Score through a server: only the tokenizer is loaded here."""
        if task != "causal-lm":
            raise ValueError("remote_scorer scores LLMLingua and LongLLMLingua with a causal LM; "
                             "LLMLingua-2 and SecurityLingua classifiers run locally")
        from .scoring.remote import build_remote_scorer

        self.scorer = build_remote_scorer(self.model_name, config, window)
        self.loaded, self.model, self.classifier, self._security = None, None, None, None
        self.dtype = None
        self._rankers = {}
        self.tokenizer = self.scorer.tokenizer
        self.device = None
        self.max_position_embeddings = self.scorer.window
        self.method = LLMLinguaMethod(self.scorer)

    def __repr__(self) -> str:
        return (f"PromptCompressor(model_name={self.model_name!r}, device={self.device}, "
                f"dtype={self.dtype})")

    def __call__(self, *args, **kwargs) -> dict[str, Any]:
        return self.compress_prompt(*args, **kwargs)

    # ----------------------------------------------------------------------- LLMLingua

    def compress_prompt(
            self, context: str | Sequence[str], instruction: str = "", question: str = "",
            rate: float = _P.rate, target_token: float = _P.target_token,
            iterative_size: int = _P.iterative_size,
            force_context_ids: Sequence[int] | None = _P.force_context_ids,
            force_context_number: int | None = _P.force_context_number,
            use_sentence_level_filter: bool = _P.use_sentence_level_filter,
            use_context_level_filter: bool = _P.use_context_level_filter,
            use_token_level_filter: bool = _P.use_token_level_filter,
            keep_split: bool = _P.keep_split, keep_first_sentence: int = _P.keep_first_sentence,
            keep_last_sentence: int = _P.keep_last_sentence,
            keep_sentence_number: int = _P.keep_sentence_number,
            high_priority_bonus: float = _P.high_priority_bonus,
            context_budget: str = _P.context_budget,
            token_budget_ratio: float = _P.token_budget_ratio,
            condition_in_question: str = _P.condition_in_question,
            reorder_context: str = _P.reorder_context,
            dynamic_context_compression_ratio: float = _P.dynamic_context_compression_ratio,
            condition_compare: bool = _P.condition_compare,
            add_instruction: bool = _P.add_instruction, rank_method: str = _P.rank_method,
            concate_question: bool = _P.concate_question, context_segs: _Pieces | None = None,
            context_segs_rate: _PieceRates | None = None,
            context_segs_compress: _PieceFlags | None = None,
            target_context: int = _P.target_context,
            context_level_rate: float = _P.context_level_rate,
            context_level_target_token: float = _P.context_level_target_token,
            return_word_label: bool = _P.return_word_label, word_sep: str = _P.word_sep,
            label_sep: str = _P.label_sep, token_to_word: str = _P.token_to_word,
            force_tokens: Sequence[str] = _P.force_tokens,
            force_reserve_digit: bool = _P.force_reserve_digit,
            drop_consecutive: bool = _P.drop_consecutive,
            chunk_end_tokens: Sequence[str] = _P.chunk_end_tokens,
            strict_preserve_uncompressed: bool = _P.strict_preserve_uncompressed, *,
            show_progress: bool | None = _P.show_progress,
            keep_threshold: float | None = _P.keep_threshold, protect: ProtectOption = _P.protect,
            **llmlingua2_kwargs: Any) -> dict[str, Any]:
        """Compress ``context`` around the instruction and question; see :class:`PromptOptions`."""
        extra = known_options(PromptOptions, llmlingua2_kwargs, "compress_prompt")
        options = PromptOptions(
            **extra, rate=rate, target_token=target_token, iterative_size=iterative_size,
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
            target_context=target_context, context_level_rate=context_level_rate,
            context_level_target_token=context_level_target_token,
            return_word_label=return_word_label, word_sep=word_sep, label_sep=label_sep,
            token_to_word=token_to_word, force_tokens=force_tokens,
            force_reserve_digit=force_reserve_digit, drop_consecutive=drop_consecutive,
            chunk_end_tokens=chunk_end_tokens, show_progress=show_progress,
            strict_preserve_uncompressed=strict_preserve_uncompressed,
            keep_threshold=keep_threshold, protect=protect)
        contexts = _contexts(context, context_segs, context_segs_rate, context_segs_compress)
        return self.compress_segments(contexts, instruction, question, options)

    def compress_segments(self, contexts: Sequence[Sequence[Segment]], instruction: str = "",
                          question: str = "", options: PromptOptions | None = None
                          ) -> dict[str, Any]:
        """Compress contexts already cut into :class:`~llmlingstral.prompt.Segment` pieces
        with this compressor's method and ``options`` (default: :meth:`compress_prompt`'s;
        a token classifier also takes :class:`~llmlingstral.options.LLMLingua2Options`).
        Formats call this."""
        options = PromptOptions() if options is None else options
        instruction, question = check_text("instruction", instruction), \
            check_text("question", question)
        # Checked here, before a method can return early (a blank or short prompt), so a
        # wrong id is refused whatever the prompt holds.
        check_context_ids("force_context_ids", options.force_context_ids, len(contexts))
        # Markers are attached segments: they keep their document findable, but only text
        # the caller protected pins a context through the coarse pass.
        contexts = protect_reference_markers([list(c) for c in contexts])
        method = self.method.for_options(options)
        ranker = self._ranker_for(method.rank_choice(options, question))
        return method.compress(contexts, instruction, question, options, ranker)

    def compress_prompts(self, prompts: Sequence[str | Sequence[str] | Mapping[str, Any]], *,
                         show_progress: bool | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Compress many prompts; one :meth:`compress_prompt` result per prompt, in order.

        Each prompt is a context (a string or a list of strings) or a mapping of
        :meth:`compress_prompt` keyword arguments holding ``"context"``; its keywords
        override ``kwargs``, which apply to every prompt. Results equal one-by-one calls;
        LLMLingua-2 scores the windows of all prompts in shared forward passes, LLMLingua
        advances several prompts in lockstep (see :mod:`llmlingstral.execution`). The first
        failing prompt raises its error, with a note naming its index. ``show_progress``:
        a bar over prompts (default: from 16 prompts on).
        """
        from .execution.batch import compress_prompts

        return compress_prompts(self, prompts, show_progress=show_progress, **kwargs)

    # ----------------------------------------------------------------------- LLMLingua-2

    def compress_prompt_llmlingua2(
            self, context: str | Sequence[str], rate: float = _L2.rate,
            target_token: float = _L2.target_token,
            use_context_level_filter: bool = _L2.use_context_level_filter,
            use_token_level_filter: bool = _L2.use_token_level_filter,
            target_context: int = _L2.target_context,
            context_level_rate: float = _L2.context_level_rate,
            context_level_target_token: float = _L2.context_level_target_token,
            force_context_ids: Sequence[int] | None = _L2.force_context_ids,
            return_word_label: bool = _L2.return_word_label, word_sep: str = _L2.word_sep,
            label_sep: str = _L2.label_sep, token_to_word: str = _L2.token_to_word,
            force_tokens: Sequence[str] = _L2.force_tokens,
            force_reserve_digit: bool = _L2.force_reserve_digit,
            drop_consecutive: bool = _L2.drop_consecutive,
            chunk_end_tokens: Sequence[str] = _L2.chunk_end_tokens,
            *, instruction: str = "", question: str = "", rank_method: Any = _L2.rank_method,
            condition_in_question: str = _L2.condition_in_question,
            keep_threshold: float | None = _L2.keep_threshold,
            context_segs: Sequence[Sequence[str]] | None = None,
            context_segs_rate: Sequence[Sequence[float]] | None = None,
            context_segs_compress: Sequence[Sequence[bool]] | None = None,
            strict_preserve_uncompressed: bool = _L2.strict_preserve_uncompressed,
            protect: ProtectOption = _L2.protect) -> dict[str, Any]:
        """Compress with LLMLingua-2: keep the words the token classifier rates most useful.

        llmlingua 0.2.2's parameters and result keys (``compressed_prompt``,
        ``compressed_prompt_list``, ``origin_tokens``, ``compressed_tokens``, ``ratio``,
        ``rate``, ``saving``; ``fn_labeled_original_prompt`` with ``return_word_label``),
        counted in Mistral tokens, plus ``kept_context_ids`` and ``compressed_contexts`` as in
        :meth:`compress_prompt`. Beyond llmlingua: ``instruction`` and ``question`` are
        kept verbatim around the contexts; with a ``question``, ``rank_method`` (a
        ``get_rank_results`` method name or a ranker) picks the contexts before the word
        pass; ``keep_threshold`` keeps every word with p(keep) >= it instead of a rate;
        ``context_segs*`` give per-segment rates and ``compress=False`` segments;
        ``protect`` is :meth:`compress_prompt`'s.
        With ``use_slingua=True`` the threshold defaults to ``self.security.threshold``
        (0.5) and ``rate`` is ignored: ``compressed_prompt`` is the prompt's intent, and
        ``protect=True`` adds no facts to it (pass a ``Protection`` to add them).
        """
        options = LLMLingua2Options(
            rate=rate, target_token=target_token,
            use_context_level_filter=use_context_level_filter,
            use_token_level_filter=use_token_level_filter, target_context=target_context,
            context_level_rate=context_level_rate,
            context_level_target_token=context_level_target_token,
            force_context_ids=force_context_ids, return_word_label=return_word_label,
            word_sep=word_sep, label_sep=label_sep, token_to_word=token_to_word,
            force_tokens=force_tokens, force_reserve_digit=force_reserve_digit,
            drop_consecutive=drop_consecutive, chunk_end_tokens=chunk_end_tokens,
            rank_method=rank_method, condition_in_question=condition_in_question,
            keep_threshold=keep_threshold,
            strict_preserve_uncompressed=strict_preserve_uncompressed, protect=protect,
            with_instruction_and_question=True)
        contexts = _contexts(context, context_segs, context_segs_rate, context_segs_compress)
        return self.compress_segments(contexts, instruction, question, options)

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
                         condition_in_question: str | None = None,
                         context_tokens_length: Sequence[int] | None = None) -> RankResults:
        """Rank documents for ``question``: ``[(index, score)]``, best first.

        ``rank_method``: llmlingua, longllmlingua, bm25, gzip, e5-mistral, mistral-embed,
        mistral-rerank (settings in ``open_api_config``, see ``ranking.registry``), a legacy
        llmlingua name, or any object with ``rank(documents, question)``.

        As in llmlingua, ``llmlingua`` and ``longllmlingua`` both rank by the compressor's
        perplexity under ``condition_in_question`` as given: "none" by each document's
        perplexity, highest first; "after" by that of the question (plus llmlingua's
        bridging sentence) after the document, "before" by that of the document after
        them, lowest first. Left out (None), the condition is the method's own, as in
        :meth:`compress_prompt`: none for ``llmlingua``, "after" for ``longllmlingua``.
        The scores are those perplexities (mean nats per token); gzip's
        is the compression distance, lowest first; the other methods' are similarities,
        highest first (llmlingua reports 0 for those). ``context_tokens_length`` is
        accepted for compatibility; the ranking does not use it, as in llmlingua.
        """
        documents = [check_text(f"context[{i}]", c) for i, c in
                     enumerate([context] if isinstance(context, str) else context)]
        question = check_text("question", question)
        if not documents and question.strip():
            raise ValueError("a question was given but no contexts: pass the documents to "
                             "rank as a list of strings")
        if documents and not any(d.strip() for d in documents):
            raise ValueError("every context is empty: nothing to rank")
        ranker = self._ranker_for(choose_ranking(rank_method, condition_in_question,
                                                 causal=self.method.family == "llmlingua",
                                                 as_called=True))
        if ranker is None:  # a token classifier ranks by its mean keep-probability
            return llmlingua2_method.rank_by_keep_probability(self.classifier, documents)
        return ranker.rank(documents, question)

    def keep_ranker(self, rank_method: str, ranker: Ranker) -> None:
        """Rank with ``ranker`` whenever a later call names ``rank_method``.

        A service builds its model-backed rankers once, at start, and shares them between
        its compressors, so that no request ever loads a model.
        """
        method = resolve_rank_method(rank_method)
        self._rankers[ranker_cache_key(method, self.open_api_config)] = ranker

    def _ranker_for(self, choice: RankChoice) -> Ranker | None:
        """The ranker of ``choice`` (None: the classifier's mean keep-probability); rankers
        that hold models are built once and kept on this compressor."""
        return ranker_for(choice, scorer=self.scorer, config=self.open_api_config,
                          loaded=self.loaded if self.method.family == "llmlingua" else None,
                          cache=self._rankers)

    # ----------------------------------------------------------------------- formats

    def structured_compress_prompt(
            self, context: str | Sequence[str], instruction: str = "", question: str = "",
            rate: float = _P.rate, target_token: float = _P.target_token,
            iterative_size: int = _P.iterative_size,
            force_context_ids: Sequence[int] | None = _P.force_context_ids,
            force_context_number: int | None = _P.force_context_number,
            use_sentence_level_filter: bool = _P.use_sentence_level_filter,
            use_context_level_filter: bool = _P.use_context_level_filter,
            use_token_level_filter: bool = _P.use_token_level_filter,
            keep_split: bool = _P.keep_split, keep_first_sentence: int = _P.keep_first_sentence,
            keep_last_sentence: int = _P.keep_last_sentence,
            keep_sentence_number: int = _P.keep_sentence_number,
            high_priority_bonus: float = _P.high_priority_bonus,
            context_budget: str = _P.context_budget,
            token_budget_ratio: float = _P.token_budget_ratio,
            condition_in_question: str = _P.condition_in_question,
            reorder_context: str = _P.reorder_context,
            dynamic_context_compression_ratio: float = _P.dynamic_context_compression_ratio,
            condition_compare: bool = _P.condition_compare,
            add_instruction: bool = _P.add_instruction, rank_method: str = _P.rank_method,
            concate_question: bool = _P.concate_question,
            strict_preserve_uncompressed: bool = _P.strict_preserve_uncompressed, *,
            show_progress: bool | None = _P.show_progress, protect: ProtectOption = _P.protect,
            **llmlingua2_kwargs: Any) -> dict[str, Any]:
        """Compress contexts marked up with ``<llmlingua, rate=0.4>`` /
        ``<llmlingua, compress=False>`` tags (see :mod:`llmlingstral.tags`); llmlingua
        0.2.2's parameters in its order, as :meth:`compress_prompt` (whose LLMLingua-2
        keywords are accepted after them)."""
        options = PromptOptions(
            **known_options(PromptOptions, llmlingua2_kwargs, "structured_compress_prompt"),
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
            show_progress=show_progress, protect=protect)
        return structured_format.structured_compress_prompt(self, context, instruction,
                                                            question, options)

    def compress_json(self, json_data: Mapping[str, Any] | str,
                      json_config: Mapping[str, Any] | str | None = None,
                      instruction: str = "", question: str = "", rate: float = _J.rate,
                      target_token: float = _J.target_token,
                      iterative_size: int = _J.iterative_size,
                      use_sentence_level_filter: bool = _J.use_sentence_level_filter,
                      use_keyvalue_level_filter: bool = _J.use_keyvalue_level_filter,
                      use_token_level_filter: bool = _J.use_token_level_filter,
                      keep_split: bool = _J.keep_split,
                      keep_first_sentence: int = _J.keep_first_sentence,
                      keep_last_sentence: int = _J.keep_last_sentence,
                      keep_sentence_number: int = _J.keep_sentence_number,
                      high_priority_bonus: float = _J.high_priority_bonus,
                      context_budget: str = _J.context_budget,
                      token_budget_ratio: float = _J.token_budget_ratio,
                      condition_in_question: str = _J.condition_in_question,
                      reorder_keyvalue: str = _J.reorder_keyvalue,
                      condition_compare: bool = _J.condition_compare,
                      rank_method: str = _J.rank_method, *,
                      protect: ProtectOption = _J.protect) -> dict[str, Any]:
        """Compress the text inside a JSON object with per-key settings (rate, compress,
        value_type, pair_remove); ``compressed_prompt`` is the compressed object.
        llmlingua 0.2.2's parameters in its order (see :mod:`llmlingstral.formats.json`)."""
        options = JsonOptions(
            rate=rate, target_token=target_token, iterative_size=iterative_size,
            use_sentence_level_filter=use_sentence_level_filter,
            use_keyvalue_level_filter=use_keyvalue_level_filter,
            use_token_level_filter=use_token_level_filter, keep_split=keep_split,
            keep_first_sentence=keep_first_sentence, keep_last_sentence=keep_last_sentence,
            keep_sentence_number=keep_sentence_number, high_priority_bonus=high_priority_bonus,
            context_budget=context_budget, token_budget_ratio=token_budget_ratio,
            condition_in_question=condition_in_question, reorder_keyvalue=reorder_keyvalue,
            condition_compare=condition_compare, rank_method=rank_method, protect=protect)
        return json_format.compress_json(self, json_data, json_config, instruction, question,
                                         options)

    def recover(self, original_prompt: str, compressed_prompt: str, response: str) -> str:
        """Expand the parts of ``response`` quoted from ``compressed_prompt`` to the full text
        of ``original_prompt`` they came from (see :mod:`llmlingstral.recover`)."""
        return recover_text(original_prompt, compressed_prompt, response)


# --------------------------------------------------------------------------- helpers


def _check_model_name(model_name: object) -> None:
    if not isinstance(model_name, (str, os.PathLike)):
        raise TypeError(f"model_name must be a preset name (such as 'nano'), a Hugging Face id "
                        f"or a local folder, got {type(model_name).__name__} {model_name!r}")


def _check_remote_options(options: Mapping[str, Any], conditioning: str) -> None:
    """Refuse local-model settings that a remote scorer cannot honour."""
    if conditioning != "exact":
        raise ValueError("a remote scorer always scores the kept text afresh; drop "
                         "model_config['conditioning'] or use a local model")
    requested = options.get("dtype", options.get("torch_dtype"))
    if check_dtype(requested, "model_config['dtype']") != "auto":
        raise ValueError("a remote scorer computes in the server's own dtype; drop "
                         "model_config['dtype'] or use a local model")


def _contexts(context, segs, segs_rate, segs_compress) -> list[list[Segment]]:
    """Validated contexts as segments; tagged text is split at its ``<llmlingua>`` tags."""
    contexts = context_segments(context, segs, segs_rate, segs_compress)
    return parse_context_tags(contexts) if segs is None else contexts
