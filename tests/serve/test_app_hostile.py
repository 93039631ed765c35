"""``llmlingstral serve`` under hostile and clumsy traffic, over real HTTP on 127.0.0.1.

Each test sends what an attacker or a careless client would, and checks that the request is
refused clearly and that it neither stalls the others nor reaches beyond the service.
"""

from __future__ import annotations

import asyncio
import os
import re
import time

import httpx
import pytest

from live_server import LiveServer
from local_api import CUT_STREAM, LocalAPIServer, chat_completion_payload, chat_stream_payloads
from texts import stdlib_prose as _stdlib_prose

pytestmark = pytest.mark.xdist_group("serve")
UPSTREAM_KEY = "upstream-secret-77c2"
CLIENT_KEY = "client-key-hostile"
MULTILINGUAL = ["委员会在关于成本和延误的长时间辩论后批准了北方铁路线的新预算。",
                "委員会はコストと遅延について長い議論の末、北部鉄道線の新しい予算を承認した。",
                "คณะกรรมการอนุมัติงบประมาณใหม่สำหรับทางรถไฟสายเหนือหลังการอภิปรายที่ยาวนาน",
                "وافقت اللجنة على الميزانية الجديدة لخط السكك الحديدية الشمالي بعد نقاش طويل."]


def stdlib_prose(chars: int) -> str:
    text = _stdlib_prose(chars)[:chars]
    return text[:text.rfind(" ")]


def _reply_handler(body):
    if body.get("stream"):
        pieces = chat_stream_payloads(body["model"], ["Hel", "lo", "!"])
        if body["messages"][-1]["content"] == "cut":  # fail after the first piece
            pieces = [pieces[0], CUT_STREAM]
        return 200, pieces
    return 200, chat_completion_payload(body["model"], "Hello!")


@pytest.fixture(scope="module")
def upstream():
    with LocalAPIServer({"/v1/chat/completions": _reply_handler}) as server:
        yield server


def _config(local_api, **settings):
    from llmlingstral.serve import ServeConfig

    base = dict(model="nano", llmlingua2_model="nano-lingua2", device="cpu",
                upstream="openai", upstream_url=f"{local_api.url}/v1",
                upstream_api_key=UPSTREAM_KEY)
    return ServeConfig(**{**base, **settings})


@pytest.fixture(scope="module")
def service(upstream):
    """Both nano models, no keys, the default settings."""
    from llmlingstral.serve import create_app

    with LiveServer(create_app(_config(upstream))) as server:
        yield server


def _post(server, path, body, **kwargs):
    kwargs.setdefault("timeout", 60)
    return httpx.post(f"{server.url}{path}", json=body, **kwargs)


def _healthz_seconds(server) -> float:
    started = time.perf_counter()
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
    return time.perf_counter() - started


# --------------------------------------------------------------------------- 1: rankers


@pytest.mark.parametrize("rank_method, shown", [
    ("e5-mistral", "'e5-mistral'"), ("bge", "'bge' (e5-mistral)"),
    ("sentbert", "'sentbert' (e5-mistral)"), ("mistral-embed", "'mistral-embed'"),
    ("openai", "'openai' (mistral-embed)")])
@pytest.mark.parametrize("method", ["longllmlingua", "llmlingua2"])
def test_a_ranker_the_operator_did_not_enable_is_refused_at_once(service, monkeypatch,
                                                                 method, rank_method, shown):
    # With a key in the environment, mistral-embed would spend it on the real API.
    monkeypatch.setenv("MISTRAL_API_KEY", "operator-key-never-used")
    body = {"method": method, "context": ["a b", "c d"], "question": "q",
            "rank_method": rank_method}
    if method == "llmlingua2":
        body["use_context_level_filter"] = True
    started = time.perf_counter()
    response = _post(service, "/v1/compress", body)
    assert time.perf_counter() - started < 5
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert f"rank_method {shown} is not enabled" in message
    assert "bm25" in message and "--rankers" in message


def test_enabled_local_rankers_still_work(service):
    docs = ["The festival opens on 14 July in Lyon.", "Tickets cost 20 euros.", *MULTILINGUAL]
    for rank_method in ("bm25", "gzip", "hybrid"):
        response = _post(service, "/v1/compress", {
            "method": "longllmlingua", "context": docs, "question": "When does it open?",
            "rank_method": rank_method, "rate": 0.5})
        assert response.status_code == 200, response.text


