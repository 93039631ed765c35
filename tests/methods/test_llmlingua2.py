"""LLMLingua-2 inference on tiny Mistral and Ministral 3 token classifiers: user-facing properties."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import replicas
from llmlingstral import LLMLingstralError, PromptCompressor
from llmlingstral.errors import InvalidArgumentError
from llmlingstral.text.words import split_words
from texts import documents, stdlib_prose

NUMBERS = re.compile(r"\d+(?:[.,:/-]\d+)*")


@pytest.fixture(scope="module")
def v3_classifier_dir(tmp_path_factory):
    return replicas.mistral_token_classifier(tmp_path_factory.mktemp("tokcls_v3"))


@pytest.fixture(scope="module")
def lingua2(v3_classifier_dir):
    return PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True)


@pytest.fixture(scope="module")
def ministral_lingua2(tmp_path_factory):
    folder = replicas.ministral3_token_classifier(tmp_path_factory.mktemp("tokcls_tekken"))
    return PromptCompressor(str(folder), device_map="cpu", use_llmlingua2=True)


@pytest.fixture(scope="module")
def prompt_1k(lingua2):
    text = stdlib_prose(5200)
    words = text.split()
    while lingua2.tokenizer.count(text) > 1100:
        words = words[:-20]
        text = " ".join(words)
    assert 900 <= lingua2.tokenizer.count(text) <= 1100
    return text


def kept_words(result) -> list[tuple[str, int]]:
    pairs = result["fn_labeled_original_prompt"].split("\t\t|\t\t")
    return [(p.rsplit(" ", 1)[0], int(p.rsplit(" ", 1)[1])) for p in pairs]


# ----------------------------------------------------------------------------- budget


@pytest.mark.parametrize("rate", [0.2, 0.33, 0.5, 0.75])
def test_rate_is_met_in_mistral_tokens(lingua2, prompt_1k, rate):
    result = lingua2.compress_prompt_llmlingua2(prompt_1k, rate=rate)
    assert result["origin_tokens"] == lingua2.tokenizer.count(prompt_1k)
    assert result["compressed_tokens"] == lingua2.tokenizer.count(result["compressed_prompt"])
    achieved = result["compressed_tokens"] / result["origin_tokens"]
    assert abs(achieved - rate) <= 0.1 * rate


@pytest.mark.parametrize("target", [150, 400])
def test_target_token_is_met(lingua2, prompt_1k, target):
    result = lingua2.compress_prompt_llmlingua2(prompt_1k, target_token=target)
    assert abs(result["compressed_tokens"] - target) <= 0.1 * target


def test_tekken_classifier_meets_rate(ministral_lingua2):
    assert ministral_lingua2.tokenizer.kind == "tekken"
    assert type(ministral_lingua2.model).__name__ == "Ministral3ForTokenClassification"
    text = stdlib_prose(5000)
    result = ministral_lingua2.compress_prompt_llmlingua2(text, rate=0.4, force_tokens=["\n"])
    assert result["origin_tokens"] == ministral_lingua2.tokenizer.count(text)
    assert abs(result["compressed_tokens"] / result["origin_tokens"] - 0.4) <= 0.04


def test_multiple_contexts_with_instruction_and_question(lingua2):
    docs = documents(4)
    result = lingua2.compress_prompt_llmlingua2(docs, rate=0.4, instruction="Read this.",
                                                question="What does argparse do?")
    assert result["compressed_prompt"].startswith("Read this.\n\n")
    assert result["compressed_prompt"].endswith("\n\nWhat does argparse do?")
    assert len(result["compressed_prompt_list"]) == 4
    achieved = result["compressed_tokens"] / result["origin_tokens"]
    assert abs(achieved - 0.4) <= 0.04


# ----------------------------------------------------------------------------- result format


def test_result_keys_and_word_labels(lingua2, prompt_1k):
    result = lingua2.compress_prompt_llmlingua2(prompt_1k, rate=0.4, return_word_label=True)
    assert set(result) == {"compressed_prompt", "compressed_prompt_list", "origin_tokens",
                           "compressed_tokens", "ratio", "rate", "saving",
                           "fn_labeled_original_prompt", "kept_context_ids",
                           "compressed_contexts", "dtype"}
    assert re.fullmatch(r"\d+\.\dx", result["ratio"]) and result["rate"].endswith("%")
    labels = kept_words(result)
    assert [w for w, _ in labels] == [w for w in split_words(prompt_1k).as_list() if w.strip()]
    # The output is exactly the kept words in order, with whitespace between them.
    kept = "".join(w for w, keep in labels if keep)
    assert re.sub(r"\s+", "", result["compressed_prompt"]) == re.sub(r"\s+", "", kept)


def test_custom_separators(lingua2):
    result = lingua2.compress_prompt_llmlingua2("one two three four", rate=0.5,
                                                return_word_label=True, word_sep="|", label_sep=":")
    parts = result["fn_labeled_original_prompt"].split("|")
    assert [p.split(":")[0] for p in parts] == ["one", "two", "three", "four"]
    assert all(p.split(":")[1] in {"0", "1"} for p in parts)


def test_compress_prompt_delegates_to_llmlingua2(lingua2, prompt_1k):
    direct = lingua2.compress_prompt_llmlingua2(prompt_1k, rate=0.3, force_tokens=["\n"])
    via = lingua2.compress_prompt(prompt_1k, rate=0.3, force_tokens=["\n"])
    assert via == direct


def test_deterministic(lingua2, prompt_1k):
    assert lingua2.compress_prompt_llmlingua2(prompt_1k, rate=0.3) == \
        lingua2.compress_prompt_llmlingua2(prompt_1k, rate=0.3)


# ----------------------------------------------------------------------------- protected text


def test_force_tokens_survive(lingua2, prompt_1k):
    text = prompt_1k + "\nIs Mistral-7B fast? Ask Mistral-7B."
    result = lingua2.compress_prompt_llmlingua2(text, rate=0.2,
                                                force_tokens=["\n", "?", "Mistral-7B"])
    out = result["compressed_prompt"]
    assert out.count("\n") == text.count("\n")
    assert out.count("?") == text.count("?")
    assert out.count("Mistral-7B") == 2


def test_force_reserve_digit_keeps_every_number(lingua2, prompt_1k):
    text = (prompt_1k + " The invoice 2024-11-25 lists 3 items at 12.50 EUR, 1,000 units, "
            "order ord_8f3a2c91 and ratio 0.21.")
    result = lingua2.compress_prompt_llmlingua2(text, rate=0.2, force_reserve_digit=True)
    out = result["compressed_prompt"]
    for word in ["2024-11-25", "3", "12.50", "1,000", "ord_8f3a2c91", "0.21"]:
        assert word in out


def test_numbers_urls_and_identifiers_are_never_cut(lingua2):
    pieces = ["see https://example.org/a/b?q=1 for details", "value 3.14159 and 1,000,000",
              "id ord_8f3a2c91 at 2024-11-25", "mail admin@example.com now", "call f(x) then"]
    text = " ".join(pieces * 30)
    whole = {w.strip(".,;:!?()") for w in text.split()}
    for rate in (0.15, 0.3, 0.5):
        out = lingua2.compress_prompt_llmlingua2(text, rate=rate)["compressed_prompt"]
        for word in out.split():
            core = word.strip(".,;:!?()")
            if NUMBERS.search(core) or "/" in core or "@" in core or "_" in core:
                assert core in whole, (rate, word)


def test_drop_consecutive_removes_repeated_force_tokens(lingua2, prompt_1k):
    words = prompt_1k.split()
    text = "\n".join(" ".join(words[i:i + 5]) for i in range(0, len(words), 5))
    plain = lingua2.compress_prompt_llmlingua2(text, rate=0.25, force_tokens=["\n"])
    dropped = lingua2.compress_prompt_llmlingua2(text, rate=0.25, force_tokens=["\n"],
                                                 drop_consecutive=True)
    assert re.search(r"\n\s*\n", plain["compressed_prompt"])
    assert not re.search(r"\n\s*\n", dropped["compressed_prompt"])


def test_structured_tags_and_segments(lingua2, prompt_1k):
    kept = "Keep THIS 1234 sentence verbatim, please."
    text = f"{prompt_1k[:1500]} <llmlingua, compress=False>{kept}</llmlingua> {prompt_1k[1500:]}"
    result = lingua2.compress_prompt_llmlingua2(text, rate=0.3)
    assert kept in result["compressed_prompt"] and "<llmlingua" not in result["compressed_prompt"]
    segs = [prompt_1k[:2000], prompt_1k[2000:]]
    low = lingua2.compress_prompt_llmlingua2(prompt_1k, rate=0.5, context_segs=[segs],
                                             context_segs_rate=[[0.1, None]],
                                             context_segs_compress=[[True, True]],
                                             return_word_label=True)
    labels = kept_words(low)
    head = len([w for w in split_words(segs[0]).as_list() if w.strip()])
    assert np.mean([k for _, k in labels[:head]]) < 0.2
    assert np.mean([k for _, k in labels[head:]]) > 0.5


# ----------------------------------------------------------------------------- modes


def test_threshold_mode_keeps_exactly_the_probable_words(lingua2, prompt_1k):
    scores = lingua2.classifier.keep_probabilities(prompt_1k)
    threshold = float(np.median(scores.probs[~scores.words.is_space]))
    result = lingua2.compress_prompt_llmlingua2(prompt_1k, keep_threshold=threshold,
                                                return_word_label=True, protect=False)
    labels = [k for _, k in kept_words(result)]
    expected = (scores.probs >= threshold)[~scores.words.is_space].astype(int).tolist()
    assert labels == expected
    # With protection (the default) the facts are kept as well, and nothing else changes.
    protected = lingua2.compress_prompt_llmlingua2(prompt_1k, keep_threshold=threshold,
                                                   return_word_label=True)
    more = [k for _, k in kept_words(protected)]
    assert all(m >= e for m, e in zip(more, expected)) and sum(more) > sum(expected)
    everything = lingua2.compress_prompt_llmlingua2(prompt_1k, keep_threshold=0.0)
    assert everything["compressed_prompt"].split() == prompt_1k.split()


def test_batching_and_window_do_not_change_probabilities(v3_classifier_dir, prompt_1k):
    small = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                             llmlingua2_config={"max_batch_size": 2, "max_seq_len": 512})
    big = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                           llmlingua2_config={"max_batch_size": 50})
    texts = [prompt_1k, prompt_1k[:300], "short one"]
    for a, b in zip(small.classifier.score_words(texts), big.classifier.score_words(texts)):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


def test_token_cap_bounds_each_pass_and_keeps_the_probabilities(v3_classifier_dir,
                                                                 prompt_1k):
    capped = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                              llmlingua2_config={"max_batch_tokens": 300})
    uncapped = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                                llmlingua2_config={"max_batch_tokens": 10**6})
    assert capped.classifier.max_batch_tokens == 300
    sequences = [list(range(5, 5 + n)) for n in (400, 120, 90, 90, 60, 10, 10)]
    passes = [ids.shape for _, ids, _ in capped.classifier.batches(sequences)]
    # A row longer than the cap goes alone; the others fill passes up to the cap.
    assert passes == [(1, 401), (2, 121), (3, 91), (1, 11)]
    assert [ids.shape for _, ids, _ in uncapped.classifier.batches(sequences)] == [(7, 401)]
    texts = [prompt_1k, prompt_1k[:300], "short one"]
    for a, b in zip(capped.classifier.score_words(texts), uncapped.classifier.score_words(texts)):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


def test_cpu_passes_are_capped_by_default(lingua2):
    from llmlingstral.scoring.classifier import CPU_BATCH_TOKENS

    assert lingua2.classifier.max_batch_tokens == CPU_BATCH_TOKENS


@pytest.mark.parametrize("cap, error", [(0, InvalidArgumentError), (-5, InvalidArgumentError),
                                        (2.5, TypeError), ("2048", TypeError)])
def test_bad_token_cap_is_refused(v3_classifier_dir, cap, error):
    with pytest.raises(error, match="max_batch_tokens"):
        PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                         llmlingua2_config={"max_batch_tokens": cap})


def test_chunks_follow_the_window_and_word_boundaries(v3_classifier_dir, prompt_1k):
    pc = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                          llmlingua2_config={"max_seq_len": 64})
    from llmlingstral.text.words import chunk_bounds, word_of_tokens

    encoding = pc.tokenizer.encode_with_offsets(prompt_1k)
    words = split_words(prompt_1k)
    owner = word_of_tokens(words, np.array([s for s, _ in encoding.offsets]))
    bounds = chunk_bounds(words, owner, pc.classifier.chunk_limit, (".", "\n"))
    assert all(0 < end - start <= 63 for start, end in bounds)
    assert all(owner[start] != owner[start - 1] for start, _ in bounds[1:])
    result = pc.compress_prompt_llmlingua2(prompt_1k, rate=0.5)
    assert abs(result["compressed_tokens"] / result["origin_tokens"] - 0.5) <= 0.05


def test_bidirectional_option(v3_classifier_dir):
    causal = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True)
    both = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                            llmlingua2_config={"bidirectional": True})
    assert both.model.config.is_causal is False
    a, b = "alpha beta gamma delta", "alpha beta gamma omega"
    first_causal = [causal.classifier.keep_probabilities(t).probs[0] for t in (a, b)]
    first_both = [both.classifier.keep_probabilities(t).probs[0] for t in (a, b)]
    assert first_causal[0] == pytest.approx(first_causal[1], abs=1e-7)
    assert abs(first_both[0] - first_both[1]) > 1e-6


def test_context_filter_and_forced_contexts(lingua2):
    docs = documents(5)
    result = lingua2.compress_prompt_llmlingua2(docs, rate=0.5, use_context_level_filter=True,
                                                target_context=2, force_context_ids=[4])
    assert len(result["compressed_prompt_list"]) in (2, 3)
    assert all(isinstance(c, str) for c in result["compressed_prompt_list"])


def test_question_aware_path_with_a_ranker(lingua2):
    answer = "The vault code is 4471 and the vault stands in Lyon."
    docs = documents(5) + [answer]

    class KeywordRanker:
        def rank(self, documents, question):
            scores = [sum(w in d.lower() for w in question.lower().split()) for d in documents]
            return sorted(((i, float(s)) for i, s in enumerate(scores)), key=lambda p: -p[1])

    result = lingua2.compress_prompt(docs, question="what is the vault code", rate=0.3,
                                     rank_method=KeywordRanker(), target_context=1,
                                     force_reserve_digit=True)
    assert len(result["compressed_prompt_list"]) == 1
    assert "4471" in result["compressed_prompt"]
    by_name = lingua2.compress_prompt(docs, question="vault code", rate=0.3, rank_method="bm25",
                                      target_context=1)
    assert "vault" in by_name["compressed_prompt"]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("context", ["", "   \n ", []])
def test_empty_text_comes_back_unchanged(lingua2, context):
    result = lingua2.compress_prompt_llmlingua2(context)
    assert result["compressed_prompt"] == ("" if context == [] else context)
    assert result["compressed_tokens"] == result["origin_tokens"]
    assert result["ratio"] == "1.0x"


@pytest.mark.parametrize("kwargs,error,match", [
    ({"force_tokens": "\n"}, TypeError, "force_tokens"),
    ({"keep_threshold": 1.5}, ValueError, "keep_threshold"),
    ({"force_context_ids": [7]}, ValueError, "force_context_ids"),
])
def test_bad_options(lingua2, kwargs, error, match):
    with pytest.raises(error, match=match):
        lingua2.compress_prompt_llmlingua2(documents(2), use_context_level_filter=True, **kwargs)


def test_non_string_context(lingua2):
    with pytest.raises(TypeError, match="context"):
        lingua2.compress_prompt_llmlingua2(["fine", 3])


def test_causal_lm_checkpoint_is_rejected_as_classifier(v03_dir):
    with pytest.raises(LLMLingstralError, match="not a token-classification checkpoint"):
        PromptCompressor(str(v03_dir), device_map="cpu", use_llmlingua2=True)


def test_classifier_methods_need_the_right_compressor(compressor, lingua2):
    with pytest.raises(ValueError, match="use_llmlingua2=True"):
        compressor.compress_prompt_llmlingua2("some text")
    with pytest.raises(ValueError, match="llmlingua2_config"):
        PromptCompressor(lingua2.model_name, device_map="cpu", use_llmlingua2=True,
                         llmlingua2_config={"max_batch": 4})


def test_more_force_tokens_allowed_when_configured(v3_classifier_dir):
    pc = PromptCompressor(str(v3_classifier_dir), device_map="cpu", use_llmlingua2=True,
                          llmlingua2_config={"max_force_token": 200})
    tokens = [f"t{i}" for i in range(150)]
    result = pc.compress_prompt_llmlingua2("t1 and t2 and some other words", rate=0.3,
                                           force_tokens=tokens)
    assert "t1" in result["compressed_prompt"] and "t2" in result["compressed_prompt"]


def test_embeddings_are_not_resized_by_force_tokens(lingua2):
    before = lingua2.model.get_input_embeddings().weight.shape
    lingua2.compress_prompt_llmlingua2("a b c d e f", rate=0.5, force_tokens=["[NEW]", "c"])
    assert lingua2.model.get_input_embeddings().weight.shape == before
    assert isinstance(before, torch.Size)


def test_a_cancelled_caller_stops_while_texts_are_prepared():
    """Preparing many long texts (tokenizing, cutting words) comes before the first forward
    pass; a cancelled caller stops there, before any pass."""
    from llmlingstral.cancel import CancelToken, Cancelled, cancellable

    compressor = PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
    classifier = compressor.classifier
    texts = ["委员会批准了北方铁路线的新预算。 " * 200, "คณะกรรมการอนุมัติงบประมาณใหม่ " * 200,
             "وافقت اللجنة على الميزانية الجديدة. " * 200]
    passes = []
    hook = classifier.model.register_forward_hook(lambda *_: passes.append(1))
    token = CancelToken()
    token.cancel()
    try:
        with cancellable(token), pytest.raises(Cancelled):
            classifier.score_words(texts)
        wanted = classifier.score_words(texts, wanted=lambda index: index != 1)
    finally:
        hook.remove()
    assert passes and wanted[1] is None
    assert [w.text for w in wanted if w is not None] == [texts[0], texts[2]]
