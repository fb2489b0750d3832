"""`SqlJobQueue`: accepted requests, durable, claimed by workers with leases.

A job is ``pending`` (waiting for a worker), ``running`` (leased) or ``done``. Beside the
jobs, ``queue_teams`` keeps each team's count of questions in flight and waiting and when
it was last served, updated in the same transaction as the jobs it counts. A claim reads
the first few teams in fair-share order from that table and each one's oldest waiting
jobs, so its cost follows the number of jobs taken, not the backlog or the history:

    turn of a team's j-th waiting job = its questions in flight + j
    order = turn, then the team served longest ago, then age

On PostgreSQL a claim is one statement: both reads use ``FOR UPDATE SKIP LOCKED``, so
concurrent claimers take different teams instead of colliding on the same candidates,
and the jobs taken and their teams' state are updated in the same statement. SQLite has
one writer, so it ranks its (few) waiting jobs with a window function.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, and_, bindparam, case, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain import AskRequest, Effort, Role, Turn
from bot.intake import Parsed
from bot.ports import QUEUE_POSITION_BOUND, Job
from storage._sql import SqlStore
from storage._sql import naive_utc as _naive
from storage.batching import BATCH_LIMIT, GroupCommit
from storage.engine import ACK_WITHIN_S, URGENT
from storage.tables import JobRow, QueueTeam

jobs = JobRow.__table__
teams = QueueTeam.__table__

PENDING = "pending"
RUNNING = "running"
DONE = "done"
# A team never served goes before any served one with as many questions in flight.
NEVER = datetime(1970, 1, 1)
# Expired leases are looked for at most this often per process (a scan of the running
# jobs): a lost worker's questions resume within lease + this.
REAP_EVERY_S = 5.0

_BY_KEY = jobs.c.key == bindparam("k")


def _lock_in_order(*where: Any, skip_locked: bool = False) -> Any:
    """Lock the jobs ``where`` holds in id order. Every write that waits for locks on
    several jobs takes them in this one order (a claim skips locked ones), so two such
    writers never wait on each other crosswise (a deadlock)."""
    ids = select(jobs.c.id).where(*where).order_by(jobs.c.id)
    return ids.with_for_update(skip_locked=skip_locked)


def _locked(*where: Any, skip_locked: bool = False) -> Any:
    """The jobs ``where`` holds, locked as `_lock_in_order` does."""
    return jobs.c.id.in_(_lock_in_order(*where, skip_locked=skip_locked).scalar_subquery())


_UPDATES = {
    "route": update(jobs).where(_BY_KEY, jobs.c.status != DONE).values(route=bindparam("v_route")),
    "answer": update(jobs)
    .where(_BY_KEY, jobs.c.status != DONE)
    .values(answer=bindparam("v_answer"), footer=bindparam("v_footer")),
}
_RETURNED = (
    jobs.c.id,
    jobs.c.team,
    jobs.c.request,
    jobs.c.route,
    jobs.c.attempts,
    jobs.c.answer,
    jobs.c.footer,
)

# The whole claim in one statement (one round trip): the first ``n`` teams in
# (in flight, served at, waiting since) order, each one's oldest waiting jobs, both
# locked and skipping what another claimer holds; the best ``n`` of those by (turn,
# served at, id); then the jobs taken and their teams' state updated together. Only the
# first ``n`` teams can own one of the ``n`` best jobs (each team before a team owns a
# better job than that team's first), and the k-th of them at most ``n - k + 1`` of
# them (its j-th job, j > 1, waits behind the k - 1 teams' first jobs and its own j - 1):
# the rows read and locked are bounded by the jobs taken, not the backlog.
_PG_CLAIM = text(
    """
    WITH t AS (
        SELECT team, in_flight, served_at,
               row_number() OVER (ORDER BY in_flight, served_at, since_id) AS k
        FROM (
            SELECT team, in_flight, served_at, since_id FROM queue_teams
            WHERE waiting > 0
            ORDER BY in_flight, served_at, since_id
            LIMIT :n
            FOR UPDATE SKIP LOCKED
        ) first_teams
    ), candidates AS (
        SELECT c.id, t.team, t.served_at,
               t.in_flight + row_number() OVER (PARTITION BY t.team ORDER BY c.id) AS turn
        FROM t CROSS JOIN LATERAL (
            SELECT j.id FROM jobs j
            WHERE j.team = t.team AND j.status = 'pending'
            ORDER BY j.id
            LIMIT :n - t.k + 1
            FOR UPDATE SKIP LOCKED
        ) c
    ), best AS (
        SELECT id, team, row_number() OVER (ORDER BY turn, served_at, id) AS place
        FROM candidates
        ORDER BY turn, served_at, id
        LIMIT :n
    ), served AS (
        UPDATE queue_teams q
        SET in_flight = q.in_flight + b.taken, waiting = q.waiting - b.taken,
            served_at = :now,
            since_id = coalesce(
                (SELECT min(j.id) FROM jobs j
                 WHERE j.team = q.team AND j.status = 'pending' AND j.id > b.last),
                0
            )
        FROM (SELECT team, count(*) AS taken, max(id) AS last FROM best GROUP BY team) b
        WHERE q.team = b.team
    )
    UPDATE jobs
    SET status = 'running', worker = :worker, lease_until = :until,
        attempts = jobs.attempts + 1
    FROM best
    WHERE jobs.id = best.id
    RETURNING best.place, jobs.request, jobs.route, jobs.attempts, jobs.answer, jobs.footer
    """
)

# One refresh of queue places in one statement: the keys' own jobs with their team's
# state and their rank among the team's waiting jobs, then (key NULL) the first teams
# in claim order that may own jobs ahead of them, at most ``:limit``.
_MINE = """
    SELECT j.key, j.team, q.in_flight, q.served_at, q.since_id,
           (SELECT count(*) FROM jobs o
            WHERE o.team = j.team AND o.status = 'pending' AND o.id <= j.id) AS n
    FROM jobs j JOIN queue_teams q ON q.team = j.team
    WHERE j.key {keys} AND j.status = 'pending'