def test_an_enabled_model_ranker_loads_at_start_and_its_failure_is_kept(upstream):
    """e5-mistral enabled but not on disk (and no hub): the service says so from the start,
    and requests get 503 without trying the load again."""
    from llmlingstral.serve import create_app

    config = _config(upstream, model=None, rankers=("bm25", "e5-mistral"))
    with LiveServer(create_app(config), wait_ready=False) as server:
        deadline = time.monotonic() + 120
        while "error" not in (ready := httpx.get(f"{server.url}/readyz")).json():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert ready.status_code == 503 and "e5-mistral" in ready.json()["error"]
        started = time.perf_counter()
        response = _post(server, "/v1/compress", {"context": "a b c"})
        assert response.status_code == 503 and time.perf_counter() - started < 2


def test_rankers_setting_is_checked():
    from llmlingstral.serve import ServeConfig

    assert ServeConfig(rankers=("bm25", "bge")).validate().rankers == ("bm25", "e5-mistral")
    with pytest.raises(ValueError, match="unknown rank_method 'nope'"):
        ServeConfig(rankers=("nope",)).validate()


# --------------------------------------------------------------------------- 2: event loop


def _big_text(chars: int) -> str:
    unit = stdlib_prose(20_000) + "\n\n" + "\n".join(MULTILINGUAL) + "\n\n"
    return (unit * (chars // len(unit) + 1))[:chars]


@pytest.fixture(scope="module")
def roomy_service(upstream):
    """Room for 5 MB bodies."""
    from llmlingstral.serve import create_app

    with LiveServer(create_app(_config(upstream, max_body_bytes=5_000_000))) as server:
        yield server


def _worst_healthz_while(server, send) -> tuple[float, httpx.Response]:
    """Run ``send(client)`` and poll /healthz until it returns; the slowest answer."""
    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            task = asyncio.create_task(send(client))
            worst = 0.0
            await asyncio.sleep(0.2)
            while not task.done():
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                worst = max(worst, time.perf_counter() - started)
                await asyncio.sleep(0.05)
            return worst, await task

    return asyncio.run(scenario())


def _cache_entries(server) -> float:
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    return float(re.search(r"^llmlingstral_message_cache_entries (\S+)$", metrics, re.M)[1])


def test_a_huge_uncompressed_message_is_relayed_unread_beside_prompt_requests(roomy_service,
                                                                              upstream):
    text = f"Run {time.time_ns()}. " + _big_text(3_500_000)
    small = {"method": "llmlingua2", "rate": 0.5, "context": " ".join(MULTILINGUAL)}
    entries = _cache_entries(roomy_service)

    async def scenario():
        async with httpx.AsyncClient(base_url=roomy_service.url, timeout=120) as client:
            chat = asyncio.create_task(client.post("/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": text,
                                            "compress": False}]}))
            worst_small = worst_health = 0.0
            while not chat.done():
                started = time.perf_counter()
                assert (await client.post("/v1/compress", json=small)).status_code == 200
                worst_small = max(worst_small, time.perf_counter() - started)
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                worst_health = max(worst_health, time.perf_counter() - started)
            return await chat, worst_small, worst_health

    reply, worst_small, worst_health = asyncio.run(scenario())
    assert reply.status_code == 200, reply.text
    assert upstream.requests[-1].body["messages"] == [{"role": "user", "content": text}]
    assert _cache_entries(roomy_service) == entries   # neither a count nor a text is kept
    figures = reply.json()["llmlingstral"]
    assert figures["compression"] == "none" and figures["origin_tokens"] == 0
    assert worst_small < 5.0, f"a small compression took {worst_small:.2f} s beside the chat"
    assert worst_health < 1.0, f"/healthz took {worst_health:.2f} s beside the chat"


def test_a_chat_of_many_tiny_messages_does_not_freeze_the_server(roomy_service):
    messages = [{"role": "user", "content": f"m{i} 東京 ไทย"} for i in range(60_000)]

    async def send(client):
        return await client.post("/v1/chat/completions",
                                 json={"model": "m", "messages": messages})

    worst, reply = _worst_healthz_while(roomy_service, send)
    assert reply.status_code == 200, reply.text
    assert worst < 1.0, f"/healthz took {worst:.2f} s while the chat was read"


