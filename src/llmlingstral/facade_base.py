"""llmlingua 0.2.2's lower-level ``PromptCompressor`` methods, as thin adapters.

User code written for llmlingua calls more than ``compress_prompt``: token counting
(``get_token_length``), perplexity (``get_ppl``, ``get_condition_ppl``), the coarse filters
(``control_context_budget``, ``control_sentence_budget``), the fine pass
(``iterative_compress_prompt``) and the tag splitter (``segment_structured_context``).
Each keeps llmlingua's parameter names, order and return shape and runs on this package's
own modules (tags, tokenizer, scorer, budget, methods): nothing here compresses by itself.

Token counts are Mistral tokens of the compressor's tokenizer; perplexities are in nats,
as torch tensors like llmlingua's. The adapters that compress also take ``protect``
(keyword only), with ``compress_prompt``'s meaning. They build
:class:`~llmlingstral.options.LLMLinguaOptions`, which check the values, and read their
defaults from it; only ``rank_method`` has a default of its own, llmlingua's for these
filters (:data:`~llmlingstral.options.COARSE_FILTER_RANK_METHOD`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch

from .budget import coarse_target
from .kept import seamed
from .methods import llmlingua as llmlingua_method
from .methods.steps import run_steps
from .options import COARSE_FILTER_RANK_METHOD, LLMLinguaOptions
from .prompt import Segment, context_text, join_contexts
from .ranking.perplexity import CONDITIONS, condition_surprisal, parse_condition
from .ranking.resolve import RankChoice, choose_ranking
from .tags import parse_tags
from .text.protect import ProtectOption
from .validate import check_choice, check_contexts, check_rate, context_segments

if TYPE_CHECKING:
    from .ranking.base import Ranker
    from .scoring.causal import CausalScorer

GRANULARITIES = ("sentence", "token")
# Each option's default is read from its options class (see the docstring of .options).
_L = LLMLinguaOptions


class LLMLinguaMethods:
    """Mixed into :class:`~llmlingstral.PromptCompressor`; reads its ``tokenizer`` and
    ``scorer``."""

    tokenizer: Any
    scorer: "CausalScorer | None"

    # ----------------------------------------------------------------------- tokens

    def get_token_length(self, text: str, add_special_tokens: bool = True,
                         use_oai_tokenizer: bool = False) -> int:
        """Tokens in ``text``: Mistral tokens of this compressor's tokenizer, plus the BOS
        with ``add_special_tokens``. ``use_oai_tokenizer=True`` asks for the count the
        results report (llmlingua's is tiktoken's; here it is Mistral tokens, no BOS)."""
        count = self.tokenizer.count(text)
        return count + 1 if add_special_tokens and not use_oai_tokenizer else count

    def segment_structured_context(self, context: str | Sequence[str], global_rate: float
                                   ) -> tuple[list[str], list[list[str]], list[list[float]],
                                              list[list[bool]]]:
        """Split ``<llmlingua, ...>``-tagged contexts: ``(texts, segments, rates,
        compress flags)`` per context. Untagged and rate-less parts get ``global_rate``,
        ``compress=False`` parts 1.0; the texts are the contexts with the tags removed."""
        check_rate("global_rate", global_rate)
        texts, segs, rates, flags = [], [], [], []
        for i, text in enumerate(check_contexts(context)):
            segments = parse_tags(text, where=f"context[{i}]") or [Segment("")]
            texts.append("".join(s.text for s in segments))
            segs.append([s.text for s in segments])
            rates.append([s.rate if s.rate is not None else (global_rate if s.compress else 1.0)
                          for s in segments])
            flags.append([s.compress for s in segments])
        return texts, segs, rates, flags

    # ----------------------------------------------------------------------- perplexity

    def get_ppl(self, text: str, granularity: str = "sentence", input_ids: Any = None,
                attention_mask: Any = None, past_key_values: Any = None, return_kv: bool = False,
                end: int | None = None, condition_mode: str = "none",
                condition_pos_id: int = 0) -> Any:
        """Surprisal (nats) of each token of ``text`` after the first (which is the BOS):
        its mean (``granularity="sentence"``) or the vector (``"token"``), a torch tensor.

        ``input_ids`` (BOS included) replaces ``text``; ``past_key_values`` (from an earlier
        ``return_kv=True`` call) holds the first tokens already, which are then not
        rescored; ``end`` stops early. ``condition_mode="before"`` keeps the first
        ``condition_pos_id`` values, ``"after"`` the rest.
        """
        check_choice("granularity", granularity, GRANULARITIES)
        check_choice("condition_mode", condition_mode, CONDITIONS)
        scorer = self._causal_scorer("get_ppl")
        ids = self.tokenizer(text).input_ids if input_ids is None else _one_row(input_ids)
        if attention_mask is not None and 0 in _one_row(attention_mask):
            raise ValueError("get_ppl scores one unpadded sequence: attention_mask must be all "
                             "ones (drop the padding from input_ids)")
        surprisal, cache = scorer.surprisal_with_cache(ids, past_key_values, end)
        loss = torch.from_numpy(surprisal)
        if condition_mode == "before":
            loss = loss[:condition_pos_id]
        elif condition_mode == "after":
            loss = loss[condition_pos_id:]
        result = loss.mean() if granularity == "sentence" else loss
        return (result, cache) if return_kv else result

    def get_condition_ppl(self, text: str, question: str, condition_in_question: str = "none",
                          granularity: str = "sentence") -> torch.Tensor:
        """Perplexity of ``text`` ("none"), of ``text`` after ``question`` ("before"), or of
        ``question`` after ``text`` ("after": -log p(question | text)), on the joined
        string as llmlingua scores it; mean or per-token vector as :meth:`get_ppl`."""
        check_choice("granularity", granularity, GRANULARITIES)
        mode, _ = parse_condition(condition_in_question)
        scorer = self._causal_scorer("get_condition_ppl")
        loss = torch.from_numpy(condition_surprisal(scorer, [text], question, mode)[0])
        return loss.mean() if granularity == "sentence" else loss

    # ----------------------------------------------------------------------- coarse filters

    def control_context_budget(
            self, context: Sequence[str], context_tokens_length: Sequence[int],
            target_token: float, force_context_ids: Sequence[int] | None = _L.force_context_ids,
            force_context_number: int | None = _L.force_context_number, question: str = "",
            condition_in_question: str = _L.condition_in_question,
            reorder_context: str = _L.reorder_context,
            dynamic_context_compression_ratio: float = _L.dynamic_context_compression_ratio,
            rank_method: str = COARSE_FILTER_RANK_METHOD,
            context_budget: str = _L.context_budget,
            context_segs: Sequence[Sequence[str]] | None = None,
            context_segs_rate: Sequence[Sequence[float]] | None = None,
            context_segs_compress: Sequence[Sequence[bool]] | None = None,
            strict_preserve_uncompressed: bool = _L.strict_preserve_uncompressed, *,
            protect: ProtectOption = _L.protect) -> tuple[list[str], list[float], list[int]]:
        """The context filter of :meth:`~llmlingstral.PromptCompressor.compress_prompt`:
        ``(kept contexts, their keep-rate shifts, their ids)`` in the order
        ``reorder_context`` gives. Contexts are ranked by
        :meth:`~llmlingstral.PromptCompressor.get_rank_results` with these arguments and
        kept within ``target_token`` adjusted by ``context_budget`` (a negative target
        counts as 100)."""
        contexts = context_segments(context, context_segs, context_segs_rate,
                                    context_segs_compress)
        settings = LLMLinguaOptions(
            force_context_ids=force_context_ids, force_context_number=force_context_number,
            reorder_context=reorder_context, context_budget=context_budget,
            dynamic_context_compression_ratio=dynamic_context_compression_ratio,
            condition_in_question=condition_in_question, rank_method=rank_method,
            strict_preserve_uncompressed=strict_preserve_uncompressed, protect=protect)
        texts = ["".join(s.text for s in c) for c in contexts]
        kept, shifts = llmlingua_method.filter_contexts(
            self._causal_scorer("control_context_budget"), contexts, texts, question, settings,
            coarse_target(target_token),
            self._ranker_for(choose_ranking(rank_method, condition_in_question,
                                            question=question, as_called=True)),
            lengths=context_tokens_length)
        return [texts[i] for i in kept], shifts, kept

    def control_sentence_budget(
            self, context: Sequence[str], target_token: float,
            keep_first_sentence: int = _L.keep_first_sentence,
            keep_last_sentence: int = _L.keep_last_sentence,
            keep_sentence_number: int = _L.keep_sentence_number,
            high_priority_bonus: float = _L.high_priority_bonus,
            token_budget_ratio: float = _L.token_budget_ratio,
            question: str = "", condition_in_question: str = _L.condition_in_question,
            rank_method: str = COARSE_FILTER_RANK_METHOD,
            context_segs: Sequence[Sequence[str]] | None = None,
            context_segs_rate: Sequence[Sequence[float]] | None = None,
            context_segs_compress: Sequence[Sequence[bool]] | None = None, *,
            protect: ProtectOption = _L.protect
    ) -> tuple[list[str], list[list[tuple[int, float | None, bool]]]]:
        """The sentence filter of :meth:`~llmlingstral.PromptCompressor.compress_prompt`:
        ``(each context's kept sentences, joined; segment info)``. Sentences are kept
        within ``target_token * token_budget_ratio`` (a negative target counts as 100);
        segment info, given ``context_segs``, lists ``(characters, rate, compress)`` of each
        kept piece."""
        contexts = context_segments(context, context_segs, context_segs_rate,
                                    context_segs_compress)
        settings = LLMLinguaOptions(
            keep_first_sentence=keep_first_sentence, keep_last_sentence=keep_last_sentence,
            keep_sentence_number=keep_sentence_number, high_priority_bonus=high_priority_bonus,
            token_budget_ratio=token_budget_ratio, condition_in_question=condition_in_question,
            rank_method=rank_method, protect=protect)
        kept, _ = llmlingua_method.filter_sentences(
            self._causal_scorer("control_sentence_budget"), contexts, question, settings,
            coarse_target(target_token))
        info = [] if context_segs is None else \
            [[(len(s.text), s.rate, s.compress) for s in c] for c in kept]
        return ["".join(s.text for s in c) for c in kept], info

    # ----------------------------------------------------------------------- fine pass

    def iterative_compress_prompt(
            self, context: Sequence[str], target_token: float,
            iterative_size: int = _L.iterative_size, keep_split: bool = _L.keep_split,
            split_token_id: int = 13, start: int = 0,
            dynamic_ratio: Sequence[float] | None = None,
            condition_compare: bool = _L.condition_compare,
            segments_info: Sequence[Sequence[tuple]] | None = None, *,
            protect: ProtectOption = _L.protect) -> tuple[torch.Tensor, torch.Tensor]:
        """The token-level pass: ``(input_ids, attention_mask)``, each ``[1, n]``, of the
        compressed contexts joined by blank lines (no BOS), about ``target_token`` tokens.

        With ``start > 0`` the first context is a conditioning prefix (the question): it
        is scored before the others and left out of the result (``condition_compare``
        scores tokens by the prefix's effect). ``dynamic_ratio`` and ``segments_info``
        (``(characters, rate, compress)`` pieces) go with the contexts after any prefix.
        ``keep_split`` keeps blank lines; ``split_token_id`` is accepted for compatibility
        (the separator is found in the text, not by token id). ``protect`` is
        :meth:`~llmlingstral.PromptCompressor.compress_prompt`'s.
        """
        texts = check_contexts(context)
        options = LLMLinguaOptions(iterative_size=iterative_size, keep_split=keep_split,
                                   condition_compare=bool(condition_compare), protect=protect)
        prefix, texts = (texts[0], texts[1:]) if start and texts else ("", texts)
        contexts = _segments(texts, segments_info)
        ranges = run_steps(llmlingua_method.token_level_pass(
            self._causal_scorer("iterative_compress_prompt"), contexts,
            float(target_token), options, prefix_text=prefix, deltas=dynamic_ratio))
        kept = [seamed(context_text(c), r) for c, r in zip(contexts, ranges)]
        encoded = self.tokenizer(join_contexts(kept), add_special_tokens=False,
                                 return_tensors="pt")
        return encoded.input_ids, encoded.attention_mask

    # ----------------------------------------------------------------------- helpers

    def _causal_scorer(self, what: str) -> "CausalScorer":
        if self.scorer is None:
            raise ValueError(f"{what} needs a causal LM compressor (PromptCompressor('nano') or "
                             f"another causal Mistral model), not a token classifier")
        return self.scorer

    def _ranker_for(self, choice: "RankChoice") -> "Ranker | None":
        """The ranker of ``choice`` (see :func:`.ranking.resolve.ranker_for`); the facade
        provides it, with the rankers it keeps."""
        raise NotImplementedError


def _one_row(values: Any) -> list[int]:
    """A single sequence of ids from a list, a ``[n]`` or ``[1, n]`` tensor or array."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    values = list(values)
    if values and isinstance(values[0], (list, tuple)):
        if len(values) != 1:
            raise ValueError(f"get_ppl scores one sequence; got a batch of {len(values)}")
        values = list(values[0])
    return [int(v) for v in values]


def _segments(texts: list[str], segments_info: Sequence[Sequence[tuple]] | None
              ) -> list[list[Segment]]:
    """Contexts cut into segments by ``(characters, rate, compress)`` pieces."""
    if not segments_info:
        return [[Segment(t)] for t in texts]
    if len(segments_info) != len(texts):
        raise ValueError(f"segments_info has {len(segments_info)} entries for {len(texts)} "
                         f"contexts")
    result = []
    for i, (text, pieces) in enumerate(zip(texts, segments_info)):
        cuts, cursor = [], 0
        for length, rate, compress in pieces:
            cuts.append(Segment(text[cursor:cursor + int(length)], rate, bool(compress)))
            cursor += int(length)
        if cursor != len(text):
            raise ValueError(f"segments_info[{i}] covers {cursor} characters of a "
                             f"{len(text)}-character context")
        result.append(cuts)
    return result
