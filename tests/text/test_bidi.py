"""Bidirectional controls: pairs are found as the Unicode bidi algorithm closes them, and a
selection of ranges keeps or drops each pair together."""

from __future__ import annotations

from llmlingstral.text.bidi import balanced, balanced_pieces, matched_pairs

RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI = ("\u202b", "\u202c", "\u202d", "\u202e",
                                          "\u2066", "\u2067", "\u2068", "\u2069")


def cut(text, ranges):
    return "".join(text[a:b] for a, b in ranges)


def test_pairs_follow_the_bidi_algorithm():
    text = f"a{RLO}b{LRI}c{PDF}d{PDI}e{PDF}"
    # The PDF inside the isolate cannot close the override outside it.
    assert matched_pairs(text) == [(1, 9), (3, 7)]
    # A PDI closes the embeddings opened inside its isolate, which stay unmatched.
    assert matched_pairs(f"{FSI}{RLE}x{PDI}{PDF}") == [(0, 3)]
    # A paragraph end closes everything: nothing after it pairs with what came before.
    assert matched_pairs(f"{RLO}x\ny{PDF}") == []
    assert matched_pairs("no controls at all") == []


def test_a_pair_is_kept_with_the_text_between_its_controls():
    text = f"x = 1  # {RLO}تحقق{PDF} end"
    opener, closer = text.index(RLO), text.index(PDF)
    # The opener kept with the Arabic word, the closer dropped: the closer comes back.
    kept = balanced(text, [(0, closer)])
    assert cut(text, kept) == f"x = 1  # {RLO}تحقق{PDF}"
    # The opener kept alone: nothing between the controls is kept, so the opener goes.
    kept = balanced(text, [(0, opener + 1), (closer + 1, len(text))])
    assert cut(text, kept) == "x = 1  #  end"
    # Hebrew inside an isolate, both controls dropped but the word kept: both come back.
    text = f"print({RLI}שלום{PDI})"
    kept = balanced(text, [(0, 6), (7, 11), (12, 13)])
    assert cut(text, kept) == text


def test_unpaired_controls_are_left_alone():
    text = f"{RLO}abc def"
    assert balanced(text, [(0, 4)]) == [(0, 4)]
    assert balanced(text, [(1, 4)]) == [(1, 4)]


def test_pieces_keep_their_order_and_stand_in_spaces():
    text = f"{RLI}مرحبا{PDI} world"
    pieces = [(1, 6), " ", (8, 13)]
    assert balanced_pieces(text, pieces) == [(0, 1), (1, 6), (6, 7), " ", (8, 13)]
    assert balanced_pieces(text, [(0, 1), " ", (8, 13)]) == [" ", (8, 13)]
    assert balanced_pieces("plain", [(0, 5)]) == [(0, 5)]
