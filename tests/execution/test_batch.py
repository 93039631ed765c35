"""compress_prompts: one result per prompt, equal to compressing the prompts one by one."""

from __future__ import annotations

import pytest

from llmlingstral import PromptCompressor
from texts import documents, stdlib_prose

SCRIPTS = [
    "東京の会議は午前十時に始まり、議題は予算と新しい研究所の建設計画でした。参加者は三十名で、"
    "結論は来月まで持ち越されました。",
    "北京的天气预报说明天有雨，气温在十二度到十八度之间，请大家带好雨伞并注意交通安全。",
    "Le comité a voté le budget de 12,5 millions d'euros pour l'hôpital de Lyon ; les travaux "
    "commencent en mars 2027 et dureront trois ans.",
    "Совет директоров утвердил план на 2027 год: выручка должна вырасти на 8 процентов.",
    "ผู้จัดการประชุมกล่าวว่าโครงการจะเริ่มในเดือนหน้าและใช้งบประมาณสองล้านบาท",
]


@pytest.fixture(scope="module")
def nano_lingua2():
    return PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)


@pytest.fixture(scope="module")
def nano():
    return PromptCompressor("nano", device_map="cpu")


def _prompts() -> list:
    docs = documents(12, chars=500)
    prose = stdlib_prose(4000)
    return [
        prose[:2500],
        docs[:5],
        {"context": docs[5:9], "question": "What does the parser return?", "rate": 0.3},
        {"context": SCRIPTS[0] + "\n" + SCRIPTS[1], "rate": 0.6},
        SCRIPTS[2:],
        {"context": prose[2500:3900], "target_token": 120, "force_tokens": ["\n", "."]},
        {"context": docs[9:], "instruction": "Summarise.", "use_context_level_filter": False},
        prose[:2500],                                   # a repeated prompt
    ]


def _one_by_one(compressor, prompts, **kwargs):
    results = []
    for prompt in prompts:
        request = dict(prompt) if isinstance(prompt, dict) else {"context": prompt}
        results.append(compressor.compress_prompt(**{**kwargs, **request}))
    return results


def test_llmlingua2_batch_equals_one_by_one(nano_lingua2):
    prompts = _prompts()
    batch = nano_lingua2.compress_prompts(prompts, rate=0.4, return_word_label=True)
    assert batch == _one_by_one(nano_lingua2, prompts, rate=0.4, return_word_label=True)
    assert len({r["compressed_prompt"] for r in batch}) == len(batch) - 1
    assert batch[3]["compressed_tokens"] < batch[3]["origin_tokens"]


def test_llmlingua2_batch_shares_forward_passes(nano_lingua2):
    calls = []
    hook = nano_lingua2.model.register_forward_hook(lambda *_: calls.append(1))
    prompts = documents(12, chars=600)
    try:
        batch = nano_lingua2.compress_prompts(prompts, rate=0.5)
        batched_calls = len(calls)
        calls.clear()
        single = _one_by_one(nano_lingua2, prompts, rate=0.5)
    finally:
        hook.remove()
    assert batch == single
    assert batched_calls == 1 < len(calls)


@pytest.mark.parametrize("rank_method", ["longllmlingua", " llmlingua ", None])
def test_llmlingua2_prompts_ranked_by_the_classifier_share_forward_passes(nano_lingua2,
                                                                          rank_method):
    """LLMLingua-2 ignores the perplexity names, as llmlingua's does: the classifier ranks,
    so those prompts are scored with the others, not one by one."""
    docs = documents(6, chars=400) + SCRIPTS
    prompts = [{"context": docs[i:i + 3], "question": question, "rank_method": rank_method}
               for i, question in enumerate(["How are loggers configured?", "会議はいつ？",
                                             "ما هي العاصمة؟"])]
    calls = []
    hook = nano_lingua2.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        batch = nano_lingua2.compress_prompts(prompts, rate=0.5)
        batched_calls = len(calls)
    finally:
        hook.remove()
    assert batch == _one_by_one(nano_lingua2, prompts, rate=0.5)
    assert batched_calls == 1


