"""Surprisal from the causal scorer equals what a plain forward pass gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmlingstral import load_model
from llmlingstral.scoring.causal import CausalScorer


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


def test_stream_scores_match_plain_forward_until_something_is_dropped(scorer):
    ids = _sequences()[2]
    stream = scorer.stream()
    first = stream.score(ids[:150])
    stream.commit(np.ones(150, dtype=bool))
    second = stream.score(ids[150:])
    np.testing.assert_allclose(np.concatenate([first, second]), _reference(scorer, ids),
                               atol=2e-4)
