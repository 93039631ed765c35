"""The proxy's message cache: keys, least-recently-used eviction within a memory bound,
and one computation for concurrent requests that need the same message."""

from __future__ import annotations

import asyncio
import gc
import random
import tracemalloc

import pytest

from llmlingstral.serve.message_cache import MessageCache, cache_key, entry_size
from llmlingstral.serve.metrics import Metrics

TEXTS = ["The committee approved the budget for the northern railway line.",
         "委员会批准了北方铁路线的新预算。", "委員会は北部鉄道線の新しい予算を承認した。",
         "คณะกรรมการอนุมัติงบประมาณใหม่สำหรับทางรถไฟสายเหนือ",
         "وافقت اللجنة على الميزانية الجديدة لخط السكك الحديدية الشمالي."]


def test_keys_cover_every_setting_and_ignore_their_order():
    base = {"model": "nano-lingua2", "message": {"text": TEXTS[1], "rate": 0.5, "question": None}}
    same = {"message": {"question": None, "rate": 0.5, "text": TEXTS[1]}, "model": "nano-lingua2"}
    assert cache_key(base) == cache_key(same)
    for changed in ({"model": "nano"}, {"message": {"text": TEXTS[2], "rate": 0.5}},
                    {"message": {"text": TEXTS[1], "rate": 0.4, "question": None}},
                    {"message": {"text": TEXTS[1], "rate": 0.5, "question": "Which line?"}},
                    {"protect": False}):
        assert cache_key({**base, **changed}) != cache_key(base)


def test_least_recently_used_entries_go_first_and_the_bound_holds():
    metrics = Metrics()
    sizes = [entry_size(str(i), t) for i, t in enumerate(TEXTS)]
    cache = MessageCache(max_bytes=sum(sizes[:3]), metrics=metrics)
    for i in range(3):
        cache.put(str(i), TEXTS[i])
    assert cache.get("0") == TEXTS[0]         # now the most recently used
    cache.put("3", TEXTS[3])                  # evicts "1", then "2" if needed
    assert cache.get("1") is None and cache.get("0") == TEXTS[0]
    assert cache.get("3") == TEXTS[3]
    assert cache.bytes <= cache.max_bytes
    assert cache.bytes == sum(entry_size(k, cache.get(k)) for k in ("0", "3", "2")
                              if cache.get(k) is not None)
    rendered = metrics.render().decode()
    assert f"llmlingstral_message_cache_bytes {float(cache.bytes)}" in rendered
    assert f"llmlingstral_message_cache_entries {float(len(cache))}" in rendered


def test_a_value_larger_than_the_bound_is_not_kept_and_zero_keeps_nothing():
    cache = MessageCache(max_bytes=entry_size("k", "short"))
    cache.put("k", "short")
    cache.put("big", "x" * 10_000)
    assert cache.get("big") is None and cache.get("k") == "short"
    empty = MessageCache(max_bytes=0)
    empty.put("k", "short")
    assert len(empty) == 0 and empty.bytes == 0


def test_soak_the_cache_stays_within_its_memory_bound():
    """Thousands of entries of every size and script: the accounting never passes the
    bound, and the memory the cache really holds (traced) stays within it."""
    bound = 256 * 1024
    rng = random.Random(5)
    cache = MessageCache(max_bytes=bound)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            text = rng.choice(TEXTS) * rng.randint(1, 60) + str(i)
            key = cache_key({"text": text, "i": i})
            cache.put(key, text)
            assert cache.bytes <= bound
            if i % 7 == 0:
                cache.get(key)
        del text, key
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) > 50
    assert held <= bound * 1.1, f"the cache holds {held} bytes for a bound of {bound}"


def test_concurrent_callers_share_one_computation():
    async def scenario():
        cache = MessageCache(max_bytes=1 << 20)
        calls = []

        async def compute():
            calls.append(1)
            await asyncio.sleep(0.05)
            return "compressed"

        lookups = await asyncio.gather(*(cache.get_or_compute("k", compute) for _ in range(5)))
        again = await cache.get_or_compute("k", compute)
        return calls, lookups, again, cache

    calls, lookups, again, cache = asyncio.run(scenario())
    assert len(calls) == 1
    assert [x.text for x in lookups] == ["compressed"] * 5
    assert sorted(x.source for x in lookups) == ["computed"] + ["shared"] * 4
    assert again.source == "hit" and (cache.hits, cache.misses, cache.shared) == (1, 1, 4)


def test_a_failure_reaches_every_caller_and_is_not_kept():
    async def scenario():
        cache = MessageCache(max_bytes=1 << 20)

        async def failing():
            await asyncio.sleep(0.01)
            raise ValueError("the scorer failed")

        results = await asyncio.gather(*(cache.get_or_compute("k", failing) for _ in range(3)),
                                       return_exceptions=True)
        async def working():
            return "compressed"

        return results, await cache.get_or_compute("k", working)

    results, retried = asyncio.run(scenario())
    assert all(isinstance(r, ValueError) for r in results)
    assert retried.source == "computed" and retried.text == "compressed"


def test_the_work_stops_when_every_caller_leaves_unless_detached():
    async def scenario(detach: bool):
        cache = MessageCache(max_bytes=1 << 20)
        stopped = asyncio.Event()

        async def slow():
            try:
                await asyncio.sleep(0.3)
                return "compressed"
            except asyncio.CancelledError:
                stopped.set()
                raise

        waiter = asyncio.ensure_future(cache.get_or_compute("k", slow))
        await asyncio.sleep(0.02)
        if detach:
            cache.detach(["k"])
        waiter.cancel()
        await asyncio.sleep(0.4)
        return stopped.is_set(), cache.get("k")

    assert asyncio.run(scenario(detach=False)) == (True, None)
    assert asyncio.run(scenario(detach=True)) == (False, "compressed")


@pytest.mark.parametrize("bound", [0, 1 << 20])
def test_a_caller_arriving_after_the_others_left_starts_afresh(bound):
    async def scenario():
        cache = MessageCache(max_bytes=bound)
        runs = []

        async def compute():
            runs.append(1)
            await asyncio.sleep(0.05)
            return "compressed"

        first = asyncio.ensure_future(cache.get_or_compute("k", compute))
        await asyncio.sleep(0.01)
        first.cancel()
        await asyncio.sleep(0)
        return await cache.get_or_compute("k", compute), len(runs)

    lookup, runs = asyncio.run(scenario())
    assert lookup.text == "compressed" and lookup.source == "computed" and runs == 2
