"""The service's engine (serve/engine.py): the models it loads and what it reports."""

from __future__ import annotations

import pytest

from llmlingstral.serve.config import ServeConfig


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
