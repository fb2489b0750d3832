"""`SqlReports`: the admin's aggregates over ``requests`` (history, export, digest),
the notify channel, and the once-only claims of alerts and digests.

A finished week is read from its per-person sums in ``usage_weeks`` once it is rolled
up (`storage.rollup`); the raw ``requests`` are grouped only for weeks that are not (this
week, and one just ended), through ``ix_requests_team_window`` (team, window). A week
retention pruned before the roll-up existed is in both, and adds up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import ReservationStatus
from bot.reports import Askers, ModelWeek, NotifyTarget, UsageRow
from storage._sql import SqlStore, naive_utc
from storage.ledger import record_audit
from storage.rollup import roll_up
from storage.tables import (
    AuditRow,
    NotifyChannel,
    RequestRow,
    RolledWeek,
    SentAlert,
    SentDigest,
    UsageWeek,
)

RQ, NC = RequestRow.__table__, NotifyChannel.__table__
UW, RW = UsageWeek.__table__, RolledWeek.__table__
AUDIT = AuditRow.__table__
_ANSWERED = RQ.c.status == ReservationStatus.COMMITTED.value
# What the provider billed: answered questions, and refunded ones whose tokens all went
# to reasoning (the asker gets the message back; the spend is real).
_BILLED = RQ.c.status.in_((ReservationStatus.COMMITTED.value, ReservationStatus.REFUNDED.value))
_DENIED = RQ.c.status == ReservationStatus.DENIED.value


def _count_if(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _sum_answered(column: Any) -> Any:
    return func.coalesce(func.sum(case((_BILLED, column), else_=0)), 0)


def _int(total: Any) -> Any:
    # PostgreSQL sums integers as numeric (Decimal in Python): cast back in SQL.
    return cast(total, BigInteger)


# NULL while no billed question of the group had a price: "no cost known", not $0.
_COST = func.sum(case((_BILLED, RQ.c.cost_usd), else_=None))


def _add_cost(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


def _merged(live: list[UsageRow], rolled: list[UsageRow]) -> list[UsageRow]:
    """Rows of the same week, model and person from both sources, added up (a week
    that retention has begun to prune is in both), in (week, model, person) order."""
    rows: dict[tuple[str, str, str], UsageRow] = {}
    for r in (*rolled, *live):
        key = (r.window, r.model, r.user)
        seen = rows.get(key)
        rows[key] = (
            r
            if seen is None
            else UsageRow(
                *key,
                seen.questions + r.questions,
                seen.denied + r.denied,
                seen.input_tokens + r.input_tokens,
                seen.output_tokens + r.output_tokens,
                seen.reasoning_tokens + r.reasoning_tokens,
                _add_cost(seen.cost_usd, r.cost_usd),
            )
        )
    return [rows[k] for k in sorted(rows)]


def _unrolled(since: str, until: str, rolled: Sequence[str]) -> Any:
    """SQL: a request's week is in [``since``, ``until``] and not one of ``rolled``
    (sorted): the ranges between them, each an index range of (team, window)."""
    ranges, lo, closed = [], since, True
    for key in (*rolled, None):
        hi = until if key is None else key
        if lo < hi or (lo == hi and closed and key is None):
            low = RQ.c.window >= lo if closed else RQ.c.window > lo
            high = RQ.c.window <= hi if key is None else RQ.c.window < hi
            ranges.append(and_(low, high))
        if key is not None:
            lo, closed = key, False
    return or_(*ranges) if ranges else false()


async def _rolled_weeks(conn: AsyncConnection, team: str, since: str, until: str) -> list[str]:
    stmt = (
        select(RW.c.window)
        .where(RW.c.team == team, RW.c.window >= since, RW.c.window <= until)
        .order_by(RW.c.window)
    )
    return list((await conn.execute(stmt)).scalars())


def _week_rolled(team: str, window: str) -> Any:
    return exists().where(RW.c.team == team, RW.c.window == window)


def _one_week(team: str, window: str) -> Any:
    """SQL: a request of ``team``'s week ``window``, unless that week is rolled up
    (tested in the statement: no question asked first)."""
    return and_(RQ.c.team == team, RQ.c.window == window, ~_week_rolled(team, window))


async def _live(conn: AsyncConnection, team: str, since: str, until: str) -> Any:
    """SQL: a request of ``team`` in a week of [``since``, ``until``] not rolled up."""
    if since == until:  # this week's Home, an alert: one statement
        return _one_week(team, since)
    rolled = await _rolled_weeks(conn, team, since, until)
    return and_(RQ.c.team == team, _unrolled(since, until, rolled))


class SqlReports(SqlStore):
    async def roll_up(self, *, before: str, open_before: str, now: datetime) -> int:
        return await roll_up(self._engine, before=before, open_before=open_before, now=now)

    async def set_notify(
        self, team: str, *, platform: str, channel: str | None, actor: str, now: datetime
    ) -> None:
        async with self._tx() as conn:
            if channel is None:
                await conn.execute(delete(NC).where(NC.c.team == team))
            else:
                values = {
                    "platform": platform,
                    "channel": channel,
                    "set_by": actor,
                    "set_at": naive_utc(now),
                }
                await conn.execute(
                    self._insert(NC)
                    .values(team=team, **values)
                    .on_conflict_do_update(index_elements=["team"], set_=values)
                )
            await record_audit(
                conn, team, actor, "notify", model=None, value=None, target=channel, now=now
            )

    async def notify_target(self, team: str) -> NotifyTarget | None:
        async with self._tx(read_only=True) as conn:
            r = (
                await conn.execute(select(NC.c.platform, NC.c.channel).where(NC.c.team == team))
            ).first()
        return NotifyTarget(r.platform, r.channel) if r else None

    async def notify_targets(self) -> Sequence[tuple[str, NotifyTarget]]:
        async with self._tx(read_only=True) as conn:
            stmt = select(NC.c.team, NC.c.platform, NC.c.channel).order_by(NC.c.team)
            rows = (await conn.execute(stmt)).all()
        return [(r.team, NotifyTarget(r.platform, r.channel)) for r in rows]

    async def quota_changes(self, after: int | None) -> tuple[int, tuple[str, ...]]:
        # Through the audit trail's primary key: a range past the last entry seen.
        async with self._tx(read_only=True) as conn:
            if after is None:
                last = await conn.scalar(select(func.max(AUDIT.c.id)))
                return int(last or 0), ()
            rows = (
                await conn.execute(
                    select(AUDIT.c.team, func.max(AUDIT.c.id))
                    .where(AUDIT.c.id > after)
                    .group_by(AUDIT.c.team)
                    .order_by(AUDIT.c.team)
                )
            ).all()
        return max((int(r[1]) for r in rows), default=after), tuple(r[0] for r in rows)

    async def _claim(self, table: Any, row: dict[str, Any]) -> bool:
        async with self._tx() as conn:
            inserted = await conn.execute(
                self._insert(table).values(**row).on_conflict_do_nothing().returning(table.c.team)
            )
            return inserted.first() is not None

    async def claim_alert(
        self, team: str, model: str, window: str, threshold: int, *, now: datetime
    ) -> bool:
        return await self._claim(
            SentAlert.__table__,
            {
                "team": team,
                "model": model,
                "window": window,
                "threshold": threshold,
                "sent_at": naive_utc(now),
            },
        )

    async def claim_digest(self, team: str, window: str, *, now: datetime) -> bool:
        return await self._claim(
            SentDigest.__table__, {"team": team, "window": window, "sent_at": naive_utc(now)}
        )

    def _usage_stmt(self, where: list[Any]) -> Any:
        questions = _int(_count_if(_ANSWERED)).label("questions")
        denied = _int(_count_if(_DENIED)).label("denied")
        billed = _sum_answered(RQ.c.completion_tokens)
        return (
            select(
                RQ.c.window,
                RQ.c.model,
                RQ.c.user,
                questions,
                denied,
                _int(_sum_answered(RQ.c.prompt_tokens)).label("input_tokens"),
                _int(billed).label("output_tokens"),
                _int(_sum_answered(RQ.c.reasoning_tokens)).label("reasoning_tokens"),
                cast(_COST, Float).label("cost_usd"),
            )
            .where(*where)
            .group_by(RQ.c.window, RQ.c.model, RQ.c.user)
            # Not a question still in flight, nor one refunded that billed nothing.
            .having(or_(questions > 0, denied > 0, billed > 0, _COST.is_not(None)))
        )

    async def usage_rows(
        self, team: str, *, since: str, until: str, user: str | None = None
    ) -> Sequence[UsageRow]:
        rolled = select(*(UW.c[c] for c in UsageRow._fields)).where(
            UW.c.team == team, UW.c.window >= since, UW.c.window <= until
        )
        if user is not None:
            rolled = rolled.where(UW.c.user == user)
        async with self._tx(read_only=True) as conn:
            where = [await _live(conn, team, since, until)]
            if user is not None:
                where.append(RQ.c.user == user)
            stmt = self._usage_stmt(where).order_by(RQ.c.window, RQ.c.model, RQ.c.user)
            rows = (await conn.execute(stmt)).all()
            older = (await conn.execute(rolled.order_by(UW.c.window, UW.c.model, UW.c.user))).all()
        # Typed by the SQL casts: positional, as a year of a large team is many rows.
        live = [UsageRow(*r) for r in rows]
        sums = [UsageRow(*r) for r in older]
        if not sums or not live:
            return sums or live
        if sums[-1].window < live[0].window:  # finished weeks rolled up, then the rest
            return sums + live
        return _merged(live, sums)

    async def busiest(
        self, team: str, window: str, *, limit: int
    ) -> tuple[Sequence[UsageRow], int]:
        live = self._usage_stmt([_one_week(team, window)])
        cols = live.selected_columns
        # The count of every group rides along (a window function over the groups):
        # one aggregation, not a second pass to count.
        ranked = (
            live.add_columns(func.count().over().label("total"))
            .order_by(cols.questions.desc(), cols.denied.desc(), RQ.c.user, RQ.c.model)
            .limit(limit)
        )
        async with self._tx(read_only=True) as conn:
            rows = (await conn.execute(ranked)).all()
            if not rows:  # a week rolled up: its sums
                summed = (
                    select(*(UW.c[c] for c in UsageRow._fields))
                    .add_columns(func.count().over().label("total"))
                    .where(UW.c.team == team, UW.c.window == window, _week_rolled(team, window))
                    .order_by(UW.c.questions.desc(), UW.c.denied.desc(), UW.c.user, UW.c.model)
                    .limit(limit)
                )
                rows = (await conn.execute(summed)).all()
        total = int(rows[0][-1]) if rows else 0
        return [UsageRow(*r[:-1]) for r in rows], total

    async def model_weeks(self, team: str, *, since: str, until: str) -> Sequence[ModelWeek]:
        rolled = (
            select(
                UW.c.window,
                UW.c.model,
                func.sum(UW.c.questions).label("questions"),
                func.sum(UW.c.denied).label("denied"),
                func.sum(UW.c.cost_usd).label("cost_usd"),
            )
            .where(UW.c.team == team, UW.c.window >= since, UW.c.window <= until)
            .group_by(UW.c.window, UW.c.model)
        )
        async with self._tx(read_only=True) as conn:
            live = await _live(conn, team, since, until)
            stmt = (
                select(
                    RQ.c.window,
                    RQ.c.model,
                    _count_if(_ANSWERED).label("questions"),
                    _count_if(_DENIED).label("denied"),
                    _COST.label("cost_usd"),
                )
                .where(live)
                .group_by(RQ.c.window, RQ.c.model)
            )
            rows = (await conn.execute(stmt)).all()
            older = (await conn.execute(rolled)).all()
        by_week: dict[tuple[str, str], ModelWeek] = {}
        for r in (*older, *rows):
            cost = None if r.cost_usd is None else float(r.cost_usd)
            seen = by_week.get((r.window, r.model))
            if seen is not None:
                cost = _add_cost(seen.cost_usd, cost)
            by_week[(r.window, r.model)] = ModelWeek(
                window=r.window,
                model=r.model,
                questions=int(r.questions) + (seen.questions if seen else 0),
                denied=int(r.denied) + (seen.denied if seen else 0),
                cost_usd=cost,
            )
        return [w for _, w in sorted(by_week.items()) if w.questions or w.denied]

    async def askers(
        self, team: str, window: str, *, model: str | None = None, top: int = 5
    ) -> Askers:
        where = [RQ.c.team == team, RQ.c.window == window, _ANSWERED]
        rolled_where = [UW.c.team == team, UW.c.window == window, UW.c.questions > 0]
        if model is not None:
            where.append(RQ.c.model == model)
            rolled_where.append(UW.c.model == model)
        where.append(~_week_rolled(team, window))
        async with self._tx(read_only=True) as conn:
            # A week retention had begun to prune before it was rolled up is in both.
            asked = union_all(
                select(RQ.c.user, func.count().label("n")).where(*where).group_by(RQ.c.user),
                select(UW.c.user, UW.c.questions.label("n")).where(*rolled_where),
            ).subquery()
            n = _int(func.sum(asked.c.n)).label("n")
            count = await conn.scalar(select(func.count(func.distinct(asked.c.user))))
            busiest = (
                await conn.execute(
                    select(asked.c.user, n)
                    .group_by(asked.c.user)
                    .order_by(n.desc(), asked.c.user)
                    .limit(top)
                )
            ).all()
        return Askers(count=int(count or 0), top=tuple((r.user, int(r.n)) for r in busiest))