def test_llmlingua2_with_a_ranker_and_security_settings(nano_lingua2):
    docs = documents(6, chars=400)
    prompts = [{"context": docs, "question": "How are loggers configured?", "rank_method": "bm25",
                "rate": 0.3},
               {"context": docs[:3], "keep_threshold": 0.6},
               {"context": docs[3:], "context_segs": [[d[:100], d[100:]] for d in docs[3:]],
                "context_segs_compress": [[False, True]] * 3}]
    assert nano_lingua2.compress_prompts(prompts) == _one_by_one(nano_lingua2, prompts)


def test_llmlingua_batch_equals_one_by_one(nano):
    prompts = _prompts()[:5]
    kwargs = {"rate": 0.5, "iterative_size": 100}
    assert nano.compress_prompts(prompts, **kwargs) == _one_by_one(nano, prompts, **kwargs)


def test_longllmlingua_batch_equals_one_by_one(compressor):
    docs = documents(9, chars=400)
    prompts = [{"context": docs[:4], "question": "What does the parser do?"},
               {"context": docs[4:], "question": "Which module handles dates?", "rate": 0.3},
               {"context": SCRIPTS, "question": "会議はいつ始まりましたか？"}]
    kwargs = {"rate": 0.5, "condition_in_question": "after_condition", "reorder_context": "sort",
              "dynamic_context_compression_ratio": 0.3, "condition_compare": True,
              "rank_method": "longllmlingua", "context_budget": "+100"}
    assert compressor.compress_prompts(prompts, **kwargs) == _one_by_one(compressor, prompts,
                                                                         **kwargs)


def test_empty_batch_and_order(nano_lingua2):
    assert nano_lingua2.compress_prompts([]) == []
    texts = SCRIPTS[::-1]
    results = nano_lingua2.compress_prompts(texts, rate=1.0)
    assert [r["compressed_prompt"] for r in results] == texts


def test_bad_prompts_are_clear_errors(nano_lingua2):
    with pytest.raises(TypeError, match="list of prompts"):
        nano_lingua2.compress_prompts("just one string")
    with pytest.raises(TypeError, match=r"prompts\[1\] must be a str"):
        nano_lingua2.compress_prompts(["fine", 42])
    with pytest.raises(ValueError, match=r"prompts\[0\] is a mapping without a 'context'"):
        nano_lingua2.compress_prompts([{"text": "no context key"}])


def test_a_failing_prompt_names_its_index(nano_lingua2):
    with pytest.raises(ValueError, match="rate") as raised:
        nano_lingua2.compress_prompts(["good text here", {"context": "bad rate", "rate": 3}])
    assert any("prompts[1]" in note for note in raised.value.__notes__)


def test_compress_requests_reports_each_failure(nano_lingua2):
    from llmlingstral.execution.batch import compress_requests

    outcomes = compress_requests(nano_lingua2, [{"context": "kept as it is", "rate": 1.0},
                                                {"context": "text", "rate": 3},
                                                {"context": SCRIPTS[2], "rate": 0.5}])
    assert outcomes[0]["compressed_prompt"] == "kept as it is"
    assert isinstance(outcomes[1], ValueError) and "rate" in str(outcomes[1])
    assert outcomes[2] == nano_lingua2.compress_prompt(SCRIPTS[2], rate=0.5)


# ----------------------------------------------------------------------------- lockstep


def _decoder_calls(compressor, run):
    calls = []
    hook = compressor.model.get_decoder().register_forward_hook(lambda *_: calls.append(1))
    try:
        return run(), len(calls)
    finally:
        hook.remove()


