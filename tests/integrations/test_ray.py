"""Ray Data: compress a dataset of documents on a local Ray cluster with nano."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager

import pytest

ray = pytest.importorskip("ray")

from llmlingstral import PromptCompressor  # noqa: E402
from llmlingstral.integrations.ray import compress_dataset  # noqa: E402
from texts import stdlib_prose  # noqa: E402

SCRIPTS = ["東京の会議は午前十時に始まり、議題は予算でした。", "Le budget de Lyon est voté.",
           "北京明天有雨，请带好雨伞。", "Совет утвердил план на 2027 год."]


def _documents(count: int) -> list[str]:
    """Short documents: windows of stdlib prose at varying offsets, some in other scripts."""
    words = stdlib_prose().split()
    docs = []
    for i in range(count):
        start = (i * 37) % (len(words) - 60)
        text = " ".join(words[start:start + 12 + i % 20])
        docs.append(text + " " + SCRIPTS[i % 4] if i % 5 == 0 else text)
    return docs


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def no_ray_deprecations():
    """Fail on a deprecation from Ray: a DeprecationWarning raised from a ray module, or
    the deprecation notices Ray Data writes to its logger (such as the one for
    ``map_batches(concurrency=...)``)."""
    handler = _Records()
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]  # neither propagates
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    from_ray = [f"{w.filename}: {w.message}" for w in caught
                if issubclass(w.category, DeprecationWarning) and "/ray/" in w.filename]
    logged = [m for m in handler.messages if "deprecat" in m.lower()]
    assert not from_ray and not logged, from_ray + logged


def test_dataset_compression_equals_the_batch_api(cluster):
    docs = _documents(200)
    rows = [{"id": i, "text": d} for i, d in enumerate(docs)]
    dataset = ray.data.from_items(rows, override_num_blocks=4)
    # Two actors, each with one CPU and the model loaded once; 40 rows per compress_prompts call.
    with no_ray_deprecations():
        out = compress_dataset(dataset, "nano", concurrency=2, num_cpus=1, batch_size=40,
                               compressor_options={"device_map": "cpu"}, rate=0.5)
        by_id = {row["id"]: row for row in out.take_all()}
    expected = PromptCompressor("nano", device_map="cpu").compress_prompts(docs, rate=0.5)
    assert sorted(by_id) == list(range(len(docs)))
    for i, result in enumerate(expected):
        row = by_id[i]
        assert row["text"] == docs[i]
        assert row["compressed_prompt"] == result["compressed_prompt"]
        assert (row["origin_tokens"], row["compressed_tokens"]) == \
            (result["origin_tokens"], result["compressed_tokens"])


def test_missing_column_is_a_clear_error(cluster):
    dataset = ray.data.from_items([{"body": "some text"}])
    with pytest.raises(Exception, match="no column 'text'"):
        compress_dataset(dataset, "nano", compressor_options={"device_map": "cpu"}).take_all()


@pytest.mark.parametrize("settings, message", [
    ({"concurrency": 0}, "concurrency must be a positive integer"),
    ({"concurrency": 1.5}, r"concurrency must be an integer \(the number of actors\)"),
    ({"batch_size": -4}, "batch_size must be a positive integer"),
])
def test_pool_settings_are_checked_before_ray_sees_them(cluster, settings, message):
    dataset = ray.data.from_items([{"text": "some text"}])
    with pytest.raises((TypeError, ValueError), match=message):
        compress_dataset(dataset, "nano", **settings)


def test_a_protection_reaches_every_actor(cluster):
    from llmlingstral.text.protect import Protection

    docs = _documents(12)
    protect = Protection(patterns=[r"\p{Han}+"], force_tokens=["return"]).only("numbers")
    dataset = ray.data.from_items([{"id": i, "text": d} for i, d in enumerate(docs)],
                                  override_num_blocks=2)
    out = compress_dataset(dataset, "nano", concurrency=1, num_cpus=1, batch_size=6,
                           compressor_options={"device_map": "cpu"}, rate=0.5, protect=protect)
    rows = sorted(out.take_all(), key=lambda row: row["id"])
    expected = PromptCompressor("nano", device_map="cpu").compress_prompts(docs, rate=0.5,
                                                                          protect=protect)
    assert [r["compressed_prompt"] for r in rows] == [e["compressed_prompt"] for e in expected]
    with pytest.raises(TypeError, match="protect must be True"):
        compress_dataset(dataset, "nano", protect="numbers")
