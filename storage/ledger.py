"""`SqlLedger`: the quota ledger of `bot.ports.QuotaLedger` in SQL.

Atomicity without locks we would have to hold: a reservation is a conditional
``UPDATE … SET used = used + 1 WHERE used < allowance``, which PostgreSQL re-checks
after waiting for a concurrent writer (READ COMMITTED) and SQLite runs under its
single write lock (``BEGIN IMMEDIATE``). N racing reservations against L remaining
therefore admit exactly min(N, L), across processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain import (
    AuditEntry,
    BudgetState,
    Exchange,
    Limits,
    ModelUsage,
    QuotaState,
    Reservation,
    ReservationStatus,
    TeamUsage,
    Usage,
    UserUsage,
    Window,
)
from storage._sql import SqlStore, aware, naive_utc
from storage.conversations import record_exchange
from storage.tables import (
    AuditRow,
    BudgetCounter,
    LimitOverride,
    QuotaCounter,
    RequestRow,
    TeamBudget,
    UserCap,
    UserCounter,
)

ALL_MODELS = "*"
QC, UC, RQ = QuotaCounter.__table__, UserCounter.__table__, RequestRow.__table__
BC, TB = BudgetCounter.__table__, TeamBudget.__table__
MICROS = 1_000_000


def micros(usd: float | None) -> int:
    """USD as whole micro-dollars: holds added and taken back return to the same sum."""
    return round((usd or 0.0) * MICROS)


def dollars(amount: int | None) -> float:
    return (amount or 0) / MICROS


def _reservation(request: Mapping[str, Any], **outcome: Any) -> Reservation:
    """A reservation of the request row ``request`` (or of the row about to be written):
    who asked for which model in which week, and ``outcome``."""
    return Reservation(
        key=request["key"],
        team=request["team"],
        model=request["model"],
        user=request["user"],
        window=request["window"],
        **outcome,
    )


def _billed(usage: Usage, cost_usd: float | None) -> dict[str, Any]:
    """A request row's columns for what the provider billed an answer."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cached_tokens": usage.cached_tokens,
        "cost_usd": cost_usd,
    }


class _Denied(Exception):
    def __init__(self, scope: str, limits: QuotaState) -> None:
        self.scope = scope
        self.limits = limits


def _state(
    team_limit: int, cap: int, *, used: int | None = None, granted: int | None = None
) -> QuotaState:
    return QuotaState(
        team_limit=team_limit,
        user_limit=None if cap >= _NO_CAP else cap,
        used=used,
        granted=granted,
    )


async def record_audit(
    conn: AsyncConnection,
    team: str,
    actor: str,
    action: str,
    *,
    model: str | None,
    value: int | None,
    target: str | None = None,
    now: datetime,
) -> None:
    """One line of the team's admin log (``/quota log``), on the caller's transaction."""
    await conn.execute(
        AuditRow.__table__.insert().values(
            team=team,
            actor=actor,
            action=action,
            model=model,
            value=value,
            target=target,
            at=naive_utc(now),
        )
    )


