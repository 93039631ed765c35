"""The llmlingua-compatible facade (compressor.py): what code written for llmlingua 0.2.2
relies on, and what bad input gets, whichever method or format runs: one error per mistake,
clear errors instead of silent wrong answers, and llmlingua's result shapes on every path
(llmlingua's exception types are checked in compat/test_compat_errors.py)."""

from __future__ import annotations

import math

import pytest

import replicas
from llmlingstral import InvalidArgumentError, PromptCompressor
from llmlingstral.prompt import CONTEXT_SEPARATOR
from texts import documents, multilingual_documents, stdlib_prose


@pytest.fixture(scope="module")
def lingua2(tmp_path_factory):
    folder = replicas.mistral_token_classifier(tmp_path_factory.mktemp("tokcls_callers"))
    return PromptCompressor(str(folder), device_map="cpu", use_llmlingua2=True)


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("option,value", [
    ("dynamic_context_compression_ratio", float("nan")),
    ("dynamic_context_compression_ratio", float("inf")),
    ("dynamic_context_compression_ratio", -0.2),
    ("force_context_number", -1),
    ("token_budget_ratio", float("nan")),
    ("high_priority_bonus", float("inf")),
    ("keep_first_sentence", -1),
    ("target_token", float("inf")),
    ("context_budget", "*1e999"),
])
def test_numbers_without_meaning_are_errors_not_empty_prompts(compressor, option, value):
    with pytest.raises(ValueError, match=option):
        compressor.compress_prompt(documents(3), question="What is parsed?", rate=0.4,
                                   use_sentence_level_filter=True, **{option: value})


@pytest.mark.parametrize("option,value", [
    ("context_level_rate", float("nan")), ("context_level_target_token", float("inf")),
    ("keep_threshold", float("nan")), ("target_token", float("-inf"))])
def test_llmlingua2_numbers_without_meaning_are_errors(lingua2, option, value):
    with pytest.raises(ValueError, match=option):
        lingua2.compress_prompt_llmlingua2(documents(3), rate=0.4, **{option: value})


def test_valid_edge_numbers_still_work(compressor):
    result = compressor.compress_prompt(documents(3), question="What is parsed?", rate=0.4,
                                        force_context_number=0, force_context_ids=[1],
                                        dynamic_context_compression_ratio=1.0)
    assert result["kept_context_ids"] == [1]
    assert not math.isnan(float(result["rate"].rstrip("%")))


# ----------------------------------------------------------------------------- context_segs


def test_segments_that_do_not_join_back_to_the_context_are_refused(any_method):
    with pytest.raises(ValueError, match=r"context_segs\[0\] does not join back"):
        any_method.compress_prompt(["Some text here."], context_segs=[["Totally different"]])


@pytest.mark.parametrize("field,value,match", [
    ("context_segs_rate", [[0.5]], r"context_segs_rate\[0\] has 1 entries for the 2 pieces"),
    ("context_segs_compress", [[True, False, True]], r"has 3 entries for the 2 pieces"),
    ("context_segs_rate", [[0.5, 0.5], [0.5]], "has 2 entries for 1 contexts"),
    ("context_segs_rate", [[0.5, 1.5]], r"context_segs_rate\[0\]\[1\] must be in"),
])
def test_segment_lists_that_do_not_match_the_segments_are_refused(any_method, field, value,
                                                                   match):
    text = "First piece of text. Second piece of text."
    with pytest.raises(ValueError, match=match):
        any_method.compress_prompt([text], context_segs=[[text[:21], text[21:]]],
                                   **{field: value})


def test_segment_settings_without_segments_are_refused(compressor):
    with pytest.raises(ValueError, match="pass context_segs too"):
        compressor.compress_prompt(["Some text here."], context_segs_rate=[[0.5]])


@pytest.fixture(params=["llmlingua", "llmlingua2"])
def any_method(request, compressor, lingua2):
    return compressor if request.param == "llmlingua" else lingua2


# ----------------------------------------------------------------------------- constructor


@pytest.mark.parametrize("device_map", [{}, None, ""])
def test_an_empty_device_map_means_the_default(v03_dir, device_map):
    compressor = PromptCompressor(str(v03_dir), device_map=device_map)
    assert compressor.device.type in {"cpu", "cuda"}
    assert compressor.compress_prompt(documents(1)[0], rate=0.5)["compressed_tokens"] > 0


