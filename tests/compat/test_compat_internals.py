"""llmlingua's lower-level PromptCompressor methods: token counting, perplexity, ranking,
the coarse filters, the token-level pass and the tag splitter, with llmlingua's argument
meanings and return shapes. Counts are Mistral tokens."""

from __future__ import annotations

import pytest
import torch

from compat_prompts import DOCUMENTS, DOCUMENT_QUESTION, JSON_PROMPT, MATH_DEMOS

BRIDGE = " We can get the answer to this question in the given documents."

# get_rank_results of llmlingua 0.2.2 itself, run on the embedded nano weights (through
# benchmarks/peer's model copy, transformers 4.47.1): (index, perplexity), best first.
# Several scripts, including one written without spaces.
RANK_CASES = [
    (["Paris is the capital of France.",
      "The festival takes place in May every year in Lyon.", "Bananas are yellow fruits."],
     "When is the festival?",
     {"none": [(2, 7.0171), (1, 5.4194), (0, 4.3919)],
      "after": [(1, 5.5847), (0, 5.6031), (2, 5.83)],
      "before": [(0, 5.3259), (1, 6.547), (2, 8.1585)]}),
    (["The river floods every spring after the snow melts.",
      "Our team won the final in 2019 with a late goal.",
      "Tea was first grown in China thousands of years ago.",
      "The museum opens at nine and closes at five."],
     "Who won the final in 2019?",
     {"none": [(3, 6.7413), (0, 5.9958), (2, 5.8078), (1, 4.8366)],
      "after": [(1, 4.301), (2, 4.4111), (3, 4.5284), (0, 4.7007)],
      "before": [(1, 4.7261), (2, 5.8384), (0, 7.0485), (3, 7.835)]}),
    (["北京是中国的首都。", "东京是日本的首都，人口很多。", "The Eiffel Tower is in Paris."],
     "日本的首都是哪里？",
     {"none": [(1, 13.1849), (0, 12.8452), (2, 5.8418)],
      "after": [(0, 8.6998), (1, 8.854), (2, 9.1014)],
      "before": [(2, 6.6748), (1, 13.7907), (0, 14.1734)]}),
]


# ----------------------------------------------------------------------------- tokens


def test_tokenizer_is_called_like_a_hugging_face_tokenizer(llm_lingua):
    tokenizer = llm_lingua.tokenizer
    ids = tokenizer("Hello world").input_ids
    assert ids[0] == tokenizer.bos_id and ids[1:] == tokenizer.encode("Hello world")
    assert tokenizer("Hello world")["attention_mask"] == [1] * len(ids)
    assert tokenizer("Hello world", add_special_tokens=False).input_ids == ids[1:]
    assert tokenizer.decode(ids) == "Hello world"
    assert tokenizer.encode("Hello world", add_special_tokens=True) == ids
    tensors = tokenizer("Hello world", return_tensors="pt")
    assert tensors["input_ids"].shape == (1, len(ids))
    assert tokenizer.batch_decode(tensors.input_ids) == ["Hello world"]
    batch = tokenizer(["a", "a longer text"], padding=True, return_tensors="pt")
    assert batch.input_ids.shape[0] == 2 and batch.attention_mask[0, 0] == 0  # left padding


@pytest.mark.parametrize("text", ["Hello world", "東京は日本の首都です。", "Ça coûte 12,50 €."])
def test_get_token_length(llm_lingua, text):
    count = len(llm_lingua.tokenizer.encode(text))
    assert llm_lingua.get_token_length(text) == count + 1                 # with BOS
    assert llm_lingua.get_token_length(text, False) == count
    assert llm_lingua.get_token_length(text, use_oai_tokenizer=True) == count  # the reported unit


# ----------------------------------------------------------------------------- perplexity


def test_get_ppl_shapes_and_cache(llm_lingua):
    text = "The harbour festival is held every year in the second week of May."
    tokens = llm_lingua.get_ppl(text, granularity="token")
    n = llm_lingua.get_token_length(text)
    assert isinstance(tokens, torch.Tensor) and tokens.shape == (n - 1,)
    assert torch.isclose(llm_lingua.get_ppl(text), tokens.mean())
    ids = llm_lingua.tokenizer(text, return_tensors="pt").input_ids
    first, cache = llm_lingua.get_ppl(text, "token", input_ids=ids[:, :6], return_kv=True)
    rest = llm_lingua.get_ppl(text, "token", input_ids=ids, past_key_values=cache)
    # The cached prefix is not rescored and the first new token is not scored (llmlingua).
    assert torch.allclose(first, tokens[:5], atol=1e-4)
    assert torch.allclose(rest, tokens[6:], atol=1e-4)
    after = llm_lingua.get_ppl(text, "token", condition_mode="after", condition_pos_id=4)
    assert torch.allclose(after, tokens[4:])
    assert llm_lingua.get_ppl(text, "token", end=5).shape == (4,)