_NO_CAP = 2**31 - 1
# Identifiers quoted: "user", "window" and "key" are reserved words in PostgreSQL.
# A team's limit for a model and a person's cap: overrides first, then the catalogue's.
_LIM = """
SELECT COALESCE((SELECT weekly_limit FROM limit_overrides
                 WHERE team = :team AND model = :model), :default_limit) AS team_limit,
       COALESCE((SELECT cap FROM user_caps
                 WHERE team = :team AND "user" = :user AND model = :model),
                (SELECT cap FROM user_caps
                 WHERE team = :team AND "user" = :user AND model = '*'),
                :default_cap) AS cap,
       (SELECT weekly_micros FROM team_budgets WHERE team = :team) AS budget
"""
_RESERVE_PG = text(f"""
WITH lim AS ({_LIM}), req AS (
    INSERT INTO requests ("key", team, channel, "user", model, "window", status,
                          prompt_tokens, completion_tokens, reasoning_tokens, created_at,
                          hold_micros)
    SELECT :key, :team, :channel, :user, :model, :window, 'reserved', 0, 0, 0, :created_at,
           CASE WHEN lim.budget IS NULL THEN NULL ELSE CAST(:hold AS BIGINT) END
    FROM lim
    ON CONFLICT ("key") DO NOTHING
    RETURNING id
), usr AS (
    INSERT INTO user_counters (team, model, "window", "user", used)
    SELECT :team, :model, :window, :user, 1 FROM req, lim
    WHERE lim.cap > 0 OR EXISTS (SELECT 1 FROM user_counters WHERE team = :team
        AND model = :model AND "window" = :window AND "user" = :user)
    ON CONFLICT (team, model, "window", "user") DO UPDATE
        SET used = user_counters.used + 1 WHERE user_counters.used < (SELECT cap FROM lim)
    RETURNING used
), tm AS (
    INSERT INTO quota_counters (team, model, "window", used, granted)
    SELECT :team, :model, :window, 1, 0 FROM usr, lim
    WHERE lim.team_limit > 0 OR EXISTS (SELECT 1 FROM quota_counters WHERE team = :team
        AND model = :model AND "window" = :window)
    ON CONFLICT (team, model, "window") DO UPDATE
        SET used = quota_counters.used + 1
        WHERE quota_counters.used < (SELECT team_limit FROM lim) + quota_counters.granted
    RETURNING used, granted
), bud AS (
    INSERT INTO budget_counters (team, "window", spent_micros, held_micros)
    SELECT :team, :window, 0, CAST(:hold AS BIGINT) FROM tm, lim
    WHERE lim.budget IS NOT NULL AND CAST(:hold AS BIGINT) > 0
      AND CAST(:hold AS BIGINT) <= lim.budget
    ON CONFLICT (team, "window") DO UPDATE
        SET held_micros = budget_counters.held_micros + CAST(:hold AS BIGINT)
        WHERE budget_counters.spent_micros + budget_counters.held_micros
              + CAST(:hold AS BIGINT) <= (SELECT budget FROM lim)
    RETURNING held_micros
)
SELECT (SELECT count(*) FROM req) AS req, (SELECT count(*) FROM usr) AS usr,
       (SELECT used FROM tm) AS used, (SELECT granted FROM tm) AS granted,
       (SELECT count(*) FROM bud) AS bud, lim.budget,
       lim.team_limit, lim.cap, set_config('synchronous_commit', 'off', true)
FROM lim
""")
_LIMITS = text(_LIM)
# One model's week for the footer: its counter, the team's own limit and the questions
# still being answered, as scalar subqueries of one statement.
_MODEL_USAGE = text(
    """
    SELECT
        (SELECT used FROM quota_counters
         WHERE team = :team AND "window" = :window AND model = :model) AS used,
        (SELECT granted FROM quota_counters
         WHERE team = :team AND "window" = :window AND model = :model) AS granted,
        (SELECT weekly_limit FROM limit_overrides
         WHERE team = :team AND model = :model) AS weekly_limit,
        (SELECT count(*) FROM requests
         WHERE team = :team AND "window" = :window AND model = :model
           AND status = 'reserved' AND counted) AS in_flight
    """
)