@pytest.mark.parametrize("kwargs,match", [
    ({"model_name": {}}, "model_name must be a preset name"),
    ({"model_name": None}, "model_name must be a preset name"),
    ({"model_name": 3}, "model_name must be a preset name"),
    ({"device_map": ["cpu"]}, "device_map must be a device name"),
    ({"device_map": True}, "device_map must be a device name"),
    ({"model_config": "fp16"}, "model_config must be a dict"),
    ({"open_api_config": ["key"]}, "open_api_config must be a dict"),
])
def test_constructor_arguments_of_the_wrong_type_say_so(v03_dir, kwargs, match):
    with pytest.raises(TypeError, match=match):
        PromptCompressor(**{"model_name": str(v03_dir), "device_map": "cpu", **kwargs})


@pytest.mark.parametrize("window, error", [
    (-1, InvalidArgumentError), (0, InvalidArgumentError), (1, InvalidArgumentError),
    (31, InvalidArgumentError), (float("nan"), InvalidArgumentError),
    (float("inf"), InvalidArgumentError), (2.5, TypeError), ("10", TypeError),
    (True, TypeError)])
def test_a_max_window_out_of_range_or_of_the_wrong_type_is_refused(window, error):
    """The window is checked before any model loads, with the valid range in the message."""
    with pytest.raises(error, match=r"model_config\['max_window'\].*>= 32"):
        PromptCompressor("nano", device_map="cpu", model_config={"max_window": window})


def test_max_window_caps_the_scorer_and_the_model_caps_it(nano):
    limit = nano.scorer.window
    assert PromptCompressor("nano", device_map="cpu",
                            model_config={"max_window": 32}).scorer.window == 32
    assert PromptCompressor("nano", device_map="cpu",
                            model_config={"max_window": limit * 4}).scorer.window == limit


# ----------------------------------------------------------------------------- names


def test_one_preset_table_under_both_import_paths_gives_each_model_id():
    from llmlingstral import MISTRAL_MODELS as presets
    from llmlingstral.mistral_config import MISTRAL_MODELS

    assert MISTRAL_MODELS is presets
    assert MISTRAL_MODELS["default"].source == "mistralai/Mistral-7B-v0.3"
    assert str(MISTRAL_MODELS["embedding"]) == "intfloat/e5-mistral-7b-instruct"
    assert all(str(preset) == preset.source for preset in MISTRAL_MODELS.values())


def test_mistral_is_the_short_name_of_e5_mistral_ranking():
    import warnings

    from llmlingstral.ranking.registry import resolve_rank_method

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_rank_method("mistral") == "e5-mistral"


# ----------------------------------------------------------------------------- LLMLingua-2 paths

INSTRUCTION, QUESTION = "Answer from the documents only.", "Which module parses arguments?"


def test_compress_prompt_on_llmlingua2_leaves_instruction_and_question_out(lingua2):
    docs = documents(3, 700)
    via_facade = lingua2.compress_prompt(docs, instruction=INSTRUCTION, question=QUESTION,
                                         rate=0.4)
    direct = lingua2.compress_prompt_llmlingua2(docs, rate=0.4, use_context_level_filter=True)
    assert via_facade["compressed_prompt"] == direct["compressed_prompt"]
    assert via_facade["origin_tokens"] == direct["origin_tokens"]
    assert INSTRUCTION not in via_facade["compressed_prompt"]
    assert QUESTION not in via_facade["compressed_prompt"]
    assert via_facade["compressed_prompt"] == "\n\n".join(via_facade["compressed_prompt_list"])


def test_llmlingua_callers_rank_methods_run_on_a_classifier(lingua2):
    # LlamaIndex's default and LangChain's full LongLLMLingua call, handed an LLMLingua-2
    # compressor: llmlingua 0.2.2 ignores these options there, and so do we.
    docs = documents(3, 600)
    plain = lingua2.compress_prompt(docs, rate=0.4)["compressed_prompt"]
    assert lingua2.compress_prompt(docs, question=QUESTION, rate=0.4,
                                   rank_method="longllmlingua")["compressed_prompt"] == plain
    result = lingua2.compress_prompt(
        docs, instruction=INSTRUCTION, question=QUESTION, target_token=120,
        rank_method="longllmlingua", concate_question=False, add_instruction=True,
        condition_compare=True, condition_in_question="after", context_budget="+100",
        reorder_context="sort", dynamic_context_compression_ratio=0.4)
    assert result["compressed_prompt"] and INSTRUCTION not in result["compressed_prompt"]
    structured = lingua2.structured_compress_prompt(docs, instruction=INSTRUCTION,
                                                    question=QUESTION, rate=0.4,
                                                    rank_method="longllmlingua")
    assert QUESTION not in structured["compressed_prompt"]
    pairs = lingua2.compress_json({"a": docs[0], "b": docs[1], "c": "short"}, rate=0.3,
                                  use_keyvalue_level_filter=True)
    assert isinstance(pairs["compressed_prompt"], dict)


