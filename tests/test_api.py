"""Mistral API faults: unusable 200 replies, NaN settings and vectors, and servers that stall.

Every test talks to a real HTTP server on 127.0.0.1 through the real ``mistralai`` SDK.
"""

from __future__ import annotations

import math
import time

import pytest

from llmlingstral import MistralAPIError, PromptCompressor
from llmlingstral.api import MistralAPI, RetryPolicy
from llmlingstral.ranking.mistral_rerank import score_from_response
from llmlingstral.training.collect import CollectConfig, RateLimiter, collect
from llmlingstral.training.records import read_jsonl
from local_api import LocalAPIServer, chat_completion_payload, embeddings_payload
from texts import stdlib_prose

DOCS = ["Paris is the capital of France.", "Bananas grow in the tropics.",
        "東京は日本の首都です。", "Berlin ist die Hauptstadt Deutschlands."]


def _config(server: LocalAPIServer, **overrides) -> CollectConfig:
    settings = dict(model="mistral-large-latest", api_key="test-key", server_url=server.url,
                    concurrency=2, requests_per_second=500.0, max_attempts=3,
                    initial_backoff=0.001, max_backoff=0.01, show_progress=False)
    settings.update(overrides)
    return CollectConfig(**settings)


def _sources() -> list[dict]:
    prose = stdlib_prose(3000)
    return [{"id": f"doc{i}", "text": prose[i * 600:(i + 1) * 600]} for i in range(3)]


# ----------------------------------------------------------------------------- collection


@pytest.mark.parametrize("content", [None, "", "   ", "```\n```"])
def test_a_reply_without_text_is_a_failure_retried_and_counted(tmp_path, content):
    payload = chat_completion_payload("mistral-large-latest", "placeholder")
    payload["choices"][0]["message"]["content"] = content
    with LocalAPIServer({"/v1/chat/completions": lambda body: (200, payload)}) as server:
        output = tmp_path / "pairs.jsonl"
        stats = collect(_sources(), output, _config(server))
        assert (stats.written, stats.failed) == (0, stats.chunks) and stats.chunks == 3
        assert len(server.requests) == 3 * 3  # every chunk tried max_attempts times
    assert not list(read_jsonl(output)) if output.stat().st_size else True


def test_an_empty_reply_then_a_good_one_is_written(tmp_path):
    replies = iter([None] + ["kept words"] * 10)

    def chat(body):
        return 200, chat_completion_payload(body["model"], next(replies))

    with LocalAPIServer({"/v1/chat/completions": chat}) as server:
        stats = collect(_sources()[:1], tmp_path / "pairs.jsonl", _config(server))
    assert (stats.written, stats.failed) == (1, 0)
    assert [r["compressed_prompt"] for r in read_jsonl(tmp_path / "pairs.jsonl")] == ["kept words"]


@pytest.mark.parametrize("field, value", [
    ("requests_per_second", math.nan), ("requests_per_second", math.inf),
    ("requests_per_second", -1.0), ("requests_per_second", 0),
    ("initial_backoff", math.nan), ("max_backoff", -1.0), ("temperature", math.nan),
    ("max_tokens", 0)])
def test_settings_without_meaning_are_refused(tmp_path, field, value):
    config = CollectConfig(api_key="test-key", server_url="http://127.0.0.1:9", **{field: value})
    with pytest.raises(ValueError, match=field):
        collect(_sources(), tmp_path / "pairs.jsonl", config)


@pytest.mark.parametrize("field, value", [
    ("concurrency", "4"), ("max_attempts", 2.0), ("max_tokens", True),
    ("requests_per_second", "2")])
def test_settings_of_the_wrong_type_are_type_errors(tmp_path, field, value):
    config = CollectConfig(api_key="test-key", server_url="http://127.0.0.1:9", **{field: value})
    with pytest.raises(TypeError, match=field):
        collect(_sources(), tmp_path / "pairs.jsonl", config)


