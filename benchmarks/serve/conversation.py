"""A scripted agent conversation through the chat proxy (``llmlingstral serve``).

Starts a loopback OpenAI-compatible upstream (in this process, recording the raw bytes of
every request it receives) and the service in a subprocess on 127.0.0.1 (embedded models,
CPU, ``--upstream openai``). Then plays a logistics agent's conversation of ``--turns``
turns, twice: once with the ``question`` policy, once ``blind`` (each run its own
conversation, so neither reuses the other's cached messages). Each turn adds a short user
message, the assistant's tool call and a tool result of 1k to 3k Mistral tokens: shipment
records as text, or (every third turn) as JSON. The user asks about one order; its record
in the tool result holds the answer (who signed for it, which carrier, how heavy it was),
and a later user message asks about it again.

Reports, per policy: the compression time of each turn (the service's own figure, and the
request time the client saw), cache hits, how many bytes of each upstream request repeat
the previous request's bytes, whether every request begins with the previous one, byte for
byte, and the answer retention: for every lookup, whether the compressed tool result the
upstream received in the last turn still holds the answer.

    python benchmarks/serve/conversation.py                 # 30 turns, both policies
    python benchmarks/serve/conversation.py --quick         # 12 turns
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, markdown_table  # noqa: E402
from _service import launch, stop  # noqa: E402
from load_test import free_port  # noqa: E402

SIGNERS = ["Amara Okafor", "Lucien Marchetti", "Ingrid Solberg", "Tomasz Wierzbicki",
           "Mei-Ling Castellanos", "Oluwaseun Adeyemi", "Rosalind Featherstone",
           "Henrik Vasquez", "Priyanka Raghunathan", "Declan Abernathy", "Yusuf Demirci",
           "Giulietta Ferraro", "Bartholomew Okoye", "Saoirse Gallagher", "Kenji Whitfield"]
CARRIERS = ["Nordlys Freight", "Tamarind Logistics", "Bluewater Hauliers", "Cobalt Express",
            "Silverpine Transport", "Meridian Cargo", "Kestrel Road Lines", "Obsidian Parcel"]
CITIES = ["Rotterdam", "Lyon", "Gdansk", "Valencia", "Hamburg", "Turin", "Antwerp", "Porto"]
EVENTS = ["the driver noted a damaged pallet corner and a short delay at the border",
          "the consignee asked for a second inspection before accepting the goods",
          "the temperature logger reported no excursion during the whole trip",
          "the depot rescheduled the pickup twice because of a strike at the port",
          "customs released the goods after a routine document check",
          "the parcel was rerouted through a secondary hub after a vehicle breakdown"]
QUESTIONS = {"signer": "who signed for the delivery", "carrier": "which carrier moved it",
             "weight": "how heavy was the shipment"}
# Tool result sizes (Mistral tokens), repeated: every ten turns see the same sizes, so the
# first and the last turns of a run compare like for like.
SIZES = [1000, 2600, 1400, 3000, 1800, 1200, 2200, 2800, 1600, 2400]
TOKENS_PER_RECORD = 62  # measured on the nano tokenizer, for sizing only


@dataclass
class Record:
    order: str
    signer: str
    carrier: str
    origin: str
    destination: str
    weight: str
    event: str

    def text(self, index: int) -> str:
        return (f"Record {index}. Order {self.order} ({self.weight}) left the {self.origin} "
                f"depot with {self.carrier} and reached {self.destination} two days later. "
                f"The delivery was signed for by {self.signer} at the loading dock; "
                f"{self.event}.")

    def answer(self, kind: str) -> str:
        """What answers the question (for the weight, the number: every unit is kg)."""
        return {"signer": self.signer, "carrier": self.carrier,
                "weight": self.weight.split()[0]}[kind]


@dataclass
class Lookup:
    turn: int
    order: str
    kind: str
    answer: str
    as_json: bool


def records(rng: random.Random, count: int) -> list[Record]:
    return [Record(f"ORD-{rng.randrange(10_000, 99_999)}", rng.choice(SIGNERS),
                   rng.choice(CARRIERS), rng.choice(CITIES), rng.choice(CITIES),
                   f"{rng.randrange(2, 90)}.{rng.randrange(10)} kg", rng.choice(EVENTS))
            for _ in range(count)]


def tool_result(rng: random.Random, turn: int, tokens: int) -> tuple[str, Lookup, str]:
    """The tool's output for a turn, the lookup it answers, and the user's question."""
    found = records(rng, max(4, tokens // TOKENS_PER_RECORD))
    target = found[rng.randrange(len(found))]
    kind = list(QUESTIONS)[turn % len(QUESTIONS)]
    as_json = turn % 3 == 0
    lookup = Lookup(turn, target.order, kind, target.answer(kind), as_json)
    if as_json:
        content = json.dumps({"query": "shipments", "count": len(found), "results": [
            {"order": r.order, "signed_by": r.signer, "carrier": r.carrier, "weight": r.weight,
             "route": f"{r.origin} to {r.destination}", "notes": r.text(i)}
            for i, r in enumerate(found, 1)]}, ensure_ascii=False)
    else:
        content = "\n".join(r.text(i) for i, r in enumerate(found, 1))
    return content, lookup, f"Look up order {target.order}: {QUESTIONS[kind]}?"


@dataclass
class Upstream:
    """A loopback OpenAI-compatible server that records the raw body of every request."""

    bodies: list[bytes] = field(default_factory=list)

    def start(self) -> str:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream.bodies.append(raw)
                model = json.loads(raw).get("model", "m")
                data = json.dumps({"id": "c", "object": "chat.completion", "created": 0,
                                   "model": model, "choices": [{
                                       "index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": "Noted."}}],
                                   "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                             "total_tokens": 2}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Turn:
    seconds: float          # the service's compression figure
    latency: float          # the request as the client saw it
    cached: int
    compressed: int
    prefix_bytes: int       # bytes equal to the previous upstream request's
    previous_bytes: int
    begins_with_previous: bool


def play(base_url: str, upstream: Upstream, turns: int, policy: str, seed: int,
         rate: float) -> tuple[list[Turn], list[Lookup], dict]:
    """One conversation; returns its turns, its lookups and the last upstream request."""
    rng = random.Random(seed)
    messages: list[dict] = [{"role": "system", "content": "You are a logistics assistant. "
                             "Answer from the shipment records the tools return."}]
    lookups: list[Lookup] = []
    results: list[Turn] = []
    first_body = len(upstream.bodies)
    with httpx.Client(base_url=base_url, timeout=600) as client:
        for turn in range(1, turns + 1):
            content, lookup, question = tool_result(rng, turn, SIZES[(turn - 1) % len(SIZES)])
            if len(lookups) >= 3:  # a later question about an earlier lookup
                earlier = lookups[-3]
                question = (f"Going back to order {earlier.order}: "
                            f"{QUESTIONS[earlier.kind]}? {question}")
            lookups.append(lookup)
            call = {"id": f"call{turn}", "type": "function",
                    "function": {"name": "shipments", "arguments": json.dumps(
                        {"order": lookup.order})}}
            messages += [{"role": "user", "content": question},
                         {"role": "assistant", "content": "", "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": f"call{turn}", "name": "shipments",
                          "content": content}]
            before = len(upstream.bodies)
            started = time.perf_counter()
            reply = client.post("/v1/chat/completions", json={
                "model": "m", "messages": messages,
                "compression": {"policy": policy, "rate": rate}})
            latency = time.perf_counter() - started
            reply.raise_for_status()
            figures = reply.json()["llmlingstral"]
            assert len(upstream.bodies) == before + 1
            results.append(_turn(upstream.bodies[first_body:], figures, latency))
            messages.append({"role": "assistant", "content": "Noted."})
    return results, lookups, json.loads(upstream.bodies[-1])


def _turn(bodies: list[bytes], figures: dict, latency: float) -> Turn:
    current = bodies[-1]
    previous = bodies[-2] if len(bodies) > 1 else b""
    same = 0
    for a, b in zip(previous, current):
        if a != b:
            break
        same += 1
    return Turn(figures["seconds"], latency, figures["cached_messages"],
                figures["compressed_messages"], same, len(previous),
                _begins_with(previous, current))


def _begins_with(previous: bytes, current: bytes) -> bool:
    """Whether the current request's messages begin with the previous request's messages
    up to its last user message, each serialised exactly as sent."""
    if not previous:
        return True
    before, now = json.loads(previous)["messages"], json.loads(current)["messages"]
    last_user = max(i for i, m in enumerate(before) if m["role"] == "user")
    prefix = json.dumps(before[:last_user], ensure_ascii=False)[:-1]
    return json.dumps(now, ensure_ascii=False).startswith(prefix)


def retention(lookups: list[Lookup], last_request: dict) -> dict[str, tuple[int, int]]:
    """(kept, total) answers per kind of tool result, in the last request upstream."""
    tools = [m["content"] for m in last_request["messages"] if m["role"] == "tool"]
    counts: dict[str, list[int]] = {}
    for lookup, text in zip(lookups, tools):
        for group in ("json" if lookup.as_json else "text", lookup.kind, "all"):
            kept_total = counts.setdefault(group, [0, 0])
            kept_total[0] += lookup.answer in text
            kept_total[1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def valid_json(lookups: list[Lookup], last_request: dict) -> tuple[int, int]:
    tools = [m["content"] for m in last_request["messages"] if m["role"] == "tool"]
    ok = total = 0
    for lookup, text in zip(lookups, tools):
        if lookup.as_json:
            total += 1
            try:
                data = json.loads(text)
                ok += set(data) == {"query", "count", "results"} and all(
                    set(r) == {"order", "signed_by", "carrier", "weight", "route", "notes"}
                    for r in data["results"])
            except ValueError:
                pass
    return ok, total


def summary(policy: str, turns: list[Turn]) -> list:
    seconds = [t.seconds for t in turns]
    first = statistics.median(seconds[1:11])
    last = statistics.median(seconds[-10:])
    shared = sum(t.prefix_bytes for t in turns[1:]) / max(1, sum(t.previous_bytes
                                                                  for t in turns[1:]))
    return [policy, len(turns), f"{first:.2f}", f"{last:.2f}", f"{last / first:.2f}",
            sum(t.cached for t in turns), f"{100 * shared:.2f}%",
            all(t.begins_with_previous for t in turns)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="12 turns")
    parser.add_argument("--rate", type=float, default=0.4)
    parser.add_argument("--method", choices=("llmlingua2", "llmlingua"), default="llmlingua2")
    parser.add_argument("--policies", default="question,blind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-turn", action="store_true", help="print every turn")
    args = parser.parse_args()
    turns = 12 if args.quick else args.turns
    upstream = Upstream()
    upstream_url = upstream.start()
    port = free_port()
    command = [sys.executable, "-m", "llmlingstral.cli", "serve", "--port", str(port),
               "--device", "cpu", "--log-level", "warning", "--upstream", "openai",
               "--upstream-url", upstream_url, "--proxy-min-tokens", "500",
               "--proxy-method", args.method, "--compression-timeout", "0",
               "--timeout", "600"]
    base_url = f"http://127.0.0.1:{port}"
    process = launch(command, base_url)
    print(f"Machine: {machine()}; {turns} turns, {args.method}, rate {args.rate}\n")
    rows, kept_rows = [], []
    try:
        for policy in args.policies.split(","):
            played, lookups, last = play(base_url, upstream, turns, policy, args.seed,
                                         args.rate)
            rows.append(summary(policy, played))
            kept = retention(lookups, last)
            ok, total = valid_json(lookups, last)
            kept_rows.append([policy] + [f"{kept[g][0]}/{kept[g][1]}" if g in kept else "-"
                                         for g in ("all", "text", "json", "signer",
                                                   "carrier", "weight")] + [f"{ok}/{total}"])
            if args.per_turn:
                print(markdown_table(["turn", "compression s", "request s", "cached",
                                      "prefix bytes"],
                                     [[i + 1, f"{t.seconds:.2f}", f"{t.latency:.2f}", t.cached,
                                       f"{t.prefix_bytes}/{t.previous_bytes}"]
                                      for i, t in enumerate(played)]) + "\n")
        metrics = httpx.get(f"{base_url}/metrics").text
    finally:
        stop(process)
        upstream.stop()
    print(markdown_table(["policy", "turns", "median s, turns 2-11", "median s, last 10",
                          "ratio", "cache hits", "bytes equal to previous request",
                          "every request begins with the previous"], rows))
    print()
    print(markdown_table(["policy", "answers kept", "text results", "JSON results", "signer",
                          "carrier", "weight", "JSON valid with every key"], kept_rows))
    print()
    for line in metrics.splitlines():
        if line.startswith("llmlingstral_message_cache"):
            print(line)


if __name__ == "__main__":
    main()
