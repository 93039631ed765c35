"""Surprisal from the causal scorer equals what a plain forward pass gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmlingstral import load_model
from llmlingstral.scoring.causal import CausalScorer
from llmlingstral.scoring.stream import SurprisalStream


@pytest.fixture(scope="module")
def scorer(v03_dir):
    return CausalScorer(load_model(v03_dir, device_map="cpu"))


def _reference(scorer: CausalScorer, ids: list[int]) -> np.ndarray:
    """-log p(token) for every token after a prepended BOS, from one plain forward pass."""
    full = torch.tensor([[scorer.tokenizer.bos_id, *ids]])
    with torch.no_grad():
        logits = scorer.model(input_ids=full).logits[0, :-1].float()
    return (torch.logsumexp(logits, -1) - logits.gather(-1, full[0, 1:, None])[:, 0]).numpy()


def _sequences() -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [rng.integers(800, 32000, size=n).tolist() for n in (7, 60, 300, 0, 140, 61)]


def test_sequence_surprisal_matches_plain_forward(scorer):
    sequences = _sequences()
    for ids, got in zip(sequences, scorer.sequence_surprisal(sequences)):
        assert len(got) == len(ids)
        if ids:
            np.testing.assert_allclose(got, _reference(scorer, ids), atol=2e-4)


def test_tails_score_only_the_last_tokens(scorer):
    sequences = _sequences()
    tails = [3, 100, 20, 5, 0, 61]
    for ids, tail, got in zip(sequences, tails, scorer.sequence_surprisal(sequences, tails)):
        expected = _reference(scorer, ids)[len(ids) - min(tail, len(ids)):] if ids else []
        assert len(got) == len(expected)
        np.testing.assert_allclose(got, expected, atol=2e-4)


@pytest.mark.parametrize("conditioning", ["exact", "in_place"])
def test_stream_scores_match_plain_forward_until_something_is_dropped(scorer, conditioning):
    ids = _sequences()[2]
    stream = SurprisalStream(scorer, [], conditioning=conditioning)
    first = stream.score(ids[:150])
    stream.commit(np.ones(150, dtype=bool))
    second = stream.score(ids[150:])
    np.testing.assert_allclose(np.concatenate([first, second]), _reference(scorer, ids),
                               atol=2e-4)


@pytest.fixture(scope="module", params=["v03_dir", "vlm_dir"])
def any_scorer(request):
    """Scorers for both rotary kinds: default (Mistral v0.3) and yarn (Ministral 3)."""
    return CausalScorer(load_model(request.getfixturevalue(request.param), device_map="cpu"),
                        window=128)


def _cached_keys(scorer: CausalScorer, ids: list[int], start: int) -> list[torch.Tensor]:
    from transformers import DynamicCache

    cache = DynamicCache(config=scorer.model.config)
    positions = torch.arange(start, start + len(ids)).unsqueeze(0)
    with torch.no_grad():
        scorer.decoder(input_ids=torch.tensor([ids]), position_ids=positions, cache=cache,
                       use_cache=True)
    return [layer.keys for layer in cache.layers]


def _shifted(keys: torch.Tensor, shift: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Keys turned back as a stream turns its cached keys when it moves them ``shift``
    positions earlier."""
    from llmlingstral.scoring.tensor_ops import rotate_back, shift_rotation

    return rotate_back(keys, *shift_rotation(shift, inv_freq, keys.device))


def test_shifted_keys_equal_keys_computed_at_the_earlier_positions(any_scorer):
    assert any_scorer.rotary_inv_freq is not None
    ids = _sequences()[1][:40]
    late, early = _cached_keys(any_scorer, ids, 90), _cached_keys(any_scorer, ids, 3)
    shift = torch.full((len(ids),), 87)
    for moved, expected in zip(late, early):
        moved = _shifted(moved, shift, any_scorer.rotary_inv_freq)
        torch.testing.assert_close(moved, expected, atol=1e-4, rtol=1e-4)


