"""LLMLingua scoring through a vLLM-compatible server on 127.0.0.1 computing with nano."""

from __future__ import annotations

import socket
import time

import pytest

from llmlingstral import PromptCompressor, load_model
from llmlingstral.scoring.remote import RemoteScoringError
from texts import documents, stdlib_prose
from vllm_loopback import LocalPromptLogprobs, VLLMLoopback

SERVED = "mistralai/nano-loopback"
# The served context length: shorter than nano's 1024 so that tests pass it cheaply.
WINDOW = 512
SCRIPTS = ["東京の会議は午前十時に始まり、議題は予算と新しい研究所の建設計画でした。",
           "Le comité a voté le budget de 12,5 millions d'euros pour l'hôpital de Lyon.",
           "Совет директоров утвердил план на 2027 год: выручка вырастет на 8 процентов."]


@pytest.fixture(scope="module")
def nano_model():
    return load_model("nano", device_map="cpu")


@pytest.fixture(scope="module")
def server(nano_model):
    source = LocalPromptLogprobs(nano_model.model)
    with VLLMLoopback(source, nano_model.tokenizer, SERVED, max_model_len=WINDOW) as running:
        yield running


def _remote(server, **settings) -> PromptCompressor:
    config = {"base_url": f"{server.url}/v1", "model": SERVED, "retry_base_delay": 0.01,
              **settings}
    return PromptCompressor("nano", model_config={"remote_scorer": config})


@pytest.fixture(scope="module")
def remote(server):
    return _remote(server)


@pytest.fixture(scope="module")
def in_process(nano_model):
    """The same scoring with the model called in-process instead of over HTTP."""
    client = LocalPromptLogprobs(nano_model.model)
    return PromptCompressor("nano", model_config={"remote_scorer": {"client": client,
                                                                    "max_window": WINDOW - 1}})


@pytest.fixture(scope="module")
def local():
    """Plain local compression with nano, within the served window."""
    return PromptCompressor("nano", device_map="cpu", model_config={"max_window": WINDOW - 1})


def _cases() -> list[dict]:
    docs = documents(6, chars=450)
    return [
        {"context": stdlib_prose(3000)[:3000], "rate": 0.4},      # past the window
        {"context": docs[:4] + [SCRIPTS[0]], "question": "What does the parser return?",
         "rate": 0.5, "rank_method": "longllmlingua", "condition_in_question": "after_condition",
         "condition_compare": True, "reorder_context": "sort",
         "dynamic_context_compression_ratio": 0.3},
        {"context": " ".join(SCRIPTS) + " " + docs[4], "target_token": 60,
         "instruction": "Summarise the notes."},
    ]


def _local_result(local, **kwargs) -> dict:
    """A local result without its ``dtype`` key: a served model's dtype is the server's."""
    result = local.compress_prompt(**kwargs)
    assert result.pop("dtype") == "float32"
    return result


def test_remote_compression_equals_plain_local_compression(server, remote, in_process, local):
    server.requests.clear()
    for case in _cases():
        expected = _local_result(local, **case)
        assert remote.compress_prompt(**case) == expected
        assert in_process.compress_prompt(**case) == expected
    prompts = [p for body in server.requests for p in body["prompt"]]
    bos = remote.tokenizer.bos_id
    assert prompts and all(isinstance(t, int) for p in prompts for t in p)
    assert all(p[0] == bos for p in prompts)
    assert max(len(p) for p in prompts) < WINDOW
    assert all("prompt_logprobs" in body for body in server.requests)


def test_without_bos_and_with_the_prompt_placement_remote_equals_local(server, remote, local):
    server.requests.clear()
    options = {"token_level_bos": False, "budget_placement": "prompt"}
    for case in _cases()[:2]:
        assert remote.compress_prompt(**case, **options) == _local_result(local, **case, **options)
    # The token-level prompts (those sent for the plain, question-free text) have no BOS.
    prompts = [p for body in server.requests for p in body["prompt"]]
    assert any(p[0] != remote.tokenizer.bos_id for p in prompts)


def test_remote_tokenizer_is_the_models(remote, nano_model):
    text = " ".join(SCRIPTS)
    assert remote.tokenizer.encode(text) == nano_model.tokenizer.encode(text)
    assert remote.max_position_embeddings == WINDOW - 1  # from the server's /v1/models


def test_consecutive_windows_resend_the_same_prefix(server, remote):
    text = stdlib_prose(1500)[:1500]
    server.requests.clear()
    remote.compress_prompt(text, rate=0.5, iterative_size=100)
    sent = [body["prompt"][0] for body in server.requests]
    assert len(sent) >= 4
    for before, after in zip(sent, sent[1:]):
        shared = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b),
                      min(len(before), len(after)))
        assert shared >= len(before) - 150, "each step must extend the previous prompt's prefix"
    assert server.requests[-1]["skip_reading_prefix_cache"] is False  # reuse what the server has


def test_prefix_cache_reads_leave_the_result_unchanged(server, remote, in_process):
    """The server leaves cached tokens unscored; a prompt whose scored tokens were all
    cached (the same prompt twice) is asked again without the cache."""
    text = stdlib_prose(2400)[:2400]
    remote.compress_prompt(text, rate=0.5)  # the server has every step of this prompt now
    server.requests.clear()
    read_before = server.cached_tokens_read
    results = remote.compress_prompts([text, text], rate=0.5)
    assert server.cached_tokens_read > read_before
    assert any(body["skip_reading_prefix_cache"] for body in server.requests)
    expected = in_process.compress_prompt(text, rate=0.5)
    assert results == [expected, expected]


