"""Retention on SQLite and PostgreSQL: one pass deletes what is past its window in every
growing table and nothing else, in bounded batches, and only one process runs it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import WeekPolicy
from bot.domain import AskRequest, Exchange, Limits, Usage
from bot.weeks import week_window
from storage import SqlConversationStore, SqlJobQueue, SqlLedger, retention
from storage.retention import RetentionPolicy, SqlRetention, run_retention
from storage.tables import Base
from tests.builders import NOW
from tests.harness import WAIT_S

POLICY = RetentionPolicy(request_days=90, conversation_days=30)
TABLES = (
    "jobs",
    "requests",
    "quota_counters",
    "user_counters",
    "budget_counters",
    "turns",
    "threads",
    "queue_teams",
)


async def answered(engine: AsyncEngine, key: str, *, at: datetime) -> None:
    """One question through the queue and the ledger, as the bot records it."""
    queue, ledger = SqlJobQueue(engine), SqlLedger(engine)
    request = AskRequest(
        platform="test", team=key, channel="C", thread=f"th-{key}", user="ann", text="q", key=key
    )
    assert await queue.submit(request, {"model": "o1"}, now=at)
    (job,) = await queue.claim(worker="w", limit=1, lease_s=60, now=at)
    window = week_window(at, WeekPolicy())
    await ledger.set_budget(key, 10.0, window=window, actor="admin", now=at)
    await ledger.reserve(
        key=key,
        team=key,
        model="o1",
        user="ann",
        channel="C",
        window=window,
        limits=Limits(10, None, estimate_usd=0.1),
        now=at,
    )
    await SqlConversationStore(engine).open(f"th-{key}", team=key, now=at)
    exchange = Exchange(f"th-{key}", key, "q", "a")
    await ledger.commit(key, usage=Usage(), latency_ms=1, now=at, exchange=exchange)
    await queue.finish(job.key, outcome="answered", now=at)


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            t: int(await conn.scalar(select(func.count()).select_from(Base.metadata.tables[t])))
            for t in TABLES
        }


async def test_a_pass_deletes_what_is_past_its_window_and_nothing_else(
    engine: AsyncEngine,
) -> None:
    await answered(engine, "ancient", at=NOW - timedelta(days=120))  # past every window
    await answered(engine, "last-month", at=NOW - timedelta(days=45))  # conversation gone
    await answered(engine, "yesterday", at=NOW - timedelta(days=2))  # only its job gone
    await answered(engine, "today", at=NOW - timedelta(hours=1))  # all kept
    before = await counts(engine)
    assert before == {t: 8 if t == "turns" else 4 for t in TABLES}
    report = await SqlRetention(engine, POLICY).prune(now=NOW)
    assert report.ran
    assert report.deleted == {
        "jobs": 3,
        "requests": 1,
        "quota_counters": 1,
        "user_counters": 1,
        "budget_counters": 1,
        "turns": 4,  # a question and its answer, in each of two threads
        "threads": 1,  # last month's stays as a tombstone, for "context expired"
        "queue_teams": 3,
    }
    assert await counts(engine) == {t: before[t] - n for t, n in report.deleted.items()}
    # What is left still works: the recent conversation's history is there.
    store = SqlConversationStore(engine)
    history = await store.history("th-today")
    assert [t.content for t in history] == ["q", "a"]
    assert await store.knows("th-last-month") and await expired(store, "th-last-month")
    assert not await expired(store, "th-today") and not await expired(store, "th-unknown")
    # A tombstone goes once its thread is request_retention_days old.
    later = await SqlRetention(engine, POLICY).prune(now=NOW + timedelta(days=91), force=True)
    assert later.deleted["threads"] == 3
    assert not await store.knows("th-last-month")


async def test_batches_are_bounded_and_the_pass_goes_on_until_done(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    for i in range(5):
        await answered(engine, f"old{i}", at=NOW - timedelta(days=120))
    report = await SqlRetention(engine, POLICY).prune(now=NOW)
    assert report.deleted["jobs"] == 5 and report.deleted["turns"] == 10
    assert await counts(engine) == {t: 0 for t in TABLES}


async def test_one_process_runs_a_pass_and_the_next_is_due_after_the_interval(
    engine: AsyncEngine,
) -> None:
    await answered(engine, "ancient", at=NOW - timedelta(days=120))
    pruners = [SqlRetention(engine, POLICY) for _ in range(4)]
    reports = await asyncio.gather(*(p.prune(now=NOW) for p in pruners))
    assert sorted(r.ran for r in reports) == [False, False, False, True]
    # Not due again until the interval has passed; on demand, it runs anyway.
    assert not (await pruners[0].prune(now=NOW + timedelta(minutes=5))).ran
    assert (await pruners[0].prune(now=NOW + timedelta(minutes=5), force=True)).ran
    assert (await pruners[1].prune(now=NOW + POLICY.every + timedelta(minutes=6))).ran


async def test_a_pass_left_by_a_dead_process_is_taken_over(engine: AsyncEngine) -> None:
    dead, alive = SqlRetention(engine, POLICY), SqlRetention(engine, POLICY)
    assert await dead._take(NOW, force=False)  # and then it died, mid-pass
    assert not (await alive.prune(now=NOW + timedelta(minutes=1), force=True)).ran
    assert (await alive.prune(now=NOW + retention.RUN_TTL + timedelta(seconds=1))).ran


async def test_the_bots_background_loop_runs_a_pass_and_stops_when_told(
    engine: AsyncEngine,
) -> None:
    await answered(engine, "ancient", at=NOW - timedelta(days=120))
    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_retention(SqlRetention(engine, POLICY), stop, clock=lambda: NOW, check_s=600, first_s=0)
    )
    async with asyncio.timeout(WAIT_S):
        while (await counts(engine))["jobs"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    stop.set()
    async with asyncio.timeout(WAIT_S):
        await loop


async def expired(store: SqlConversationStore, thread: str) -> bool:
    _, gone = await store.recall(thread)
    return gone
