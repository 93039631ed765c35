"""Shared fixtures: tiny replicas of each Mistral architecture, saved and loaded for real."""

from __future__ import annotations

import os

import pytest
import torch

import replicas

# Under pytest-xdist each worker has a core of its own; more threads per worker oversubscribe
# the CPU, and torch's thread pools then spin instead of working.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(scope="session")
def v03_dir(tmp_path_factory):
    """Mistral-7B-v0.3 shape, tied head, 1024-token window."""
    return replicas.mistral_v03(tmp_path_factory.mktemp("v03"), max_position=1024)


@pytest.fixture(scope="session")
def v03_untied_dir(tmp_path_factory):
    return replicas.mistral_v03(tmp_path_factory.mktemp("v03_untied"), tie=False, seed=1)


@pytest.fixture(scope="session")
def vlm_dir(tmp_path_factory):
    """Ministral 3 in the Mistral 3 vision-language layout."""
    return replicas.ministral3_vlm(tmp_path_factory.mktemp("ministral3"))


@pytest.fixture(scope="session")
def fp8_dir(vlm_dir, tmp_path_factory):
    return replicas.quantize_fp8(vlm_dir, tmp_path_factory.mktemp("ministral3_fp8"))


@pytest.fixture(scope="session")
def compressor(v03_dir):
    from llmlingstral import PromptCompressor

    return PromptCompressor(str(v03_dir), device_map="cpu")


@pytest.fixture(scope="session")
def nano():
    """The embedded offline scorer, as a user gets it."""
    from llmlingstral import PromptCompressor

    return PromptCompressor("nano", device_map="cpu")


@pytest.fixture(scope="session")
def nano_lingua2():
    """The embedded offline LLMLingua-2 classifier."""
    from llmlingstral import PromptCompressor

    return PromptCompressor("nano-lingua2", device_map="cpu", use_llmlingua2=True)
