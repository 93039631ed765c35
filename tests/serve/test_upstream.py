"""The proxy's upstream (serve/upstream.py): one deadline over the whole exchange."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("kind", ["mistral", "openai"])
def test_a_dribbling_upstream_cannot_hold_the_proxy_past_its_deadline(kind):
    """The reply comes one byte every 50 ms (about 15 s); each read is quick, so only a
    deadline over the whole exchange ends it: a 504 after 1 s."""
    import asyncio
    import time

    from llmlingstral.serve.upstream import UpstreamError, build_upstream
    from local_api import LocalAPIServer, chat_completion_payload

    def chat(body):
        return 200, chat_completion_payload(body["model"], "Bonjour, 東京, สวัสดี, مرحبا")

    with LocalAPIServer({"/v1/chat/completions": chat}, dribble=0.05) as server:
        url = f"{server.url}/v1" if kind == "openai" else server.url
        upstream = build_upstream(kind, "upstream-key", url, timeout_s=1.0)
        body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
        start = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            asyncio.run(upstream.complete(body))
        elapsed = time.monotonic() - start
        asyncio.run(upstream.close())
    assert info.value.status == 504 and "deadline" in info.value.payload["error"]["message"]
    assert elapsed < 1.0 + 2.0


def _chat_of_megabytes(lines: int = 30_000) -> dict:
    line = ('委员会批准了预算。 委員会は予算を承認した。 คณะกรรมการอนุมัติงบประมาณ '
            'وافقت اللجنة على الميزانية "quoted" \\ back\tslash\n 🚆 ')
    return {"model": "m", "stream": False, "temperature": 0.5, "seed": None,
            "messages": [{"role": "system", "content": "short"},
                         {"role": "user", "content": line * lines},
                         {"role": "tool", "content": [{"type": "text", "text": line * 900},
                                                      {"type": "text", "text": "x"}]}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {
                "type": "object", "properties": {"n": {"type": "integer"}}}}}]}


def test_a_body_of_megabytes_is_encoded_as_json_dumps_would_encode_it():
    import json

    from llmlingstral.serve.upstream import encode_json

    body = _chat_of_megabytes()
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert encode_json(body) == expected.encode("utf-8")
    assert json.loads(encode_json(body)) == body
    small = {"messages": [{"role": "user", "content": "東京 ไทย"}], "n": [1, 2.5, True, None]}
    assert encode_json(small) == json.dumps(small, ensure_ascii=False,
                                            separators=(",", ":")).encode()
    with pytest.raises(ValueError):
        encode_json({"temperature": float("nan"), "content": "x" * 100_000})


def test_encoding_a_body_of_megabytes_lets_the_other_threads_run():
    """The body forwarded upstream is encoded on a worker thread; the event loop must get
    the interpreter back while it is, or /healthz stands still for the whole encoding."""
    import threading
    import time

    from llmlingstral.serve.upstream import encode_json

    # About 12 MB: long enough that the other thread's turns do not hang on how busy the
    # machine is, while one json.dumps call would still give it none.
    body, ticks, done = _chat_of_megabytes(lines=120_000), [], threading.Event()

    def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.05)
    started = time.perf_counter()
    encode_json(body)
    ended = time.perf_counter()
    done.set()
    thread.join()
    assert sum(started < t < ended for t in ticks) >= 5
