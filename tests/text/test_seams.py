"""Seams between kept pieces: nothing dropped may glue two pieces into a new word or number."""

import pytest

from llmlingstral.text.protect import DEFAULT_PROTECTION, Protection, resolve_protection
from llmlingstral.text.seams import join_pieces, seam


@pytest.mark.parametrize("left, right", [
    ("100", "200"), ("Python", "Java"), ("2024年9", "12"), ("Python", "3"), ("v2", "beta"),
    ("１２", "３"), ("Москва", "Париж"), ("एक", "दो"), ("서울", "부산"), ("一百", "二十"),
    ("3", "十"), ("e\u0301", "x"), ("snake_", "case"), ("٣", "٤"),
])
def test_pieces_that_would_read_as_one_get_a_space(left, right):
    assert seam(left, right) == " "


@pytest.mark.parametrize("left, right", [
    ("会议", "开始"), ("京都の", "祭り"), ("ราคา", "สูง"), ("word.", "Next"), ("end ", "x"),
    ("x", " y"), ("価格", "100"), ("100", "元"), ("", "x"), ("x", ""), ("(", "1"),
])
def test_pieces_that_read_as_the_input_did_join_directly(left, right):
    assert seam(left, right) == ""


def test_join_pieces_puts_seams_only_where_text_was_dropped():
    assert join_pieces(["价格是100", "200元。"], [True]) == "价格是100 200元。"
    assert join_pieces(["价格是100", "200元。"], [False]) == "价格是100200元。"
    assert join_pieces(["用Python", "", "Java开发"], [True, True]) == "用Python Java开发"
    assert join_pieces([], []) == ""
    with pytest.raises(ValueError, match="gaps"):
        join_pieces(["a", "b"], [])


def test_resolve_protection_merges_llmlingua_options():
    assert resolve_protection(True) is DEFAULT_PROTECTION
    off = resolve_protection(False, ["@"], True)
    assert off.classes == () and off.force_tokens == ("@",) and off.force_reserve_digit
    mine = resolve_protection(Protection(force_tokens=("x",)).only("numbers"), ["y", "x"])
    assert mine.classes == ("numbers",) and mine.force_tokens == ("x", "y")
    with pytest.raises(TypeError, match="protect must be"):
        resolve_protection("yes")
    with pytest.raises(TypeError, match="force_reserve_digit"):
        resolve_protection(True, (), "no")
