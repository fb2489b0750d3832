"""The durable job queue on SQLite and PostgreSQL: a key is accepted once, work is
claimed round-robin across teams under a lease, and queue positions follow the order in
which work will be claimed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import AskRequest
from bot.ports import QUEUE_POSITION_BOUND
from storage import SqlJobQueue
from storage.tables import JobRow

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def request(team: str, n: int) -> AskRequest:
    return AskRequest(
        platform="test",
        team=team,
        channel="C1",
        thread=f"{team}-{n}",
        user="ann",
        text=f"question {n}",
        key=f"{team}-{n}",
    )


async def submit(queue: SqlJobQueue, *requests: AskRequest) -> list[bool]:
    return [await queue.submit(r, {"model": "o1"}, now=NOW) for r in requests]


async def test_a_key_is_accepted_once(engine: AsyncEngine) -> None:
    queue = SqlJobQueue(engine)
    assert await submit(queue, request("a", 1), request("a", 1)) == [True, False]
    assert await queue.depth() == 1


async def test_claims_take_teams_in_turn_and_positions_follow_that_order(
    engine: AsyncEngine,
) -> None:
    queue = SqlJobQueue(engine)
    # Team a asked four times before team b's two questions arrived.
    await submit(queue, *(request("a", i) for i in range(4)), request("b", 0), request("b", 1))
    keys = ["a-0", "a-1", "a-2", "a-3", "b-0", "b-1"]
    assert await queue.positions(keys, now=NOW) == {
        "a-0": 1,
        "b-0": 2,
        "a-1": 3,
        "b-1": 4,
        "a-2": 5,
        "a-3": 6,
    }
    first = await queue.claim(worker="w1", limit=3, lease_s=60, now=NOW)
    assert [j.key for j in first] == ["a-0", "b-0", "a-1"]
    assert all(j.attempt == 1 for j in first)
    # Leased work is no longer waiting; it still counts for its team's turn, so team b,
    # with one question in flight to team a's two, goes next.
    assert await queue.positions(keys, now=NOW) == {"b-1": 1, "a-2": 2, "a-3": 3}
    await queue.finish("a-0", outcome="answered", now=NOW)
    assert await queue.depth() == 5


async def test_teams_with_as_many_waiting_take_turns_by_who_was_served_longest_ago(
    engine: AsyncEngine,
) -> None:
    queue = SqlJobQueue(engine)
    await submit(queue, *(request("a", i) for i in range(3)), *(request("b", i) for i in range(3)))
    order = []
    for minute in range(6):  # one at a time, each finished before the next is taken
        (job,) = await queue.claim(
            worker="w1", limit=1, lease_s=60, now=NOW + timedelta(minutes=minute)
        )
        await queue.finish(job.key, outcome="answered", now=NOW + timedelta(minutes=minute))
        order.append(job.key)
    assert order == ["a-0", "b-0", "a-1", "b-1", "a-2", "b-2"]


async def test_leased_work_is_claimed_again_only_after_its_lease_or_a_release(
    engine: AsyncEngine,
) -> None:
    queue = SqlJobQueue(engine)
    await submit(queue, request("a", 0), request("a", 1))
    taken = await queue.claim(worker="w1", limit=10, lease_s=60, now=NOW)
    assert [j.key for j in taken] == ["a-0", "a-1"]
    assert await queue.claim(worker="w2", limit=10, lease_s=60, now=NOW) == []
    # Renewed leases hold; a released job is free at once; an expired one after its lease.
    await queue.renew(["a-0"], worker="w1", lease_s=60, now=NOW + timedelta(seconds=50))
    await queue.release(["a-1"], worker="w1")
    later = NOW + timedelta(seconds=70)
    again = await queue.claim(worker="w2", limit=10, lease_s=60, now=later)
    # Handed back, not failed: that claim does not count as an attempt.
    assert [(j.key, j.attempt) for j in again] == [("a-1", 1)]
    assert await queue.positions(["a-0"], now=NOW + timedelta(seconds=100)) == {}
    resumed = await queue.claim(worker="w2", limit=10, lease_s=60, now=NOW + timedelta(seconds=111))
    assert [(j.key, j.attempt) for j in resumed] == [("a-0", 2)]


async def test_finished_work_is_never_claimed_or_placed(engine: AsyncEngine) -> None:
    queue = SqlJobQueue(engine)
    await submit(queue, request("a", 0))
    await queue.claim(worker="w1", limit=1, lease_s=1, now=NOW)
    await queue.finish("a-0", outcome="answered", now=NOW)
    much_later = NOW + timedelta(hours=1)
    assert await queue.claim(worker="w2", limit=1, lease_s=60, now=much_later) == []
    assert await queue.positions(["a-0"], now=much_later) == {}
    assert await queue.positions([], now=much_later) == {}


async def test_positions_stop_counting_past_the_bound(engine: AsyncEngine) -> None:
    queue = SqlJobQueue(engine)
    many = [request(f"t{i:04}", 0) for i in range(QUEUE_POSITION_BOUND + 5)]
    await asyncio.gather(*(queue.submit(r, {"model": "o1"}, now=NOW) for r in many))
    placed = await queue.positions([many[0].key, many[999].key, many[-1].key], now=NOW)
    assert placed == {
        many[0].key: 1,
        many[999].key: QUEUE_POSITION_BOUND,
        many[-1].key: QUEUE_POSITION_BOUND + 1,
    }
    # The claim order agrees with the places given.
    taken = await queue.claim(worker="w1", limit=3, lease_s=60, now=NOW)
    assert [j.key for j in taken] == [r.key for r in many[:3]]


async def test_a_saved_answer_survives_a_lost_worker_and_goes_at_finish(
    engine: AsyncEngine,
) -> None:
    queue = SqlJobQueue(engine)
    await submit(queue, request("a", 0))
    await queue.claim(worker="w1", limit=1, lease_s=1, now=NOW)
    await queue.save_answer("a-0", text="the answer", footer="o1 · 3 s")
    # w1 dies before delivering: the next worker delivers the saved answer.
    (job,) = await queue.claim(worker="w2", limit=1, lease_s=60, now=NOW + timedelta(minutes=1))
    assert (job.attempt, job.answer, job.footer) == (2, "the answer", "o1 · 3 s")
    await queue.finish("a-0", outcome="answered", now=NOW + timedelta(minutes=2))
    # Delivered: the answer lives in the conversation; the job keeps its key and outcome.
    async with engine.connect() as conn:
        row = (await conn.execute(select(JobRow.__table__).where(JobRow.key == "a-0"))).one()
    assert (row.status, row.outcome, row.request, row.route, row.answer, row.footer) == (
        "done",
        "answered",
        "",
        "",
        None,
        None,
    )
    assert await queue.route("a-0") is None
    # A late route save from the old worker does not bring anything back.
    await queue.save_route("a-0", {"status": "ts"})
    assert await queue.route("a-0") is None
