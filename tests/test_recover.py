"""recover(): responses quoting a compressed prompt are expanded to the original text."""

from __future__ import annotations

import random

import pytest

from llmlingstral import recover
from texts import stdlib_prose

ORIGINAL = ("The capital of France is Paris, a city on the Seine. "
            "The capital of Italy is Rome, built on seven hills.")
COMPRESSED = "capital France Paris, city Seine. capital Italy Rome, seven hills."


def test_quoted_runs_expand_to_the_original_span():
    response = "From the notes: capital France Paris. Also capital Italy Rome!"
    assert recover(ORIGINAL, COMPRESSED, response) == (
        "From the notes: capital of France is Paris. Also capital of Italy is Rome!")


def test_case_and_surrounding_punctuation_of_the_response_are_kept():
    assert recover(ORIGINAL, COMPRESSED, "(CAPITAL FRANCE PARIS)") == \
        "(capital of France is Paris)"
    assert recover(ORIGINAL, COMPRESSED, "Paris") == "Paris"  # nothing dropped there


def test_the_occurrence_that_fits_the_compressed_prompt_is_chosen():
    original = "alpha beta gamma delta. alpha epsilon zeta. alpha theta eta."
    compressed = "alpha zeta. alpha eta."
    # Each quote maps to the shortest window inside the bounds the alignment allows.
    assert recover(original, compressed, "alpha zeta.") == "alpha epsilon zeta."
    assert recover(original, compressed, "so: alpha eta") == "so: alpha theta eta"


@pytest.mark.parametrize("original,compressed,response", [
    ("", "", ""), (ORIGINAL, COMPRESSED, ""), ("", COMPRESSED, "capital France"),
    (ORIGINAL, "", "capital France"), (ORIGINAL, COMPRESSED, "nothing in common here"),
    (ORIGINAL, "words never in the original", "never in the original"),
    ("   ", "  ", "  \n "),
])
def test_empty_or_unmatched_input_comes_back_unchanged(original, compressed, response):
    assert recover(original, compressed, response) == response


def test_non_string_input_is_a_type_error():
    with pytest.raises(TypeError, match="response"):
        recover(ORIGINAL, COMPRESSED, None)


def test_text_without_spaces_is_matched_per_character():
    assert recover("我们今天去北京了，然后回家。", "我们北京回家", "他说我们北京") == "他说我们今天去北京"


def test_quotes_of_a_real_compression_map_back_to_original_spans(compressor):
    original = stdlib_prose(1500)
    compressed = compressor.compress_prompt(original, rate=0.4)["compressed_prompt"]
    quoted_words = compressed.split()
    rng = random.Random(0)
    for _ in range(5):
        start = rng.randrange(len(quoted_words) - 6)
        quote = " ".join(quoted_words[start:start + 6])
        recovered = compressor.recover(original, compressed, f"Answer: {quote}")
        assert recovered.startswith("Answer: ")
        span = recovered[len("Answer: "):]
        assert span in original  # a contiguous piece of the original
        assert len(span.split()) >= 6