def _stream_through_rebuild(scorer: CausalScorer, rotate: bool) -> np.ndarray:
    """Drop 60 tokens, keep 30, then score a chunk that forces the cache to be cut back."""
    ids = _sequences()[2]
    saved = scorer.rotary_inv_freq
    scorer.rotary_inv_freq = saved if rotate else None
    try:
        stream = SurprisalStream(scorer, [], conditioning="in_place")
        for chunk, keep in ((ids[:60], False), (ids[60:80], True), (ids[80:90], True)):
            stream.score(chunk)
            stream.commit(np.full(len(chunk), keep))
        assert stream.position + 50 > scorer.window
        return stream.score(ids[90:140])
    finally:
        scorer.rotary_inv_freq = saved


def test_rotated_rebuild_scores_like_a_recomputed_cache(any_scorer):
    # The 30 kept tokens were computed next to each other, so moving them by rotation and
    # recomputing them at their new positions must agree.
    np.testing.assert_allclose(_stream_through_rebuild(any_scorer, rotate=True),
                               _stream_through_rebuild(any_scorer, rotate=False), atol=2e-4)


def _fresh(scorer: CausalScorer, context: list[int], chunk: list[int]) -> np.ndarray:
    """Surprisal of ``chunk`` from one plain forward pass over BOS + context + chunk."""
    return scorer.sequence_surprisal([context + chunk], tails=[len(chunk)])[0]


@pytest.mark.parametrize("prefix_length", [0, 9])
def test_exact_stream_scores_each_window_as_a_fresh_encoding_of_the_kept_text(scorer,
                                                                               prefix_length):
    ids = _sequences()[2]
    prefix = _sequences()[1][:prefix_length]
    rng = np.random.default_rng(3)
    stream = scorer.stream(prefix)
    assert stream.exact
    kept: list[int] = []
    # Windows with some, none and all of their tokens kept, and an empty one.
    for start, end, share in ((0, 50, 0.5), (50, 90, 0.0), (90, 90, 1.0), (90, 150, 1.0),
                              (150, 230, 0.3), (230, 300, 0.6)):
        chunk = ids[start:end]
        got = stream.score(chunk)
        np.testing.assert_allclose(got, _fresh(scorer, prefix + kept, chunk), atol=2e-4)
        keep = rng.random(len(chunk)) < share
        stream.commit(keep)
        kept += [t for t, k in zip(chunk, keep) if k]


def _fresh_without_bos(scorer: CausalScorer, context: list[int], chunk: list[int]) -> np.ndarray:
    """Surprisal of ``chunk`` from one plain forward pass over context + chunk, no BOS (as
    llmlingua encodes its token-level text); NaN for a first token with nothing before it."""
    full = torch.tensor([context + chunk])
    with torch.no_grad():
        logits = scorer.model(input_ids=full).logits[0].float()
    surprisal = torch.logsumexp(logits[:-1], -1) - logits[:-1].gather(-1, full[0, 1:, None])[:, 0]
    values = np.concatenate([[np.nan], surprisal.numpy()])
    return values[len(context):]


@pytest.mark.parametrize("prefix_length", [0, 9])
def test_stream_without_bos_scores_as_a_fresh_encoding_without_bos(scorer, prefix_length):
    ids = _sequences()[2]
    prefix = _sequences()[1][:prefix_length]
    stream = scorer.stream(prefix, bos=False)
    # A first window dropped whole leaves the next one with nothing (or the prefix) before it.
    for chunk, keep in ((ids[:40], False), (ids[40:100], True)):
        got = stream.score(chunk)
        np.testing.assert_allclose(got, _fresh_without_bos(scorer, prefix, chunk), atol=2e-4)
        assert np.isnan(got[0]) == (not prefix)
        stream.commit(np.full(len(chunk), keep))
    kept = ids[40:100]
    fresh = _fresh_without_bos(scorer, prefix + kept, ids[100:160])
    np.testing.assert_allclose(stream.score(ids[100:160]), fresh, atol=2e-4)
    # Without BOS the same token after the same text scores differently.
    with_bos = _fresh(scorer, prefix + kept, ids[100:160])
    assert np.abs(with_bos - fresh).mean() > 1e-3


