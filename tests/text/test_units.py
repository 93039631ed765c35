"""Units of text and the pieces that own each token (text/units.py)."""

from __future__ import annotations

import numpy as np

from llmlingstral.text.units import owner_of_tokens


def test_owner_of_tokens_maps_tokens_to_pieces():
    starts = np.array([0, 5, 9])
    assert owner_of_tokens(starts, np.array([0, 2, 5, 8, 9, 20])).tolist() == [0, 0, 1, 1, 2, 2]
    assert owner_of_tokens(np.zeros(0, dtype=np.int64), np.array([0, 1])).tolist() == [0, 0]
