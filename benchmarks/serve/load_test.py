"""Load test of ``llmlingstral serve`` on the loopback interface.

Starts the service in a subprocess on 127.0.0.1 with the embedded models, then, for each
mode (micro-batching on, then off):

1. load: ``--clients`` concurrent clients send ``/v1/compress`` requests back to back for
   ``--duration`` seconds (each client waits for its answer before sending again);
2. soak (batching on only): the same load for ``--soak`` seconds while the service's
   resident memory is sampled every second.

Prints throughput, p50/p95/p99 latency, errors, and memory over the soak. All traffic goes
to 127.0.0.1; every phase is bounded in time and in requests (``--max-requests``).

    python benchmarks/serve/load_test.py                       # LLMLingua-2, 16 clients
    python benchmarks/serve/load_test.py --method llmlingua --clients 4 --soak 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import markdown_table, prose  # noqa: E402
from _service import launch, stop  # noqa: E402


@dataclass
class PhaseResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    memory: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def prompts(count: int, chars: int) -> list[str]:
    """``count`` different prompts of about ``chars`` characters, cut at words."""
    text = prose(count * chars + chars)
    result = []
    for i in range(count):
        piece = text[i * chars:(i + 1) * chars]
        result.append(piece[piece.find(" ") + 1:piece.rfind(" ")])
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(port: int, batching: bool, args) -> subprocess.Popen:
    command = [sys.executable, "-m", "llmlingstral.cli", "serve", "--port", str(port),
               "--device", "cpu", "--log-level", "warning", "--max-queue", "1024",
               "--max-batch-size", str(args.max_batch_size),
               "--batch-window-ms", str(args.batch_window_ms)]
    command += ["--model", "none"] if args.method == "llmlingua2" else \
        ["--llmlingua2-model", "none"]
    if not batching:
        command.append("--no-batching")
    return launch(command, f"http://127.0.0.1:{port}")


async def run_phase(url: str, bodies: list[dict], clients: int, seconds: float,
                    max_requests: int, pid: int | None = None) -> PhaseResult:
    result = PhaseResult(seconds)
    deadline = time.perf_counter() + seconds
    sent = 0

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        k = index
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            started = time.perf_counter()
            try:
                response = await http.post("/v1/compress", json=bodies[k % len(bodies)])
                if response.status_code == 200:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    key = str(response.status_code)
                    result.errors[key] = result.errors.get(key, 0) + 1
            except httpx.HTTPError as error:
                key = type(error).__name__
                result.errors[key] = result.errors.get(key, 0) + 1
            k += clients

    async def sample_memory() -> None:
        process, start = psutil.Process(pid), time.perf_counter()
        while time.perf_counter() < deadline:
            result.memory.append((time.perf_counter() - start,
                                  process.memory_info().rss / 2 ** 20))
            await asyncio.sleep(1.0)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        tasks = [client(i, http) for i in range(clients)]
        if pid is not None:
            tasks.append(sample_memory())
        await asyncio.gather(*tasks)
    return result


def measure_mode(batching: bool, bodies: list[dict], args) -> dict[str, PhaseResult]:
    port = free_port()
    process = start_service(port, batching, args)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(run_phase(url, bodies, args.clients, 3.0, 200))  # warm up
        phases = {"load": asyncio.run(run_phase(url, bodies, args.clients, args.duration,
                                                args.max_requests))}
        if batching and args.soak > 0:
            phases["soak"] = asyncio.run(run_phase(url, bodies, args.clients, args.soak,
                                                   args.max_requests, pid=process.pid))
        return phases
    finally:
        stop(process)


def report(results: dict[str, dict[str, PhaseResult]], args) -> None:
    print(f"\n{args.method}, {args.clients} concurrent clients, prompts of ~{args.chars} "
          f"characters, rate {args.rate}, {os.cpu_count()} CPUs\n")
    rows = []
    for mode, phases in results.items():
        for name, phase in phases.items():
            rows.append([mode, name, f"{phase.seconds:.0f}", phase.ok,
                         f"{phase.ok / phase.seconds:.1f}", f"{phase.percentile(0.5):.0f}",
                         f"{phase.percentile(0.95):.0f}", f"{phase.percentile(0.99):.0f}",
                         sum(phase.errors.values()) or 0])
    print(markdown_table(["mode", "phase", "s", "requests", "req/s", "p50 ms", "p95 ms",
                          "p99 ms", "errors"], rows))
    on = results.get("batching on", {}).get("load")
    off = results.get("batching off", {}).get("load")
    if on and off and off.ok:
        ratio = on.ok / on.seconds / (off.ok / off.seconds)
        print(f"\nthroughput, batching on / off: {ratio:.2f}x")
    soak = results.get("batching on", {}).get("soak")
    if soak and soak.memory:
        memory_table(soak.memory)


def memory_table(samples: list[tuple[float, float]], windows: int = 8) -> None:
    """Resident memory in ``windows`` equal spans of the soak: min, mean and max."""
    length = samples[-1][0] / windows or 1.0
    rows = []
    for k in range(windows):
        inside = [m for t, m in samples if k * length <= t < (k + 1) * length
                  or (k == windows - 1 and t >= k * length)]
        if inside:
            rows.append([f"{k * length:.0f}-{(k + 1) * length:.0f}", f"{min(inside):.1f}",
                         f"{statistics.mean(inside):.1f}", f"{max(inside):.1f}"])
    print("\nresident memory of the service during the soak (MiB, sampled every second)\n")
    print(markdown_table(["t (s)", "min", "mean", "max"], rows))
    half = len(samples) // 2
    first = max(m for _, m in samples[:half] or samples)
    second = max(m for _, m in samples[half:])
    print(f"\nmax RSS, second half minus first half: {second - first:+.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("llmlingua2", "llmlingua"), default="llmlingua2")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per mode")
    parser.add_argument("--soak", type=float, default=120.0, help="seconds of soak (batching on)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap per phase")
    parser.add_argument("--chars", type=int, default=1200, help="characters per prompt")
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--batch-window-ms", type=float, default=5.0)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--modes", default="on,off", help="batching modes to run: on,off")
    args = parser.parse_args()
    bodies = [{"method": args.method, "context": p, "rate": args.rate}
              for p in prompts(64, args.chars)]
    results = {}
    for mode in args.modes.split(","):
        results[f"batching {mode}"] = measure_mode(mode == "on", bodies, args)
    report(results, args)


if __name__ == "__main__":
    main()