def test_in_place_stream_keeps_the_full_text_state_of_kept_tokens(scorer):
    ids = _sequences()[2]
    keep = np.random.default_rng(4).random(100) < 0.5
    kept = [t for t, k in zip(ids[:100], keep) if k]
    surprisal = {}
    for mode in ("exact", "in_place"):
        stream = CausalScorer(scorer.loaded, conditioning=mode).stream()
        stream.score(ids[:100])
        stream.commit(keep)
        surprisal[mode] = stream.score(ids[100:200])
    fresh = _fresh(scorer, kept, ids[100:200])
    np.testing.assert_allclose(surprisal["exact"], fresh, atol=2e-4)
    # The in-place cache still carries what the dropped tokens said.
    assert np.abs(surprisal["in_place"] - fresh).mean() > 1e-2


def test_exact_stream_after_a_cut_back_scores_the_prefix_and_recent_kept_tokens(any_scorer):
    ids = _sequences()[2]
    stream = any_scorer.stream([5, 6, 7])
    kept: list[int] = []
    for chunk, share in ((ids[:60], 0.0), (ids[60:100], 1.0), (ids[100:125], 1.0)):
        stream.score(chunk)
        stream.commit(np.full(len(chunk), share > 0))
        kept += chunk if share > 0 else []
    chunk = ids[125:185]
    assert 4 + len(kept) + len(chunk) > any_scorer.window  # the context must be cut back
    room = any_scorer.window // 4 - 1
    np.testing.assert_allclose(stream.score(chunk), _fresh(any_scorer, [5, 6, 7] + kept[-room:],
                                                           chunk), atol=2e-4)


@pytest.fixture(scope="module", params=["mistral_large3_vlm", "mistral_small4_vlm"])
def latent_scorer(request, tmp_path_factory):
    """In-place scorers on multi-head latent attention (Mistral Large 3, Mistral Small 4)."""
    import replicas

    folder = getattr(replicas, request.param)(tmp_path_factory.mktemp(request.param))
    return CausalScorer(load_model(folder, device_map="cpu"), window=128,
                        conditioning="in_place")


def test_latent_attention_keys_are_recomputed_when_the_context_is_cut_back(latent_scorer):
    """Their cached keys hold a position-free part beside an interleaved rotary one, so
    they cannot be moved by rotation: the in-place cut-back recomputes the kept tokens."""
    assert latent_scorer.rotary_inv_freq is None
    ids = _sequences()[2]
    kept = ids[60:90]
    # Drops 60 tokens, keeps 30, then scores a chunk that forces the cut-back.
    np.testing.assert_allclose(_stream_through_rebuild(latent_scorer, rotate=True),
                               _fresh(latent_scorer, kept, ids[90:140]), atol=2e-4)


def test_unknown_conditioning_is_refused(scorer):
    with pytest.raises(ValueError, match="conditioning"):
        CausalScorer(scorer.loaded, conditioning="approximate")


# ----------------------------------------------------------------------------- bf16


@pytest.fixture(scope="module", params=["v03_dir", "vlm_dir"])
def bf16_scorer(request):
    loaded = load_model(request.getfixturevalue(request.param), device_map="cpu",
                        model_config={"dtype": "bfloat16"})
    assert loaded.model.dtype == torch.bfloat16
    return CausalScorer(loaded, window=128)


def _ulp(values: torch.Tensor) -> float:
    """One bf16 step at the magnitude of the largest value."""
    return 2.0 ** (float(torch.floor(torch.log2(values.float().abs().max()))) - 7)


def test_bf16_shifted_keys_are_the_earlier_keys_to_bf16_rounding(bf16_scorer):

    ids = _sequences()[1][:40]
    late, early = _cached_keys(bf16_scorer, ids, 90), _cached_keys(bf16_scorer, ids, 3)
    for moved, expected in zip(late, early):
        moved = _shifted(moved, torch.full((len(ids),), 87), bf16_scorer.rotary_inv_freq)
        assert moved.dtype == torch.bfloat16
        torch.testing.assert_close(moved.float(), expected.float(), rtol=0,
                                   atol=2 * _ulp(expected))


