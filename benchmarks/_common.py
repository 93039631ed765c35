"""Shared pieces of the benchmark scripts: prompt text, timing and peak memory."""

from __future__ import annotations

import inspect
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
import platform
import resource
import statistics
import time
from typing import Any, Callable

_MODULES = ("argparse", "collections", "functools", "itertools", "json", "logging", "pathlib",
            "re", "string", "textwrap", "typing", "unittest", "datetime", "decimal", "heapq",
            "email", "http", "urllib", "xml", "csv", "sqlite3", "zipfile", "tarfile", "shutil",
            "subprocess", "threading", "asyncio", "socket", "ssl", "inspect", "ast", "dis")


def prose(min_chars: int) -> str:
    """English technical prose from standard-library docstrings, repeated if needed."""
    paragraphs: list[str] = []
    seen: set[str] = set()
    for name in _MODULES:
        module = __import__(name)
        for obj in [module, *(getattr(module, a, None) for a in sorted(dir(module)))]:
            doc = inspect.getdoc(obj) if obj is not None else None
            if doc and len(doc) > 200 and doc not in seen:
                seen.add(doc)
                paragraphs.append(doc)
    text = "\n\n".join(paragraphs)
    while len(text) < min_chars:
        text = text + "\n\n" + text
    return text


def prompt_of_tokens(tokenizer, n_tokens: int) -> str:
    """A prompt of about ``n_tokens`` Mistral tokens, cut at a word boundary."""
    text = prose(n_tokens * 6)
    encoding = tokenizer.encode_with_offsets(text)
    ids, offsets = encoding.ids, encoding.offsets
    end = offsets[min(n_tokens, len(ids)) - 1][1]
    cut = text.rfind(" ", 0, end)
    return text[: cut if cut > 0 else end]


def alternating_medians(calls: dict[str, Callable[[], Any]],
                        repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median wall time of each call and its last result.

    Each call runs once to warm up, then the calls take turns ``repeats`` times, so that
    a slow spell of a shared machine falls on all of them alike.
    """
    for fn in calls.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, results


def rss_growth_mb(compressor, n_tokens: int, what: str, floor_call: Callable,
                  compress_call: Callable, rate: float) -> float:
    """Peak RSS growth (MiB) of one floor (``what="floor"``) or compression run.

    A 64-token prompt goes through both first, so the growth is that of the long prompt
    alone, not of lazily built buffers.
    """
    small = prompt_of_tokens(compressor.tokenizer, 64)
    compress_call(compressor, small, "rate", rate)()
    floor_call(compressor, small)()
    baseline = peak_rss_mb()
    prompt = prompt_of_tokens(compressor.tokenizer, n_tokens)
    run = floor_call(compressor, prompt) if what == "floor" else \
        compress_call(compressor, prompt, "rate", rate)
    run()
    return peak_rss_mb() - baseline


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_subprocess(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a fresh process, so its peak memory is its own."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def dtype_label(requested: str, ran: str | None) -> str:
    """The dtype a run computed in, marked when "auto" chose it."""
    return f"{ran} (auto)" if requested == "auto" else str(ran)


def machine() -> str:
    import torch

    from llmlingstral.models.precision import cpu_has_native_bf16

    cpu = _cpu_model() or platform.processor() or platform.machine()
    bf16 = "native bf16 (AVX-512 BF16 or AMX)" if cpu_has_native_bf16() else "no native bf16"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.system()} {cpu} ({bf16}), {torch.get_num_threads()} torch threads, "
            f"{device}, Python {platform.python_version()}, torch {torch.__version__}")


def _cpu_model() -> str | None:
    """The CPU's model name as Linux reports it (None elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