def test_llmlingua_prompts_advance_in_lockstep(nano):
    text = stdlib_prose(12000)
    prompts = [text[i * 1500:(i + 1) * 1500] for i in range(4)] + [SCRIPTS[0], SCRIPTS[3]]
    batch, batched_calls = _decoder_calls(nano, lambda: nano.compress_prompts(prompts, rate=0.4))
    single, single_calls = _decoder_calls(nano, lambda: _one_by_one(nano, prompts, rate=0.4))
    assert batch == single
    # One pass per prompt to start its cache, then one per step for all prompts together.
    steps = max(-(-nano.tokenizer.count(p) // 200) for p in prompts)
    assert batched_calls == len(prompts) + steps < single_calls


@pytest.mark.parametrize("fixture", ["compressor", "vlm_compressor"])
def test_lockstep_past_the_window_equals_one_by_one(request, fixture, monkeypatch):
    """Prompts longer than the model window (1024 tokens; 256 for the Ministral 3 replica,
    whose rotary embedding is yarn) cut their caches back at their own steps; fewer prompts
    advance at once than there are, so the batch refills as prompts finish."""
    import llmlingstral.execution.lockstep

    monkeypatch.setattr(llmlingstral.execution.lockstep, "LOCKSTEP_PROMPTS", 3)
    pc = request.getfixturevalue(fixture)
    scale = 1 if fixture == "compressor" else 4
    text = stdlib_prose(30000)
    cut = [0, 9000, 10000, 17000, 18500, 26000]
    part = [text[cut[i] // scale:cut[i + 1] // scale] for i in range(5)]
    prompts = [part[0], part[1], {"context": part[2], "rate": 0.3}, part[3] + SCRIPTS[1],
               {"context": part[4], "target_token": 500 // scale}]
    assert pc.compress_prompts(prompts, rate=0.5) == _one_by_one(pc, prompts, rate=0.5)


@pytest.fixture(scope="module")
def vlm_compressor(vlm_dir):
    return PromptCompressor(str(vlm_dir), device_map="cpu", model_config={"max_window": 256})


@pytest.mark.parametrize("bos", [True, False])
def test_batched_scores_match_single_streams(compressor, bos):
    import numpy as np

    from llmlingstral.execution.step_scores import score_together
    from llmlingstral.scoring.stream import ContrastiveStream

    rng = np.random.default_rng(1)
    scorer = compressor.scorer

    def streams():
        # Without BOS, a stream with no prefix has nothing cached before its first chunk.
        return [scorer.stream(bos=bos), scorer.stream([5, 6, 7], bos=bos),
                ContrastiveStream(scorer.stream(bos=bos), scorer.stream([9, 10], bos=bos))]

    lone, paired = streams(), streams()
    for step in range(5):
        chunks = [rng.integers(800, 32000, size=n).tolist() for n in (90 - 15 * step, 17, 40)]
        expected = [s.score(c) for s, c in zip(lone, chunks)]
        got = score_together(list(zip(paired, chunks)))
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, atol=2e-4)
        for a, b, c in zip(lone, paired, chunks):
            keep = rng.random(len(c)) < 0.5
            a.commit(keep)
            b.commit(keep)


def test_short_and_blank_contexts_batch_equals_one_by_one(nano):
    prompts = [{"context": ["Hello", "world"], "rate": 0.99},
               ["The cat sat.", "Dogs bark loudly.", "Rain fell today.", "We ate lunch."],
               {"context": ["Hello world"] * 10, "rate": 0.99},
               {"context": ["", "", "Rain fell today.", ""], "question": "When?"}]
    batch = nano.compress_prompts(prompts, rate=0.3)
    assert batch == _one_by_one(nano, prompts, rate=0.3)
    assert all(r["compressed_contexts"] and all(t.strip() for t in r["compressed_contexts"])
               for r in batch)


def _rows_per_pass(compressor, call):
    """Run ``call()``; the number of rows of each classifier forward pass."""
    rows = []
    hook = compressor.classifier.model.register_forward_hook(
        lambda _, args, kwargs, __: rows.append(kwargs["input_ids"].shape[0]),
        with_kwargs=True)
    try:
        return call(), rows
    finally:
        hook.remove()


def test_a_cancelled_request_leaves_the_batch_and_the_others_equal_a_solo_run(nano_lingua2):
    from llmlingstral.execution.batch import compress_requests
    from llmlingstral.cancel import CancelToken, Cancelled

    long = {"context": documents(40, chars=900), "rate": 0.5}
    others = [{"context": SCRIPTS[:3], "rate": 0.5},
              {"context": stdlib_prose(3000), "rate": 0.4}, {"context": SCRIPTS[3:]}]
    alone = compress_requests(nano_lingua2, others)
    tokens = [CancelToken() for _ in range(4)]
    model = nano_lingua2.classifier.model
    # The long request's caller leaves once the first shared forward pass has run.
    leave = model.register_forward_hook(lambda *_: tokens[0].cancel())
    try:
        outcomes, rows = _rows_per_pass(nano_lingua2, lambda: compress_requests(
            nano_lingua2, [long, *others], cancel_tokens=tokens))
    finally:
        leave.remove()
    assert isinstance(outcomes[0], Cancelled)
    assert outcomes[1:] == alone
    _, whole = _rows_per_pass(nano_lingua2, lambda: compress_requests(nano_lingua2,
                                                                      [long, *others]))
    assert sum(rows) < sum(whole) / 2, "the departed request's windows were still scored"


def test_a_request_cancelled_before_its_batch_costs_no_forward_pass(nano_lingua2):
    from llmlingstral.execution.batch import compress_requests
    from llmlingstral.cancel import CancelToken, Cancelled

    tokens = [CancelToken(), CancelToken()]
    tokens[0].cancel()
    requests = [{"context": documents(20, chars=900)}, {"context": SCRIPTS, "rate": 0.5}]
    outcomes, rows = _rows_per_pass(nano_lingua2, lambda: compress_requests(
        nano_lingua2, requests, cancel_tokens=tokens))
    assert isinstance(outcomes[0], Cancelled)
    assert outcomes[1] == compress_requests(nano_lingua2, requests[1:])[0]
    _, solo = _rows_per_pass(nano_lingua2, lambda: compress_requests(nano_lingua2,
                                                                     requests[1:]))
    assert rows == solo


def test_cancel_tokens_are_checked(nano_lingua2, nano):
    from llmlingstral.execution.batch import compress_requests
    from llmlingstral.cancel import CancelToken

    with pytest.raises(ValueError, match="one token per request"):
        compress_requests(nano_lingua2, [{"context": "a b"}, {"context": "c d"}],
                          cancel_tokens=[CancelToken()])
    with pytest.raises(ValueError, match="LLMLingua-2"):
        compress_requests(nano, [{"context": "a b"}], cancel_tokens=[CancelToken()])


# --------------------------------------------------------------------------- protection


@pytest.mark.parametrize("fixture", ["nano", "nano_lingua2"])
def test_protect_for_all_prompts_and_per_prompt_reaches_each_call(request, fixture):
    from llmlingstral.text.protect import Protection

    compressor = request.getfixturevalue(fixture)
    shared = Protection(patterns=[r"\p{Han}{2}"]).only("numbers")
    prompts = [SCRIPTS[0], {"context": SCRIPTS[2], "protect": False},
               {"context": SCRIPTS[3], "protect": Protection.off(force_tokens=["план"])},
               SCRIPTS[1]]
    results = compressor.compress_prompts(prompts, rate=0.5, protect=shared)
    expected = _one_by_one(compressor, prompts, rate=0.5, protect=shared)
    assert [r["compressed_prompt"] for r in results] == \
        [e["compressed_prompt"] for e in expected]


def test_a_bad_protect_names_its_prompt(nano_lingua2):
    with pytest.raises(TypeError, match="protect must be True") as raised:
        nano_lingua2.compress_prompts(["good text here", {"context": "x y", "protect": "on"}])
    assert any("prompts[1]" in note for note in raised.value.__notes__)


@pytest.mark.parametrize("fixture", ["nano", "nano_lingua2"])
def test_every_prompt_keeps_its_facts_by_default(request, fixture):
    from texts import example_prompt, missing_facts

    compressor = request.getfixturevalue(fixture)
    text = example_prompt()
    # The context filter may drop a whole paragraph (coarse compression); the token pass of
    # every prompt keeps the facts of what it keeps.
    paragraphs = {"context": text.split("\n\n"), "use_context_level_filter": False}
    for result in compressor.compress_prompts([text, paragraphs], rate=0.5):
        assert not missing_facts(result["compressed_prompt"]), \
            missing_facts(result["compressed_prompt"])
