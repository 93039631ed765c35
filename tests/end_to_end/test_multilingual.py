"""Every method on paragraphs in fifteen languages, six of them written without spaces.

Each output must be non-empty, deletion-only (a subsequence of the input, character by
character) and within 10 % of the requested rate, in every script as in English.
"""

from __future__ import annotations

import pytest

from llmlingstral import PromptCompressor, SecurityLingua
from multilingual import PARAGRAPHS, UNSPACED

RATES = (0.3, 0.5)
QUESTION = "When does the boat race start?"
LANGUAGES = sorted(PARAGRAPHS)


@pytest.fixture(scope="module")
def nano():
    return PromptCompressor("nano", device_map="cpu")


@pytest.fixture(scope="module")
def lingua2():
    return PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)


def is_deletion_of(output: str, source: str) -> bool:
    """Whether ``output`` is ``source`` with characters deleted."""
    remaining = iter(source)
    return all(char in remaining for char in output)


def assert_compressed(result: dict, source: str, rate: float) -> None:
    output = result["compressed_prompt"]
    assert output.strip(), "empty output"
    assert is_deletion_of(output, source), output
    achieved = result["compressed_tokens"] / result["origin_tokens"]
    assert abs(achieved - rate) <= 0.1 * rate, (achieved, rate, output)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_llmlingua(nano, language, rate):
    text = PARAGRAPHS[language]
    assert_compressed(nano.compress_prompt(text, rate=rate), text, rate)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_longllmlingua(nano, language, rate):
    text = PARAGRAPHS[language]
    result = nano.compress_prompt([text], question=QUESTION, rate=rate,
                                  rank_method="longllmlingua", condition_in_question="after")
    assert_compressed(result, f"{text}\n\n{QUESTION}", rate)
    assert result["compressed_prompt"].endswith(QUESTION)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_llmlingua2(lingua2, language, rate):
    text = PARAGRAPHS[language]
    assert_compressed(lingua2.compress_prompt_llmlingua2(text, rate=rate), text, rate)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_structured_prompt(nano, lingua2, language, rate):
    text = PARAGRAPHS[language]
    tagged = f"<llmlingua, rate={rate}>{text}</llmlingua>"
    for compressor in (nano, lingua2):
        assert_compressed(compressor.structured_compress_prompt(tagged, rate=rate), text, rate)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_security_intent_within_a_token_cap(lingua2, language, rate):
    text = PARAGRAPHS[language]
    origin = lingua2.tokenizer.count(text)
    guard = SecurityLingua(lingua2.classifier, threshold=0.0, max_intent_tokens=round(rate * origin))
    found = guard.extract_intent(text)
    assert_compressed({"compressed_prompt": found.intent, "origin_tokens": origin,
                       "compressed_tokens": found.intent_tokens}, text, rate)


@pytest.mark.parametrize("rate", RATES)
def test_multi_document_longllmlingua_across_languages(nano, rate):
    documents = [PARAGRAPHS[language] for language in ("en", "zh", "ja", "th", "ar", "hi", "ko")]
    result = nano.compress_prompt(documents, question=QUESTION, rate=rate,
                                  rank_method="longllmlingua", condition_in_question="after",
                                  dynamic_context_compression_ratio=0.3)
    assert_compressed(result, "\n\n".join([*documents, QUESTION]), rate)


@pytest.mark.parametrize("language", UNSPACED)
def test_unspaced_text_is_never_dropped_whole(nano, lingua2, language):
    text = PARAGRAPHS[language]
    for rate in (0.1, 0.9):
        for result in (nano.compress_prompt(text, rate=rate),
                       lingua2.compress_prompt_llmlingua2(text, rate=rate)):
            assert result["compressed_prompt"].strip()
            assert is_deletion_of(result["compressed_prompt"], text)
