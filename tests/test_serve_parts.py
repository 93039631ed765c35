"""The service's parts that need no server: kept spans, keys, settings."""

from __future__ import annotations

import pytest

from llmlingstral.serve.config import ServeConfig, load_api_keys
from llmlingstral.serve.spans import kept_spans


def _kept(spans):
    return [s["text"] for s in spans if s["kept"]]


def test_spans_cover_the_original_and_follow_the_compressed_words():
    original = "The cat sat on the mat. It was a warm day."
    spans = kept_spans(original, "cat sat mat. warm day.")
    assert "".join(s["text"] for s in spans) == original
    assert _kept(spans) == ["cat sat", "mat.", "warm day."]
    assert all(original[s["start"]:s["end"]] == s["text"] for s in spans)


def test_spans_follow_documents_that_were_reordered():
    original = "alpha beta gamma delta\n\nthe river runs east\n\nthe lake is cold"
    spans = kept_spans(original, "lake cold\n\nalpha gamma")
    assert _kept(spans) == ["alpha", "gamma", "lake", "cold"]


def test_spans_of_text_without_spaces_are_per_character():
    original = "委员会批准了新预算。東京は日本の首都です。กรุงเทพมหานคร"
    spans = kept_spans(original, "委员会预算東京首都กรุงเทพ")
    assert _kept(spans) == ["委员会", "预算", "東京", "首都", "กรุงเทพ"]


def test_spans_for_nothing_kept_and_everything_kept():
    assert kept_spans("some words here", "") == [
        {"start": 0, "end": 15, "text": "some words here", "kept": False}]
    assert _kept(kept_spans("Ça coûte 12,50 € !", "Ça coûte 12,50 € !")) == \
        ["Ça coûte 12,50 € !"]
    assert kept_spans("", "anything") == []