def test_retry_policy_attempts_are_a_positive_integer():
    with pytest.raises(TypeError, match="max_attempts"):
        RetryPolicy(max_attempts="3")
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_rate_limiter_and_retry_policy_refuse_nan():
    with pytest.raises(ValueError, match="requests_per_second"):
        RateLimiter(math.nan)
    with pytest.raises(ValueError, match="base_delay"):
        RetryPolicy(base_delay=math.nan)
    with pytest.raises(ValueError, match="timeout_ms"):
        MistralAPI("key", server_url="http://127.0.0.1:9", timeout_ms=math.inf)


def test_cli_refuses_nan_rate(tmp_path, capsys):
    from llmlingstral.cli import main

    source = tmp_path / "text.txt"
    source.write_text(stdlib_prose(600))
    code = main(["collect-llmlingua2", "--input", str(source), "--output",
                 str(tmp_path / "out.jsonl"), "--rps", "nan"])
    assert code == 2 and "requests_per_second" in capsys.readouterr().err


# ----------------------------------------------------------------------------- embeddings


def _nan_embeddings(body):
    vectors = [[math.nan, 1.0, 0.0] for _ in body["input"]]
    return 200, embeddings_payload(body["model"], vectors)


def test_nan_vectors_from_mistral_embed_are_an_error(v03_dir):
    with LocalAPIServer({"/v1/embeddings": _nan_embeddings}) as server:
        compressor = PromptCompressor(str(v03_dir), device_map="cpu", open_api_config={
            "api_key": "test-key", "server_url": server.url, "max_attempts": 2,
            "retry_base_delay": 0.001, "retry_max_delay": 0.01})
        with pytest.raises(MistralAPIError, match="NaN"):
            compressor.get_rank_results(DOCS, "What is the capital of France?",
                                        rank_method="mistral-embed")
        assert len(server.requests) == 2  # retried, then refused


def test_nan_logprobs_from_the_rerank_api_are_not_a_score():
    from types import SimpleNamespace as NS

    top = [NS(token="Yes", logprob=math.nan), NS(token="No", logprob=-0.1)]
    reply = NS(choices=[NS(logprobs=NS(content=[NS(token="Yes", logprob=math.nan,
                                                   top_logprobs=top)]),
                           message=NS(content="Yes"))])
    assert math.isfinite(score_from_response(reply))


# ----------------------------------------------------------------------------- deadlines


def _good_embeddings(body):
    return 200, embeddings_payload(body["model"], [[1.0, float(i)] for i, _ in
                                                   enumerate(body["input"])])


def test_a_dribbling_server_cannot_hold_a_ranking_call(v03_dir):
    """The reply arrives one byte every 0.3 s (about 40 s in all); the call gives up at its
    1 s deadline, which the first attempt used up, instead of trying again."""
    server = LocalAPIServer({"/v1/embeddings": _good_embeddings}, dribble=0.3)
    with server:
        compressor = PromptCompressor(str(v03_dir), device_map="cpu", open_api_config={
            "api_key": "test-key", "server_url": server.url, "timeout_ms": 1000,
            "max_attempts": 3, "retry_base_delay": 0.001, "retry_max_delay": 0.01})
        start = time.monotonic()
        with pytest.raises(MistralAPIError, match="deadline"):
            compressor.get_rank_results(DOCS, "What is the capital of France?",
                                        rank_method="mistral-embed")
        elapsed = time.monotonic() - start
        assert len(server.requests) == 1
    assert elapsed < 1.0 + 3.0  # the 1 s deadline, plus slack for a loaded machine


def test_a_dribbling_chat_server_fails_the_chunk_not_the_run(tmp_path):
    def chat(body):
        return 200, chat_completion_payload(body["model"], "kept words")

    with LocalAPIServer({"/v1/chat/completions": chat}, dribble=0.3) as server:
        start = time.monotonic()
        stats = collect(_sources()[:1], tmp_path / "pairs.jsonl",
                        _config(server, timeout_ms=800, max_attempts=2))
        elapsed = time.monotonic() - start
    assert (stats.written, stats.failed) == (0, 1)
    assert elapsed < 2 * 0.8 + 3.0