"""
_FIRST_TEAMS = """
    SELECT team, in_flight, waiting AS n, served_at, since_id,
           row_number() OVER (ORDER BY in_flight, served_at, since_id) AS o
    FROM queue_teams
    WHERE waiting > 0 AND in_flight < (SELECT max(in_flight + n) FROM mine)
    ORDER BY in_flight, served_at, since_id
    LIMIT :limit
"""
_SQLITE_POSITIONS = (
    text(
        f"WITH mine AS ({_MINE.format(keys='IN :keys')}) "
        "SELECT key, team, in_flight, n, served_at, since_id, NULL AS o FROM mine "
        "UNION ALL "
        f"SELECT NULL, team, in_flight, n, served_at, since_id, o FROM ({_FIRST_TEAMS}) f"
    )
    .bindparams(bindparam("keys", expanding=True))
    .columns(served_at=DateTime)
)
# On PostgreSQL the same rows come back as two rows of arrays, one per column: a
# thousand teams' state decoded by the driver in one piece instead of row by row, which
# cost more than the query itself. The teams' arrays come with each one's place in claim
# order (``o``), so nothing relies on the order an aggregate keeps.
_PG_POSITIONS = text(
    f"WITH mine AS ({_MINE.format(keys='= ANY(:keys)')}), first_teams AS ({_FIRST_TEAMS}) "
    "SELECT true, array_agg(key), array_agg(team), array_agg(in_flight), array_agg(n), "
    "array_agg(served_at), array_agg(since_id), NULL FROM mine "
    "UNION ALL "
    "SELECT false, NULL, array_agg(team), array_agg(in_flight), array_agg(n), "
    "array_agg(served_at), array_agg(since_id), array_agg(o) FROM first_teams"
)


def _encode(request: AskRequest, parsed: Parsed | None) -> str:
    data = asdict(request)
    data["context"] = [[t.role.value, t.content] for t in request.context]
    if parsed is not None:
        # Beside the request, in its column: what intake parsed of it.
        data["parsed"] = parsed.to_json()
    return json.dumps(data, separators=(",", ":"))


def _decode(text_: str) -> tuple[AskRequest, Parsed | None]:
    data: dict[str, Any] = json.loads(text_)
    parsed = data.pop("parsed", None)  # absent from jobs written before it was kept
    data["context"] = tuple(Turn(Role(r), c) for r, c in data.get("context", ()))
    if data.get("effort"):
        data["effort"] = Effort(data["effort"])
    return AskRequest(**data), Parsed.from_json(parsed) if parsed else None


def _job(row: Any) -> Job:
    request, parsed = _decode(row.request)
    return Job(
        request=request,
        route=json.loads(row.route),
        attempt=row.attempts,
        answer=row.answer,
        footer=row.footer,
        parsed=parsed,
    )


_Submitted = tuple[AskRequest, dict[str, Any], datetime, Parsed | None]


@dataclass(slots=True)
class _Ahead:
    """Waiting jobs of the teams read (the first in claim order) that a job of turn ``t``
    waits behind: each team's jobs of a lower turn, and its job of turn ``t`` when the
    team was served longer ago. Computed once per turn for a whole refresh."""

    teams: list[tuple[int, int, datetime, int, str]]  # in_flight, waiting, served, since, team
    bound: int
    # When more teams came after these: the last of these in claim order.
    last: tuple[int, int, datetime, int, str] | None = None
    _lower: dict[int, tuple[int, list[tuple[datetime, int]]]] = field(default_factory=dict)
    _by_team: dict[str, tuple[int, int, datetime, int, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, teams: list[tuple[int, int, datetime, int, str]], places: Sequence[int], *, bound: int
    ) -> _Ahead:
        """The first ``bound + 1`` teams in claim order, in any order, with their
        ``places`` in it (1, 2, …): the last of them only says that more came."""
        if len(teams) <= bound:
            return cls(teams, bound)
        beyond = places.index(bound + 1)
        last = teams[places.index(bound)] if bound else None
        return cls(teams[:beyond] + teams[beyond + 1 :], bound, last)

    def count(self, *, t: int, team: str, served_at: datetime, since_id: int) -> int:
        me = (served_at, since_id)
        last = self.last
        if last is not None and (last[0], last[2], last[3]) < (t - 1, *me):
            # Teams beyond those read may own jobs ahead; but then every team read owns
            # one too, so the place is past the bound anyway.
            return self.bound + 1
        if t not in self._lower:
            below, ties = 0, []
            for f, w, s, since, _ in self.teams:
                if f < t:
                    below += min(w, t - 1 - f)
                    if w >= t - f:
                        ties.append((s, since))
            self._lower[t] = (below, sorted(ties))
        below, ties = self._lower[t]
        if not self._by_team:
            self._by_team = {r[4]: r for r in self.teams}
        own = self._by_team.get(team)
        if own is not None and own[0] < t:
            below -= min(own[1], t - 1 - own[0])
        return below + bisect.bisect_left(ties, me)


class SqlJobQueue(SqlStore):
    def __init__(self, engine: AsyncEngine, *, reap_every_s: float = REAP_EVERY_S) -> None:
        super().__init__(engine)
        self._reap_every = timedelta(seconds=reap_every_s)
        self._reaped_at: datetime | None = None
        # A burst of platform events is acknowledged after one disk write instead of
        # queueing for the database one by one; so are the small writes each question
        # makes on its way (route, answer checkpoint, end).
        self._submits = GroupCommit(
            engine,
            self._insert_jobs,
            what="record requests",
            priority=URGENT,
            within_s=ACK_WITHIN_S,
            # Its callers' step after the commit is short (0.06 ms: the acknowledgement),
            # and a burst waits for each batch before its platforms hear "OK".
            limit=4 * BATCH_LIMIT,
        )
        self._updates = GroupCommit(engine, self._apply_updates, what="update the queue")

    async def submit(
        self,
        request: AskRequest,
        route: Mapping[str, Any],
        *,
        now: datetime,
        parsed: Parsed | None = None,
    ) -> bool:
        return await self._submits((request, dict(route), now, parsed))

    async def _insert_jobs(self, conn: AsyncConnection, batch: Sequence[_Submitted]) -> list[bool]:
        rows = [
            {
                "key": r.key,
                "team": r.team,
                "platform": r.platform,
                "request": _encode(r, parsed),
                "route": json.dumps(route),
                "status": PENDING,
                "attempts": 0,
                "created_at": _naive(now),
            }
            for r, route, now, parsed in batch
        ]
        # executemany: one compiled statement whatever the batch size (a multi-row
        # VALUES clause is compiled afresh for every new row count).
        stmt = (
            self._insert(jobs)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(jobs.c.key, jobs.c.id, jobs.c.team)
        )
        new = (await conn.execute(stmt, rows)).all()
        await self._count_waiting(conn, ((r.team, r.id) for r in new), sign=1)
        inserted = {r.key for r in new}
        accepted = []
        for request, *_ in batch:
            # The first of several copies of one key in a batch is the accepted one.
            accepted.append(request.key in inserted)
            inserted.discard(request.key)
        return accepted

    async def _count_waiting(
        self, conn: AsyncConnection, jobs_: Iterable[tuple[str, int]], *, sign: int
    ) -> None:
        """Jobs of these (team, id) became waiting (sign 1) or stopped running (-1 and
        waiting again, on lease expiry)."""
        added: Counter[str] = Counter()
        first: dict[str, int] = {}
        for team, id_ in jobs_:
            added[team] += 1
            first[team] = min(first.get(team, id_), id_)
        if not added:
            return
        # In team order, so two transactions never wait on each other crosswise.
        params = [
            {"team": t, "in_flight": 0, "waiting": n, "served_at": NEVER, "since_id": first[t]}
            for t, n in sorted(added.items())
        ]
        upsert = self._insert(teams)
        in_flight = teams.c.in_flight if sign > 0 else teams.c.in_flight - upsert.excluded.waiting
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["team"],
                set_={
                    "waiting": teams.c.waiting + upsert.excluded.waiting,
                    "in_flight": in_flight,
                    # Its oldest waiting job: a team whose wait starts now queues behind
                    # the ones already waiting; a job handed back may be older.
                    "since_id": case(
                        (
                            and_(teams.c.waiting > 0, teams.c.since_id < upsert.excluded.since_id),
                            teams.c.since_id,
                        ),
                        else_=upsert.excluded.since_id,
                    ),
                },
            ),
            params,
        )

    async def _apply_updates(
        self, conn: AsyncConnection, batch: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[None]:
        """One executemany per kind of update, in arrival order within each kind (two
        route saves for one job: the later wins). Kinds touch different columns."""
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for kind, params in batch:
            by_kind.setdefault(kind, []).append(params)
        # Each update takes its job's lock as it comes; with several jobs, take them all
        # first, in order (one lock alone cannot close a cycle).
        keys = sorted({params["k"] for _, params in batch})
        if len(keys) > 1:
            await conn.execute(_lock_in_order(jobs.c.key.in_(keys)))
        finishes = by_kind.pop("finish", [])
        for kind, params in by_kind.items():
            await conn.execute(_UPDATES[kind], params)
        if finishes:
            await self._finish(conn, finishes)
        return [None] * len(batch)

    async def _finish(self, conn: AsyncConnection, finishes: list[dict[str, Any]]) -> None:
        by_key = {p["k"]: p for p in finishes}
        live = (
            await conn.execute(
                select(jobs.c.id, jobs.c.key, jobs.c.team, jobs.c.status)
                .where(jobs.c.key.in_(sorted(by_key)), jobs.c.status != DONE)
                .order_by(jobs.c.id)
                .with_for_update()
            )
        ).all()
        if not live:
            return
        # The answer is in the conversation and the ledger; what the job held for
        # delivery (request, route, saved answer) is no longer needed once delivered.
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == bindparam("i"))
            .values(
                status=DONE,
                outcome=bindparam("v_outcome"),
                finished_at=bindparam("v_finished_at"),
                lease_until=None,
                worker=None,
                request="",
                route="",
                answer=None,
                footer=None,
            ),
            [
                {
                    "i": r.id,
                    "v_outcome": by_key[r.key]["v_outcome"],
                    "v_finished_at": by_key[r.key]["v_finished_at"],
                }
                for r in live
            ],
        )
        ended: dict[str, list[int]] = {}
        for r in live:
            counts = ended.setdefault(r.team, [0, 0])
            counts[0 if r.status == RUNNING else 1] += 1
        await conn.execute(
            update(teams)
            .where(teams.c.team == bindparam("t"))
            .values(
                in_flight=teams.c.in_flight - bindparam("r"),
                waiting=teams.c.waiting - bindparam("w"),
            ),
            [{"t": t, "r": r, "w": w} for t, (r, w) in sorted(ended.items())],
        )

    async def _reap(self, conn: AsyncConnection, now: datetime) -> None:
        """Jobs whose worker stopped renewing their lease wait again, in the same place."""
        if self._reaped_at is not None and now - self._reaped_at < self._reap_every:
            return
        self._reaped_at = now
        lost = (
            await conn.execute(
                update(jobs)
                .where(
                    _locked(jobs.c.status == RUNNING, jobs.c.lease_until < now, skip_locked=True)
                )
                .values(status=PENDING, worker=None, lease_until=None)
                .returning(jobs.c.team, jobs.c.id)
            )
        ).all()
        await self._count_waiting(conn, ((r.team, r.id) for r in lost), sign=-1)

    async def claim(self, *, worker: str, limit: int, lease_s: float, now: datetime) -> list[Job]:
        if limit <= 0:
            return []
        now_n = _naive(now)
        until = now_n + timedelta(seconds=lease_s)
        async with self._tx(what="claim work") as conn:
            await self._reap(conn, now_n)
            if self._pg:
                params = {"n": limit, "now": now_n, "worker": worker, "until": until}
                rows = sorted((await conn.execute(_PG_CLAIM, params)).all())
            else:
                rows = await self._sqlite_claim(conn, limit, worker=worker, now=now_n, until=until)
        return [_job(r) for r in rows]

    async def _sqlite_claim(
        self, conn: AsyncConnection, limit: int, *, worker: str, now: datetime, until: datetime
    ) -> list[Any]:
        """SQLite has one writer: ranking its (few) waiting jobs is simpler, and as fast."""
        turn_ = teams.c.in_flight + func.row_number().over(
            partition_by=jobs.c.team, order_by=jobs.c.id
        )
        ranked = (
            select(jobs.c.id, turn_.label("turn"), teams.c.served_at)
            .join(teams, teams.c.team == jobs.c.team)
            .where(jobs.c.status == PENDING)
            .subquery()
        )
        order = (ranked.c.turn, ranked.c.served_at, ranked.c.id)
        ids = list((await conn.scalars(select(ranked.c.id).order_by(*order).limit(limit))).all())
        if not ids:
            return []
        rows = (
            await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(ids), jobs.c.status == PENDING)
                .values(
                    status=RUNNING, worker=worker, lease_until=until, attempts=jobs.c.attempts + 1
                )
                .returning(*_RETURNED)
            )
        ).all()
        # One statement per number taken from a team (mostly just one), not one per team.
        by_count: dict[int, list[str]] = {}
        for t, n in Counter(r.team for r in rows).items():
            by_count.setdefault(n, []).append(t)
        oldest = (
            select(func.coalesce(func.min(jobs.c.id), 0))
            .where(jobs.c.team == teams.c.team, jobs.c.status == PENDING)
            .scalar_subquery()
        )
        for n, names in by_count.items():
            await conn.execute(
                update(teams)
                .where(teams.c.team.in_(sorted(names)))
                .values(
                    in_flight=teams.c.in_flight + n,
                    waiting=teams.c.waiting - n,
                    served_at=now,
                    since_id=oldest,
                )
            )
        place = {id_: i for i, id_ in enumerate(ids)}
        return sorted(rows, key=lambda r: place[r.id])

    async def _update(self, where: Any, **values: Any) -> None:
        async with self._tx(what="update the queue") as conn:
            await conn.execute(update(jobs).where(where).values(**values))

    async def renew(
        self, keys: Sequence[str], *, worker: str, lease_s: float, now: datetime
    ) -> None:
        if keys:
            await self._update(
                _locked(
                    jobs.c.key.in_(list(keys)), jobs.c.worker == worker, jobs.c.status == RUNNING
                ),
                lease_until=_naive(now) + timedelta(seconds=lease_s),
            )

    async def save_route(self, key: str, route: Mapping[str, Any]) -> None:
        await self._updates(("route", {"k": key, "v_route": json.dumps(dict(route))}))

    async def route(self, key: str) -> Mapping[str, Any] | None:
        async with self._tx(what="read a route", read_only=True) as conn:
            text_ = await conn.scalar(select(jobs.c.route).where(jobs.c.key == key))
        return json.loads(text_) if text_ else None

    async def save_answer(self, key: str, *, text: str, footer: str) -> None:
        await self._updates(("answer", {"k": key, "v_answer": text, "v_footer": footer}))

    async def finish(self, key: str, *, outcome: str, now: datetime) -> None:
        await self._updates(
            ("finish", {"k": key, "v_outcome": outcome, "v_finished_at": _naive(now)})
        )

    async def release(self, keys: Sequence[str], *, worker: str) -> None:
        if not keys:
            return
        async with self._tx(what="update the queue") as conn:
            back = (
                await conn.execute(
                    update(jobs)
                    .where(
                        _locked(
                            jobs.c.key.in_(sorted(keys)),
                            jobs.c.worker == worker,
                            jobs.c.status == RUNNING,
                        )
                    )
                    # Handed back unfailed (a graceful shutdown): not an attempt that
                    # counts towards giving up.
                    .values(
                        status=PENDING, lease_until=None, worker=None, attempts=jobs.c.attempts - 1
                    )
                    .returning(jobs.c.team, jobs.c.id)
                )
            ).all()
            await self._count_waiting(conn, ((r.team, r.id) for r in back), sign=-1)

    async def positions(self, keys: Sequence[str], *, now: datetime) -> dict[str, int]:
        """See `JobQueue.positions`. One statement: the keys' own jobs, ranked within their
        teams' waiting jobs (a team's backlog, which its quota bounds), and at most
        ``QUEUE_POSITION_BOUND`` other teams; past that, ``QUEUE_POSITION_BOUND + 1``."""
        if not keys:
            return {}
        bound = QUEUE_POSITION_BOUND
        params = {"keys": list(keys), "limit": bound + 1}
        async with self._tx(what="read queue positions", read_only=True) as conn:
            if self._pg:
                # (is it the keys' own row, then one array per column; NULL when empty)
                parts = {
                    row[0]: [c or () for c in row[1:]]
                    for row in await conn.execute(_PG_POSITIONS, params)
                }
                mine = list(zip(*parts[True][:-1], strict=True))
                _, team, in_flight, n, served_at, since_id, order = parts[False]
                others = list(zip(in_flight, n, served_at, since_id, team, strict=True))
            else:
                rows = (await conn.execute(_SQLITE_POSITIONS, params)).all()
                # Plain tuples: a refresh handles up to a thousand rows, and a row's
                # attributes cost more to read than its items.
                mine, others, order = [], [], []
                for key, team, in_flight, n, served_at, since_id, place in rows:
                    if key is None:
                        others.append((in_flight, n, served_at, since_id, team))
                        order.append(place)
                    else:
                        mine.append((key, team, in_flight, n, served_at, since_id))
        ahead = _Ahead.of(others, order, bound=bound)
        places = {}
        for key, team, in_flight, n, served_at, since_id in mine:
            before = ahead.count(t=in_flight + n, team=team, served_at=served_at, since_id=since_id)
            places[key] = min(n + before, bound + 1)
        return places

    async def depth(self) -> int:
        async with self._tx(what="count the queue", read_only=True) as conn:
            # Two counts, so each is read from its small partial index.
            n = 0
            for status in (PENDING, RUNNING):
                n += (
                    await conn.scalar(
                        select(func.count()).select_from(jobs).where(jobs.c.status == status)
                    )
                    or 0
                )
        return int(n or 0)