def test_get_condition_ppl_is_the_perplexity_of_the_joined_string(llm_lingua):
    document, question = DOCUMENTS[0], DOCUMENT_QUESTION
    split = llm_lingua.get_token_length(document) - 1
    joined = llm_lingua.get_ppl(document + question, "token")
    after = llm_lingua.get_condition_ppl(document, question, "after", "token")
    assert torch.allclose(after, joined[split:], atol=1e-4)
    assert torch.isclose(llm_lingua.get_condition_ppl(document, question, "none"),
                         llm_lingua.get_ppl(document), atol=1e-4)
    before = llm_lingua.get_condition_ppl(document, question, "before")
    split = llm_lingua.get_token_length(question) - 1
    assert torch.isclose(before, llm_lingua.get_ppl(question + document, "token")[split:].mean(),
                         atol=1e-4)


@pytest.mark.parametrize("condition", ["after", "before"])
def test_joined_sentence_scores_are_llmlinguas_condition_ppl(llm_lingua, condition):
    from llmlingstral.methods.llmlingua import LLMLinguaSettings, _sentence_ranker

    assert LLMLinguaSettings().sentence_strings == "joined"  # the sentence filter's default

    sentences = ["The harbour festival is held in May.", DOCUMENTS[0][:120]]
    ranker = _sentence_ranker(llm_lingua.scorer, condition, "joined")
    expected = [-float(llm_lingua.get_condition_ppl(s, DOCUMENT_QUESTION, condition))
                for s in sentences]
    assert ranker.scores(sentences, DOCUMENT_QUESTION) == pytest.approx(expected, abs=1e-4)
    separate = _sentence_ranker(llm_lingua.scorer, condition, "separate")
    assert separate.scores(sentences, DOCUMENT_QUESTION) != pytest.approx(expected, abs=1e-4)


# ----------------------------------------------------------------------------- ranking


@pytest.mark.parametrize("case", range(len(RANK_CASES)))
@pytest.mark.parametrize("method", ["llmlingua", "longllmlingua"])
@pytest.mark.parametrize("condition", ["none", "after", "before"])
def test_perplexity_ranking_equals_llmlingua(llm_lingua, case, method, condition):
    documents, question, expected = RANK_CASES[case]
    lengths = [llm_lingua.get_token_length(d) for d in documents]
    ranking = llm_lingua.get_rank_results(documents, question, method, condition, lengths)
    assert [i for i, _ in ranking] == [i for i, _ in expected[condition]]
    assert [s for _, s in ranking] == pytest.approx([s for _, s in expected[condition]],
                                                    abs=1e-3)


def test_after_scores_are_question_perplexity_with_the_bridging_sentence(llm_lingua):
    ranking = llm_lingua.get_rank_results(DOCUMENTS, DOCUMENT_QUESTION, "longllmlingua",
                                          "after", None)
    for index, score in ranking:
        expected = llm_lingua.get_condition_ppl(DOCUMENTS[index], DOCUMENT_QUESTION + BRIDGE,
                                                "after")
        assert score == pytest.approx(float(expected), abs=1e-4)
    assert [s for _, s in ranking] == sorted(s for _, s in ranking)  # lowest first


@pytest.mark.parametrize("case", range(len(RANK_CASES)))
def test_gzip_pairs_carry_the_distance_nearest_first(llm_lingua, case):
    from llmlingstral.ranking.gzip import ncd

    documents, question, _ = RANK_CASES[case]
    ranking = llm_lingua.get_rank_results(documents, question, "gzip", "none", None)
    assert sorted(i for i, _ in ranking) == list(range(len(documents)))
    for index, distance in ranking:
        assert distance == pytest.approx(ncd(question, documents[index]))
    distances = [s for _, s in ranking]
    assert distances == sorted(distances)


# ----------------------------------------------------------------------------- filters


