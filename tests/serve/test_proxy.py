"""The chat proxy in long conversations, over real HTTP on 127.0.0.1: each message compressed
once and forwarded with the same bytes on every turn, question-aware compression, JSON tool
results, and fail-open when compression cannot be done. Clients: ``openai``, ``mistralai``
and ``httpx``; the upstream is a local OpenAI-compatible server (tests/local_api.py)."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest

from live_server import LiveServer
from local_api import LocalAPIServer, chat_completion_payload
from multilingual import PARAGRAPHS

pytestmark = pytest.mark.xdist_group("serve")
CACHE_MB = 0.25
TOOL_SCRIPTS = ("en", "zh", "ja", "th", "ar")


def _reply(body):
    return 200, chat_completion_payload(body["model"], "Noted.")


@pytest.fixture(scope="module")
def upstream():
    with LocalAPIServer({"/v1/chat/completions": _reply}) as server:
        yield server


def _config(upstream, **settings):
    from llmlingstral.serve import ServeConfig

    return ServeConfig(**{"model": "nano", "llmlingua2_model": "nano-lingua2", "device": "cpu",
                          "upstream": "openai", "upstream_url": f"{upstream.url}/v1",
                          **settings})


@pytest.fixture(scope="module")
def service(upstream):
    from llmlingstral.serve import create_app

    with LiveServer(create_app(_config(upstream, proxy_min_tokens=150,
                                       cache_mb=CACHE_MB))) as server:
        yield server


def _metric(server, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    pattern = rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$"
    return sum(float(m) for m in re.findall(pattern, text, re.M))


def _tool_result(lang: str, turn: int) -> str:
    return f"Result {turn}.\n" + "\n".join([PARAGRAPHS[lang]] * 4)


def _begins_with(previous: list, current: list) -> bool:
    """``current`` begins with ``previous`` up to its last user message, byte for byte."""
    last_user = max(i for i, m in enumerate(previous) if m["role"] == "user")
    prefix = json.dumps(previous[:last_user], ensure_ascii=False)[:-1]
    return json.dumps(current, ensure_ascii=False).startswith(prefix)


def _tool_turn(turn: int, content: str) -> list[dict]:
    call = {"id": f"call{turn}", "type": "function",
            "function": {"name": "search", "arguments": json.dumps({"page": turn})}}
    return [{"role": "user", "content": f"What does page {turn} say about the festival?"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call{turn}", "name": "search",
             "content": content}]


# --------------------------------------------------------------------------- conversations


def test_each_message_is_compressed_once_and_forwarded_with_the_same_bytes(service, upstream):
    from openai import OpenAI

    client = OpenAI(base_url=f"{service.url}/v1", api_key="unused", max_retries=0)
    misses = _metric(service, "llmlingstral_message_cache_misses_total")
    messages: list[dict] = [{"role": "system", "content": "Answer from the tool results."}]
    sent: list[list] = []
    for turn, lang in enumerate(TOOL_SCRIPTS, 1):
        messages += _tool_turn(turn, _tool_result(lang, turn))
        reply = client.chat.completions.with_raw_response.create(model="m", messages=messages)
        assert reply.parse().choices[0].message.content == "Noted."
        assert reply.headers["X-LLMLingstral-Compression"] == "compressed"
        assert int(reply.headers["X-LLMLingstral-Compressed-Messages"]) == turn
        assert int(reply.headers["X-LLMLingstral-Cached-Messages"]) == turn - 1
        sent.append(upstream.requests[-1].body["messages"])
        messages.append({"role": "assistant", "content": "Noted."})
    assert _metric(service, "llmlingstral_message_cache_misses_total") - misses == len(sent)
    for previous, current in zip(sent, sent[1:]):
        assert _begins_with(previous, current)
    first_tool = [m["content"] for m in sent[0] if m["role"] == "tool"][0]
    assert len(first_tool) < len(_tool_result("en", 1))
    assert all([m["content"] for m in s if m["role"] == "tool"][0] == first_tool for s in sent)


def test_a_conversation_through_the_mistral_client_keeps_its_prefix(service, upstream):
    from mistralai.client import Mistral

    client = Mistral(api_key="unused", server_url=service.url)
    messages: list[dict] = []
    sent = []
    for turn, lang in enumerate(("ru", "ko", "hi"), 1):
        messages += _tool_turn(turn, _tool_result(lang, turn))
        reply = client.chat.complete(model="mistral-small-latest", messages=messages)
        assert reply.choices[0].message.content == "Noted."
        sent.append(upstream.requests[-1].body["messages"])
        messages.append({"role": "assistant", "content": "Noted."})
    assert all(_begins_with(a, b) for a, b in zip(sent, sent[1:]))
    assert len(sent[-1][2]["content"]) < len(_tool_result("ru", 1))


def test_concurrent_requests_carrying_the_same_new_message_compute_it_once(service, upstream):
    messages = _tool_turn(1, _tool_result("fr", 99))
    counters = ("misses", "hits", "shared")
    before = {c: _metric(service, f"llmlingstral_message_cache_{c}_total") for c in counters}

    async def together():
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/chat/completions", json={
                "model": "m", "messages": messages}) for _ in range(4)))

    replies = asyncio.run(together())
    assert all(r.status_code == 200 for r in replies)
    delta = {c: _metric(service, f"llmlingstral_message_cache_{c}_total") - before[c]
             for c in counters}
    assert delta["misses"] == 1 and delta["hits"] + delta["shared"] == 3
    forwarded = {r.body["messages"][2]["content"] for r in upstream.requests[-4:]}
    assert len(forwarded) == 1 and len(forwarded.pop()) < len(messages[2]["content"])


def test_json_tool_results_reach_the_upstream_as_valid_json_with_every_key(service, upstream):
    data = {"query": "festival", "total": 3,
            "hits": [{"id": f"doc_{i}", "lang": lang, "score": 0.5 + i / 10,
                      "text": PARAGRAPHS[lang], "links": [PARAGRAPHS["en"], "https://x.example"]}
                     for i, lang in enumerate(("en", "zh", "ja", "th", "ar"))]}
    content = json.dumps(data, ensure_ascii=False, indent=2)
    messages = _tool_turn(1, content)
    reply = _post(service, {"model": "m", "messages": messages})
    assert reply.status_code == 200, reply.text
    forwarded = json.loads(upstream.requests[-1].body["messages"][2]["content"])
    assert forwarded.keys() == data.keys() and forwarded["total"] == 3
    for before, after in zip(data["hits"], forwarded["hits"]):
        assert after.keys() == before.keys()
        assert (after["id"], after["lang"], after["score"]) == \
            (before["id"], before["lang"], before["score"])
        assert len(after["links"]) == 2 and after["links"][1] == "https://x.example"
    assert sum(len(h["text"]) for h in forwarded["hits"]) < \
        sum(len(h["text"]) for h in data["hits"])


def _records(count: int) -> str:
    return "\n".join(f"Record {i}. Order ORD-{1000 + i} left Lyon with Cobalt Express and was "
                     f"signed for by Courier{i} Lastname{i}; the driver noted a delay at the "
                     f"border." for i in range(count))


def test_the_question_policy_keeps_the_answer_and_the_latest_user_message(service, upstream):
    question = "Who signed for order ORD-1017? " + PARAGRAPHS["en"] * 2
    messages = [{"role": "user", "content": question},
                {"role": "tool", "tool_call_id": "c1", "content": _records(30)},
                {"role": "user", "content": PARAGRAPHS["de"] * 3}]
    answered = _post(service, {"model": "m", "messages": messages,
                               "compression": {"rate": 0.4}})
    assert answered.json()["llmlingstral"]["policy"] == "question"
    sent = upstream.requests[-1].body["messages"]
    assert "signed for by Courier17 Lastname17" in sent[1]["content"]
    assert len(sent[0]["content"]) < len(question)          # an earlier user message
    assert sent[2]["content"] == messages[2]["content"]     # the latest, verbatim
    blind = _post(service, {"model": "m", "messages": messages,
                            "compression": {"rate": 0.4, "policy": "blind"}})
    assert blind.json()["llmlingstral"]["policy"] == "blind"
    assert len(upstream.requests[-1].body["messages"][2]["content"]) < \
        len(messages[2]["content"])


def test_a_bad_policy_is_refused(service):
    reply = _post(service, {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                            "compression": {"policy": "smart"}})
    assert reply.status_code == 422
    assert "compression.policy must be one of ['question', 'blind']" in reply.text


def test_the_figures_count_the_compressed_texts_only(service, upstream, nano_lingua2):
    count = nano_lingua2.tokenizer.count
    long_system = "\n".join(PARAGRAPHS[lang] for lang in TOOL_SCRIPTS) * 2
    kept = "\n".join(PARAGRAPHS[lang] for lang in reversed(TOOL_SCRIPTS)) * 2
    messages = [{"role": "system", "content": long_system},           # long: compressed
                {"role": "system", "content": "Be brief. 简短に。"},    # short: left alone
                {"role": "user", "content": kept, "compress": False},
                {"role": "assistant", "content": kept},
                {"role": "user", "content": "ما الجديد في المهرجان؟"}]
    reply = _post(service, {"model": "m", "messages": messages,
                            "compression": {"policy": "blind"}})
    assert reply.status_code == 200, reply.text
    sent = upstream.requests[-1].body["messages"]
    assert [m["content"] for m in sent[1:]] == [m["content"] for m in messages[1:]]
    figures = reply.json()["llmlingstral"]
    assert figures["compressed_messages"] == 1
    assert figures["origin_tokens"] == count(long_system)
    assert figures["compressed_tokens"] == count(sent[0]["content"]) < count(long_system)
    assert figures["rate"] == pytest.approx(figures["compressed_tokens"] / count(long_system))
    assert int(reply.headers["X-LLMLingstral-Origin-Tokens"]) == figures["origin_tokens"]


def test_soak_the_cache_stays_within_its_memory_bound(service):
    """Many distinct long messages (kept whole at rate 1, so each costs no model time):
    the cache's bytes never pass --cache-mb."""
    bound = CACHE_MB * 2**20
    entries = []
    for i in range(80):
        text = f"Message {i}. " + PARAGRAPHS[TOOL_SCRIPTS[i % 5]] * 12
        reply = _post(service, {"model": "m", "messages": [
            {"role": "system", "content": text, "compress": {"rate": 1.0}},
            {"role": "user", "content": "Go on."}]})
        assert reply.status_code == 200
        assert _metric(service, "llmlingstral_message_cache_bytes") <= bound
        entries.append(_metric(service, "llmlingstral_message_cache_entries"))
    assert entries[-1] < 60  # the oldest were evicted
    assert _metric(service, "llmlingstral_message_cache_bytes") > bound / 2