# --------------------------------------------------------------------------- 3: cancellation


@pytest.fixture(scope="module")
def impatient_service(upstream):
    """A 1.5 s request timeout and room for big bodies."""
    from llmlingstral.serve import create_app

    config = _config(upstream, request_timeout_s=1.5, max_body_bytes=5_000_000)
    with LiveServer(create_app(config)) as server:
        yield server


def _documents(chars: int, size: int = 8_000) -> list[str]:
    text = _big_text(chars)
    return [text[i:i + size] for i in range(0, len(text), size)]


# Work made of many forward passes (what a cancelled job stops between).
BIG_JOBS = {
    "llmlingua2": {"method": "llmlingua2", "context": _documents(600_000), "rate": 0.5},
    "llmlingua": {"method": "llmlingua", "context": _documents(300_000), "rate": 0.5},
    "json": {"method": "json", "json_data": {f"k{i}": _big_text(20_000) for i in range(15)}},
}


def _seconds_until_idle(server) -> float:
    """Seconds until no compression job waits or runs (the compute thread is free)."""
    import re

    started = time.perf_counter()
    while True:
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
        depth = float(re.search(r"^llmlingstral_queue_depth (\S+)$", metrics, re.M).group(1))
        if depth == 0:
            return time.perf_counter() - started
        assert time.perf_counter() - started < 120
        time.sleep(0.05)


# The whole of each big job takes a minute or more here; a cancelled one stops at its next
# forward pass, after the text preparation that comes before the first (a few seconds on a
# loaded machine).
STOP_WITHIN_S = 12


@pytest.mark.parametrize("kind", list(BIG_JOBS))
def test_a_timed_out_request_stops_computing(impatient_service, kind):
    response = _post(impatient_service, "/v1/compress", BIG_JOBS[kind])
    assert response.status_code == 504, response.text
    waited = _seconds_until_idle(impatient_service)
    assert waited < STOP_WITHIN_S, f"abandoned work ran {waited:.1f} s past the timeout"


def test_a_client_that_leaves_stops_its_job(service):
    with pytest.raises(httpx.TimeoutException):
        _post(service, "/v1/compress", BIG_JOBS["llmlingua2"], timeout=1.5)
    waited = _seconds_until_idle(service)
    assert waited < STOP_WITHIN_S, f"a departed client's job ran {waited:.1f} s more"


# --------------------------------------------------------------------------- 3b: slices


HUGE_JOBS = {
    "many documents": BIG_JOBS["llmlingua2"],
    "one long text": {"method": "llmlingua2", "context": _big_text(400_000), "rate": 0.5},
}


@pytest.mark.parametrize("kind", list(HUGE_JOBS))
def test_a_small_request_finishes_while_a_huge_one_already_works(service, kind):
    """A huge job that started while nobody waited holds the CPU for one slice at a time:
    a small request sent while it works is answered long before it ends, /healthz stays
    quick meanwhile, and the huge job stops when its client leaves, though it was paused."""
    scheduler = service.app.state.engine.scheduler
    huge, small = HUGE_JOBS[kind], {"method": "llmlingua2", "context": MULTILINGUAL,
                                    "rate": 0.5}
    hand_backs = scheduler.hand_backs

    async def scenario():
        async with httpx.AsyncClient(base_url=service.url, timeout=120) as client:
            seen = len(scheduler.history)
            long = asyncio.create_task(client.post("/v1/compress", json=huge))
            while not any(r.cost > 300_000 for r in list(scheduler.history)[seen:]):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)                       # it works now, nobody else waits
            reply = asyncio.create_task(client.post("/v1/compress", json=small))
            worst = 0.0
            while not reply.done():
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                worst = max(worst, time.perf_counter() - started)
                await asyncio.sleep(0.05)
            running = not long.done()
            long.cancel()                                  # its client leaves
            return await reply, running, worst

    reply, still_running, worst = asyncio.run(scenario())
    assert reply.status_code == 200, reply.text
    assert reply.json()["compressed_prompt"]
    assert still_running, "the small request waited for all of the huge one"
    assert scheduler.hand_backs > hand_backs
    assert worst < 1.0, f"/healthz took {worst:.2f} s beside the huge job"
    waited = _seconds_until_idle(service)
    assert waited < STOP_WITHIN_S, f"the departed client's paused job ran {waited:.1f} s more"


