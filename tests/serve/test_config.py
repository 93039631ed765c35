"""The service's settings (serve/config.py): API keys, settings that cannot work, secrets."""

from __future__ import annotations

import pytest

from llmlingstral.serve.config import ServeConfig, load_api_keys


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


@pytest.mark.parametrize("dtype", ["half", "int8", ""])
def test_a_wrong_dtype_setting_names_the_choices(dtype):
    with pytest.raises(ValueError, match="auto, float32, bfloat16, float16"):
        ServeConfig(dtype=dtype).validate()
