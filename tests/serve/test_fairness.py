"""The fair queue of the service's worker threads: whose job runs next, and what a batch
takes. Pure bookkeeping, no threads: the order is the property a client relies on."""

from __future__ import annotations

from llmlingstral.serve.fairness import FairQueue, Owner, Ticket


def _ticket(owner: Owner, cost: int, batched: bool = True) -> Ticket:
    return Ticket(owner, cost, work=None, batched=batched)


def _drain(queue: FairQueue) -> list[Ticket]:
    order = []
    while (ticket := queue.pop()) is not None:
        order.append(ticket)
    return order


def test_a_small_request_waits_behind_at_most_one_job_of_a_heavy_one():
    queue, heavy, small = FairQueue(), Owner(), Owner()
    parts = [_ticket(heavy, 2000) for _ in range(64)]
    for part in parts:
        queue.push(part)
    assert queue.pop() is parts[0]                # the heavy request alone: it runs at once
    late = _ticket(small, 1200)
    queue.push(late)
    order = _drain(queue)
    assert order.index(late) <= 1
    assert [t for t in order if t is not late] == parts[1:]   # its own jobs keep their order


def test_a_huge_job_waits_for_the_others_work_to_catch_up():
    queue, honest, greedy = FairQueue(), [Owner() for _ in range(4)], Owner()
    huge = _ticket(greedy, 400_000)
    queue.push(huge)
    for owner in honest:
        for _ in range(20):
            queue.push(_ticket(owner, 1200))
    order = _drain(queue)
    assert order.index(huge) == len(order) - 1    # 4 x 24,000 characters run first


def test_a_job_alone_runs_at_once_whatever_its_size():
    queue = FairQueue()
    queue.push(huge := _ticket(Owner(), 400_000))
    assert queue.pop() is huge                    # nobody else waits: no delay
    queue.push(huge := _ticket(Owner(), 400_000))
    queue.push(small := _ticket(Owner(), 10))
    assert _drain(queue) == [small, huge]         # both wait: the small one first


def test_a_batch_takes_one_job_per_request_while_several_wait():
    queue, chat, others = FairQueue(), Owner(), [Owner() for _ in range(3)]
    for _ in range(8):
        queue.push(_ticket(chat, 2000))
    for owner in others:
        queue.push(_ticket(owner, 1200))
    first = queue.pop()
    companions = queue.take_companions(first, limit=15, budget=64_000)
    owners = [t.owner for t in [first, *companions]]
    assert len(owners) == len(set(owners)) == 4


def test_a_request_alone_fills_the_batch_within_its_limits():
    queue, chat = FairQueue(), Owner()
    for _ in range(10):
        queue.push(_ticket(chat, 2000))
    first = queue.pop()
    assert len(queue.take_companions(first, limit=15, budget=9_000)) == 4   # 4 x 2000 fit
    first = queue.pop()
    assert len(queue.take_companions(first, limit=2, budget=64_000)) == 2


def test_a_long_text_is_left_out_of_a_batch_and_runs_alone():
    queue, owners = FairQueue(), [Owner() for _ in range(3)]
    queue.push(small := _ticket(owners[0], 1000))
    queue.push(long := _ticket(owners[1], 100_000))
    queue.push(other := _ticket(owners[2], 1000))
    first = queue.pop()
    assert first is small
    assert queue.take_companions(first, limit=15, budget=64_000 - first.cost) == [other]
    assert queue.pop() is long


def test_causal_jobs_never_join_a_batch():
    queue, owners = FairQueue(), [Owner() for _ in range(2)]
    queue.push(first := _ticket(owners[0], 100))
    queue.push(_ticket(owners[1], 100, batched=False))
    assert queue.take_companions(queue.pop(), limit=15, budget=64_000) == []
    assert first is not None and len(queue) == 1


def test_a_removed_job_never_runs_and_owners_are_forgotten():
    queue, owner = FairQueue(), Owner()
    queue.push(gone := _ticket(owner, 50))
    queue.push(kept := _ticket(Owner(), 60))
    assert queue.remove(gone) and not queue.remove(gone)
    assert _drain(queue) == [kept]
    assert queue._ends == {}          # no bookkeeping left behind by finished requests


def test_the_waiting_owners_are_readable_as_one_snapshot():
    """A worker thread deciding whether to hand its turn back reads who waits, with each
    owner's smallest job: a value replaced whole on every change, never one changed under
    it. The next turn of a paused run is not among them: it takes no turn from anyone."""
    queue, owners = FairQueue(), [Owner() for _ in range(3)]
    tickets = [_ticket(owner, 100 * (k + 1)) for k, owner in enumerate(owners)]
    for ticket in tickets:
        queue.push(ticket)
    queue.push(_ticket(owners[0], 40))
    queue.push(Ticket(Owner(), 5, None, preempts=False))
    before = queue.waiting
    assert dict(before) == {owners[0]: 40, owners[1]: 200, owners[2]: 300}
    queue.remove(tickets[1])
    assert set(queue.waiting) == {owners[0], owners[2]} and owners[1] in before
    first = queue.pop()
    queue.take_companions(first, limit=15, budget=64_000)
    assert set(queue.waiting) <= {owners[0]}


def _worth_handing_back(owners, cost, waiting, worked=0.1, pace=20_000.0) -> bool:
    """Whether a run of ``cost`` characters for ``owners``, after ``worked`` seconds at
    ``pace``, hands its turn back to the jobs ``waiting`` ({owner: smallest cost})."""
    import asyncio

    from llmlingstral.serve.turns import Running

    async def decide() -> bool:
        running = Running(owners, cost, lambda: waiting, lambda: pace, lambda *_: None)
        return running.worth_handing_back(worked)

    return asyncio.run(decide())


def test_a_run_hands_its_turn_back_only_to_a_far_smaller_job_of_another_owner():
    batch, heavy, newcomer = [Owner() for _ in range(8)], Owner(), Owner()
    # Eight requests of 1,200 characters batched together: the ninth, of the same size,
    # waits for the batch to end instead of splitting it.
    assert not _worth_handing_back(batch, 8 * 1200, {newcomer: 1200})
    # One request with 400,000 characters: a small one takes the turn after a slice...
    assert _worth_handing_back([heavy], 400_000, {newcomer: 1200})
    # ...but not the heavy request's own next job, nor anyone once little is left.
    assert not _worth_handing_back([heavy], 400_000, {heavy: 10})
    assert not _worth_handing_back([heavy], 400_000, {newcomer: 1200}, worked=19.9)
    # A batch filled by one request's many texts counts as that request's work.
    assert _worth_handing_back([heavy], 8 * 2000, {newcomer: 300})