def test_requests_of_similar_size_never_interrupt_each_other(service):
    """Many requests of about 1,200 characters at once (the clean case): each run keeps
    its turn to its end, so the batches that form are never split by a newcomer of the
    same size."""
    scheduler = service.app.state.engine.scheduler
    texts = [stdlib_prose(1200), *[(line + " ") * (1200 // len(line)) for line in MULTILINGUAL]]
    bodies = [{"method": "llmlingua2", "context": texts[k % len(texts)] + f" {k}",
               "rate": 0.5} for k in range(24)]
    hand_backs = scheduler.hand_backs

    async def scenario():
        async with httpx.AsyncClient(base_url=service.url, timeout=120) as client:
            async def one_client(k: int) -> list[int]:
                return [(await client.post("/v1/compress", json=bodies[j])).status_code
                        for j in range(k, len(bodies), 8)]
            return await asyncio.gather(*(one_client(k) for k in range(8)))

    statuses = [code for codes in asyncio.run(scenario()) for code in codes]
    assert statuses == [200] * len(bodies)
    assert scheduler.hand_backs == hand_backs, "a run was interrupted by a request its size"


# --------------------------------------------------------------------------- 4: bad requests


@pytest.fixture(scope="module")
def batching_service(upstream):
    """LLMLingua-2 only, with a 300 ms batch window so that concurrent requests share one."""
    from llmlingstral.serve import create_app

    config = _config(upstream, model=None, batch_window_ms=300)
    with LiveServer(create_app(config)) as server:
        yield server


def _forward_passes(server, bodies) -> tuple[int, list[httpx.Response]]:
    """Classifier forward passes spent on ``bodies`` sent at once, and the replies."""
    model = server.app.state.engine.compressor_for("llmlingua2").model
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))

    async def send_all():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/compress", json=b) for b in bodies))

    try:
        replies = asyncio.run(send_all())
    finally:
        hook.remove()
    return len(calls), replies


def test_a_bad_request_never_reruns_its_batch(batching_service):
    texts = [stdlib_prose(1500), *MULTILINGUAL]
    good = [{"method": "llmlingua2", "context": t, "rate": 0.5} for t in texts]
    alone, replies = _forward_passes(batching_service, good)
    assert [r.status_code for r in replies] == [200] * len(good)
    bad = [{"method": "llmlingua2", "context": "x y z", "rate": 2},
           {"method": "llmlingua2", "context": texts[0], "force_tokens": ["a"] * 500}]
    mixed, replies = _forward_passes(batching_service, [bad[0], *good[:2], bad[1], *good[2:]])
    assert [r.status_code for r in replies] == [422, 200, 200, 422] + [200] * (len(good) - 2)
    assert "rate must be in (0, 1]" in replies[0].json()["error"]["message"]
    assert mixed == alone, "the honest requests were scored again because of a bad one"


# --------------------------------------------------------------------------- 6: cross-site


def test_a_foreign_host_or_a_cross_site_body_never_reaches_the_upstream(service, upstream):
    seen = len(upstream.requests)
    body = '{"model": "m", "messages": [{"role": "user", "content": "東京 مرحبا"}]}'
    rebinding = httpx.post(f"{service.url}/v1/chat/completions", content=body, headers={
        "Host": "rebind.attacker.example", "Origin": "http://x",
        "Content-Type": "application/json"})
    assert rebinding.status_code == 421
    assert "--allowed-hosts" in rebinding.json()["error"]["message"]
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        form = httpx.post(f"{service.url}/v1/chat/completions", content=body,
                          headers={"Origin": "http://x", "Content-Type": content_type})
        assert form.status_code == 415, content_type
        assert "application/json" in form.json()["error"]["message"]
        assert not any(h.lower().startswith("access-control-") for h in form.headers)
    assert len(upstream.requests) == seen
    port = service.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]"):
        reply = httpx.post(f"{service.url}/v1/chat/completions", content=body,
                           headers={"Host": host, "Content-Type": "application/json"})
        assert reply.status_code == 200, (host, reply.text)
        assert not any(h.lower().startswith("access-control-") for h in reply.headers)


