"""Quota changes reach the views of every process, on SQLite and PostgreSQL: a limit set
through one process's connection pool is told to another process's watchers (Slack's
App Home refreshes the Homes opened there)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin import AdminDesk
from bot.config import Catalogue
from storage import SqlLedger, make_engine
from storage.reports import SqlReports
from tests.builders import NOW
from tests.harness import WAIT_S


@pytest.fixture
async def second_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


class StartedReports(SqlReports):
    """The real store, saying when the follower has read where to start."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.started = asyncio.Event()

    async def quota_changes(self, after: int | None) -> tuple[int, tuple[str, ...]]:
        got = await super().quota_changes(after)
        self.started.set()
        return got


async def test_a_limit_set_in_one_process_is_told_to_the_watchers_of_another(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    other = SqlLedger(engine)
    await other.set_limit("slack:T0", "o3", 5, actor="U9", now=NOW)  # before: not told
    reports = StartedReports(second_engine)
    desk = AdminDesk(catalogue=Catalogue(), reports=reports, clock=lambda: NOW)
    told: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
    desk.watch(lambda team, user: told.put_nowait((team, user)))
    follower = asyncio.ensure_future(desk.follow_quota_changes(every_s=0.01))
    try:
        async with asyncio.timeout(WAIT_S):
            await reports.started.wait()
            await other.set_limit("slack:T1", "o3", 10, actor="U1", now=NOW)
            await other.set_limit("slack:T1", "o1", 2, actor="U1", now=NOW)
            await other.set_limit("slack:T2", "o3", 1, actor="U2", now=NOW)
            seen = set()
            while len(seen) < 2:
                seen.add(await told.get())
        assert seen == {("slack:T1", None), ("slack:T2", None)}
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    later = [told.get_nowait() for _ in range(told.qsize())]
    assert set(later) <= seen  # never the change made before the follower started


async def test_quota_changes_start_after_the_last_entry_and_name_each_team_once(
    engine: AsyncEngine,
) -> None:
    ledger, reports = SqlLedger(engine), SqlReports(engine)
    assert await reports.quota_changes(None) == (0, ())
    await ledger.set_limit("slack:T1", "o3", 10, actor="U1", now=NOW)
    start, teams = await reports.quota_changes(None)
    assert start > 0 and teams == ()
    assert await reports.quota_changes(start) == (start, ())
    await ledger.set_limit("slack:T2", "o3", 1, actor="U1", now=NOW)
    await ledger.set_limit("slack:T1", "o1", 2, actor="U1", now=NOW)
    await ledger.set_limit("slack:T2", "o1", 3, actor="U1", now=NOW)
    last, teams = await reports.quota_changes(start)
    assert teams == ("slack:T1", "slack:T2") and last == start + 3
    assert await reports.quota_changes(last) == (last, ())