def test_classifier_ranks_by_keep_probability_for_llmlingua_ranking(lingua2):
    ranking = lingua2.get_rank_results(documents(3), "", "llmlingua")
    assert sorted(i for i, _ in ranking) == [0, 1, 2]
    scores = [s for _, s in ranking]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_instruction_and_question_are_kept_when_asked_of_compress_prompt_llmlingua2(lingua2):
    result = lingua2.compress_prompt_llmlingua2(documents(2), rate=0.4,
                                                instruction=INSTRUCTION, question=QUESTION)
    assert result["compressed_prompt"].startswith(INSTRUCTION + "\n\n")
    assert result["compressed_prompt"].endswith("\n\n" + QUESTION)


# ----------------------------------------------------------------------------- protection

FESTIVAL = ("The Kestrel festival opens on 12 May 2024 at 19:30 in the old harbour, and the "
            "lantern parade leaves the square at 11:40 pm. Tickets cost 45 euros; children "
            "under 7 enter free. ") * 4


def test_force_tokens_and_digits_are_kept_on_the_llmlingua_path(compressor):
    result = compressor.compress_prompt(FESTIVAL, rate=0.1, force_tokens=["Kestrel", "11:40 pm"],
                                        force_reserve_digit=True)
    kept = result["compressed_prompt"]
    assert kept.count("Kestrel") == 4 and kept.count("11:40 pm") == 4
    for number in ("12", "2024", "19:30", "45", "7"):
        assert kept.split().count(number) + kept.split().count(number + ".") >= 4, number
    assert result["compressed_tokens"] < result["origin_tokens"]
    words = iter(FESTIVAL.split())
    assert all(any(w == o for o in words) for w in kept.split())  # deletion only


def test_force_tokens_protect_words_in_every_kept_document(compressor):
    docs = [FESTIVAL, "Kestrel is also the name of a small falcon. " * 8]
    result = compressor.compress_prompt(docs, rate=0.2, force_tokens=["Kestrel"],
                                        use_context_level_filter=False)
    assert result["compressed_prompt"].count("Kestrel") == 12


def test_the_sentence_filter_keeps_sentences_holding_protected_text():
    # A repeated, unsurprising sentence is the first the sentence filter drops.
    nano = PromptCompressor("nano", device_map="cpu")
    plain = "The boat sails from the quay at dawn."
    text = stdlib_prose(2500)[:2500] + " " + " ".join(
        [plain] * 3 + ["The Kestrel sails from the quay at dawn."] + [plain] * 3)
    kept = nano.compress_prompt(text, rate=0.1, use_sentence_level_filter=True,
                                force_tokens=["Kestrel"])["compressed_prompt"]
    assert "Kestrel" in kept
    timed = text.replace("The Kestrel sails from the quay at dawn.", plain.replace("dawn", "6:15"))
    kept = nano.compress_prompt(timed, rate=0.1, use_sentence_level_filter=True,
                                force_reserve_digit=True)["compressed_prompt"]
    assert "6:15" in kept


def test_force_tokens_on_the_llmlingua_path_must_be_strings(compressor):
    with pytest.raises(TypeError, match="force_tokens"):
        compressor.compress_prompt(FESTIVAL, rate=0.3, force_tokens="Kestrel")


# ----------------------------------------------------------------------------- empty input


@pytest.mark.parametrize("context", ["", "  \n ", [], ["", "  "]])
def test_empty_input_comes_back_unchanged_with_every_method(compressor, lingua2, context):
    for method in (compressor, lingua2):
        result = method.compress_prompt(context, rate=0.3)
        assert result["compressed_prompt"].strip() == ""
        if isinstance(context, str):  # the very text, blanks included
            assert result["compressed_prompt"] == context
        if context == ["", "  "]:  # the empty context and its separator cost nothing
            assert result["compressed_prompt"] == "  "
            assert result["compressed_tokens"] < result["origin_tokens"]
        else:
            assert result["compressed_tokens"] == result["origin_tokens"]
    with_question = compressor.compress_prompt(context, question=QUESTION, rate=0.3)
    assert with_question["compressed_prompt"].strip() == QUESTION
    assert lingua2.compress_prompt(context, question=QUESTION)["compressed_prompt"].strip() == ""