def test_control_context_budget(llm_lingua):
    lengths = [llm_lingua.get_token_length(d) for d in DOCUMENTS]
    kept, ratios, used = llm_lingua.control_context_budget(
        DOCUMENTS, lengths, 10, None, None, DOCUMENT_QUESTION, "after", "sort", 0.4,
        "longllmlingua", "+0")
    ranking = llm_lingua.get_rank_results(DOCUMENTS, DOCUMENT_QUESTION, "longllmlingua",
                                          "after", lengths)
    assert used == [ranking[0][0]]                  # the best document fills 10 tokens
    assert kept == [DOCUMENTS[i] for i in used] and len(ratios) == len(used)
    kept, ratios, used = llm_lingua.control_context_budget(
        DOCUMENTS, lengths, 200, question=DOCUMENT_QUESTION, condition_in_question="after",
        reorder_context="sort", dynamic_context_compression_ratio=0.4)
    assert used == [i for i, _ in ranking] and ratios == pytest.approx([0.4, 0.0, -0.4])


def test_control_sentence_budget(llm_lingua):
    contexts = MATH_DEMOS.split("\n\n")
    kept, info = llm_lingua.control_sentence_budget(contexts, 60, question=DOCUMENT_QUESTION)
    assert len(kept) == len(contexts) and info == []
    assert sum(llm_lingua.get_token_length(k, False) for k in kept) < \
        sum(llm_lingua.get_token_length(c, False) for c in contexts)
    for original, sentences in zip(contexts, kept):
        assert all(part in original for part in sentences.split("\n") if part)


def test_iterative_compress_prompt(llm_lingua):
    contexts = MATH_DEMOS.split("\n\n")
    ids, mask = llm_lingua.iterative_compress_prompt(contexts, 120)
    assert ids.shape == mask.shape and ids.shape[0] == 1 and bool(mask.all())
    assert ids.shape[1] <= 1.2 * 120
    text = llm_lingua.tokenizer.batch_decode(ids)[0]
    assert set(text.split()) <= set(MATH_DEMOS.split())
    question = "How many rolls are left?"
    start = llm_lingua.get_token_length(question + "\n\n", False)
    ids, _ = llm_lingua.iterative_compress_prompt([question] + contexts, 120, start=start,
                                                  condition_compare=True,
                                                  dynamic_ratio=[0.2, 0.0, -0.2])
    assert not llm_lingua.tokenizer.decode(ids[0]).startswith(question)


def test_segment_structured_context_defaults(llm_lingua):
    texts, segs, rates, compress = llm_lingua.segment_structured_context(
        ["plain text", "<llmlingua, compress=False>kept</llmlingua><llmlingua>free</llmlingua>",
         JSON_PROMPT], 0.3)
    assert texts[:2] == ["plain text", "keptfree"]
    assert rates[0] == [0.3] and compress[0] == [True]
    assert rates[1] == [1.0, 0.3] and compress[1] == [False, True]
    assert [len(s) for s in segs] == [len(r) for r in rates]


def test_rank_condition_left_out_is_the_methods_own(llm_lingua):
    documents, question = DOCUMENTS, DOCUMENT_QUESTION
    assert llm_lingua.get_rank_results(documents, question, "longllmlingua") == \
        llm_lingua.get_rank_results(documents, question, "longllmlingua", "after", None)
    assert llm_lingua.get_rank_results(documents, question, "llmlingua") == \
        llm_lingua.get_rank_results(documents, question, "llmlingua", "none", None)


# ----------------------------------------------------------------------------- protection


def test_the_token_level_pass_takes_protect(llm_lingua):
    from llmlingstral.text.protect import Protection

    contexts = MATH_DEMOS.split("\n\n")
    contexts[1] += " The vault code is 7741-ALPHA-93, kept by the quartermaster."
    protect = Protection.off(force_tokens=["7741-ALPHA", "quartermaster"])
    ids, _ = llm_lingua.iterative_compress_prompt(contexts, 60, protect=protect)
    text = llm_lingua.tokenizer.batch_decode(ids)[0]
    assert "7741-ALPHA-93" in text and "quartermaster" in text


@pytest.mark.parametrize("call", ["control_context_budget", "control_sentence_budget",
                                  "iterative_compress_prompt"])
def test_the_adapters_that_compress_refuse_a_bad_protect(llm_lingua, call):
    contexts = MATH_DEMOS.split("\n\n")
    arguments = {"control_context_budget": (contexts, [50] * len(contexts), 60)}.get(
        call, (contexts, 60))
    with pytest.raises(TypeError, match="protect must be True"):
        getattr(llm_lingua, call)(*arguments, protect="numbers")


def test_the_token_level_pass_keeps_the_facts_by_default(llm_lingua):
    from texts import example_prompt, missing_facts

    contexts = example_prompt().split("\n\n")
    total = sum(llm_lingua.get_token_length(c, False) for c in contexts)
    ids, _ = llm_lingua.iterative_compress_prompt(contexts, total // 2)
    text = llm_lingua.tokenizer.batch_decode(ids)[0]
    assert not missing_facts(text), missing_facts(text)