def test_allowed_hosts_behind_a_reverse_proxy():
    from llmlingstral.serve.guards import allowed_host_names, host_name

    names = allowed_host_names("0.0.0.0", ["Compress.Example.com"])
    assert host_name("compress.example.com:443") in names and "0.0.0.0" not in names
    assert allowed_host_names("10.0.0.5", []) >= {"10.0.0.5", "localhost"}
    assert allowed_host_names("127.0.0.1", ["*"]) is None


# --------------------------------------------------------------------------- 7: queue share


@pytest.fixture(scope="module")
def small_queue_service(upstream):
    """A queue of 4 places, of which one request may hold 2."""
    from llmlingstral.serve import create_app

    config = _config(upstream, max_queue=4, max_jobs_per_request=2, batch_window_ms=50)
    with LiveServer(create_app(config)) as server:
        yield server


def test_one_request_cannot_fill_the_queue_and_always_fits(small_queue_service):
    import re

    parts = [{"type": "text", "text": t} for t in [stdlib_prose(600), *MULTILINGUAL] * 2]
    chat = {"model": "m", "messages": [{"role": "user", "content": parts, "compress": True}]}
    deepest = []

    async def scenario():
        async with httpx.AsyncClient(base_url=small_queue_service.url, timeout=120) as client:
            task = asyncio.create_task(client.post("/v1/chat/completions", json=chat))
            while not task.done():
                text = (await client.get("/metrics")).text
                deepest.append(float(re.search(r"^llmlingstral_queue_depth (\S+)$", text,
                                               re.M).group(1)))
                await asyncio.sleep(0.01)
            return await task

    reply = asyncio.run(scenario())
    assert reply.status_code == 200, reply.text      # 10 texts, a queue of 4: still fits
    assert reply.json()["llmlingstral"]["compressed_messages"] == 1
    assert max(deepest) <= 2


def test_a_small_request_runs_after_at_most_one_part_of_a_long_chat(service):
    """A chat of 64 long parts, then one small compression: the small one waits for at
    most one of the chat's parts that start after it arrived (the scheduler's records)."""
    scheduler = service.app.state.engine.scheduler
    parts = [{"type": "text", "text": t} for t in _documents(128_000, size=2000)]
    chat = {"model": "m", "messages": [{"role": "user", "content": parts, "compress": True}]}
    small = {"method": "llmlingua2", "context": MULTILINGUAL, "rate": 0.5}

    async def scenario():
        async with httpx.AsyncClient(base_url=service.url, timeout=300) as client:
            seen = len(scheduler.history)
            long = asyncio.create_task(client.post("/v1/chat/completions", json=chat))
            while sum(r.lane == "compute" for r in list(scheduler.history)[seen:]) < 2:
                await asyncio.sleep(0.01)
            reply = await client.post("/v1/compress", json=small)
            return reply, await long, list(scheduler.history)[seen:]

    reply, long, runs = asyncio.run(scenario())
    assert reply.status_code == 200 and long.status_code == 200, (reply.text, long.text)
    compute = [r for r in runs if r.lane == "compute"]
    chat_owner = compute[0].owner
    mine = next(r for r in compute if r.owner != chat_owner)
    ahead = [r for r in compute if r.owner == chat_owner and r.batch <= mine.batch
             and r.arrived_before >= mine.arrival]
    assert len(ahead) <= 1, f"{len(ahead)} parts of the chat ran before the small request"
    assert sum(r.owner == chat_owner for r in compute) == len(parts)


# --------------------------------------------------------------------------- 10: odd input