def test_bf16_in_place_cut_back_keeps_a_bf16_cache_scoring_like_a_recomputed_one(bf16_scorer):
    rotated = _stream_through_rebuild(bf16_scorer, rotate=True)
    recomputed = _stream_through_rebuild(bf16_scorer, rotate=False)
    assert rotated.dtype == np.float32 and np.isfinite(rotated).all()
    np.testing.assert_allclose(rotated, recomputed, atol=5e-3)


def test_bf16_exact_stream_scores_each_window_as_a_fresh_encoding(bf16_scorer):
    ids, prefix = _sequences()[2], _sequences()[1][:9]
    rng = np.random.default_rng(3)
    stream = bf16_scorer.stream(prefix)
    kept: list[int] = []
    # The fourth window passes the 128-token window: the context is cut back and recomputed.
    for start, end, share in ((0, 50, 0.5), (50, 90, 0.0), (90, 150, 1.0), (150, 210, 0.3)):
        chunk = ids[start:end]
        got = stream.score(chunk)
        room = bf16_scorer.window // 4 - 1
        context = kept if len(prefix) + len(kept) + len(chunk) + 1 <= bf16_scorer.window \
            else kept[-room:]
        np.testing.assert_allclose(got, _fresh(bf16_scorer, prefix + context, chunk), atol=5e-3)
        keep = rng.random(len(chunk)) < share
        stream.commit(keep)
        kept += [t for t, k in zip(chunk, keep) if k]
    for layer in stream.cache.layers:
        assert layer.keys.dtype == layer.values.dtype == torch.bfloat16


# ----------------------------------------------------------------------------- the contract


def _members(protocol) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")} | \
        set(getattr(protocol, "__annotations__", {}))


def test_local_and_remote_scorers_and_their_streams_fill_the_scorer_contract(scorer):
    from llmlingstral.scoring.protocol import CausalScoring, TokenStream
    from llmlingstral.scoring.remote import RemoteScorer, RemoteStream
    from llmlingstral.scoring.stream import ContrastiveStream

    scorer_members = _members(CausalScoring) | _members(CausalScoring.__mro__[1])
    assert scorer_members >= {"tokenizer", "window", "dtype", "sequence_surprisal", "stream",
                              "score_streams"}
    assert all(hasattr(scorer, name) for name in scorer_members)
    assert all(hasattr(RemoteScorer, name) for name in scorer_members - {"tokenizer", "window"})
    contrastive = ContrastiveStream(scorer.stream(), scorer.stream([5, 6]))
    for stream in (scorer.stream(), contrastive):
        assert all(hasattr(stream, name) for name in _members(TokenStream)), type(stream)
    assert all(hasattr(RemoteStream, name) for name in _members(TokenStream))


def test_a_stream_made_of_parts_is_batched_through_its_parts(scorer, monkeypatch):
    """A stream type the batch driver has never seen shares the forward pass of its parts."""
    from llmlingstral.execution.step_scores import score_together

    class Doubled:
        def __init__(self, inner):
            self.inner, self.chunk_limit, self.batch_scorer = inner, inner.chunk_limit, None

        def batch_parts(self):
            return [(self.inner, 2.0)]

        def score(self, ids):
            return 2.0 * self.inner.score(ids)

        def commit(self, keep):
            self.inner.commit(keep)

    calls = []
    real = CausalScorer.score_streams

    def counted(self, requests):
        calls.append(len(requests))
        return real(self, requests)

    monkeypatch.setattr(CausalScorer, "score_streams", counted)
    rng = np.random.default_rng(3)
    lone = [scorer.stream(), scorer.stream([7, 8])]
    paired = [Doubled(scorer.stream()), scorer.stream([7, 8])]
    for _ in range(3):
        chunks = [rng.integers(800, 32000, size=n).tolist() for n in (40, 25)]
        got = score_together(list(zip(paired, chunks)))
        expected = [2.0 * lone[0].score(chunks[0]), lone[1].score(chunks[1])]
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, atol=2e-4)
        for stream, other, chunk in zip(lone, paired, chunks):
            keep = rng.random(len(chunk)) < 0.5
            stream.commit(keep)
            other.commit(keep)
    assert calls == [2, 2, 2]  # both streams' chunks went to the scorer together
