"""Honest clients beside hostile and clumsy ones: does any attack slow the honest traffic?

Starts ``llmlingstral serve`` in a subprocess on 127.0.0.1 with the embedded models (and a
small OpenAI-compatible upstream on 127.0.0.1 for the chat proxy), then runs one phase per
attack: ``--clients`` honest clients send LLMLingua-2 ``/v1/compress`` requests back to back
for ``--duration`` seconds while the attack runs beside them and a prober times
``/healthz`` every 100 ms. The first phase has no attack (the clean run). Before each
phase, the run waits (at most ``--settle`` seconds) until the service's queue is empty, so
that work one attack left behind (abandoned jobs, say) does not slow the next phase.

The attack runs in a process of its own, its request bodies encoded once: what the attacker
spends making its requests (encoding megabytes of JSON, tending hundreds of sockets) never
stalls the event loop that times the honest clients and ``/healthz``.

Prints, per phase, the honest throughput and p95 latency (and their ratio to the clean
run), the slowest ``/healthz`` answer, what the attack's requests got, and how long the
queue took to empty before the phase ("busy": not within ``--settle``). Every phase is
bounded in time; all traffic goes to 127.0.0.1.

    python benchmarks/serve/hostile.py                       # 16 honest clients, 20 s each
    python benchmarks/serve/hostile.py --clients 4 --duration 8 --attacks ranker,slowloris
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import markdown_table, prose  # noqa: E402
from _service import launch, stop  # noqa: E402
from load_test import free_port, prompts, run_phase  # noqa: E402

HOST = "127.0.0.1"
SCRIPTS = ["委员会批准了北方铁路线的新预算。", "委員会は北部鉄道線の新しい予算を承認した。",
           "คณะกรรมการอนุมัติงบประมาณใหม่", "وافقت اللجنة على الميزانية الجديدة."]


class _Upstream(BaseHTTPRequestHandler):
    """Answers every chat completion with "ok" (the proxy's upstream)."""

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop", "message": {
                               "role": "assistant", "content": "ok"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def start_service(port: int, upstream_url: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "llmlingstral.cli", "serve", "--host", HOST,
               "--port", str(port), "--device", "cpu", "--log-level", "error",
               "--upstream", "openai", "--upstream-url", upstream_url,
               "--max-body-bytes", "5000000", "--timeout", "10", "--max-connections", "256",
               "--header-timeout", "2"]
    return launch(command, f"http://{HOST}:{port}")


# --------------------------------------------------------------------------- attacks


def _chat(messages: list[dict]) -> dict:
    return {"model": "m", "messages": messages}


def attack_requests() -> dict[str, tuple[float, dict]]:
    """Attack name -> (seconds between requests, the request: path, body or raw content)."""
    big = (prose(60_000) + "\n".join(SCRIPTS)) * 60
    return {
        "ranker": (0.1, {"json": {"method": "longllmlingua", "context": ["a b", "c d"],
                                  "question": "q", "rank_method": "mistral-embed"}}),
        "chat-count": (0.0, {"path": "/v1/chat/completions", "json": _chat(
            [{"role": "user", "content": big[:3_500_000], "compress": False}])}),
        "invalid": (0.1, {"json": {"method": "llmlingua2", "context": "x y z", "rate": 2}}),
        "abandoned": (0.0, {"json": {"method": "llmlingua2", "rate": 0.5, "context": [
            big[i:i + 8000] for i in range(0, 400_000, 8000)]}, "give_up_s": 1.0}),
        "queue-share": (0.0, {"path": "/v1/chat/completions", "json": _chat([{
            "role": "user", "compress": True,
            "content": [{"type": "text", "text": big[i:i + 2000]} for i in range(0, 128_000,
                                                                                  2000)]}])}),
        "cross-site": (0.1, {"path": "/v1/chat/completions", "content": json.dumps(_chat(
            [{"role": "user", "content": "hi"}])), "headers": {
            "Host": "rebind.attacker.example", "Content-Type": "text/plain"}}),
        "deep-json": (0.1, {"content": '{"context": ' + "[" * 10_000 + "]" * 10_000 + "}",
                            "headers": {"Content-Type": "application/json"}}),
    }


async def request_loop(url: str, pause: float, spec: dict, deadline: float,
                       seen: Counter) -> None:
    content, headers = spec.get("content"), dict(spec.get("headers") or {})
    if content is None:  # encoded once, as httpx would: the attacker's CPU is not measured
        content = json.dumps(spec["json"], ensure_ascii=False, separators=(",", ":"))
        headers.setdefault("Content-Type", "application/json")
    content = content.encode() if isinstance(content, str) else content
    async with httpx.AsyncClient(base_url=url, timeout=spec.get("give_up_s", 60)) as http:
        while time.perf_counter() < deadline:
            try:
                reply = await http.post(spec.get("path", "/v1/compress"),
                                        content=content, headers=headers)
                seen[str(reply.status_code)] += 1
            except httpx.HTTPError as error:
                seen[type(error).__name__] += 1
            await asyncio.sleep(pause)


async def slowloris(port: int, deadline: float, seen: Counter, connections: int) -> None:
    """Keeps ``connections`` connections sending a request head that never ends."""
    async def one() -> None:
        while time.perf_counter() < deadline:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                await writer.drain()
                while time.perf_counter() < deadline and not reader.at_eof():
                    writer.write(b"a")
                    await asyncio.wait_for(reader.read(1), 0.5)
                seen["closed by the service"] += 1
                writer.close()
            except (TimeoutError, asyncio.TimeoutError):
                continue
            except OSError as error:
                seen[type(error).__name__] += 1
                await asyncio.sleep(0.1)

    await asyncio.gather(*(one() for _ in range(connections)))


async def probe_healthz(url: str, deadline: float, worst: list[float]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await http.get("/healthz")
                worst.append(time.perf_counter() - started)
            except httpx.HTTPError:
                worst.append(float("inf"))
            await asyncio.sleep(0.1)


def wait_until_idle(url: str, limit_s: float) -> float | None:
    """Seconds until the service's queue is empty (no job waits or runs; read from
    ``/metrics``), so that one phase's leftover work does not run into the next; None if it
    is still busy after ``limit_s``."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
        depth = re.search(r"^llmlingstral_queue_depth (\S+)$", metrics, re.M)
        if depth is None:
            raise RuntimeError("/metrics has no llmlingstral_queue_depth")
        if float(depth.group(1)) == 0:
            return time.perf_counter() - started
        time.sleep(0.1)
    return None


def run_attack(attack: str, url: str, port: int, deadline: float, connections: int,
               results: multiprocessing.Queue) -> None:
    """One attack until ``deadline`` (``time.perf_counter``, the same clock in every
    process), in a process of its own; what its requests got goes to ``results``."""
    seen = Counter()
    if attack == "slowloris":
        asyncio.run(slowloris(port, deadline, seen, connections))
    else:
        pause, spec = attack_requests()[attack]
        asyncio.run(request_loop(url, pause, spec, deadline, seen))
    results.put(dict(seen))


async def phase(url: str, port: int, attack: str | None, bodies: list[dict], args):
    deadline = time.perf_counter() + args.duration
    health = []
    attacker, results = None, multiprocessing.get_context("fork").Queue()
    if attack is not None:
        attacker = multiprocessing.get_context("fork").Process(
            target=run_attack, args=(attack, url, port, deadline, args.slowloris, results))
        attacker.start()
    honest, _ = await asyncio.gather(
        run_phase(url, bodies, args.clients, args.duration, args.max_requests),
        probe_healthz(url, deadline, health))
    seen = Counter()
    if attacker is not None:
        seen.update(await asyncio.to_thread(results.get, timeout=120))
        attacker.join()
    return honest, max(health or [0.0]), seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap per phase")
    parser.add_argument("--slowloris", type=int, default=200, help="slowloris connections")
    parser.add_argument("--settle", type=float, default=60.0, help="at most this many "
                        "seconds to wait, before each phase, for the queue to empty")
    parser.add_argument("--attacks", default="ranker,chat-count,invalid,abandoned,queue-share,"
                        "slowloris,cross-site,deep-json")
    args = parser.parse_args()
    upstream = ThreadingHTTPServer((HOST, 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    process = start_service(port, f"http://{HOST}:{upstream.server_address[1]}/v1")
    url = f"http://{HOST}:{port}"
    bodies = [{"method": "llmlingua2", "context": p, "rate": 0.5} for p in prompts(64, 1200)]
    rows, clean = [], None
    try:
        asyncio.run(run_phase(url, bodies, args.clients, 3.0, 200))  # warm up
        for attack in [None, *[a for a in args.attacks.split(",") if a]]:
            settled = wait_until_idle(url, args.settle)
            honest, worst, seen = asyncio.run(phase(url, port, attack, bodies, args))
            rps, p95 = honest.ok / honest.seconds, honest.percentile(0.95)
            clean = clean or (rps, p95)
            rows.append([attack or "(clean)", f"{rps:.1f}",
                         f"{rps / clean[0]:.2f}" if clean[0] else "-",
                         f"{p95:.0f}", f"{p95 / clean[1]:.2f}" if clean[1] else "-",
                         sum(honest.errors.values()), f"{worst * 1000:.0f}",
                         ", ".join(f"{k}: {v}" for k, v in seen.most_common(3)),
                         "busy" if settled is None else f"{settled:.1f}"])
    finally:
        stop(process)
        upstream.shutdown()
    print(f"\n{args.clients} honest LLMLingua-2 clients, {args.duration:g} s per phase\n")
    print(markdown_table(["attack", "honest req/s", "vs clean", "p95 ms", "vs clean",
                          "honest errors", "worst /healthz ms", "attack got",
                          "idle wait before s"], rows))


if __name__ == "__main__":
    main()
