"""The remote scorer's overhead, on a loopback vLLM-compatible server computing with nano.

Three ways to compress the same prompts with LLMLingua (``nano``, rate 0.5):

* local: the default scorer, a KV cache of the kept tokens edited in place;
* in-process: the remote scorer's algorithm (each window sent with the kept text before
  it) with the model called directly, no HTTP;
* remote: the same through HTTP and JSON to the loopback server of the tests
  (``tests/vllm_loopback.py``, vLLM's response schema, in a thread of this process).

remote / in-process is the cost of HTTP and JSON; in-process / local is the cost of
re-sending the kept text, which a vLLM server with prefix caching mostly avoids and this
loopback server (which recomputes every prompt) does not. Alternating runs, medians.

    python benchmarks/batch/bench_remote.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from _common import machine, markdown_table, prompt_of_tokens  # noqa: E402
from vllm_loopback import LocalPromptLogprobs, VLLMLoopback  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from llmlingstral import PromptCompressor, load_model

    nano = load_model("nano", device_map="cpu")
    source = LocalPromptLogprobs(nano.model)
    local = PromptCompressor("nano", device_map="cpu")
    in_process = PromptCompressor("nano", model_config={"remote_scorer": {
        "client": source, "max_window": 1023}})
    rows = []
    with VLLMLoopback(source, nano.tokenizer, "nano", max_model_len=1024) as server:
        remote = PromptCompressor("nano", model_config={"remote_scorer": {
            "base_url": f"{server.url}/v1", "model": "nano"}})
        for tokens in args.tokens:
            prompt = prompt_of_tokens(local.tokenizer, tokens)
            sides = {"local": local, "in-process": in_process, "remote": remote}
            times = {name: [] for name in sides}
            requests_before = len(server.requests)
            for compressor in sides.values():
                compressor.compress_prompt(prompt, rate=0.5)  # warm-up
            for _ in range(args.repeats):
                for name, compressor in sides.items():
                    start = time.perf_counter()
                    compressor.compress_prompt(prompt, rate=0.5)
                    times[name].append(time.perf_counter() - start)
            calls = (len(server.requests) - requests_before) / (args.repeats + 1)
            local_s, process_s, remote_s = (statistics.median(times[k]) for k in sides)
            rows.append([tokens, f"{local_s:.3f}", f"{process_s:.3f}", f"{remote_s:.3f}",
                         f"{calls:.0f}", f"**{remote_s / process_s:.2f}x**",
                         f"{process_s / local_s:.2f}x"])
    print(f"machine: {machine()}\n")
    print(markdown_table(["prompt tokens", "local s", "in-process s", "remote (HTTP) s",
                          "requests per prompt", "remote / in-process (HTTP + JSON)",
                          "in-process / local (re-sending)"], rows))


if __name__ == "__main__":
    main()