@pytest.mark.parametrize("body, status, message", [
    ('{"context": ' + "[" * 10_000 + "]" * 10_000 + "}", 400, "nested too deeply"),
    ('{"method": "llmlingua", "context": "a b c", "target_token": ' + "9" * 4000 + "}", 422,
     "target_token is far too large"),
    ('{"method": "json", "json_data": "' + "[" * 5000 + "]" * 5000 + '"}', 422,
     "json_data is nested too deeply"),
])
def test_absurd_input_gets_a_json_error_not_a_crash(service, body, status, message):
    response = httpx.post(f"{service.url}/v1/compress", content=body,
                          headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


# --------------------------------------------------------------------------- 11: log lines


def test_a_path_cannot_forge_log_lines_or_colour_the_terminal(service, caplog):
    forged = "/x%0a2026-12-07 12:00:00,000 INFO llmlingstral.serve: FAKE%1b[31m%e6%9d%b1"
    with caplog.at_level("INFO", logger="llmlingstral.serve"):
        assert httpx.get(f"{service.url}{forged}").status_code == 404
        deadline = time.monotonic() + 10
        while "FAKE" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
    line = next(r.getMessage() for r in caplog.records if "FAKE" in r.getMessage())
    assert "\n" not in line and "\x1b" not in line
    assert "\\n2026-12-07" in line and "\\x1b[31m" in line and "東" in line


# --------------------------------------------------------------------------- 12: streams


@pytest.fixture(scope="module")
def mistral_upstream_service(upstream):
    from llmlingstral.serve import create_app

    config = _config(upstream, model=None, upstream="mistral", upstream_url=upstream.url)
    with LiveServer(create_app(config)) as server:
        yield server


@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_a_stream_that_fails_midway_ends_with_an_error_event(service, mistral_upstream_service,
                                                              kind):
    server = service if kind == "openai" else mistral_upstream_service
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "cut"}]}
    response = _post(server, "/v1/chat/completions", body)
    assert response.status_code == 200
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert "Hel" in events[0]
    assert "mid-stream" in events[-2] and '"error"' in events[-2]
    assert events[-1] == "[DONE]"
    whole = _post(server, "/v1/chat/completions", {**body, "messages": [
        {"role": "user", "content": "สวัสดี"}]})
    assert whole.text.rstrip().endswith("data: [DONE]") and "error" not in whole.text


def test_stream_must_be_a_boolean(service, upstream):
    seen = len(upstream.requests)
    body = {"model": "m", "stream": "no", "messages": [{"role": "user", "content": "hi"}]}
    response = _post(service, "/v1/chat/completions", body)
    assert response.status_code == 422
    assert "stream must be true or false" in response.json()["error"]["message"]
    assert len(upstream.requests) == seen


# --------------------------------------------------------------------------- 13: open routes


@pytest.fixture(scope="module")
def keyed_service(upstream):
    from llmlingstral.serve import create_app

    with LiveServer(create_app(_config(upstream, model=None, api_keys=(CLIENT_KEY,)))) as server:
        yield server


def test_with_keys_only_health_and_a_minimal_readyz_are_open(keyed_service):
    url = keyed_service.url
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{url}{path}").status_code in (401, 404), path
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/readyz").json() == {"ready": True, "auth": True}
    full = httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {CLIENT_KEY}"}).json()
    assert full["models"]["llmlingua2_model"] == "nano-lingua2"


# --------------------------------------------------------------------------- 9: upstream


@pytest.mark.parametrize("status", [200, 302])
def test_a_misbehaving_upstream_gives_502_and_never_the_key(service, upstream, status):
    upstream.echo_authorization = True
    try:
        upstream.fail_next(status)  # an error object quoting the Authorization header
        response = _post(service, "/v1/chat/completions",
                         {"model": "m", "messages": [{"role": "user", "content": "東京"}]})
    finally:
        upstream.echo_authorization = False
    assert response.status_code == 502, response.text
    assert "without a chat completion" in response.json()["error"]["message"]
    assert UPSTREAM_KEY not in response.text and UPSTREAM_KEY not in str(response.headers)