def test_without_prefix_cache_the_field_is_left_out(server, remote):
    plain = _remote(server, prefix_cache=False)
    text = stdlib_prose(1200)[:1200]
    server.requests.clear()
    result = plain.compress_prompt(text, rate=0.5)
    assert server.requests and all("skip_reading_prefix_cache" not in body
                                   for body in server.requests)
    assert result == remote.compress_prompt(text, rate=0.5)


def test_echo_mode_gives_the_same_result(server, remote):
    echo = _remote(server, logprobs_mode="echo")
    case = _cases()[2]
    server.requests.clear()
    assert echo.compress_prompt(**case) == remote.compress_prompt(**case)
    assert server.requests[0].get("echo") is True and "prompt_logprobs" not in server.requests[0]


def test_batches_send_several_prompts_per_request(server, remote):
    cases = [{"context": stdlib_prose(2000)[:1800][i * 600:(i + 1) * 600]} for i in range(3)]
    server.requests.clear()
    batch = remote.compress_prompts(cases, rate=0.5)
    assert max(len(body["prompt"]) for body in server.requests) == 3
    assert batch == [remote.compress_prompt(rate=0.5, **c) for c in cases]


def test_transient_failures_are_retried(server, remote):
    server.requests.clear()
    server.fail_next(503, 502)
    result = remote.compress_prompt(SCRIPTS[1] + " " + SCRIPTS[2], rate=0.5)
    assert result["compressed_tokens"] < result["origin_tokens"]
    assert len(server.requests) >= 3


def test_failures_end_in_a_clear_error(server):
    scorer = _remote(server, max_attempts=3)
    server.requests.clear()
    server.fail_next(503, 503, 503)
    with pytest.raises(RemoteScoringError, match=r"did not answer within 3 attempt"):
        scorer.compress_prompt(SCRIPTS[1], rate=0.5)
    assert len(server.requests) == 3
    server.requests.clear()
    server.fail_next(400)
    with pytest.raises(RemoteScoringError, match="HTTP 400"):
        scorer.compress_prompt(SCRIPTS[1], rate=0.5)
    assert len(server.requests) == 1  # a client error is not retried


def test_a_slow_server_hits_the_deadline(server):
    scorer = _remote(server, timeout=0.5)
    server.delay = 2.0
    try:
        with pytest.raises(RemoteScoringError, match="deadline"):
            scorer.compress_prompt(SCRIPTS[2], rate=0.5)
    finally:
        server.delay = 0.0
        server.wait_idle()


def test_a_retry_after_past_the_deadline_ends_the_request_at_once(server):
    """It used to sleep out the whole deadline first; a wait the server asks for that
    cannot fit in the time left is not waited for."""
    scorer = _remote(server, timeout=5.0)
    server.requests.clear()
    server.failure_headers = {"Retry-After": "100000"}
    server.fail_next(429, 429, 429)
    start = time.monotonic()
    try:
        with pytest.raises(RemoteScoringError, match="retry after 100000 s.*5 s deadline"):
            scorer.compress_prompt(SCRIPTS[0], rate=0.5)
    finally:
        server.failure_headers = {}
        server._failures.clear()
    assert time.monotonic() - start < 2.5
    assert len(server.requests) == 1


def test_unreachable_server_and_bad_settings(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RemoteScoringError, match="did not answer"):
        PromptCompressor("nano", model_config={"remote_scorer": {
            "base_url": f"http://127.0.0.1:{port}/v1", "model": SERVED, "max_attempts": 2,
            "retry_base_delay": 0.01}})
    with pytest.raises(RemoteScoringError, match="does not serve model 'other'"):
        PromptCompressor("nano", model_config={"remote_scorer": {
            "base_url": f"{server.url}/v1", "model": "other"}})
    with pytest.raises(ValueError, match="needs 'base_url'"):
        PromptCompressor("nano", model_config={"remote_scorer": {"model": SERVED}})
    with pytest.raises(ValueError, match="unknown remote_scorer keys"):
        PromptCompressor("nano", model_config={"remote_scorer": {
            "base_url": server.url, "model": SERVED, "colour": 1}})
    with pytest.raises(ValueError, match="LLMLingua-2"):
        PromptCompressor("nano-lingua2", use_llmlingua2=True, model_config={"remote_scorer": {
            "base_url": f"{server.url}/v1", "model": SERVED}})


@pytest.mark.parametrize("key, value, error", [
    ("timeout", "30", TypeError), ("timeout", float("nan"), ValueError),
    ("timeout", 0, ValueError), ("retry_base_delay", float("inf"), ValueError),
    ("max_attempts", 2.5, TypeError), ("batch_size", True, TypeError),
    ("batch_size", 0, ValueError), ("max_window", "4096", TypeError),
    ("max_window", 2.5, TypeError), ("max_window", 1, ValueError),
    ("max_window", -1, ValueError), ("max_window", float("nan"), ValueError)])
def test_remote_scorer_numbers_get_the_library_errors(key, value, error):
    from llmlingstral.scoring.remote import RemoteScorerSettings

    config = {"base_url": "http://127.0.0.1:9/v1", "model": "m", key: value}
    with pytest.raises(error, match=f"remote_scorer {key}"):
        RemoteScorerSettings.from_mapping(config)


@pytest.mark.parametrize("window", [1, -1, float("nan")])
def test_model_config_max_window_is_checked_for_a_remote_scorer_too(window):
    """Refused before any request: the address below is never contacted."""
    from llmlingstral import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=r"max_window.*>= 32"):
        PromptCompressor("nano", model_config={"max_window": window, "remote_scorer": {
            "base_url": "http://127.0.0.1:9/v1", "model": "m"}})