def _post(server, body, **kwargs):
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60, **kwargs)


# --------------------------------------------------------------------------- fail-open


FAIL_OPEN = {"max_queue": 1, "batch_window_ms": 1500, "request_timeout_s": 10,
             "compression_timeout_s": 0.5}


@pytest.fixture(scope="module")
def forwarding(upstream):
    """One queue place, a batch window (1.5 s) longer than the compression timeout (0.5 s)."""
    from llmlingstral.serve import create_app

    with LiveServer(create_app(_config(upstream, **FAIL_OPEN))) as server:
        yield server


@pytest.fixture(scope="module")
def failing(upstream):
    from llmlingstral.serve import create_app

    with LiveServer(create_app(_config(upstream, on_compression_error="fail",
                                       **FAIL_OPEN))) as server:
        yield server


def _idle(server) -> None:
    deadline = time.monotonic() + 30
    while _metric(server, "llmlingstral_queue_depth") > 0:
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


BAD_TAG = "<llmlingua, rate=7>" + PARAGRAPHS["en"] + "</llmlingua> What is due?"


def _error_request():
    return {"model": "m", "compression": {"method": "llmlingua"},
            "messages": [{"role": "user", "content": BAD_TAG}]}


def _long_request(lang="en"):
    text = PARAGRAPHS[lang] * 3
    return {"model": "m", "messages": [{"role": "user", "content": text, "compress": True},
                                       {"role": "user", "content": "Summarise."}]}


