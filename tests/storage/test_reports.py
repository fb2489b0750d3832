"""The admin reports contract, on SQLite and PostgreSQL: aggregates over the rows the
real ledger wrote, and alerts and digests sent exactly once by racing processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.admin import AdminDesk
from bot.config import Catalogue, ModelSpec
from bot.domain import QuotaCommand, QuotaState, Usage, Window
from bot.quota import QuotaDesk
from bot.reports import NotifyTarget, to_csv
from storage import SqlLedger, make_engine, retention
from storage.reports import SqlReports
from storage.retention import RetentionPolicy, SqlRetention
from tests.builders import NOW, WEEK, reserve

LAST = Window(WEEK.start - timedelta(days=7), WEEK.start)
TEAM = "slack:T1"


@pytest.fixture
def ledger(engine: AsyncEngine) -> SqlLedger:
    return SqlLedger(engine)


@pytest.fixture
def reports(engine: AsyncEngine) -> SqlReports:
    return SqlReports(engine)


@pytest.fixture
async def second_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Another process's connection pool on the same database."""
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


async def ask(
    ledger: SqlLedger,
    key: str,
    *,
    user: str,
    model: str = "o3",
    window: Window = WEEK,
    limit: int = 100,
    usage: Usage | None = None,
    cost: float | None = None,
    outcome: str = "commit",
) -> None:
    at = window.start + timedelta(hours=1)
    r = await reserve(
        ledger, key, team=TEAM, model=model, user=user, limit=limit, window=window, now=at
    )
    if outcome == "commit":
        await ledger.commit(r.key, usage=usage or Usage(), latency_ms=5, now=NOW, cost_usd=cost)
    elif outcome == "refund":
        await ledger.refund(r.key, error="x", now=NOW)


async def seed(ledger: SqlLedger) -> None:
    u = Usage(prompt_tokens=100, completion_tokens=50, reasoning_tokens=30, cached_tokens=20)
    await ask(ledger, "a1", user="U1", usage=u, cost=0.25)
    await ask(ledger, "a2", user="U1", usage=u, cost=0.5)
    await ask(ledger, "a3", user="U2", usage=u, cost=1.0)
    await ask(ledger, "a4", user="U2", model="mini", usage=u, cost=None)
    await ask(ledger, "a5", user="U3", outcome="refund")  # not a question answered
    await ask(ledger, "a6", user="U3", outcome="hold")  # still in flight
    await ask(ledger, "d1", user="U2", model="o1", limit=0)  # denied
    await ask(ledger, "b1", user="U1", window=LAST, usage=u, cost=2.0)


async def test_export_rows_sum_what_the_ledger_recorded(
    ledger: SqlLedger, reports: SqlReports
) -> None:
    await seed(ledger)
    rows = await reports.usage_rows(TEAM, since=LAST.key, until=WEEK.key)
    got = {(r.window, r.model, r.user): r for r in rows}
    assert set(got) == {
        (LAST.key, "o3", "U1"),
        (WEEK.key, "o3", "U1"),
        (WEEK.key, "o3", "U2"),
        (WEEK.key, "mini", "U2"),
        (WEEK.key, "o1", "U2"),
    }
    u1 = got[(WEEK.key, "o3", "U1")]
    assert (u1.questions, u1.denied, u1.input_tokens, u1.output_tokens, u1.reasoning_tokens) == (
        2,
        0,
        200,
        100,
        60,
    )
    assert u1.cost_usd == pytest.approx(0.75)
    assert got[(WEEK.key, "mini", "U2")].cost_usd is None  # no prices: unknown, not $0
    denied = got[(WEEK.key, "o1", "U2")]
    assert (denied.questions, denied.denied, denied.cost_usd) == (0, 1, None)
    only_this_week = await reports.usage_rows(TEAM, since=WEEK.key, until=WEEK.key)
    assert {r.window for r in only_this_week} == {WEEK.key}
    assert await reports.usage_rows("slack:OTHER", since=LAST.key, until=WEEK.key) == []


async def test_history_and_askers_aggregate_per_week_and_model(
    ledger: SqlLedger, reports: SqlReports
) -> None:
    await seed(ledger)
    weeks = await reports.model_weeks(TEAM, since=LAST.key, until=WEEK.key)
    got = {(w.window, w.model): (w.questions, w.denied, w.cost_usd) for w in weeks}
    assert got[(WEEK.key, "o3")] == (3, 0, pytest.approx(1.75))
    assert got[(WEEK.key, "o1")] == (0, 1, None)
    assert got[(LAST.key, "o3")] == (1, 0, pytest.approx(2.0))
    askers = await reports.askers(TEAM, WEEK.key, top=5)
    assert askers.count == 2 and askers.top == (("U1", 2), ("U2", 2))
    o3 = await reports.askers(TEAM, WEEK.key, model="mini", top=1)
    assert o3.count == 1 and o3.top == (("U2", 1),)


