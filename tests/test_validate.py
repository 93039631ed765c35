

def test_a_number_too_large_for_a_float_is_a_clear_error():
    from llmlingstral.validate import check_rate, check_target

    for check in (check_target, check_rate):
        with pytest.raises(ValueError, match="far too large .* 400 digits"):
            check("target_token", int("9" * 400))