class SqlLedger(SqlStore):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        # Built once: constructing statements costs more than running them on the hot
        # path (SQLAlchemy caches the compiled SQL by shape, not the objects).
        b = bindparam
        self._take_user = (
            self._insert(UC)
            .values(team=b("team"), model=b("model"), window=b("window"), user=b("user"), used=1)
            .on_conflict_do_update(
                index_elements=["team", "model", "window", "user"],
                set_={"used": UC.c.used + 1},
                where=UC.c.used < b("cap"),
            )
            .returning(UC.c.used)
        )
        self._take_team = (
            self._insert(QC)
            .values(team=b("team"), model=b("model"), window=b("window"), used=1, granted=0)
            .on_conflict_do_update(
                index_elements=["team", "model", "window"],
                set_={"used": QC.c.used + 1},
                where=QC.c.used < b("limit") + QC.c.granted,
            )
            .returning(QC.c.used, QC.c.granted)
        )
        self._take_budget = (
            self._insert(BC)
            .values(team=b("team"), window=b("window"), spent_micros=0, held_micros=b("hold"))
            .on_conflict_do_update(
                index_elements=["team", "window"],
                set_={"held_micros": BC.c.held_micros + b("hold")},
                where=BC.c.spent_micros + BC.c.held_micros + b("hold") <= b("budget"),
            )
            .returning(BC.c.held_micros)
        )
        columns = (
            *("key", "team", "channel", "user", "model", "window", "status", "created_at"),
            "hold_micros",
        )
        self._new_request = (
            self._insert(RQ)
            .values(
                {
                    **{c: b(c) for c in columns},
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "reasoning_tokens": 0,
                }
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(RQ.c.id)
        )

    async def reserve(
        self,
        *,
        key: str,
        team: str,
        model: str,
        user: str,
        channel: str,
        window: Window,
        limits: Limits,
        now: datetime,
        fallbacks: Sequence[tuple[str, Limits]] = (),
    ) -> Reservation:
        row = {
            "key": key,
            "team": team,
            "channel": channel,
            "user": user,
            "model": model,
            "window": window.key,
            "created_at": naive_utc(now),
        }
        links = [(model, limits), *fallbacks]
        passed: _Denied | None = None
        try:
            async with self._tx() as conn:
                take = self._take_pg if self._pg else self._take_sqlite
                for n, (link, link_limits) in enumerate(links):
                    params = {
                        **row,
                        "model": link,
                        "default_limit": link_limits.team_limit,
                        "default_cap": _NO_CAP
                        if link_limits.user_limit is None
                        else link_limits.user_limit,
                        "hold": micros(link_limits.estimate_usd),
                    }
                    try:
                        if n == len(links) - 1:
                            taken = await take(conn, params)
                        else:
                            # The walk down the chain is one transaction, so a racing
                            # worker sees each model either taken or free, never a
                            # question counted twice; a link that is full is undone
                            # back to its savepoint and the next one is tried.
                            async with conn.begin_nested():
                                taken = await take(conn, params)
                    except _Denied as denied:
                        # A budget is the team's, whatever the model: no use walking on.
                        if denied.scope == "budget" or n == len(links) - 1:
                            raise (
                                passed if passed and denied.scope != "budget" else denied
                            ) from None
                        passed = passed or denied
                        continue
                    if taken is None:
                        return await self._replay(conn, key)
                    break
        except _Denied as denied:
            return await self._deny(row, denied.scope, denied.limits)
        return _reservation(
            {**row, "model": link},
            status=ReservationStatus.RESERVED,
            limits=taken,
            fallback_from=model if link != model else None,
            fallback_scope=passed.scope if passed and link != model else None,
        )

    async def _take_pg(self, conn: AsyncConnection, params: dict[str, Any]) -> QuotaState | None:
        """The whole reservation in one round trip (PostgreSQL's data-modifying CTEs):
        read the team's limits, record the request, count it for the user, then for
        the team, each step only if the one before it happened.

        The transaction commits asynchronously (``synchronous_commit`` off, for this
        transaction only), so the team's counter row is not locked through a WAL
        flush. A database *crash* (not a restart) may then forget the last fraction
        of a second of reservations: at worst a message goes uncounted, never a double
        charge. Accepted requests themselves (the job queue) keep synchronous commits.
        """
        r = (await conn.execute(_RESERVE_PG, params)).one()
        state = _state(r.team_limit, r.cap, used=r.used, granted=r.granted)
        if not r.req:
            return None
        if not r.usr:
            raise _Denied("user", state)
        if r.used is None:
            raise _Denied("team", state)
        if r.budget is not None and params["hold"] > 0 and not r.bud:
            raise _Denied("budget", state)
        return state

    async def _take_sqlite(
        self, conn: AsyncConnection, params: dict[str, Any]
    ) -> QuotaState | None:
        """The same steps as `_take_pg`, as separate statements under SQLite's write
        lock (BEGIN IMMEDIATE). The team's counter row is touched last."""
        team_limit, cap, budget = (await conn.execute(_LIMITS, params)).one()
        hold = params["hold"]
        inserted = await conn.execute(
            self._new_request,
            {
                **params,
                "status": ReservationStatus.RESERVED.value,
                "hold_micros": None if budget is None else hold,
            },
        )
        if inserted.first() is None:
            return None
        key = {k: params[k] for k in ("team", "model", "window")}
        state = _state(team_limit, cap)
        if cap <= 0 and not await self._exists(conn, UC, {**key, "user": params["user"]}):
            raise _Denied("user", state)
        took = await conn.execute(self._take_user, {**key, "user": params["user"], "cap": cap})
        if took.first() is None:
            raise _Denied("user", state)  # rolls the whole transaction back
        # A first row starts at used=1, so it must not be created over a zero limit;
        # grants live on an existing row, which the conditional update handles.
        if team_limit <= 0 and not await self._exists(conn, QC, key):
            raise _Denied("team", state)
        counted = (await conn.execute(self._take_team, {**key, "limit": team_limit})).first()
        if counted is None:
            raise _Denied("team", state)
        state = _state(team_limit, cap, used=counted.used, granted=counted.granted)
        if budget is not None and hold > 0:
            held = await conn.execute(
                self._take_budget,
                {"team": key["team"], "window": key["window"], "hold": hold, "budget": budget},
            )
            if hold > budget or held.first() is None:
                raise _Denied("budget", state)
        return state

    @staticmethod
    async def _exists(conn: AsyncConnection, table: Any, where: dict[str, Any]) -> bool:
        found = await conn.execute(
            select(1).select_from(table).where(*(table.c[k] == v for k, v in where.items()))
        )
        return found.first() is not None

    async def _deny(self, row: dict[str, Any], scope: str, limits: QuotaState) -> Reservation:
        """Record the refusal, so a replay of the same key is refused the same way
        (and not, say, admitted after someone else's refund)."""
        async with self._tx() as conn:
            inserted = await conn.execute(
                self._insert(RQ)
                .values(
                    **row,
                    status=ReservationStatus.DENIED,
                    denied_scope=scope,
                    finished_at=row["created_at"],
                )
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(RQ.c.id)
            )
            if inserted.first() is None:
                return await self._replay(conn, row["key"])
        return _reservation(
            row,
            status=ReservationStatus.DENIED,
            denied_scope=scope,
            limits=limits,
        )

    async def _replay(self, conn: AsyncConnection, key: str) -> Reservation:
        r = (await conn.execute(select(RQ).where(RQ.c.key == key))).one()
        return _reservation(
            r._mapping,
            status=ReservationStatus(r.status),
            replayed=True,
            denied_scope=r.denied_scope,
        )

    async def commit(
        self,
        key: str,
        *,
        usage: Usage,
        latency_ms: int,
        now: datetime,
        exchange: Exchange | None = None,
        cost_usd: float | None = None,
    ) -> BudgetState | None:
        async with self._tx() as conn:
            settled = await conn.execute(
                update(RQ)
                .where(RQ.c.key == key, RQ.c.status == ReservationStatus.RESERVED)
                .values(
                    status=ReservationStatus.COMMITTED,
                    latency_ms=latency_ms,
                    finished_at=naive_utc(now),
                    **_billed(usage, cost_usd),
                )
                .returning(RQ.c.team, RQ.c.window, RQ.c.hold_micros)
            )
            row = settled.first()
            # Only the commit that marks it answered records the exchange: a retried
            # job (or a second worker resuming it) appends nothing a second time.
            if exchange is not None and row is not None:
                await record_exchange(conn, exchange, now=now)
            return await self._settle(conn, row, cost_usd)

    async def _settle(
        self, conn: AsyncConnection, r: Any, cost_usd: float | None
    ) -> BudgetState | None:
        """Swap the question's budget hold for what it cost (held under a budget only)."""
        if r is None or r.hold_micros is None:
            return None
        cost = micros(cost_usd)
        after = (
            await conn.execute(
                self._insert(BC)
                .values(team=r.team, window=r.window, spent_micros=cost, held_micros=0)
                .on_conflict_do_update(
                    index_elements=["team", "window"],
                    set_={
                        "spent_micros": BC.c.spent_micros + cost,
                        "held_micros": BC.c.held_micros - r.hold_micros,
                    },
                )
                .returning(BC.c.spent_micros, BC.c.held_micros)
            )
        ).one()
        budget = await conn.scalar(select(TB.c.weekly_micros).where(TB.c.team == r.team))
        return BudgetState(
            budget_usd=None if budget is None else dollars(budget),
            spent_usd=dollars(after.spent_micros),
            held_usd=dollars(after.held_micros),
            spent_before_usd=dollars(after.spent_micros - cost),
        )

    async def refund(
        self,
        key: str,
        *,
        error: str,
        now: datetime,
        usage: Usage | None = None,
        cost_usd: float | None = None,
    ) -> bool:
        billed = {} if usage is None else _billed(usage, cost_usd)
        async with self._tx(what="refund") as conn:
            r = (
                await conn.execute(
                    select(RQ.c.team, RQ.c.model, RQ.c.window, RQ.c.user).where(RQ.c.key == key)
                )
            ).first()
            if r is None:
                return False
            # The counters are locked before the request, in the order a reservation and
            # a reset take them (person, team, then requests), so a refund and a reset
            # never wait on each other crosswise; and ``counted`` is read after any
            # reset that got there first has cleared it.
            person = (
                UC.c.team == r.team,
                UC.c.model == r.model,
                UC.c.window == r.window,
                UC.c.user == r.user,
            )
            team = (QC.c.team == r.team, QC.c.model == r.model, QC.c.window == r.window)
            await conn.execute(select(UC.c.used).where(*person).with_for_update())
            await conn.execute(select(QC.c.used).where(*team).with_for_update())
            refunded = (
                await conn.execute(
                    update(RQ)
                    .where(RQ.c.key == key, RQ.c.status == ReservationStatus.RESERVED)
                    .values(
                        status=ReservationStatus.REFUNDED,
                        error=error[:200],
                        finished_at=naive_utc(now),
                        **billed,
                    )
                    .returning(RQ.c.counted, RQ.c.hold_micros)
                )
            ).first()
            if refunded is None:
                return False
            if refunded.hold_micros:
                # A reset gives back messages, never money: the hold goes back either way.
                await conn.execute(
                    update(BC)
                    .where(BC.c.team == r.team, BC.c.window == r.window)
                    .values(held_micros=BC.c.held_micros - refunded.hold_micros)
                )
            if not refunded.counted:
                # A reset zeroed the counters after this reservation: giving it back
                # now would hand out a message the new count never held.
                return True
            # Back to the window it was reserved in, even if a new week has begun.
            await conn.execute(update(UC).where(*person, UC.c.used > 0).values(used=UC.c.used - 1))
            await conn.execute(update(QC).where(*team, QC.c.used > 0).values(used=QC.c.used - 1))
        return True

    async def set_budget(
        self, team: str, budget_usd: float | None, *, window: Window, actor: str, now: datetime
    ) -> None:
        """Set (or with ``None`` remove) the team's weekly budget. Turned on, this week's
        spend so far counts against it: answers committed while it was off were not
        counted as they went, so the spend is summed from the requests once."""
        async with self._tx(what="set a budget") as conn:
            had = await conn.scalar(select(TB.c.weekly_micros).where(TB.c.team == team))
            if budget_usd is None:
                await conn.execute(delete(TB).where(TB.c.team == team))
            else:
                amount = micros(budget_usd)
                await conn.execute(
                    self._insert(TB)
                    .values(team=team, weekly_micros=amount)
                    .on_conflict_do_update(index_elements=["team"], set_={"weekly_micros": amount})
                )
                if had is None:
                    spent = await conn.scalar(
                        select(func.coalesce(func.sum(RQ.c.cost_usd), 0.0)).where(
                            RQ.c.team == team,
                            RQ.c.window == window.key,
                            RQ.c.status == ReservationStatus.COMMITTED.value,
                        )
                    )
                    await conn.execute(
                        self._insert(BC)
                        .values(
                            team=team, window=window.key, spent_micros=micros(spent), held_micros=0
                        )
                        .on_conflict_do_update(
                            index_elements=["team", "window"],
                            set_={"spent_micros": micros(spent)},
                        )
                    )
            cents = None if budget_usd is None else round(budget_usd * 100)
            await record_audit(conn, team, actor, "budget", model=None, value=cents, now=now)

    async def budget(self, team: str, window: Window) -> BudgetState:
        """The team's weekly budget and this week's spend and holds against it."""
        async with self._tx(read_only=True) as conn:
            budget = await conn.scalar(select(TB.c.weekly_micros).where(TB.c.team == team))
            row = (
                await conn.execute(
                    select(BC.c.spent_micros, BC.c.held_micros).where(
                        BC.c.team == team, BC.c.window == window.key
                    )
                )
            ).first()
        return BudgetState(
            budget_usd=None if budget is None else dollars(budget),
            spent_usd=dollars(row.spent_micros) if row else 0.0,
            held_usd=dollars(row.held_micros) if row else 0.0,
        )

    async def user_cap(self, team: str, model: str, user: str) -> int | None:
        async with self._tx(read_only=True) as conn:
            caps = dict(
                (
                    await conn.execute(
                        select(UserCap.model, UserCap.cap).where(
                            UserCap.team == team,
                            UserCap.user == user,
                            UserCap.model.in_([model, ALL_MODELS]),
                        )
                    )
                ).all()
            )
        return caps.get(model, caps.get(ALL_MODELS))

    async def model_usage(
        self, team: str, model: str, window: Window, *, default_limit: int
    ) -> ModelUsage:
        """One statement, one trip: every answer's footer reads this."""
        params = {"team": team, "model": model, "window": window.key}
        async with self._tx(read_only=True) as conn:
            r = (await conn.execute(_MODEL_USAGE, params)).one()
        return ModelUsage(
            model=model,
            limit=default_limit if r.weekly_limit is None else r.weekly_limit,
            granted=r.granted or 0,
            used=r.used or 0,
            in_flight=r.in_flight,
        )

    async def usage(
        self, team: str, window: Window, *, limits: dict[str, int], with_users: bool
    ) -> TeamUsage:
        async with self._tx(read_only=True) as conn:
            counters = {
                r.model: r
                for r in (
                    await conn.execute(
                        select(QC).where(QC.c.team == team, QC.c.window == window.key)
                    )
                ).all()
            }
            overrides = dict(
                (
                    await conn.execute(
                        select(LimitOverride.model, LimitOverride.weekly_limit).where(
                            LimitOverride.team == team
                        )
                    )
                ).all()
            )
            in_flight = dict(
                (
                    await conn.execute(
                        select(RQ.c.model, func.count())
                        .where(
                            RQ.c.team == team,
                            RQ.c.window == window.key,
                            RQ.c.status == ReservationStatus.RESERVED.value,
                            RQ.c.counted.is_(True),
                        )
                        .group_by(RQ.c.model)
                    )
                ).all()
            )
            users: tuple[UserUsage, ...] = ()
            if with_users:
                tokens = dict(
                    ((u, m), int(t or 0))
                    for u, m, t in (
                        await conn.execute(
                            select(
                                RQ.c.user,
                                RQ.c.model,
                                func.sum(RQ.c.prompt_tokens + RQ.c.completion_tokens),
                            )
                            .where(RQ.c.team == team, RQ.c.window == window.key)
                            .group_by(RQ.c.user, RQ.c.model)
                        )
                    ).all()
                )
                users = tuple(
                    UserUsage(
                        user=r.user,
                        model=r.model,
                        used=r.used,
                        tokens=tokens.get((r.user, r.model), 0),
                    )
                    for r in (
                        await conn.execute(
                            select(UC)
                            .where(UC.c.team == team, UC.c.window == window.key)
                            .order_by(UC.c.user, UC.c.model)
                        )
                    ).all()
                )
        models = []
        for alias, default in limits.items():
            c = counters.get(alias)
            models.append(
                ModelUsage(
                    model=alias,
                    limit=overrides.get(alias, default),
                    granted=c.granted if c else 0,
                    used=c.used if c else 0,
                    in_flight=in_flight.get(alias, 0),
                )
            )
        return TeamUsage(team=team, window=window, models=tuple(models), users=users)

    async def set_limit(
        self, team: str, model: str, limit: int, *, actor: str, now: datetime
    ) -> None:
        async with self._tx() as conn:
            stmt = self._insert(LimitOverride.__table__).values(
                team=team, model=model, weekly_limit=limit
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["team", "model"], set_={"weekly_limit": limit}
                )
            )
            await record_audit(conn, team, actor, "set", model=model, value=limit, now=now)

    async def grant(
        self, team: str, model: str, window: Window, extra: int, *, actor: str, now: datetime
    ) -> None:
        async with self._tx() as conn:
            await conn.execute(
                self._insert(QC)
                .values(team=team, model=model, window=window.key, used=0, granted=0)
                .on_conflict_do_nothing()
            )
            await conn.execute(
                update(QC)
                .where(QC.c.team == team, QC.c.model == model, QC.c.window == window.key)
                .values(granted=QC.c.granted + extra)
            )
            await record_audit(conn, team, actor, "grant", model=model, value=extra, now=now)

    async def reset(
        self, team: str, model: str, window: Window, *, actor: str, now: datetime
    ) -> None:
        """Zero the week's counters, the team's and each person's. Reservations still
        in flight no longer count in them (``counted``), so their refunds give nothing
        back. Rows are taken in the order a reservation takes them (people, then team),
        so a reset and a reservation never wait on each other crosswise. Once the team's
        row is held, a reservation either committed before (it stops counting) or waits
        and counts after the reset (PostgreSQL; SQLite runs it all under its write lock).

        A person's row that such a committed reservation created or updated after the
        first pass is zeroed by a second one, skipping rows a waiting reservation holds:
        waiting on them while holding the team's row would deadlock. A row skipped that
        way keeps counting a message that no longer counts (the person is short one
        message this week), never the reverse."""
        where = (UC.c.team == team, UC.c.model == model, UC.c.window == window.key)
        async with self._tx(what="reset a quota") as conn:
            await conn.execute(update(UC).where(*where).values(used=0))
            await conn.execute(
                update(QC)
                .where(QC.c.team == team, QC.c.model == model, QC.c.window == window.key)
                .values(used=0)
            )
            free = select(UC.c.user).where(*where).with_for_update(skip_locked=True)
            await conn.execute(
                update(UC).where(*where, UC.c.user.in_(free.scalar_subquery())).values(used=0)
            )
            await conn.execute(
                update(RQ)
                .where(
                    RQ.c.team == team,
                    RQ.c.model == model,
                    RQ.c.window == window.key,
                    RQ.c.status == ReservationStatus.RESERVED,
                    RQ.c.counted.is_(True),
                )
                .values(counted=False)
            )
            await record_audit(conn, team, actor, "reset", model=model, value=None, now=now)

    async def set_user_cap(
        self, team: str, user: str, model: str, cap: int | None, *, actor: str, now: datetime
    ) -> None:
        table = UserCap.__table__
        async with self._tx() as conn:
            if cap is None:
                await conn.execute(
                    delete(table).where(
                        table.c.team == team, table.c.user == user, table.c.model == model
                    )
                )
            else:
                stmt = self._insert(table).values(team=team, user=user, model=model, cap=cap)
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["team", "user", "model"], set_={"cap": cap}
                    )
                )
            await record_audit(
                conn, team, actor, "user", model=model, value=cap, target=user, now=now
            )

    async def audit_log(self, team: str, *, limit: int = 20) -> Sequence[AuditEntry]:
        async with self._tx(read_only=True) as conn:
            rows = (
                await conn.execute(
                    select(AuditRow.__table__)
                    .where(AuditRow.team == team)
                    .order_by(AuditRow.id.desc())
                    .limit(limit)
                )
            ).all()
        return [
            AuditEntry(
                team=r.team,
                actor=r.actor,
                action=r.action,
                model=r.model,
                value=r.value,
                target=r.target,
                at=aware(r.at),
            )
            for r in rows
        ]