async def test_the_csv_export_matches_the_ledger(ledger: SqlLedger, reports: SqlReports) -> None:
    await seed(ledger)
    desk = AdminDesk(catalogue=Catalogue(), reports=reports, clock=lambda: NOW)
    rows = await desk.export(TEAM, platform="slack", weeks=2)
    lines = to_csv(rows).splitlines()
    assert lines[1] == "2026-11-16,slack,slack:T1,o3,U1,1,0,100,50,30,2.000000"
    assert "2026-11-23,slack,slack:T1,mini,U2,1,0,100,50,30," in lines
    assert "2026-11-23,slack,slack:T1,o3,U1,2,0,200,100,60,0.750000" in lines
    assert len(lines) == 6


async def test_notify_channel_is_set_replaced_and_cleared(reports: SqlReports) -> None:
    assert await reports.notify_target(TEAM) is None
    await reports.set_notify(TEAM, platform="slack", channel="C1", actor="U1", now=NOW)
    await reports.set_notify(TEAM, platform="slack", channel="C2", actor="U1", now=NOW)
    assert await reports.notify_target(TEAM) == NotifyTarget("slack", "C2")
    assert await reports.notify_targets() == [(TEAM, NotifyTarget("slack", "C2"))]
    await reports.set_notify(TEAM, platform="slack", channel=None, actor="U1", now=NOW)
    assert await reports.notify_target(TEAM) is None


@dataclass
class Recorder:
    posts: list[tuple[str, str, str]] = field(default_factory=list)

    async def post(self, team: str, channel: str, text: str) -> None:
        self.posts.append((team, channel, text))