def test_api_keys_from_environment_and_file(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text("# operators\nkey-three\n\n  key-four  \nkey-one\n")
    keys = load_api_keys(key_file, environ={"LLMLINGSTRAL_API_KEYS": "key-one, key-two,"})
    assert keys == ("key-one", "key-two", "key-three", "key-four")
    assert load_api_keys(environ={}) == ()
    with pytest.raises(ValueError, match="API key file not found"):
        load_api_keys(tmp_path / "missing", environ={})


@pytest.mark.parametrize("settings, message", [
    ({"model": None, "llmlingua2_model": None}, "at least one model"),
    ({"upstream": "openai"}, "needs --upstream-url"),
    ({"upstream": "azure"}, "upstream must be one of"),
    ({"guard": True}, "--guard-model"),
    ({"max_queue": 0}, "max_queue must be a positive integer"),
    ({"proxy_rate": 0}, "proxy_rate must be in (0, 1]"),
    ({"proxy_policy": "smart"}, "proxy_policy must be one of ('question', 'blind')"),
    ({"on_compression_error": "ignore"}, "on_compression_error must be one of ('forward', "
                                          "'fail')"),
    ({"cache_mb": -1}, "cache_mb"),
    ({"compression_timeout_s": float("nan")}, "compression_timeout_s"),
])
def test_settings_that_cannot_work_are_refused(settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        ServeConfig(**settings).validate()


def test_the_upstream_key_is_not_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "env-secret")
    config = ServeConfig(upstream_api_key="given-secret", api_keys=("client-secret",))
    assert "secret" not in repr(config)
    assert config.resolved_upstream_key() == "given-secret"
    assert ServeConfig().resolved_upstream_key() == "env-secret"


def test_spans_follow_the_reported_ranges_else_the_alignment():
    from llmlingstral.prompt import CompressionResult, KeptText
    from llmlingstral.serve.engine import result_spans

    original = "the cat saw the dog"
    result = CompressionResult(compressed_prompt="the dog")
    result.kept = KeptText(original, ((12, 19),))
    assert [(s["start"], s["text"]) for s in result_spans(original, result) if s["kept"]] == \
        [(12, "the dog")]
    # ranges of another text, or none (JSON results): aligned word by word, which takes
    # the first "the"
    for fallback in (dict(result), _with_kept(result, KeptText("the dog", ((0, 7),)))):
        spans = result_spans(original, fallback)
        assert "".join(s["text"] for s in spans) == original
        assert [s["start"] for s in spans if s["kept"]][0] == 0


def _with_kept(result, kept):
    from llmlingstral.prompt import CompressionResult

    copy = CompressionResult(result)
    copy.kept = kept
    return copy


# ----------------------------------------------------------------------------- upstream deadline


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


def test_the_dtype_setting_reaches_the_models_and_readyz_reports_it():
    from llmlingstral.cli import build_parser
    from llmlingstral.serve.engine import Engine
    from llmlingstral.serve.metrics import Metrics
    from llmlingstral.serve.runner import config_from_args

    args = build_parser().parse_args(["serve", "--model", "none", "--dtype", "bfloat16",
                                      "--device", "cpu", "--guard-model", "nano-lingua2"])
    engine = Engine(config_from_args(args), Metrics())
    engine.load()
    assert engine.ready, engine.load_error
    assert engine.dtypes() == {"model": None, "llmlingua2_model": "bfloat16",
                               "guard_model": "bfloat16"}


def test_the_engine_says_which_methods_it_serves_and_with_which_compressor():
    """Callers ask the engine by method; it keeps its compressors by the family their
    method contract names, so no caller checks which models were loaded."""
    from llmlingstral.serve.engine import Engine
    from llmlingstral.serve.jobs import RequestError
    from llmlingstral.serve.metrics import Metrics

    engine = Engine(ServeConfig(model=None, llmlingua2_model="nano-lingua2", device="cpu"),
                    Metrics())
    engine.load()
    assert engine.ready, engine.load_error
    assert engine.available() == {"llmlingua": False, "longllmlingua": False,
                                  "llmlingua2": True, "structured": False, "json": False}
    assert engine.default_method() == "llmlingua2" and not engine.has_guard
    assert engine.compressor_for("llmlingua2").method.family == "llmlingua2"
    with pytest.raises(RequestError, match="'json' has no model here.*--model") as refused:
        engine.compressor_for("json")
    assert refused.value.status == 422
    assert engine.count_tokens(["Bonjour à tous", "東京"]) == \
        engine.compressor_for("llmlingua2").tokenizer.count_batch(["Bonjour à tous", "東京"])


@pytest.mark.parametrize("dtype", ["half", "int8", ""])
def test_a_wrong_dtype_setting_names_the_choices(dtype):
    with pytest.raises(ValueError, match="auto, float32, bfloat16, float16"):
        ServeConfig(dtype=dtype).validate()


_SERVE_UNTIL_THE_APP = """
import os, sys
import llmlingstral.serve.app as app
from llmlingstral.cli import main

class WhenTorchLoads:  # notes the policy torch is loaded under
    seen = None
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and self.seen is None:
            WhenTorchLoads.seen = os.environ.get("OMP_WAIT_POLICY", "unset")
        return None

def stop_here(config):
    print(WhenTorchLoads.seen)
    raise SystemExit(0)

sys.meta_path.insert(0, WhenTorchLoads())
app.create_app = stop_here
assert "torch" not in sys.modules
main(["serve", "--port", "1", "--device", "cpu"])
"""


@pytest.mark.parametrize("given, kept", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_serve_lets_torchs_idle_threads_sleep_unless_the_operator_says(given, kept):
    """`llmlingstral serve` sets OpenMP's wait policy before anything loads torch (which
    reads it once, when it loads): idle threads that spin take the cores the event loop
    and the prepare lane need. An operator's own setting is kept."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    done = subprocess.run([sys.executable, "-c", _SERVE_UNTIL_THE_APP], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [kept]   # torch was loaded, under the policy


def _chat_of_megabytes() -> dict:
    line = ('委员会批准了预算。 委員会は予算を承認した。 คณะกรรมการอนุมัติงบประมาณ '
            'وافقت اللجنة على الميزانية "quoted" \\ back\tslash\n 🚆 ')
    return {"model": "m", "stream": False, "temperature": 0.5, "seed": None,
            "messages": [{"role": "system", "content": "short"},
                         {"role": "user", "content": line * 30_000},
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

    body, ticks, done = _chat_of_megabytes(), [], threading.Event()

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
