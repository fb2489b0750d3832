"""Budget alerts: when a team's weekly spend crosses a threshold of its budget, one
message in its notify channel, once per threshold and week across processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin import AdminDesk, budget_crossed
from bot.config import Catalogue
from bot.domain import BudgetState, Limits, ReservationStatus, Usage, Window
from storage import SqlLedger, make_engine
from storage.reports import SqlReports

TEAM = "slack:T1"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))


@dataclass
class Recorder:
    posts: list[tuple[str, str, str]] = field(default_factory=list)

    async def post(self, team: str, channel: str, text: str) -> None:
        self.posts.append((team, channel, text))


@pytest.fixture
async def second_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Another process's connection pool on the same database."""
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


def test_each_threshold_of_a_budget_is_crossed_by_one_answer() -> None:
    def state(before: float, after: float, budget: float | None = 10.0) -> BudgetState:
        return BudgetState(budget_usd=budget, spent_usd=after, spent_before_usd=before)

    assert budget_crossed(state(7.9, 8.0), (80, 100)) == (80,)
    assert budget_crossed(state(8.0, 9.9), (80, 100)) == ()
    assert budget_crossed(state(7.0, 12.0), (80, 100)) == (80, 100)
    assert budget_crossed(state(0.0, 5.0, budget=None), (80, 100)) == ()
    assert budget_crossed(state(0.0, 5.0, budget=0.0), (80, 100)) == ()


async def test_budget_alerts_reach_the_channel_once_per_threshold_across_processes(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    ledger = SqlLedger(engine)
    recorders = [Recorder(), Recorder()]
    desks = []
    for eng, rec in zip((engine, second_engine), recorders, strict=True):
        desk = AdminDesk(catalogue=Catalogue(), reports=SqlReports(eng), clock=lambda: NOW)
        desk.register("slack", rec)
        desks.append(desk)
    await desks[0].reports.set_notify(TEAM, platform="slack", channel="CADM", actor="U", now=NOW)
    await ledger.set_budget(TEAM, 1.0, window=WEEK, actor="U", now=NOW)
    for i in range(6):
        r = await ledger.reserve(
            key=f"k{i}",
            team=TEAM,
            model="o3",
            user="U1" if i < 3 else "U2",
            channel="C",
            window=WEEK,
            limits=Limits(100, estimate_usd=0.2),
            now=NOW,
        )
        if i == 5:  # the budget is spent
            assert (r.status, r.denied_scope) == (ReservationStatus.DENIED, "budget")
            break
        assert r.status is ReservationStatus.RESERVED
        after = await ledger.commit(
            f"k{i}", usage=Usage(10, 10), latency_ms=1, now=NOW, cost_usd=0.2
        )
        # Every process sees the same commit (a replay, a resumed job): one post.
        await asyncio.gather(
            *(
                d.after_commit(team=TEAM, model="o3", state=None, window=WEEK, budget=after)
                for d in desks * 2
            )
        )
    posts = [text for rec in recorders for _, channel, text in rec.posts if channel == "CADM"]
    assert len(posts) == 2, posts
    eighty, full = sorted(posts, key=lambda t: "whole" in t)
    assert "80% of this week's budget: $0.80 of $1.00" in eighty
    assert "<@U1> ($0.60)" in eighty and "<@U2> ($0.20)" in eighty
    assert "spent its whole weekly budget: $1.00 of $1.00" in full
    assert "resets" in full and "@here" not in full
    # The model's own 80% is another alert: a budget claim never stands in for it.
    assert await desks[1].reports.claim_alert(TEAM, "o3", WEEK.key, 80, now=NOW)
    # Next week the thresholds are new.
    assert await desks[1].reports.claim_alert(
        TEAM, "$budget", Window(WEEK.end, WEEK.end + timedelta(days=7)).key, 80, now=NOW
    )
