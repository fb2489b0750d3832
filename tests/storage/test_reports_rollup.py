"""The weekly roll-up, on SQLite and PostgreSQL: a finished week's per-person sums are
written once across racing processes, reports read them with the same figures as the
raw rows, retention never adds a rolled-up week twice, and a week waits for a question
still in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin import AdminDesk
from bot.config import Catalogue
from bot.domain import Usage
from bot.reports import OPEN_WAITED, SETTLE
from storage import SqlLedger, make_engine, retention
from storage.reports import SqlReports
from storage.retention import RetentionPolicy, SqlRetention
from storage.tables import RolledWeek, UsageWeek
from tests.builders import NOW, WEEK
from tests.storage.test_reports import LAST, TEAM, ask, seed

RW, UW = RolledWeek.__table__, UsageWeek.__table__
U = Usage(prompt_tokens=100, completion_tokens=50, reasoning_tokens=30)


@pytest.fixture
async def second_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


def desk(engine: AsyncEngine, now: datetime) -> AdminDesk:
    return AdminDesk(catalogue=Catalogue(), reports=SqlReports(engine), clock=lambda: now)


async def everything(reports: SqlReports) -> tuple[Any, ...]:
    """Every report over the two weeks, as the admin reads them."""
    return (
        await reports.usage_rows(TEAM, since=LAST.key, until=WEEK.key),
        await reports.usage_rows(TEAM, since=LAST.key, until=WEEK.key, user="U1"),
        await reports.model_weeks(TEAM, since=LAST.key, until=WEEK.key),
        await reports.askers(TEAM, WEEK.key, top=5),
        await reports.askers(TEAM, LAST.key, model="o3", top=1),
        await reports.busiest(TEAM, WEEK.key, limit=2),
        await reports.busiest(TEAM, LAST.key, limit=2),
    )


async def rolled_weeks(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(RW.c.window).order_by(RW.c.window))).scalars())


async def questions_summed(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.coalesce(func.sum(UW.c.questions), 0))))


async def test_a_week_is_rolled_up_a_day_after_it_ends_and_reports_are_unchanged(
    engine: AsyncEngine,
) -> None:
    ledger, reports = SqlLedger(engine), SqlReports(engine)
    await seed(ledger)
    await ask(ledger, "b2", user="U2", window=LAST, usage=U, cost=None)
    await ask(ledger, "b3", user="U3", window=LAST, limit=0)  # denied
    before = await everything(reports)
    # Last week ended two days before NOW; this week is not over.
    assert await desk(engine, NOW).roll_up() == 1
    assert await rolled_weeks(engine) == [LAST.key]
    assert await everything(reports) == before
    # Not yet a day after this week's end; then it is rolled up too (the in-flight
    # question of the seed, a6, was abandoned a week ago).
    assert await desk(engine, WEEK.end + SETTLE / 2).roll_up() == 0
    assert await desk(engine, WEEK.end + SETTLE + OPEN_WAITED).roll_up() == 1
    assert await rolled_weeks(engine) == [LAST.key, WEEK.key]
    assert await everything(reports) == before


async def test_each_week_is_rolled_up_exactly_once_by_racing_processes(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    ledger = SqlLedger(engine)
    await seed(ledger)
    later = WEEK.end + SETTLE + OPEN_WAITED
    desks = [desk(engine, later), desk(second_engine, later)]
    before = await everything(SqlReports(engine))
    done = await asyncio.gather(*(d.roll_up() for d in desks * 3))
    assert sum(done) == 2
    assert await rolled_weeks(engine) == [LAST.key, WEEK.key]
    assert await questions_summed(engine) == 5
    assert await everything(SqlReports(second_engine)) == before


async def test_a_week_rolled_up_then_pruned_is_counted_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, reports = SqlLedger(engine), SqlReports(engine)
    await seed(ledger)
    before = await everything(reports)
    later = WEEK.end + SETTLE + OPEN_WAITED
    assert await desk(engine, later).roll_up() == 2
    monkeypatch.setattr(retention, "BATCH", 2)  # one week deleted over several batches
    pruner = SqlRetention(engine, RetentionPolicy(request_days=1))
    report = await pruner.prune(now=later + timedelta(days=30), force=True)
    assert report.deleted["requests"] == 8
    assert await questions_summed(engine) == 5
    assert await everything(reports) == before
    # Another pass and another roll-up find nothing left to add.
    again = await pruner.prune(now=later + timedelta(days=31), force=True)
    assert again.deleted["requests"] == 0
    assert await desk(engine, later + timedelta(days=31)).roll_up() == 0
    assert await everything(reports) == before


async def test_retention_keeps_the_rows_of_a_week_not_rolled_up(engine: AsyncEngine) -> None:
    ledger = SqlLedger(engine)
    await seed(ledger)
    # Past the 1-day retention, but this week's a6 is in flight and the week ended
    # three days ago: its rows stay (last week's go, rolled up by the pass itself).
    pruner = SqlRetention(engine, RetentionPolicy(request_days=1))
    now = WEEK.end + timedelta(days=3)
    report = await pruner.prune(now=now, force=True)
    assert report.deleted["requests"] == 1
    assert await rolled_weeks(engine) == [LAST.key]


async def test_a_question_answered_after_its_week_ended_is_in_the_roll_up(
    engine: AsyncEngine,
) -> None:
    """Decided: a week waits for its questions in flight (`OPEN_WAITED` at most), so a
    late answer is summed, never lost nor added twice."""
    ledger, reports = SqlLedger(engine), SqlReports(engine)
    await ask(ledger, "late", user="U1", window=LAST, outcome="hold")
    after_end = LAST.end + SETTLE * 2
    assert await desk(engine, after_end).roll_up() == 0  # waits for it
    await ledger.commit("late", usage=U, latency_ms=5, now=after_end, cost_usd=0.5)
    assert await desk(engine, after_end).roll_up() == 1
    (row,) = await reports.usage_rows(TEAM, since=LAST.key, until=LAST.key)
    assert (row.questions, row.input_tokens, row.cost_usd) == (1, 100, pytest.approx(0.5))
    assert await questions_summed(engine) == 1


async def test_a_week_partly_pruned_before_the_roll_up_adds_up(engine: AsyncEngine) -> None:
    """A week retention began to prune under migration 0009 has sums for the deleted
    rows: the roll-up adds the rows left to them."""
    ledger, reports = SqlLedger(engine), SqlReports(engine)
    await ask(ledger, "b1", user="U1", window=LAST, usage=U, cost=1.0)
    async with engine.begin() as conn:
        await conn.execute(
            UW.insert().values(
                team=TEAM,
                window=LAST.key,
                model="o3",
                user="U1",
                questions=2,
                denied=1,
                input_tokens=10,
                output_tokens=20,
                reasoning_tokens=5,
                cost_usd=None,
            )
        )
    before = await reports.usage_rows(TEAM, since=LAST.key, until=LAST.key)
    assert [(r.questions, r.denied, r.input_tokens) for r in before] == [(3, 1, 110)]
    assert await desk(engine, NOW).roll_up() == 1
    assert await reports.usage_rows(TEAM, since=LAST.key, until=LAST.key) == before
    assert before[0].cost_usd == pytest.approx(1.0)
