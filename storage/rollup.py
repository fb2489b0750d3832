"""The weekly roll-up: when a team's week is over, its per-person sums go to
``usage_weeks`` and the week is marked in ``rolled_weeks``, once across every worker.

Reports then read a finished week's few thousand sums instead of grouping its raw
``requests`` again (a year of a 5,000-person team is ~300,000 rows), and retention
deletes the rows of a rolled week without adding them a second time.

Exactly once: the claim (``rolled_weeks``' key) and the sums are one transaction. A
second worker's claim waits on the first's uncommitted key and then finds it taken
(PostgreSQL); SQLite has one writer. Retention deletes only rows of rolled weeks, so
the sums never miss a row it deleted.

A week that retention had begun to prune before this roll-up existed (migration 0009)
already has sums for its deleted rows: the roll-up adds the rows left to them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain import ReservationStatus
from bot.reports import OPEN_WAITED, SETTLE
from storage._sql import insert, naive_utc, transaction
from storage.tables import RequestRow, RolledWeek, UsageWeek

RQ, UW, RW = RequestRow.__table__, UsageWeek.__table__, RolledWeek.__table__
# The longest a week lasts (a week of a time zone that goes back an hour).
LONGEST_WEEK = timedelta(days=7, hours=1)
SUMS = ("questions", "denied", "input_tokens", "output_tokens", "reasoning_tokens")


def window_key(at: datetime) -> str:
    """A time as week keys are written (`Window.key`: they sort as time)."""
    return naive_utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def settled_before(now: datetime) -> tuple[str, str]:
    """Week keys below which a week is surely over and settled, whatever the week
    policy (a key is its week's start): (with no question left in flight, in any case).
    For callers without the team's week policy (retention); `AdminDesk` knows it and
    rolls up sooner."""
    return (
        window_key(now - LONGEST_WEEK - SETTLE),
        window_key(now - LONGEST_WEEK - OPEN_WAITED),
    )


def _sums(where: Any) -> Any:
    answered = RQ.c.status == ReservationStatus.COMMITTED.value
    refused = RQ.c.status == ReservationStatus.DENIED.value
    # Billed as the reports count it: answers, and refunds whose tokens all went to
    # reasoning (the message was given back; the spend was real).
    billed = RQ.c.status.in_((ReservationStatus.COMMITTED.value, ReservationStatus.REFUNDED.value))

    def total(value: Any, when: Any) -> Any:
        return func.coalesce(func.sum(case((when, value), else_=0)), 0)

    questions = total(1, answered)
    denied = total(1, refused)
    output = total(RQ.c.completion_tokens, billed)
    cost = func.sum(case((billed, RQ.c.cost_usd), else_=None))
    return (
        select(
            RQ.c.team,
            RQ.c.window,
            RQ.c.model,
            RQ.c.user,
            questions,
            denied,
            total(RQ.c.prompt_tokens, billed),
            output,
            total(RQ.c.reasoning_tokens, billed),
            cost,
        )
        .where(where)
        .group_by(RQ.c.team, RQ.c.window, RQ.c.model, RQ.c.user)
        # Not a question in flight, nor one refunded that billed nothing.
        .having((questions > 0) | (denied > 0) | (output > 0) | cost.is_not(None))
    )


async def roll_up_week(
    conn: AsyncConnection, pg: bool, team: str, window: str, *, now: datetime
) -> bool:
    """Claim ``team``'s week and add its requests' sums, in the caller's transaction;
    False if the week was already rolled up."""
    claimed = await conn.execute(
        insert(pg, RW)
        .values(team=team, window=window, rolled_at=naive_utc(now))
        .on_conflict_do_nothing()
        .returning(RW.c.team)
    )
    if claimed.first() is None:
        return False
    stmt = insert(pg, UW).from_select(
        ["team", "window", "model", "user", *SUMS, "cost_usd"],
        _sums(and_(RQ.c.team == team, RQ.c.window == window)),
    )
    new = stmt.excluded
    grow = {c: UW.c[c] + new[c] for c in SUMS}
    # Unknown (NULL) only while both are.
    grow["cost_usd"] = case(
        (UW.c.cost_usd.is_(None) & new.cost_usd.is_(None), None),
        else_=func.coalesce(UW.c.cost_usd, 0) + func.coalesce(new.cost_usd, 0),
    )
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["team", "window", "model", "user"], set_=grow)
    )
    return True


def rolled(team: Any, window: Any) -> Any:
    """SQL: the week of (``team``, ``window``) is rolled up."""
    return exists().where(RW.c.team == team, RW.c.window == window)


async def roll_up(engine: AsyncEngine, *, before: str, open_before: str, now: datetime) -> int:
    """Roll up every week with a key below ``before`` not rolled up yet, each in its own
    transaction; a week with a question still in flight waits, unless its key is below
    ``open_before`` too (that reservation was abandoned). Returns how many this call
    rolled up (weeks missed while nothing ran are caught up here)."""
    in_flight = func.sum(case((RQ.c.status == ReservationStatus.RESERVED.value, 1), else_=0))
    due = (
        select(RQ.c.team, RQ.c.window)
        .where(RQ.c.window < before, ~rolled(RQ.c.team, RQ.c.window))
        .group_by(RQ.c.team, RQ.c.window)
        .having((in_flight == 0) | (RQ.c.window < open_before))
        .order_by(RQ.c.window, RQ.c.team)
    )
    pg = engine.dialect.name == "postgresql"
    async with transaction(engine, what="roll up weeks", read_only=True) as conn:
        weeks = (await conn.execute(due)).all()
    done = 0
    for team, window in weeks:
        async with transaction(engine, what="roll up a week") as conn:
            done += await roll_up_week(conn, pg, team, window, now=now)
    return done
