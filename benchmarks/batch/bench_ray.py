"""Ray Data: compressing a dataset of short documents with 1 and 2 actors (``nano``).

``compress_dataset`` over ``--documents`` short documents (the test's documents: windows of
standard-library docstring prose, 12 to 31 words, some with text in other scripts), on a
local Ray cluster of ``--cpus`` CPUs, one CPU per actor. Each run builds the actor pool
(each actor loads ``nano`` once) and compresses every row; the table gives the wall time of
the whole run and documents per second. The in-process batch API on the same documents is
the reference.

    python benchmarks/batch/bench_ray.py          # needs pip install 'llmlingstral[ray]'
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

from _common import machine, markdown_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import ray

    from llmlingstral import PromptCompressor
    from llmlingstral.integrations.ray import compress_dataset
    from test_ray import _documents

    docs = _documents(args.documents)
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    local = PromptCompressor("nano", device_map="cpu")

    def run_ray(actors: int):
        dataset = ray.data.from_items([{"text": d} for d in docs], override_num_blocks=8)
        return compress_dataset(dataset, "nano", concurrency=actors, num_cpus=1,
                                batch_size=25, compressor_options={"device_map": "cpu"},
                                rate=0.5).take_all()

    sides = {"batch API, in-process": lambda: local.compress_prompts(docs, rate=0.5,
                                                                     show_progress=False),
             "Ray Data, 1 actor": lambda: run_ray(1), "Ray Data, 2 actors": lambda: run_ray(2)}
    times = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, run in sides.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    ray.shutdown()
    one = statistics.median(times["Ray Data, 1 actor"])
    rows = []
    for name in sides:
        seconds = statistics.median(times[name])
        rows.append([name, args.documents, f"{seconds:.1f}", f"{args.documents / seconds:.1f}",
                     f"{one / seconds:.2f}x" if name.startswith("Ray") else "-"])
    print(f"machine: {machine()}, Ray cluster of {args.cpus} CPUs\n")
    print(markdown_table(["run", "documents", "wall s (median)", "documents/s",
                          "vs 1 actor"], rows))


if __name__ == "__main__":
    main()
