"""No credential shows: every object that holds a key is built with a marker key, and every
text the library produces about it (repr, str, dumps, logs, errors and their tracebacks,
also against servers that echo the Authorization header back) is searched for the marker."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import pickle
import traceback

import pytest

from llmlingstral.api import MistralAPI, MistralAPIError, RetryPolicy
from llmlingstral.credentials import MASK, Secret, optional_secret, redact
from llmlingstral.scoring.remote import (CompletionsClient, RemoteScorerSettings,
                                         RemoteScoringError)
from llmlingstral.serve.config import ServeConfig
from llmlingstral.serve.upstream import UpstreamError, build_upstream
from llmlingstral.training.collect import CollectConfig, collect
from local_api import LocalAPIServer, chat_completion_payload

MARKER = "sk-marker-7f3a9c-never-shown"
OTHER = "sk-second-marker-51d2"
TEXTS = ["会議は午前十時に始まります。", "กรุงเทพมหานครเป็นเมืองหลวง", "اجتماع المجلس غدا",
         "Le comité se réunit demain à 10 h."]


def assert_hidden(*texts: object) -> None:
    for text in texts:
        shown = text if isinstance(text, str) else repr(text)
        assert MARKER not in shown and OTHER not in shown, shown


def displays(obj: object) -> list[str]:
    """Every way a settings object is commonly shown."""
    shown = [repr(obj), str(obj), f"{obj}", "%s" % (obj,), "%r" % (obj,)]
    if dataclasses.is_dataclass(obj):
        shown += [repr(dataclasses.asdict(obj)), str(dataclasses.astuple(obj)),
                  repr(copy.deepcopy(obj))]
    return shown


def error_texts(error: BaseException) -> list[str]:
    """The message and the whole printed traceback, causes and contexts included."""
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


@pytest.fixture
def echoing_server():
    """Refuses every request, quoting the Authorization header it was sent."""
    def chat(body):
        return 200, chat_completion_payload(body["model"], "never reached")

    with LocalAPIServer({"/v1/chat/completions": chat}) as server:
        server.echo_authorization = True
        yield server


# ----------------------------------------------------------------------------- the type


def test_a_secret_shows_a_mask_and_gives_its_value_only_when_asked():
    secret = Secret(MARKER)
    assert_hidden(*displays(secret), repr([secret]), repr({"key": secret}))
    assert secret.reveal() == MARKER and MASK in repr(secret)
    assert secret == Secret(MARKER) and secret != Secret(OTHER) and bool(secret)
    assert pickle.loads(pickle.dumps(secret)).reveal() == MARKER  # for worker processes
    assert optional_secret("") is None and optional_secret(None) is None
    with pytest.raises(TypeError, match="api_key must be a string"):
        optional_secret(123)
    assert redact(f"refused Bearer {MARKER}!", secret) == f"refused Bearer {MASK}!"


# ----------------------------------------------------------------------------- settings objects


def test_collect_config_never_shows_its_key():
    config = CollectConfig(api_key=MARKER)
    assert_hidden(*displays(config))
    config.api_key = OTHER  # set later, still masked
    assert_hidden(*displays(config))
    assert config.api_key.reveal() == OTHER


def test_remote_scorer_settings_and_client_never_show_the_key():
    settings = RemoteScorerSettings.from_mapping(
        {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": MARKER})
    assert_hidden(*displays(settings), repr(CompletionsClient(settings)))
    assert settings.api_key.reveal() == MARKER


def test_service_settings_never_show_the_keys(monkeypatch):
    config = ServeConfig(api_keys=(MARKER,), upstream_api_key=OTHER)
    assert_hidden(*displays(config))
    assert config.resolved_upstream_key() == OTHER
    config.api_keys = ("x", MARKER)
    assert_hidden(*displays(config))


def test_the_api_wrapper_never_shows_its_key(monkeypatch):
    api = MistralAPI(MARKER, server_url="http://127.0.0.1:9")
    assert_hidden(*displays(api))
    monkeypatch.setenv("MISTRAL_API_KEY", OTHER)
    assert_hidden(*displays(MistralAPI(server_url="http://127.0.0.1:9")))


# ----------------------------------------------------------------------------- errors and logs


@pytest.mark.parametrize("status", [400, 401, 422, 503])
def test_api_errors_hide_a_key_the_server_echoes(echoing_server, status):
    echoing_server.fail_next(status, status)
    api = MistralAPI(MARKER, server_url=echoing_server.url, retry=RetryPolicy(2, 0.001, 0.01))
    with pytest.raises(MistralAPIError) as info:
        api.chat([{"role": "user", "content": TEXTS[0]}], "mistral-small-latest")
    assert info.value.status_code == status
    assert_hidden(*error_texts(info.value))
    assert echoing_server.requests[0].authorization == f"Bearer {MARKER}"  # it was sent


def test_collection_logs_and_errors_hide_the_key(echoing_server, tmp_path, caplog):
    sources = [{"id": f"doc{i}", "text": text} for i, text in enumerate(TEXTS)]
    config = CollectConfig(api_key=MARKER, server_url=echoing_server.url, max_attempts=1,
                           requests_per_second=500.0, show_progress=False)
    echoing_server.fail_next(*[400] * len(TEXTS))
    with caplog.at_level(logging.DEBUG):
        stats = collect(sources, tmp_path / "pairs.jsonl", config)
    assert stats.failed == len(TEXTS)
    echoing_server.fail_next(*[401] * len(TEXTS))
    with caplog.at_level(logging.DEBUG), pytest.raises(MistralAPIError) as info:
        collect(sources, tmp_path / "pairs.jsonl", config)
    assert_hidden(caplog.text, *error_texts(info.value))
    assert "refused credentials" in caplog.text  # the server's message itself is kept


@pytest.mark.parametrize("status", [400, 401, 503])
def test_remote_scorer_errors_hide_a_key_the_server_echoes(status):
    with LocalAPIServer({}) as server:
        server.echo_authorization = True
        server.fail_next(status, status)
        settings = RemoteScorerSettings.from_mapping({
            "base_url": f"{server.url}/v1", "model": "m", "api_key": MARKER,
            "max_attempts": 2, "retry_base_delay": 0.001})
        with pytest.raises(RemoteScoringError) as info:
            CompletionsClient(settings).prompt_logprobs([[1, 2, 3]])
    assert_hidden(*error_texts(info.value))
    assert server.requests[0].authorization == f"Bearer {MARKER}"


@pytest.mark.parametrize("kind", ["mistral", "openai"])
def test_upstream_errors_hide_the_upstream_key(echoing_server, kind):
    url = f"{echoing_server.url}/v1" if kind == "openai" else echoing_server.url
    upstream = build_upstream(kind, MARKER, url, timeout_s=10.0)
    assert_hidden(repr(upstream))
    echoing_server.fail_next(401)
    body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": TEXTS[2]}]}
    with pytest.raises(UpstreamError) as info:
        asyncio.run(upstream.complete(body))
    asyncio.run(upstream.close())
    assert info.value.status == 401
    assert_hidden(repr(info.value.payload), *error_texts(info.value))
    assert "refused credentials" in repr(info.value.payload)
