"""SecurityLingua: find the real request inside a jailbreak prompt and guard a chat request.

A jailbreak wraps a request the model should refuse in role-play, nested instructions or
noise. A token classifier trained on (jailbreak prompt, plain request) pairs gives every
word a probability of belonging to the plain request; the words at or above a threshold,
in their original order, are the *intent*. The guard writes that intent into a system
instruction, so the target model judges the bare request instead of its disguise. The
cost is one forward pass of the classifier over the prompt.

Long prompts are scored in windows by :class:`..scoring.classifier.TokenClassifier`; the
intent is assembled across all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..budget import top_within
from ..models.loader import LoadedModel
from ..prompt import result_dict
from ..scoring.classifier import TokenClassifier, WordScores, as_token_classifier
from ..text.words import join_kept
from ..validate import (check_non_negative_int, check_positive_int, check_probability,
                        check_str)
from .guard import (DEFAULT_GUARD_TEMPLATE, as_message_list, check_placement, check_template,
                    conversation_text, render_guard, with_system_text)

DEFAULT_MODEL = "securitylingua"
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class IntentExtraction:
    """The intent of one prompt, the word labels behind it, and what it cost.

    ``words`` are the prompt's words (whitespace excluded, punctuation as words of its own,
    the units of the training labels); ``labels`` is 1 for a word in the intent;
    ``probabilities`` is each word's keep-probability. ``prompt_tokens`` is the number of
    Mistral tokens the classifier scored, ``intent_tokens`` the length of the intent.
    """

    intent: str
    words: tuple[str, ...]
    labels: tuple[int, ...]
    probabilities: tuple[float, ...]
    prompt_tokens: int
    intent_tokens: int
    threshold: float

    @property
    def word_labels(self) -> list[tuple[str, int]]:
        """``(word, label)`` for every word of the prompt."""
        return list(zip(self.words, self.labels))

    @property
    def kept_words(self) -> list[str]:
        """The words of the intent, in order."""
        return [w for w, label in zip(self.words, self.labels) if label]

    def as_dict(self) -> dict[str, Any]:
        """llmlingua's result keys: ``compressed_prompt`` is the intent; counts in Mistral
        tokens."""
        result = result_dict(self.intent, self.prompt_tokens, self.intent_tokens)
        result["compressed_prompt_list"] = [self.intent]
        return result


@dataclass(frozen=True)
class GuardedRequest:
    """New chat messages with the guard instruction, and how they were made.

    ``added_tokens`` counts the Mistral tokens of the guard instruction (what the target
    model reads in addition to the original request).
    """

    messages: list[dict[str, Any]]
    intent: IntentExtraction
    system_text: str
    added_tokens: int


class SecurityLingua:
    """Jailbreak intent extraction and guarded chat requests on a Mistral token classifier.

    Args:
        model: a preset (default ``"securitylingua"``), a Hugging Face id or folder of a
            classifier trained with ``llmlingstral train-securitylingua``, an already built
            :class:`TokenClassifier`, or a :class:`LoadedModel`.
        device_map: where to run a model loaded here (``"auto"``, ``"cpu"``, ``"cuda"``...).
        threshold: a word is part of the intent when its keep-probability is at least this.
            Lower it to catch more of the request (longer intents), raise it for shorter ones.
        guard_template: the system instruction; ``{intent}`` is replaced by the intent.
        history_turns: earlier user turns scored together with the latest one, so a request
            split across turns is found (0: the latest user turn only).
        placement: ``"append"`` adds the instruction to the existing system message (or
            creates one first); ``"separate"`` inserts a system message of its own before
            the latest user turn. See :func:`.guard.with_system_text`.
        max_intent_tokens: keep at most about this many tokens of intent, the most probable
            words first (None: no cap).
        model_config: ``dtype`` and other ``from_pretrained`` keywords for a model loaded here.
        max_seq_len: the classifier's window in tokens (as in ``llmlingua2_config``).
        max_batch_size: windows per forward pass (as in ``llmlingua2_config``).
    """

    def __init__(self, model: str | os.PathLike | TokenClassifier | LoadedModel = DEFAULT_MODEL,
                 *, device_map: Any = "auto", threshold: float = DEFAULT_THRESHOLD,
                 guard_template: str = DEFAULT_GUARD_TEMPLATE, history_turns: int = 0,
                 placement: str = "append", max_intent_tokens: int | None = None,
                 model_config: Mapping[str, Any] | None = None, max_seq_len: int | None = None,
                 max_batch_size: int = 50) -> None:
        self.classifier = as_token_classifier(model, device_map, model_config, max_seq_len,
                                              max_batch_size)
        self.tokenizer = self.classifier.tokenizer
        self.threshold = threshold
        self.guard_template = check_template(guard_template)
        self.history_turns = check_non_negative_int("history_turns", history_turns)
        self.placement = check_placement(placement)
        self.max_intent_tokens = None if max_intent_tokens is None else \
            check_positive_int("max_intent_tokens", max_intent_tokens)

    def __repr__(self) -> str:
        return (f"SecurityLingua(model={self.classifier.loaded.name!r}, "
                f"threshold={self.threshold})")

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = check_probability("threshold", value)

    # ----------------------------------------------------------------------- intent

    def extract_intent(self, prompt: str) -> IntentExtraction:
        """The intent of ``prompt``: the words whose keep-probability reaches the threshold."""
        return self.extract_intents([prompt])[0]

    def extract_intents(self, prompts: Sequence[str]) -> list[IntentExtraction]:
        """:meth:`extract_intent` for many prompts, scored in shared batches."""
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise TypeError("prompts must be a list of str")
        for index, prompt in enumerate(prompts):
            if not check_str(f"prompt {index}", prompt).strip():
                raise ValueError(f"prompt {index} is empty: there is no request to extract")
        scores = self.classifier.score_words(list(prompts))
        return [self._extraction(s) for s in scores]

    def _extraction(self, scores: WordScores) -> IntentExtraction:
        words = scores.words
        labelled = ~words.is_space
        keep = labelled & (scores.probs >= self.threshold)
        if self.max_intent_tokens is not None:
            keep = top_within(scores.probs, scores.costs, keep, self.max_intent_tokens)
        intent = join_kept(words, keep).strip()
        index = np.flatnonzero(labelled)
        return IntentExtraction(
            intent=intent, words=tuple(words.word(i) for i in index),
            labels=tuple(int(k) for k in keep[index]),
            probabilities=tuple(float(p) for p in scores.probs[index]),
            prompt_tokens=int(scores.costs.sum()),
            intent_tokens=self.tokenizer.count(intent) if intent else 0,
            threshold=self.threshold)

    # ----------------------------------------------------------------------- guard

    def guard(self, messages: Sequence[Mapping[str, Any]]) -> GuardedRequest:
        """Guard a chat request: new messages with the intent of the latest user turn in a
        system instruction, plus the extraction and its cost. ``messages`` is not changed."""
        copies = as_message_list(messages)
        extraction = self.extract_intent(conversation_text(copies, self.history_turns))
        text = render_guard(self.guard_template, extraction.intent)
        guarded = with_system_text(copies, text, self.placement)
        return GuardedRequest(guarded, extraction, text, self.tokenizer.count(text))

    def guard_messages(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The guarded messages only (see :meth:`guard`), ready for ``client.chat.complete``."""
        return self.guard(messages).messages