# ----------------------------------------------------------------------------- JSON

PROFILE = {"id": 7, "name": "Ana", "tags": ["lantern", "harbour festival", "x"],
           "bio": FESTIVAL}


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_json_values_never_hold_the_labels_they_were_scored_with(rate):
    compressor = PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
    out = compressor.compress_json(PROFILE, rate=rate)["compressed_prompt"]
    strings = [out.get("name", "")] + list(out.get("tags", [])) + [out.get("bio", "")]
    assert not any(s.startswith(("name:", "tags[", "bio:")) for s in strings), out
    assert out["id"] == 7
    for item in out.get("tags", []):
        assert item in PROFILE["tags"] or item in " ".join(PROFILE["tags"])


# ----------------------------------------------------------------------------- budget


def test_readme_example_returns_a_prompt_when_the_question_exceeds_the_target(compressor,
                                                                              lingua2):
    call = dict(instruction="Answer from the documents.", question="When is the festival?",
                rate=0.4)
    with pytest.warns(UserWarning, match="compressed as far as they go") as caught:
        result = compressor.compress_prompt(["first document ...", "second document ..."],
                                            **call)
    assert caught[0].filename == __file__
    assert result["compressed_prompt"].startswith(call["instruction"])
    assert result["compressed_prompt"].endswith(call["question"])
    with pytest.warns(UserWarning, match="no room for the contexts"):
        extra = lingua2.compress_prompt_llmlingua2(["first document ...", "second document ..."],
                                                   **call)
    assert extra["compressed_prompt"].endswith(call["question"])


def test_protected_text_survives_when_the_question_takes_the_whole_target(compressor):
    with pytest.warns(UserWarning):
        result = compressor.compress_prompt(FESTIVAL, question="why? " * 40, target_token=20,
                                            force_tokens=["Kestrel"])
    assert result["compressed_prompt"].count("Kestrel") == 4


# ----------------------------------------------------------------------------- result


def test_llmlingua_options_a_classifier_ignores_must_still_be_well_formed(lingua2):
    assert lingua2.compress_prompt(documents(2), rate=0.5, iterative_size=100,
                                   dynamic_context_compression_ratio=0.4)["compressed_prompt"]
    with pytest.raises(ValueError, match="dynamic_context_compression_ratio"):
        lingua2.compress_prompt(documents(2), rate=0.5,
                                dynamic_context_compression_ratio=float("nan"))


CALLS = {
    "compress_prompt": lambda c, **k: c.compress_prompt(documents(2), **k),
    "structured": lambda c, **k: c.structured_compress_prompt(documents(2), **k),
    "compress_json": lambda c, **k: c.compress_json({"a": documents(1)[0]}, **k),
}


# ----------------------------------------------------------------------------- validation


# One exception per kind of mistake: a value that is no number is a TypeError; NaN, an
# infinity or a number out of range an InvalidArgumentError (a ValueError, and the
# AssertionError llmlingua raises for a rate above 1).
WRONG_TYPES = ["0.5", None, True, [0.5]]
BAD_RATES = [float("nan"), float("inf"), 1.5, 0, -0.1]
BAD_TARGETS = [float("nan"), float("inf"), 0, -5]


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("target", WRONG_TYPES[:3] + ["100"])
def test_a_target_token_of_the_wrong_type_is_a_type_error(any_method, call, target):
    with pytest.raises(TypeError, match="target_token"):
        CALLS[call](any_method, target_token=target)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("target", BAD_TARGETS)
def test_a_target_token_out_of_range_is_a_value_error(any_method, call, target):
    with pytest.raises(InvalidArgumentError, match="target_token"):
        CALLS[call](any_method, target_token=target)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("rate", WRONG_TYPES)
def test_a_rate_of_the_wrong_type_is_a_type_error(any_method, call, rate):
    with pytest.raises(TypeError, match="rate"):
        CALLS[call](any_method, rate=rate)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("rate", BAD_RATES)
def test_a_rate_out_of_range_is_one_error_everywhere(any_method, call, rate):
    with pytest.raises(InvalidArgumentError, match=r"rate must be (in \(0, 1\]|a number)"):
        CALLS[call](any_method, rate=rate)


