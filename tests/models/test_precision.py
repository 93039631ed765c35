"""The compute dtype: what "auto" picks, forced settings, clear errors, fp32 scores from a
bf16 model, and keep decisions that bf16 leaves (almost) unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from llmlingstral import PromptCompressor, load_model
from llmlingstral.models import precision
from llmlingstral.models.precision import check_dtype, choose_dtype, cpu_has_native_bf16
from llmlingstral.scoring.causal import CausalScorer
from llmlingstral.scoring.tensor_ops import surprisal_from_logits
from llmlingstral.kept import word_decisions as kept_words
from multilingual import PARAGRAPHS
from texts import stdlib_prose

CPU = torch.device("cpu")
TASKS = ("causal-lm", "token-classification")


@pytest.fixture
def native_bf16(monkeypatch):
    """Make the CPU look as if it had (True) or lacked (False) native bf16."""
    def claim(answer: bool) -> None:
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: answer)
    return claim


# ----------------------------------------------------------------------------- detection


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads Linux's CPU flags")
def test_detection_agrees_with_the_cpu_flags_the_kernel_reports():
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    assert cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


@pytest.mark.parametrize("flags, expected", [({"avx512_bf16": True}, True),
                                             ({"amx_bf16": True, "amx_tile": True}, True),
                                             ({"avx2": True, "avx512_f": True}, False),
                                             ({}, False)])
def test_detection_reads_torchs_cpu_capabilities(monkeypatch, flags, expected):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: flags, raising=False)
    cpu_has_native_bf16.cache_clear()
    try:
        assert cpu_has_native_bf16() is expected
    finally:
        cpu_has_native_bf16.cache_clear()


# ----------------------------------------------------------------------------- the choice


@pytest.mark.parametrize("requested", [None, "auto"])
def test_auto_runs_a_classifier_in_bf16_only_on_a_cpu_with_native_bf16(native_bf16, requested):
    native_bf16(True)
    assert choose_dtype(requested, CPU, "token-classification") == torch.bfloat16
    native_bf16(False)
    assert choose_dtype(requested, CPU, "token-classification") == torch.float32


@pytest.mark.parametrize("native", [True, False])
def test_auto_keeps_the_causal_scorer_fp32_on_every_cpu(native_bf16, native):
    # bf16 changed more LLMLingua keep decisions on NQ than the 2 % allowed (BENCHMARKS.md).
    native_bf16(native)
    assert choose_dtype("auto", CPU, "causal-lm") == torch.float32


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_auto_on_an_accelerator_stays_bf16(native_bf16, device):
    native_bf16(False)
    for task in TASKS:
        assert choose_dtype("auto", torch.device(device), task) == torch.bfloat16


@pytest.mark.parametrize("requested, expected", [
    ("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16),
    ("torch.bfloat16", torch.bfloat16), (" BFloat16 ", torch.bfloat16),
    (torch.bfloat16, torch.bfloat16), (torch.float32, torch.float32)])
def test_a_forced_dtype_wins_on_every_device(native_bf16, requested, expected):
    for native in (True, False):
        native_bf16(native)
        for device in ("cpu", "cuda"):
            assert choose_dtype(requested, torch.device(device)) == expected


@pytest.mark.parametrize("bad, error", [("int8", ValueError), ("bf16x", ValueError),
                                        ("", ValueError), (torch.int8, ValueError),
                                        (torch.float64, ValueError), (16, TypeError),
                                        (True, TypeError)])
def test_a_wrong_dtype_is_a_clear_error_naming_the_choices(bad, error):
    with pytest.raises(error, match="auto, float32, bfloat16, float16"):
        check_dtype(bad, "model_config['dtype']")


def test_a_wrong_dtype_fails_before_any_model_is_looked_for():
    with pytest.raises(ValueError, match=r"model_config\['dtype'\].*auto, float32, bfloat16"):
        PromptCompressor("no-such/model", device_map="cpu", model_config={"dtype": "int4"})


def test_a_remote_scorer_refuses_a_dtype_it_cannot_set():
    remote = {"base_url": "http://127.0.0.1:9/v1", "model": "m"}
    with pytest.raises(ValueError, match="server's own dtype"):
        PromptCompressor("nano", model_config={"remote_scorer": remote, "dtype": "bfloat16"})


# ----------------------------------------------------------------------------- reported


@pytest.fixture(scope="module")
def nano_pair():
    """``nano`` in fp32 and in bf16 (forced: this CPU may lack native bf16)."""
    return {dtype: PromptCompressor("nano", device_map="cpu", model_config={"dtype": dtype})
            for dtype in ("float32", "bfloat16")}


@pytest.fixture(scope="module")
def lingua2_pair():
    return {dtype: PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True,
                                    model_config={"dtype": dtype})
            for dtype in ("float32", "bfloat16")}


def test_auto_loads_the_model_in_the_dtype_it_picks_and_reports_it(native_bf16):
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        native_bf16(native)
        compressor = PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
        assert compressor.dtype == expected == compressor.classifier.dtype
        assert {p.dtype for p in compressor.model.parameters()} == {getattr(torch, expected)}
        result = compressor.compress_prompt_llmlingua2(PARAGRAPHS["en"], rate=0.5)
        assert result["dtype"] == expected
    native_bf16(True)
    assert PromptCompressor("nano", device_map="cpu").dtype == "float32"


def test_every_path_reports_the_dtype_that_ran(nano_pair, lingua2_pair):
    text = PARAGRAPHS["en"]
    for dtype in ("float32", "bfloat16"):
        nano, lingua2 = nano_pair[dtype], lingua2_pair[dtype]
        assert nano.dtype == nano.scorer.dtype == dtype
        assert dtype in repr(nano)
        assert nano.compress_prompt(text, rate=0.5)["dtype"] == dtype
        assert nano.compress_prompt(text, rate=1.0)["dtype"] == dtype  # nothing to cut
        assert [r["dtype"] for r in nano.compress_prompts([text, text], rate=0.5)] == [dtype] * 2
        assert lingua2.compress_prompt_llmlingua2(text, rate=0.5)["dtype"] == dtype
        assert [r["dtype"] for r in lingua2.compress_prompts([text], rate=0.5)] == [dtype]


# ----------------------------------------------------------------------------- fp32 scores


def test_surprisal_of_bf16_logits_is_computed_in_fp32():
    logits = (torch.randn(64, 32768, generator=torch.Generator().manual_seed(0)) * 4) \
        .to(torch.bfloat16)
    targets = torch.arange(64) * 500
    got = surprisal_from_logits(logits, targets)
    wide = logits.double()
    expected = torch.logsumexp(wide, -1) - wide[torch.arange(64), targets]
    assert got.dtype == torch.float32
    # bf16 arithmetic would round surprisals near 10 to steps of 1/16.
    torch.testing.assert_close(got.double(), expected, atol=1e-4, rtol=0)


def test_a_bf16_scorer_gives_fp32_surprisals_of_its_own_logits(v03_dir):
    scorer = CausalScorer(load_model(v03_dir, device_map="cpu",
                                     model_config={"dtype": "bfloat16"}))
    assert scorer.model.dtype == torch.bfloat16
    ids = np.random.default_rng(0).integers(800, 32000, size=120).tolist()
    full = torch.tensor([[scorer.tokenizer.bos_id, *ids]])
    with torch.no_grad():
        logits = scorer.model(input_ids=full).logits[0, :-1].double()
    expected = (torch.logsumexp(logits, -1) - logits.gather(-1, full[0, 1:, None])[:, 0]).numpy()
    batched = scorer.sequence_surprisal([ids])[0]
    stream = scorer.stream()
    streamed = stream.score(ids)
    for got in (batched, streamed):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_bf16_keep_probabilities_are_fp32_softmax_of_the_bf16_logits(lingua2_pair):
    classifier = lingua2_pair["bfloat16"].classifier
    ids = classifier.tokenizer.encode_with_offsets(PARAGRAPHS["en"]).ids[:200]
    got = classifier.token_probabilities([ids])[0]
    with torch.no_grad():
        logits = classifier.model(input_ids=torch.tensor([[classifier.tokenizer.bos_id, *ids]]))\
            .logits[0, 1:].double()
    expected = logits.softmax(-1)[:, classifier.keep_index].numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)


# ----------------------------------------------------------------------------- decisions


def word_decisions(result) -> np.ndarray:
    """Keep (True) or drop for each word of the uncompressed prompt, from ``result.kept``."""
    return kept_words(result.kept)


def _texts() -> list[str]:
    return [stdlib_prose(3000)[:3000], *(PARAGRAPHS[k] * 3 for k in ("zh", "ja", "th", "ar"))]


@pytest.mark.parametrize("method", ["llmlingua", "llmlingua2"])
def test_bf16_keeps_nearly_the_same_words_at_the_same_rate(nano_pair, lingua2_pair, method):
    pair = nano_pair if method == "llmlingua" else lingua2_pair
    for text in _texts():
        results = {}
        for dtype, compressor in pair.items():
            results[dtype] = compressor.compress_prompt(text, rate=0.5) if method == "llmlingua" \
                else compressor.compress_prompt_llmlingua2(text, rate=0.5)
        fp32, bf16 = (word_decisions(results[d]) for d in ("float32", "bfloat16"))
        assert len(fp32) == len(bf16) > 20
        assert (fp32 == bf16).mean() >= 0.9, text[:40]
        origin = results["float32"]["origin_tokens"]
        assert results["bfloat16"]["origin_tokens"] == origin
        for result in results.values():
            assert abs(result["compressed_tokens"] / origin - 0.5) <= 0.06, text[:40]