async def test_claims_are_won_once_by_racing_processes(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    stores = [SqlReports(engine), SqlReports(second_engine)]
    wins = await asyncio.gather(
        *(stores[i % 2].claim_alert(TEAM, "o3", WEEK.key, 80, now=NOW) for i in range(10)),
        *(stores[i % 2].claim_digest(TEAM, LAST.key, now=NOW) for i in range(10)),
    )
    assert sum(wins[:10]) == 1 and sum(wins[10:]) == 1
    # Another threshold, model or week is its own alert.
    assert await stores[0].claim_alert(TEAM, "o3", WEEK.key, 100, now=NOW)
    assert await stores[1].claim_alert(TEAM, "o3", LAST.key, 80, now=NOW)


async def test_an_alert_reaches_the_channel_once_across_two_processes(
    engine: AsyncEngine, second_engine: AsyncEngine, ledger: SqlLedger
) -> None:
    catalogue = Catalogue()
    recorders = [Recorder(), Recorder()]
    desks = []
    for eng, rec in zip((engine, second_engine), recorders, strict=True):
        desk = AdminDesk(catalogue=catalogue, reports=SqlReports(eng), clock=lambda: NOW)
        desk.register("slack", rec)
        desks.append(desk)
    await desks[0].reports.set_notify(TEAM, platform="slack", channel="CADM", actor="U", now=NOW)
    for i in range(8):
        await ask(ledger, f"k{i}", user="U1" if i < 5 else "U2", limit=10, cost=0.1)
    # Both processes saw the 8th of 10 messages (80%): a replay, a resumed job.
    state = QuotaState(team_limit=10, used=8, granted=0)
    await asyncio.gather(
        *(d.after_commit(team=TEAM, model="o3", state=state, window=WEEK) for d in desks * 3)
    )
    posts = recorders[0].posts + recorders[1].posts
    assert len(posts) == 1
    team, channel, text = posts[0]
    assert (team, channel) == (TEAM, "CADM")
    assert "80%" in text and "8 of 10" in text and "<@U1> (5)" in text and "resets" in text
    # Below a threshold: no claim and no post.
    below = QuotaState(team_limit=10, used=9, granted=0)
    await desks[1].after_commit(team=TEAM, model="o3", state=below, window=WEEK)
    assert len(recorders[0].posts + recorders[1].posts) == 1


async def test_without_a_channel_nothing_is_claimed(reports: SqlReports) -> None:
    rec = Recorder()
    desk = AdminDesk(catalogue=Catalogue(), reports=reports, clock=lambda: NOW)
    desk.register("slack", rec)
    state = QuotaState(team_limit=10, used=8, granted=0)
    await desk.after_commit(team=TEAM, model="o3", state=state, window=WEEK)
    await reports.set_notify(TEAM, platform="slack", channel="C", actor="U", now=NOW)
    await desk.after_commit(team=TEAM, model="o3", state=state, window=WEEK)
    assert len(rec.posts) == 1


async def test_the_digest_is_sent_once_when_the_week_ends_and_caught_up_later(
    engine: AsyncEngine, second_engine: AsyncEngine, ledger: SqlLedger
) -> None:
    await seed(ledger)
    clock = {"now": NOW}
    recorders = [Recorder(), Recorder()]
    desks = []
    for eng, rec in zip((engine, second_engine), recorders, strict=True):
        desk = AdminDesk(catalogue=Catalogue(), reports=SqlReports(eng), clock=lambda: clock["now"])
        desk.register("slack", rec)
        desks.append(desk)
    await desks[0].reports.set_notify(TEAM, platform="slack", channel="CADM", actor="U", now=NOW)
    # Mid-week: last week's digest is due (nothing ran at its end), once.
    sent = await asyncio.gather(*(d.send_digests() for d in desks * 2))
    assert sum(sent) == 1
    (_, channel, text) = (recorders[0].posts + recorders[1].posts)[0]
    assert channel == "CADM" and "week of 2026-11-16" in text
    # This week ends; a process started days later catches it up, once.
    clock["now"] = WEEK.end + timedelta(days=2)
    sent = await asyncio.gather(*(d.send_digests() for d in desks * 2))
    assert sum(sent) == 1
    text = (recorders[0].posts + recorders[1].posts)[-1][2]
    assert "week of 2026-11-23" in text
    assert "`o3`: 3 questions, $1.75" in text and "Denied for quota: 1" in text
    assert "Questions: 4 (+3 on the week before)" in text
    assert await desks[0].digest(TEAM, week=WEEK.start.date()) == text


def quota_desk(ledger: SqlLedger, reports: SqlReports) -> QuotaDesk:
    """``/quota`` on one priced model, with the admin desk that shows spend."""
    catalogue = Catalogue(
        default_model="o3",
        models=[ModelSpec(alias="o3", id="o3", weekly_limit=100, price_input=1.0)],
    )
    admin = AdminDesk(catalogue=catalogue, reports=reports, clock=lambda: NOW)
    return QuotaDesk(catalogue=catalogue, ledger=ledger, clock=lambda: NOW, admin=admin)


async def test_quota_shows_team_spend_to_all_and_each_persons_to_admins(
    ledger: SqlLedger, reports: SqlReports
) -> None:
    await seed(ledger)
    desk = quota_desk(ledger, reports)
    member = await desk.quota(QuotaCommand("slack", TEAM, "U2", ""))
    assert "team spend $1.75" in member.text and "$0.75" not in member.text
    boss = await desk.quota(QuotaCommand("slack", TEAM, "U9", "", is_admin=True))
    assert "team spend $1.75" in boss.text
    assert "<@U1> · `o3`: 2 (300 tokens, $0.75)" in boss.text


async def test_picture_shows_a_member_their_own_rows_and_an_admin_everyone(
    ledger: SqlLedger, reports: SqlReports
) -> None:
    await seed(ledger)
    mine = await reports.usage_rows(TEAM, since=WEEK.key, until=WEEK.key, user="U1")
    assert [(r.user, r.questions) for r in mine] == [("U1", 2)]
    desk = quota_desk(ledger, reports)
    member = await desk.picture(QuotaCommand("slack", TEAM, "U1", ""))
    assert not member.admin and {r.user for r in member.people} == {"U1"}
    assert member.own("o3") == 2 and member.weeks == ()
    week = member.week_of("o3")
    assert week is not None and week.cost_usd == pytest.approx(1.75)  # the team's spend
    boss = await desk.picture(QuotaCommand("slack", TEAM, "U9", "", is_admin=True), weeks=2)
    assert {r.user for r in boss.people} == {"U1", "U2"}
    assert [len(rows) for _, rows in boss.weeks] == [1, 3]  # last week o3; this week 3 models


async def test_busiest_rows_come_first_with_the_weeks_count(
    ledger: SqlLedger, reports: SqlReports
) -> None:
    await seed(ledger)
    top, total = await reports.busiest(TEAM, WEEK.key, limit=1)
    assert [(r.user, r.model, r.questions) for r in top] == [("U1", "o3", 2)]
    assert total == 4  # refunded-only and in-flight rows are no rows
    assert await reports.busiest("slack:OTHER", WEEK.key, limit=5) == ([], 0)


async def test_reports_reach_past_pruned_requests_through_the_weekly_roll_up(
    engine: AsyncEngine, ledger: SqlLedger, reports: SqlReports, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(ledger)
    await ask(ledger, "a7", user="U1", usage=Usage(prompt_tokens=1), cost=None)
    before = (
        await reports.usage_rows(TEAM, since=LAST.key, until=WEEK.key),
        await reports.model_weeks(TEAM, since=LAST.key, until=WEEK.key),
        await reports.askers(TEAM, WEEK.key, top=5),
        await reports.askers(TEAM, WEEK.key, model="o3", top=1),
    )
    # Small batches: one person's week is rolled up over several transactions.
    monkeypatch.setattr(retention, "BATCH", 2)
    pruner = SqlRetention(engine, RetentionPolicy(request_days=1))
    report = await pruner.prune(now=NOW + timedelta(days=30), force=True)
    assert report.deleted["requests"] == 9
    after = (
        await reports.usage_rows(TEAM, since=LAST.key, until=WEEK.key),
        await reports.model_weeks(TEAM, since=LAST.key, until=WEEK.key),
        await reports.askers(TEAM, WEEK.key, top=5),
        await reports.askers(TEAM, WEEK.key, model="o3", top=1),
    )
    assert after == before