# ----------------------------------------------------------------------------- one deadline


def _always_rate_limited(server: LocalAPIServer, retry_after: str, times: int = 100) -> None:
    server.failure_headers = {"Retry-After": retry_after}
    server.fail_next(*[429] * times)


def test_a_retry_after_past_the_deadline_ends_a_ranking_call_at_once(v03_dir):
    """A server asking for a 100000 s wait used to hold the call for five attempts and four
    30 s waits; now the call ends as soon as it knows the wait passes its deadline."""
    with LocalAPIServer({"/v1/embeddings": _good_embeddings}) as server:
        _always_rate_limited(server, "100000")
        compressor = PromptCompressor(str(v03_dir), device_map="cpu", open_api_config={
            "api_key": "test-key", "server_url": server.url, "timeout_ms": 1000})
        start = time.monotonic()
        with pytest.raises(MistralAPIError, match="retry after 100000 s.*deadline") as info:
            compressor.get_rank_results(DOCS, "What is the capital of France?",
                                        rank_method="mistral-embed")
        elapsed = time.monotonic() - start
    assert info.value.status_code == 429 and len(server.requests) == 1
    assert elapsed < 1.0 + 3.0  # the deadline, plus the SDK import and a loaded machine


def test_the_deadline_bounds_every_attempt_and_wait_together():
    """Short Retry-After waits and many attempts: the 1.5 s deadline still ends the call."""
    with LocalAPIServer({"/v1/embeddings": _good_embeddings}) as server:
        _always_rate_limited(server, "0.4")
        api = MistralAPI("test-key", server_url=server.url, timeout_ms=1500,
                         retry=RetryPolicy(max_attempts=50, base_delay=0.001, max_delay=0.01))
        start = time.monotonic()
        with pytest.raises(MistralAPIError, match="HTTP 429.*1.5 s deadline"):
            api.embed(["東京は日本の首都です。", "กรุงเทพมหานคร", "القاهرة عاصمة مصر"])
        elapsed = time.monotonic() - start
    assert 2 <= len(server.requests) <= 4
    assert elapsed < 1.5 + 2.0


def test_a_retry_after_past_the_deadline_ends_an_api_rerank_at_once():
    from llmlingstral.ranking.registry import build_ranker

    with LocalAPIServer({"/v1/chat/completions": lambda body: (
            200, chat_completion_payload(body["model"], "Yes"))}) as server:
        _always_rate_limited(server, "100000")
        ranker = build_ranker("mistral-rerank", config={
            "rerank_backend": "api", "api_key": "test-key", "server_url": server.url,
            "timeout_ms": 1000, "rerank_concurrency": 2})
        start = time.monotonic()
        with pytest.raises(MistralAPIError, match="retry after 100000 s"):
            ranker.rank(DOCS, "What is the capital of France?")
        elapsed = time.monotonic() - start
    assert elapsed < 1.0 + 3.0  # the deadline, plus the SDK import and a loaded machine


def test_a_retry_after_past_the_deadline_fails_the_chunk_at_once(tmp_path):
    """Collection waits used to be capped at max_backoff (60 s here), per retry."""
    def chat(body):
        return 200, chat_completion_payload(body["model"], "kept words")

    with LocalAPIServer({"/v1/chat/completions": chat}) as server:
        _always_rate_limited(server, "100000")
        start = time.monotonic()
        stats = collect(_sources()[:1], tmp_path / "pairs.jsonl",
                        _config(server, timeout_ms=1000, max_backoff=60.0))
        elapsed = time.monotonic() - start
    assert (stats.written, stats.failed) == (0, 1)
    assert elapsed < 1.0 + 3.0