def test_llmlingua2_entry_point_validates_like_compress_prompt(lingua2):
    call = lingua2.compress_prompt_llmlingua2
    for keyword in ({"target_token": "100"}, {"rate": "0.5"}, {"rate": None}):
        with pytest.raises(TypeError, match=next(iter(keyword))):
            call(documents(2), **keyword)
    for keyword in ({"target_token": 0}, {"target_token": float("nan")},
                    {"rate": float("nan")}, {"rate": 1.5}, {"rate": 0}):
        with pytest.raises(InvalidArgumentError, match=next(iter(keyword))):
            call(documents(2), **keyword)


@pytest.mark.parametrize("ids", [[True], [False], [0, True]])
def test_boolean_context_ids_are_rejected_by_every_method(any_method, ids):
    with pytest.raises(ValueError, match="force_context_ids holds"):
        any_method.compress_prompt(documents(3), rate=0.3, force_context_ids=ids,
                                       use_context_level_filter=True)


# ----------------------------------------------------------------------------- tags


def test_tags_are_parsed_by_compress_prompt_for_both_methods(any_method):
    kept = "The vault code is 4417-alpha and must stay."
    text = documents(1, 1500)[0] + f" <llmlingua, compress=False>{kept}</llmlingua>"
    result = any_method.compress_prompt(text, rate=0.3)
    assert kept in result["compressed_prompt"]
    assert "<llmlingua" not in result["compressed_prompt"]
    assert result["compressed_tokens"] < result["origin_tokens"]


def test_malformed_tags_name_the_context_for_both_methods(any_method):
    with pytest.raises(ValueError, match=r"context\[1\].*never closed"):
        any_method.compress_prompt(["fine", "<llmlingua, rate=0.5>open"], rate=0.5)


# ----------------------------------------------------------------------------- result keys


def _check_kept(result, contexts, question=""):
    ids, texts = result["kept_context_ids"], result["compressed_contexts"]
    assert len(ids) == len(texts) and len(set(ids)) == len(ids)
    assert all(0 <= i < len(contexts) for i in ids)
    assert all(t for t in texts)
    body = result["compressed_prompt"]
    if question:
        assert body.endswith(question)
        body = body[: -len(question)].rstrip("\n")
    assert body == CONTEXT_SEPARATOR.join(texts)  # in prompt order, nothing else
    for i, text in zip(ids, texts):  # each text comes from the context its id names
        assert _subsequence("".join(text.split()), "".join(contexts[i].split()))
    return ids


def _subsequence(part: str, whole: str) -> bool:
    characters = iter(whole)
    return all(c in characters for c in part)


@pytest.mark.parametrize("reorder", ["original", "sort"])
def test_kept_contexts_in_prompt_order_llmlingua(compressor, reorder):
    docs = documents(6, 600)
    question = "What does the module do?"
    result = compressor.compress_prompt(docs, question=question, rate=0.25,
                                        rank_method="longllmlingua", reorder_context=reorder,
                                        force_context_ids=[4])
    ids = _check_kept(result, docs, question)
    assert 4 in ids and len(ids) < len(docs)
    if reorder == "original":
        assert ids == sorted(ids)


def test_kept_contexts_in_prompt_order_llmlingua2(lingua2):
    docs = documents(6, 600)
    result = lingua2.compress_prompt(docs, rate=0.3, force_context_ids=[5])
    ids = _check_kept(result, docs)
    assert 5 in ids and len(ids) < len(docs) and ids == sorted(ids)
    assert result["compressed_contexts"] == [t for t in result["compressed_prompt_list"] if t]
    direct = lingua2.compress_prompt_llmlingua2(docs, rate=0.3)
    assert _check_kept(direct, docs) == list(range(6))


def test_kept_contexts_when_nothing_is_cut(any_method):
    docs = ["first document", "second document", *multilingual_documents()]
    result = any_method.compress_prompt(docs, rate=1.0, use_context_level_filter=False)
    assert result["kept_context_ids"] == list(range(len(docs)))
    assert result["compressed_contexts"] == docs


# ----------------------------------------------------------------------------- rankers


def test_one_ranker_serves_both_methods(compressor, lingua2):
    class Counting:
        calls = 0

        def rank(self, docs, question):
            Counting.calls += 1
            return [(i, float(-i)) for i in range(len(docs))]

    docs = documents(4, 600)
    for method in (compressor, lingua2):
        before = Counting.calls
        result = method.compress_prompt(docs, question="anything", rate=0.3,
                                        rank_method=Counting())
        assert Counting.calls == before + 1
        assert result["kept_context_ids"][0] == 0
