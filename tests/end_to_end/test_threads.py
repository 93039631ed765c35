"""The same calls from several threads at once give what they give one after another."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from texts import documents

THREADS = 4


def _calls(question: str) -> list[dict]:
    """Different prompts and settings, so threads interleave different work."""
    docs = documents(4, 500)
    return [{"context": docs, "rate": 0.4},
            {"context": docs[:2], "rate": 0.6, "question": question},
            {"context": docs[1], "target_token": 60},
            {"context": docs[2:], "rate": 0.3, "question": question}]


@pytest.mark.parametrize("fixture", ["nano", "nano_lingua2"])
def test_concurrent_calls_match_sequential_calls(request, fixture):
    compressor = request.getfixturevalue(fixture)
    calls = _calls("What does the module do?") * 2
    expected = [compressor.compress_prompt(**call) for call in calls]
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(2):
            results = list(pool.map(lambda call: compressor.compress_prompt(**call), calls))
            for call, result, alone in zip(calls, results, expected):
                assert result == alone, call
