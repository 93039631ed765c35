"""validate.py: numbers that cannot work get a clear error naming the parameter."""

from __future__ import annotations

import pytest

from llmlingstral.validate import check_rate, check_target


@pytest.mark.parametrize("check", [check_target, check_rate])
def test_a_number_too_large_for_a_float_is_a_clear_error(check):
    with pytest.raises(ValueError, match="target_token is far too large .* 400 digits"):
        check("target_token", int("9" * 400))
