"""`SqlJobQueue`: accepted requests, durable, claimed by workers with leases.

Claiming is a conditional ``UPDATE … WHERE (unclaimed or lease expired) RETURNING``, so
two workers never hold the same job, on SQLite and PostgreSQL alike; candidates are
picked round-robin across teams (``row_number() OVER (PARTITION BY team …)``) so one
busy team cannot starve the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.dispatch import Job
from bot.domain import AskRequest, Effort, Role, Turn
from storage._sql import insert, storage_errors, transaction
from storage._sql import naive_utc as _naive
from storage.batching import GroupCommit
from storage.engine import ACK_WITHIN_S, URGENT, turn
from storage.tables import JobRow, TeamTurn

jobs = JobRow.__table__
turns = TeamTurn.__table__

PENDING = "pending"
DONE = "done"


_BY_KEY = jobs.c.key == bindparam("k")
_UPDATES = {
    "route": update(jobs).where(_BY_KEY).values(route=bindparam("v_route")),
    "answer": update(jobs)
    .where(_BY_KEY)
    .values(answer=bindparam("v_answer"), footer=bindparam("v_footer")),
    "finish": update(jobs)
    .where(_BY_KEY)
    .values(
        status=DONE,
        outcome=bindparam("v_outcome"),
        finished_at=bindparam("v_finished_at"),
        lease_until=None,
    ),
}


def _encode(request: AskRequest) -> str:
    data = asdict(request)
    data["context"] = [[t.role.value, t.content] for t in request.context]
    return json.dumps(data, separators=(",", ":"))


def _decode(text: str) -> AskRequest:
    data: dict[str, Any] = json.loads(text)
    data["context"] = tuple(Turn(Role(r), c) for r, c in data.get("context", ()))
    if data.get("effort"):
        data["effort"] = Effort(data["effort"])
    return AskRequest(**data)


def _claimable(now: datetime) -> Any:
    """Waiting to be claimed: unfinished and not leased to a live worker."""
    return and_(
        jobs.c.status == PENDING, or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now)
    )


def _in_claim_order(now: datetime) -> tuple[Any, tuple[Any, ...]]:
    """Claimable jobs, and the order they are taken in. A team's n-th unfinished job,
    counting the ones being answered, has turn n; jobs go by turn, then the team served
    longest ago, then age. So a team with questions in flight waits behind teams with
    none, and teams with many questions waiting take turns instead of first come, first
    served."""
    turn_ = func.row_number().over(partition_by=jobs.c.team, order_by=jobs.c.id).label("turn")
    unfinished = (
        select(jobs.c.id, jobs.c.key, jobs.c.team, jobs.c.lease_until, turn_)
        .where(jobs.c.status == PENDING)
        .subquery()
    )
    free = or_(unfinished.c.lease_until.is_(None), unfinished.c.lease_until < now)
    ranked = (
        select(unfinished.c.id, unfinished.c.key, unfinished.c.turn, turns.c.served_at)
        .select_from(unfinished.outerjoin(turns, turns.c.team == unfinished.c.team))
        .where(free)
        .subquery()
    )
    order = (ranked.c.turn, ranked.c.served_at.nulls_first(), ranked.c.id)
    return ranked, order


class SqlJobQueue:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"
        # A burst of platform events is acknowledged after one disk write instead of
        # queueing for the database one by one; so are the small writes each question
        # makes on its way (route, answer checkpoint, end).
        self._submits = GroupCommit(
            engine,
            self._insert_jobs,
            what="record requests",
            priority=URGENT,
            within_s=ACK_WITHIN_S,
        )
        self._updates = GroupCommit(engine, self._apply_updates, what="update the queue")

    def _insert(self, table: Any) -> Any:
        return insert(self._pg, table)

    async def submit(self, request: AskRequest, route: Mapping[str, Any], *, now: datetime) -> bool:
        return await self._submits((request, dict(route), now))

    async def _insert_jobs(
        self, conn: AsyncConnection, batch: Sequence[tuple[AskRequest, dict[str, Any], datetime]]
    ) -> list[bool]:
        rows = [
            {
                "key": r.key,
                "team": r.team,
                "platform": r.platform,
                "request": _encode(r),
                "route": json.dumps(route),
                "status": PENDING,
                "attempts": 0,
                "created_at": _naive(now),
            }
            for r, route, now in batch
        ]
        # executemany: one compiled statement whatever the batch size (a multi-row
        # VALUES clause is compiled afresh for every new row count).
        stmt = (
            self._insert(jobs).on_conflict_do_nothing(index_elements=["key"]).returning(jobs.c.key)
        )
        inserted = {row[0] for row in (await conn.execute(stmt, rows)).all()}
        accepted = []
        for request, _, _ in batch:
            # The first of several copies of one key in a batch is the accepted one.
            accepted.append(request.key in inserted)
            inserted.discard(request.key)
        return accepted

    async def _apply_updates(
        self, conn: AsyncConnection, batch: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[None]:
        """One executemany per kind of update, in arrival order within each kind (two
        route saves for one job: the later wins). Kinds touch different columns."""
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for kind, params in batch:
            by_kind.setdefault(kind, []).append(params)
        for kind, params in by_kind.items():
            await conn.execute(_UPDATES[kind], params)
        return [None] * len(batch)

    async def claim(self, *, worker: str, limit: int, lease_s: float, now: datetime) -> list[Job]:
        if limit <= 0:
            return []
        now_n = _naive(now)
        claimable = _claimable(now_n)
        ranked, order = _in_claim_order(now_n)
        candidates = select(ranked.c.id).order_by(*order).limit(limit)
        with storage_errors("claim work"):
            async with turn(self._engine), self._engine.begin() as conn:
                ids = [row[0] for row in (await conn.execute(candidates)).all()]
                if not ids:
                    return []
                rows = (
                    await conn.execute(
                        update(jobs)
                        .where(jobs.c.id.in_(ids), claimable)
                        .values(
                            worker=worker,
                            lease_until=now_n + timedelta(seconds=lease_s),
                            attempts=jobs.c.attempts + 1,
                        )
                        .returning(
                            jobs.c.id,
                            jobs.c.team,
                            jobs.c.request,
                            jobs.c.route,
                            jobs.c.attempts,
                            jobs.c.answer,
                            jobs.c.footer,
                        )
                    )
                ).all()
                if rows:
                    # In team order, so two workers' claims never wait on each other
                    # crosswise.
                    served = [
                        {"team": t, "served_at": now_n} for t in sorted({r.team for r in rows})
                    ]
                    upsert = self._insert(turns)
                    await conn.execute(
                        upsert.on_conflict_do_update(
                            index_elements=["team"], set_={"served_at": upsert.excluded.served_at}
                        ),
                        served,
                    )
        rows = sorted(rows, key=lambda r: ids.index(r.id))
        return [
            Job(
                request=_decode(r.request),
                route=json.loads(r.route),
                attempt=r.attempts,
                answer=r.answer,
                footer=r.footer,
            )
            for r in rows
        ]

    async def _update(self, where: Any, **values: Any) -> None:
        async with transaction(self._engine, what="update the queue") as conn:
            await conn.execute(update(jobs).where(where).values(**values))

    async def renew(
        self, keys: Sequence[str], *, worker: str, lease_s: float, now: datetime
    ) -> None:
        if keys:
            await self._update(
                and_(jobs.c.key.in_(list(keys)), jobs.c.worker == worker, jobs.c.status == PENDING),
                lease_until=_naive(now) + timedelta(seconds=lease_s),
            )

    async def save_route(self, key: str, route: Mapping[str, Any]) -> None:
        await self._updates(("route", {"k": key, "v_route": json.dumps(dict(route))}))

    async def route(self, key: str) -> Mapping[str, Any] | None:
        async with transaction(self._engine, what="read a route", read_only=True) as conn:
            text_ = await conn.scalar(select(jobs.c.route).where(jobs.c.key == key))
        return json.loads(text_) if text_ else None

    async def save_answer(self, key: str, *, text: str, footer: str) -> None:
        await self._updates(("answer", {"k": key, "v_answer": text, "v_footer": footer}))

    async def finish(self, key: str, *, outcome: str, now: datetime) -> None:
        await self._updates(
            ("finish", {"k": key, "v_outcome": outcome, "v_finished_at": _naive(now)})
        )

    async def release(self, keys: Sequence[str], *, worker: str) -> None:
        if keys:
            await self._update(
                and_(jobs.c.key.in_(list(keys)), jobs.c.worker == worker, jobs.c.status == PENDING),
                lease_until=None,
                worker=None,
            )

    async def positions(self, keys: Sequence[str], *, now: datetime) -> dict[str, int]:
        if not keys:
            return {}
        ranked, order = _in_claim_order(_naive(now))
        place = func.row_number().over(order_by=order).label("place")
        placed = select(ranked.c.key, place).subquery()
        wanted = select(placed.c.key, placed.c.place).where(placed.c.key.in_(list(keys)))
        async with transaction(self._engine, what="read queue positions", read_only=True) as conn:
            rows = (await conn.execute(wanted)).all()
        return {key: int(place) for key, place in rows}

    async def depth(self) -> int:
        async with transaction(self._engine, what="count the queue", read_only=True) as conn:
            n = await conn.scalar(
                select(func.count()).select_from(jobs).where(jobs.c.status == PENDING)
            )
        return int(n or 0)