def test_an_echoed_key_is_masked_in_an_error_relayed(service, upstream):
    upstream.echo_authorization = True
    try:
        upstream.fail_next(400)
        response = _post(service, "/v1/chat/completions",
                         {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    finally:
        upstream.echo_authorization = False
    assert response.status_code == 400 and "refused credentials" in response.text
    assert UPSTREAM_KEY not in response.text


# --------------------------------------------------------------------------- 5: slowloris


@pytest.fixture(scope="module")
def limited_service(upstream):
    """At most 50 connections, each with 1 s to send its request head."""
    from llmlingstral.serve import create_app

    config = _config(upstream, model=None, max_connections=50, header_timeout_s=1.0)
    with LiveServer(create_app(config)) as server:
        yield server


def _closed_by_server(sock) -> bool:
    import socket

    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (socket.timeout, BlockingIOError):
        return False


def test_slowloris_connections_are_capped_and_timed_out(limited_service):
    import socket

    host, port = limited_service.url.rsplit("//", 1)[1].split(":")
    sockets = []
    try:
        for _ in range(200):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sockets.append(sock)
        time.sleep(0.3)
        for sock in sockets:
            sock.settimeout(0.01)
        refused = sum(_closed_by_server(s) for s in sockets)
        assert refused >= 140, f"only {refused} of 200 connections past the limit were closed"
        deadline = time.monotonic() + 5
        open_ = [s for s in sockets if not _closed_by_server(s)]
        while open_ and time.monotonic() < deadline:
            time.sleep(0.1)
            open_ = [s for s in open_ if not _closed_by_server(s)]
        assert not open_, f"{len(open_)} connections kept sending headers past the timeout"
        assert _healthz_seconds(limited_service) < 1.0
    finally:
        for sock in sockets:
            sock.close()


def test_a_slow_honest_body_is_not_cut_by_the_header_timeout(limited_service):
    import socket

    host, port = limited_service.url.rsplit("//", 1)[1].split(":")
    body = b'{"context": "Le comit\\u00e9 a approuv\\u00e9 le budget.", "rate": 0.5}'
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/compress HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     b"application/json\r\nContent-Length: " + str(len(body)).encode() +
                     b"\r\nConnection: close\r\n\r\n")
        time.sleep(1.5)  # past the header timeout, but the head is complete
        sock.sendall(body)
        reply = b""
        sock.settimeout(30)
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


# --------------------------------------------------------------------------- 9: shutdown


def _cli_service(tmp_path, *options: str):
    """``llmlingstral serve`` in a subprocess on a free port, once ready: (process, url)."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "llmlingstral.cli", "serve", "--port", str(port), "--device",
         "cpu", "--llmlingua2-model", "none", *options],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((tmp_path / "serve.log").read_text())
        time.sleep(0.2)


def test_shutdown_answers_every_request_by_the_grace_period_and_exits(tmp_path):
    import signal
    import threading

    grace = 2.0
    process, url = _cli_service(tmp_path, "--graceful-timeout", str(grace), "--timeout", "300",
                                "--max-body-bytes", "5000000")
    replies: dict[str, tuple[float, httpx.Response]] = {}
    signalled = threading.Event()
    sent_at = [0.0]

    def send(name: str, **request) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            response = client.post("/v1/compress", headers={"content-type": "application/json"},
                                   **request)
        replies[name] = (time.monotonic() - sent_at[0], response)

    # Two jobs of a minute or more (one running, one queued behind it), and a refused
    # request whose body is still arriving when the signal comes.
    slow_parts = [b'{"method": "llmlingua", "context": "x y z", ', b'"rate": 2}']
    clients = [threading.Thread(target=send, args=(f"big{i}",),
                                kwargs={"json": BIG_JOBS["llmlingua"]}) for i in range(2)]
    clients.append(threading.Thread(target=send, args=("refused",), kwargs={
        "content": _after(signalled, slow_parts)}))
    try:
        for client in clients:
            client.start()
        waited = time.monotonic() + 60
        while _queue_depth(url) < 2:
            assert time.monotonic() < waited, "the big jobs never queued"
            time.sleep(0.05)
        sent_at[0] = time.monotonic()
        process.send_signal(signal.SIGTERM)
        signalled.set()
        process.wait(timeout=grace + 30)
        exited_s = time.monotonic() - sent_at[0]
        for client in clients:
            client.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    log = (tmp_path / "serve.log").read_text()
    seconds, refused = replies["refused"]
    assert refused.status_code == 422 and seconds < grace, (seconds, refused.text)
    for name in ("big0", "big1"):
        seconds, response = replies[name]
        assert response.status_code == 503, (response.status_code, response.text, log[-2000:])
        assert response.json()["error"]["type"] == "service_unavailable"
        assert grace - 0.2 < seconds < grace + 3, f"{name} answered {seconds:.1f} s after SIGTERM"
    for seconds, response in replies.values():  # no client reuses a closing connection
        assert response.headers.get("connection") == "close", response.headers
    assert exited_s < grace + 4, f"the process exited {exited_s:.1f} s after SIGTERM"
    assert "Application shutdown complete" in log


def _after(event, parts: list[bytes]):
    """The first of ``parts`` now, the rest half a second after ``event`` is set."""
    yield parts[0]
    event.wait(120)
    time.sleep(0.5)
    yield from parts[1:]


def _queue_depth(url: str) -> float:
    import re

    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    return float(re.search(r"^llmlingstral_queue_depth (\S+)$", metrics, re.M).group(1))