def test_a_compression_error_forwards_the_original_messages(forwarding, failing, upstream):
    from openai import OpenAI

    _idle(forwarding)
    client = OpenAI(base_url=f"{forwarding.url}/v1", api_key="unused", max_retries=0)
    body = _error_request()
    reply = client.chat.completions.with_raw_response.create(
        model="m", messages=body["messages"], extra_body={"compression": body["compression"]})
    assert reply.parse().choices[0].message.content == "Noted."
    assert reply.headers["X-LLMLingstral-Compression"] == "skipped; reason=error"
    assert upstream.requests[-1].body["messages"] == [{"role": "user", "content": BAD_TAG}]
    assert _metric(forwarding, 'llmlingstral_compression_skipped_total{reason="error"}') == 1
    _idle(failing)
    refused = _post(failing, _error_request())
    assert refused.status_code == 422 and "rate='7'" in refused.json()["error"]["message"]


def test_a_compression_timeout_forwards_and_the_work_still_fills_the_cache(
        forwarding, failing, upstream):
    _idle(forwarding)
    body = _long_request("ja")
    reply = _post(forwarding, body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-LLMLingstral-Compression"] == "skipped; reason=timeout"
    assert reply.json()["llmlingstral"]["compression"] == "skipped; reason=timeout"
    sent = upstream.requests[-1].body["messages"]
    assert sent == [{"role": "user", "content": body["messages"][0]["content"]},
                    {"role": "user", "content": "Summarise."}]
    # The compression went on after the timeout: the next turn finds it in the cache.
    deadline = time.monotonic() + 30
    while _metric(forwarding, "llmlingstral_message_cache_entries") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    again = _post(forwarding, _long_request("ja"))
    assert again.headers["X-LLMLingstral-Compression"] == "compressed"
    assert again.headers["X-LLMLingstral-Cached-Messages"] == "1"
    assert len(upstream.requests[-1].body["messages"][0]["content"]) < \
        len(body["messages"][0]["content"])
    _idle(failing)
    timed_out = _post(failing, _long_request("th"))
    assert timed_out.status_code == 504
    assert "compression timeout of 0.5 s" in timed_out.json()["error"]["message"]


def _with_a_full_queue(server, request):
    """``request(client)`` sent while a /v1/compress job holds the only queue place."""
    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            holder = asyncio.create_task(client.post("/v1/compress", json={
                "method": "llmlingua2", "context": PARAGRAPHS["en"], "rate": 0.5}))
            while _metric(server, "llmlingstral_queue_depth") < 1:
                await asyncio.sleep(0.02)
            answer = await request(client)
            return await holder, answer

    return asyncio.run(scenario())


def test_a_full_queue_forwards_the_original_messages(forwarding, failing, upstream):
    from mistralai.client import Mistral

    _idle(forwarding)
    tagged = "<llmlingua, rate=0.3>" + PARAGRAPHS["fr"] * 3 + "</llmlingua> Résume."

    async def chat(client):
        return await asyncio.to_thread(lambda: Mistral(
            api_key="unused", server_url=forwarding.url).chat.complete(
                model="m", messages=[{"role": "user", "content": tagged}]))

    held, reply = _with_a_full_queue(forwarding, chat)
    assert held.status_code == 200 and reply.choices[0].message.content == "Noted."
    sent = upstream.requests[-1].body["messages"]
    assert sent[0]["content"] == PARAGRAPHS["fr"] * 3 + " Résume."  # tags removed, uncut
    assert _metric(forwarding,
                   'llmlingstral_compression_skipped_total{reason="queue_full"}') == 1
    _idle(forwarding)

    async def compress(client):  # the compression endpoint keeps its errors
        return await client.post("/v1/compress", json={"method": "llmlingua2",
                                                       "context": PARAGRAPHS["de"]})

    _, refused = _with_a_full_queue(forwarding, compress)
    assert refused.status_code == 429
    _idle(failing)

    async def strict_chat(client):
        return await client.post("/v1/chat/completions", json=_long_request())

    _, failed = _with_a_full_queue(failing, strict_chat)
    assert failed.status_code == 429 and int(failed.headers["Retry-After"]) >= 1


def test_the_skipped_header_reaches_the_client_of_a_stream(forwarding, upstream):
    _idle(forwarding)
    body = {**_error_request(), "stream": True}
    with httpx.stream("POST", f"{forwarding.url}/v1/chat/completions", json=body,
                      timeout=60) as reply:
        assert reply.status_code == 200
        assert reply.headers["X-LLMLingstral-Compression"] == "skipped; reason=error"
        assert "[DONE]" in reply.read().decode()
