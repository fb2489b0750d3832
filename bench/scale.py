"""The job queue and the tables at hosted scale (issue 14), on PostgreSQL.

Seeds a fresh database with SQL (``generate_series``, no per-row round trips): --teams
teams with history (queue state, last week's counters), --finished finished questions
(job, request, two turns and a thread each, spread over the last 120 days, ids rising
with time as they do in use), --in-flight
jobs being answered and --waiting jobs waiting. Then measures, each with the code of
this branch and, where the issue measured it, with the queries of the code before it
(kept below as ``OLD_*``, run on the same data in the same run):

- claim(1) and claim(256): the claim statement's server time and its time as the client
  waits, p50 / p99, each claim taking jobs never taken before from a steady backlog;
  and the floor any claim of 256 has here: the rows it must write, alone;
- positions() for one refresh (100 waiting keys), p99;
- 8 concurrent claimers taking 16 each: share of the offered jobs claimed, empty rounds;
- a quota reservation against a random one of the teams, p99;
- bytes per answered question after finish, and before (what the old code kept);
- transactions per question (pg_stat_database) for questions run through queue + ledger;
- table sizes before and after a retention pass, and its duration.

    python bench/scale.py --pg-url postgresql://postgres@127.0.0.1:5432/test
    python bench/scale.py --teams 10000 --finished 100000 --in-flight 1000 --waiting 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# The project's own modules, beside this script's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import pct

from bot.domain import AskRequest, Exchange, Limits, Usage, Window
from storage import (
    SqlConversationStore,
    SqlJobQueue,
    SqlLedger,
    SqlRetention,
    make_engine,
    upgrade,
)
from storage.jobs import _PG_CLAIM
from storage.retention import RetentionPolicy
from tests.dbutil import fresh_database

NOW = datetime.now(UTC).replace(microsecond=0)
WEEK = Window(NOW - timedelta(days=NOW.weekday()), NOW + timedelta(days=7 - NOW.weekday()))
# Row i of $2, dated at its share of the 120 days (10,368,000 s) that end at $3.
SPREAD = "$3::timestamp - (($2 - i)::bigint * 10368000 / $2) * interval '1 second'"
QUESTION = "Why does the proof of lemma 3 need the compactness assumption? " * 3  # ~190 B
ANSWER = (
    "Because without compactness the sequence need not have a convergent subsequence, "
    "so the infimum might not be attained. "
) * 12  # ~1.4 KB: a typical short reasoning answer

# The code before this branch, on this schema: it ranked every unfinished job (waiting
# or being answered) by its team's turn, then claimed candidates with an unlocked
# UPDATE (a lease, status unchanged). `team_turns` became `queue_teams.served_at`.
OLD_RANKED = """(
    SELECT u.id, u.key, u.turn, q.served_at FROM (
        SELECT id, key, team, lease_until,
               row_number() OVER (PARTITION BY team ORDER BY id) AS turn
        FROM jobs WHERE status IN ('pending', 'running')
    ) u LEFT JOIN queue_teams q ON q.team = u.team
    WHERE u.lease_until IS NULL OR u.lease_until < :now
) ranked"""
OLD_CANDIDATES = f"""
SELECT ranked.id FROM {OLD_RANKED}
ORDER BY ranked.turn, ranked.served_at NULLS FIRST, ranked.id
LIMIT :n
"""
OLD_TAKE = """
UPDATE jobs SET worker = :w, lease_until = :until, attempts = attempts + 1
WHERE id = ANY(:ids) AND status = 'pending' AND (lease_until IS NULL OR lease_until < :now)
RETURNING id
"""
OLD_POSITION = f"""
SELECT key, place FROM (
    SELECT ranked.key, row_number() OVER (
        ORDER BY ranked.turn, ranked.served_at NULLS FIRST, ranked.id) AS place
    FROM {OLD_RANKED}
) placed WHERE key = ANY(:keys)
"""


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.1f} / {pct(xs, 0.99) * 1000:.1f} ms"


async def seed(url: str, a: argparse.Namespace) -> None:
    """Everything in a few statements run by the server itself."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    now = NOW.replace(tzinfo=None)
    week = WEEK.key
    last_week = Window(WEEK.start - timedelta(days=7), WEEK.start).key
    started = time.perf_counter()
    run = conn.execute

    async def step(sql: str, *args: Any) -> None:
        t = time.perf_counter()
        await run(sql, *args)
        what = " ".join(sql.split()[:3])
        print(f"  {what[:40]:40} {time.perf_counter() - t:6.1f} s", flush=True)

    async def finished(sql: str, *more: Any) -> None:
        """Rows of finished questions: $1 teams, $2 questions, dated up to $3."""
        await step(sql, a.teams, a.finished, now, *more)

    try:
        await step("SET synchronous_commit = off")
        # Finished questions over the last 120 days: job (key and outcome only, as after
        # finish), request, question and answer turns, thread.
        await finished(
            f"""
            INSERT INTO jobs (key, team, platform, request, route, status, attempts,
                              outcome, created_at, finished_at)
            SELECT 'f' || i, 't' || (i % $1), 'slack', '', '', 'done', 1, 'answered',
                   {SPREAD},
                   {SPREAD}
            FROM generate_series(1, $2) i
            """,
        )
        await finished(
            f"""
            INSERT INTO requests (key, team, channel, "user", model, "window", status,
                                  prompt_tokens, completion_tokens, reasoning_tokens,
                                  latency_ms, created_at, finished_at)
            SELECT 'f' || i, 't' || (i % $1), 'C1', 'U' || (i % 7), 'o1', $4, 'committed',
                   300, 400, 2000, 30000,
                   {SPREAD},
                   {SPREAD}
            FROM generate_series(1, $2) i
            """,
            last_week,
        )
        await finished(
            f"""
            INSERT INTO threads (thread, team, created_at)
            SELECT 'th' || i, 't' || (i % $1),
                   {SPREAD}
            FROM generate_series(1, $2) i
            """,
        )
        await finished(
            f"""
            INSERT INTO turns (thread, team, role, content, created_at)
            SELECT 'th' || i, 't' || (i % $1), r.role, r.content,
                   {SPREAD}
            FROM generate_series(1, $2) i,
                 (VALUES ('user', $4), ('assistant', $5)) r(role, content)
            """,
            QUESTION,
            ANSWER,
        )
        await step(
            """
            INSERT INTO quota_counters (team, model, "window", used, granted)
            SELECT 't' || i, 'o1', w, 5, 0 FROM generate_series(0, $1 - 1) i,
                   unnest($2::text[]) w
            """,
            a.teams,
            [week, last_week],
        )
        # Live work: in flight first (older ids), then waiting; a few teams busy.
        for status, n, lease in (
            ("running", a.in_flight, now + timedelta(minutes=5)),
            ("pending", a.waiting, None),
        ):
            await step(
                """
                INSERT INTO jobs (key, team, platform, request, route, status, worker,
                                  lease_until, attempts, created_at)
                SELECT k, tm, 'slack',
                       json_build_object('platform', 'slack', 'team', tm, 'channel', 'C1',
                                         'thread', 'th-' || k, 'user', 'U1', 'text', $4::text,
                                         'key', k, 'context', '[]'::json)::text,
                       '{}', $2::text, CASE WHEN $2::text = 'running' THEN 'seed' END,
                       $6::timestamp, 1, $3
                FROM (SELECT $5 || i AS k, 't' || ((i * 7919) % $1) AS tm
                      FROM generate_series(1, $7) i) s
                """,
                a.teams,
                status,
                now,
                QUESTION,
                status[0],
                lease,
                n,
            )
        await step(
            """
            INSERT INTO queue_teams (team, in_flight, waiting, served_at, since_id)
            SELECT 't' || i,
                   0, 0, $2::timestamp - (i % 86400) * interval '1 second', 0
            FROM generate_series(0, $1 - 1) i
            """,
            a.teams,
            now,
        )
        await step(
            """
            UPDATE queue_teams q SET in_flight = c.r, waiting = c.w, since_id = c.first
            FROM (SELECT team, count(*) FILTER (WHERE status = 'running') r,
                         count(*) FILTER (WHERE status = 'pending') w,
                         coalesce(min(id) FILTER (WHERE status = 'pending'), 0) first
                  FROM jobs WHERE status IN ('pending', 'running') GROUP BY team) c
            WHERE q.team = c.team
            """
        )
        await step("VACUUM ANALYZE")
    finally:
        await conn.close()
    print(f"seeded in {time.perf_counter() - started:.0f} s")


async def timed(f: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await f()
        out.append(time.perf_counter() - t)
    return out


async def waiting_keys(engine: AsyncEngine, n: int) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT key FROM jobs WHERE status = 'pending' ORDER BY random() LIMIT :n"),
            {"n": n},
        )
        return [r[0] for r in rows]


async def old_claim(engine: AsyncEngine, n: int, worker: str) -> list[int]:
    now = NOW.replace(tzinfo=None)
    async with engine.begin() as conn:
        ids = [r[0] for r in await conn.execute(text(OLD_CANDIDATES), {"now": now, "n": n})]
        if not ids:
            return []
        took = await conn.execute(
            text(OLD_TAKE),
            {"w": worker, "until": now + timedelta(minutes=1), "ids": ids, "now": now},
        )
        return [r[0] for r in took]


async def old_unclaim(engine: AsyncEngine, ids: list[int]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET worker = NULL, lease_until = NULL, attempts = attempts - 1 "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": ids},
        )


NEW_CLAIM = (
    str(_PG_CLAIM)
    .replace(":now", "$2")
    .replace(":worker", "$3")
    .replace(":until", "$4")
    .replace(":n", "$1")
)


def pg(sql: str) -> str:
    return sql.replace(":now", "$1").replace(":n", "$2") if ":now" in sql else sql


async def old_sql_claim(raw: asyncpg.Connection, n: int) -> float:
    """The old claim's statements as the database runs them (one transaction, rolled back
    so every round sees the same backlog): server time plus loopback round trips."""
    now = NOW.replace(tzinfo=None)
    started = time.perf_counter()
    tx = raw.transaction()
    await tx.start()
    try:
        ids = [r[0] for r in await raw.fetch(pg(OLD_CANDIDATES), now, n)]
        await raw.fetch(
            "UPDATE jobs SET worker = 'b', lease_until = $2, attempts = attempts + 1 "
            "WHERE id = ANY($1) AND status = 'pending' "
            "AND (lease_until IS NULL OR lease_until < $3) "
            "RETURNING id, team, request, route, attempts, answer, footer",
            ids,
            now + timedelta(minutes=1),
            now,
        )
        return time.perf_counter() - started
    finally:
        await tx.rollback()


async def server_ms(raw: asyncpg.Connection, sql: str, *args: Any) -> float:
    """The statement's execution time on the server (``EXPLAIN ANALYZE`` without per-node
    timing, which would add its own cost): no round trip, no decoding."""
    plan = await raw.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", *args)
    return float(json.loads(plan)[0]["Execution Time"]) / 1000


# What a steady queue does between two claims, outside the timing: as many new questions
# wait as were taken (random teams), and as many of the oldest being answered finish,
# with the teams' queue state kept exact, so every claim takes jobs never taken before
# from a backlog of the same size. (Rolling a claim back and taking the same jobs again
# instead measures index entries piling up for the same rows: 20 → 47 ms p50 over 60
# rounds here.)
REFILL = """
WITH new AS (
    INSERT INTO jobs (key, team, platform, request, route, status, attempts, created_at)
    SELECT k, tm, 'slack',
           json_build_object('platform', 'slack', 'team', tm, 'channel', 'C1',
                             'thread', 'th-' || k, 'user', 'U1', 'text', $4::text,
                             'key', k, 'context', '[]'::json)::text,
           '{}', 'pending', 0, $1
    FROM (SELECT 'n' || gen_random_uuid() AS k, 't' || (random() * ($3 - 1))::int AS tm
          FROM generate_series(1, $2)) s
    RETURNING team, id
)
INSERT INTO queue_teams (team, in_flight, waiting, served_at, since_id)
SELECT team, 0, count(*), '1970-01-01', min(id) FROM new GROUP BY team
ON CONFLICT (team) DO UPDATE SET
    waiting = queue_teams.waiting + excluded.waiting,
    since_id = CASE WHEN queue_teams.waiting > 0 THEN queue_teams.since_id
                    ELSE excluded.since_id END
"""
FINISH_OLDEST = """
WITH done AS (
    UPDATE jobs SET status = 'done', outcome = 'answered', finished_at = $1, worker = NULL,
                    lease_until = NULL, request = '', route = ''
    WHERE id IN (SELECT id FROM jobs WHERE status = 'running' ORDER BY id LIMIT $2)
    RETURNING team
)
UPDATE queue_teams q SET in_flight = q.in_flight - d.c
FROM (SELECT team, count(*) AS c FROM done GROUP BY team) d WHERE q.team = d.team
"""
# The least any claim must write, measured the same way on random rows picked
# beforehand: each job taken marked as leased, and each team served moved back in the
# fair-share order (both are index updates). And the shape of issue 14's probe: the
# first teams and their oldest jobs locked, nothing written.
PROBE = """
WITH t AS (SELECT team FROM queue_teams WHERE waiting > 0
           ORDER BY in_flight, served_at, since_id LIMIT $1 FOR UPDATE SKIP LOCKED)
SELECT c.id FROM t CROSS JOIN LATERAL (
    SELECT j.id FROM jobs j WHERE j.team = t.team AND j.status = 'pending'
    ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED) c
"""
FLOOR = {
    "n job rows marked leased, nothing else": (
        "SELECT id FROM jobs WHERE status = 'pending' ORDER BY random() LIMIT $1",
        "UPDATE jobs SET status = 'running', worker = 'b', lease_until = $2, "
        "attempts = attempts + 1 WHERE id = ANY($1)",
    ),
    "n team rows moved in the fair-share order, nothing else": (
        "SELECT team FROM queue_teams WHERE waiting > 0 ORDER BY random() LIMIT $1",
        "UPDATE queue_teams SET in_flight = in_flight + 1, served_at = $2 WHERE team = ANY($1)",
    ),
}


async def claims(
    engine: AsyncEngine, url: str, rounds: int, report: dict[str, str], teams: int
) -> None:
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    now = NOW.replace(tzinfo=None)
    until = now + timedelta(minutes=1)
    try:
        for n in (1, 256):
            # Alternate rounds: the server's time, then the whole statement as the
            # client waits for it (round trip and the rows returned).
            server, wall = [], []
            for r in range(rounds):
                async with raw.transaction():
                    if r % 2:
                        t = time.perf_counter()
                        await raw.fetch(NEW_CLAIM, n, now, "b", until)
                        wall.append(time.perf_counter() - t)
                    else:
                        server.append(await server_ms(raw, NEW_CLAIM, n, now, "b", until))
                await raw.execute(REFILL, now, n, teams, QUESTION)
                await raw.execute(FINISH_OLDEST, now, n)
            old_t = [await old_sql_claim(raw, n) for _ in range(max(10, rounds // 4))]
            ratio = statistics.median(old_t) / statistics.median(wall)
            report[f"claim({n}) server time p50 / p99"] = ms(server)
            report[f"claim({n}) statement as the client waits, p50 / p99"] = (
                f"{ms(wall)} (old, rolled back: {ms(old_t)}: {ratio:.0f}× the time)"
            )
        floor: dict[str, list[float]] = {what: [] for what in ("probe", *FLOOR)}
        for _ in range(max(10, rounds // 4)):
            tx = raw.transaction()
            await tx.start()
            try:
                floor["probe"].append(await server_ms(raw, PROBE, 256))
                for what, (pick, write) in FLOOR.items():
                    rows = [r[0] for r in await raw.fetch(pick, 256)]
                    floor[what].append(await server_ms(raw, write, rows, now))
            finally:
                await tx.rollback()
        report["issue 14's probe, n = 256 (teams and oldest jobs locked, nothing recorded)"] = ms(
            floor.pop("probe")
        )
        for what, times in floor.items():
            report[f"floor, n = 256: {what}, server time"] = ms(times)
    finally:
        await raw.close()
    queue = SqlJobQueue(engine, reap_every_s=3600)  # the reaping scan is measured apart
    for n in (1, 256):
        calls = []
        for _ in range(max(10, rounds // 4)):
            t = time.perf_counter()
            jobs = await queue.claim(worker="bench", limit=n, lease_s=60, now=NOW)
            calls.append(time.perf_counter() - t)
            await queue.release([j.key for j in jobs], worker="bench")
        report[f"claim({n}) whole call, with decoding the jobs in Python"] = ms(calls)

    async def reap() -> None:
        async with engine.begin() as conn:
            await queue._reap(conn, NOW.replace(tzinfo=None))
        queue._reaped_at = None

    report["lease-expiry scan (every 5 s per process)"] = ms(await timed(reap, 20))


async def positions(engine: AsyncEngine, rounds: int, report: dict[str, str]) -> None:
    queue = SqlJobQueue(engine)
    keys = await waiting_keys(engine, 100)
    new_t = await timed(lambda: queue.positions(keys, now=NOW), rounds)
    old_t: list[float] = []
    for key in keys[: max(5, rounds // 4)]:
        t = time.perf_counter()
        async with engine.connect() as conn:
            await conn.execute(text(OLD_POSITION), {"now": NOW.replace(tzinfo=None), "keys": [key]})
        old_t.append(time.perf_counter() - t)
    report["positions(), one refresh of 100 keys, p50 / p99"] = (
        f"{ms(new_t)} (old: {ms(old_t)} for ONE key, one call per queued submit)"
    )


async def concurrent(url: str, report: dict[str, str], rounds: int = 5) -> None:
    """8 processes' worth of claimers (own engines), each taking 16 at once."""
    engines = [make_engine(url) for _ in range(8)]
    try:
        for label, old in (("new", False), ("old", True)):
            got = offered = empty = 0
            for r in range(rounds):
                start = asyncio.Event()

                async def one(
                    i: int,
                    eng: AsyncEngine,
                    r: int = r,
                    start: asyncio.Event = start,
                    old: bool = old,
                ) -> list[Any]:
                    await start.wait()
                    if old:
                        return await old_claim(eng, 16, f"c{i}")
                    q = SqlJobQueue(eng, reap_every_s=3600)
                    return [
                        j.key
                        for j in await q.claim(worker=f"c{i}-{r}", limit=16, lease_s=60, now=NOW)
                    ]

                tasks = [asyncio.create_task(one(i, e)) for i, e in enumerate(engines)]
                await asyncio.sleep(0.05)
                start.set()
                results = await asyncio.gather(*tasks)
                got += sum(len(x) for x in results)
                offered += 128
                empty += sum(1 for x in results if not x)
                for i, x in enumerate(results):
                    if old:
                        await old_unclaim(engines[0], x)
                    else:
                        await SqlJobQueue(engines[0]).release(x, worker=f"c{i}-{r}")
            report[f"8 concurrent claimers ({label})"] = (
                f"{got} of {offered} claimed ({100 * got / offered:.1f}%), "
                f"{empty} empty of {8 * rounds} calls"
            )
    finally:
        for e in engines:
            await e.dispose()


async def reservations(engine: AsyncEngine, teams: int, n: int, report: dict[str, str]) -> None:
    ledger = SqlLedger(engine)

    async def one() -> None:
        team = f"t{random.randrange(teams)}"
        await ledger.reserve(
            key=f"r-{uuid.uuid4().hex}",
            team=team,
            model="o1",
            user="U1",
            channel="C1",
            window=WEEK,
            limits=Limits(1_000_000, None),
            now=NOW,
        )

    report["reservation p50 / p99"] = ms(await timed(one, n))


async def xacts(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(
            await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
        )
    finally:
        await conn.close()


async def questions(engine: AsyncEngine, url: str, n: int, report: dict[str, str]) -> None:
    """n questions through queue and ledger as the bot makes them (submit, claim, reserve,
    route save, answer checkpoint, commit with the conversation, finish), 50 at a time;
    then what they occupy."""
    queue, ledger = SqlJobQueue(engine), SqlLedger(engine)
    conversations = SqlConversationStore(engine)
    prefix = f"q{uuid.uuid4().hex[:6]}-"

    async def one(i: int) -> None:
        key = f"{prefix}{i}"
        r = AskRequest(
            platform="slack",
            team=f"Q{i}",
            channel="C1",
            thread=f"th-{key}",
            user="U1",
            text=QUESTION,
            key=key,
        )
        await queue.submit(r, {"channel": "C1", "status_ts": "1700000000.000100"}, now=NOW)

    async def work(i: int) -> None:
        while True:
            jobs = await queue.claim(worker=f"w{i}", limit=10, lease_s=60, now=NOW)
            if not jobs:
                return
            for job in jobs:
                r = job.request
                await ledger.reserve(
                    key=r.key,
                    team=r.team,
                    model="o1",
                    user=r.user,
                    channel=r.channel,
                    window=WEEK,
                    limits=Limits(100, None),
                    now=NOW,
                )
                await conversations.open(r.thread, team=r.team, now=NOW)
                await queue.save_route(r.key, {"channel": "C1", "status_ts": "1.2", "sent": 1})
                await queue.save_answer(r.key, text=ANSWER, footer="o1 · 31 s · 2,400 tokens")
                await ledger.commit(
                    r.key,
                    usage=Usage(300, 400, 2000),
                    latency_ms=31000,
                    now=NOW,
                    exchange=Exchange(r.thread, r.team, QUESTION, ANSWER),
                )
                await queue.finish(r.key, outcome="answered", now=NOW)

    # A warm-up round first: the connections a pool opens run set-up transactions.
    await asyncio.gather(*(one(i) for i in range(n, n + 50)))
    await asyncio.gather(*(work(i) for i in range(5)))
    before = await xacts(url)
    await asyncio.gather(*(one(i) for i in range(n)))
    await asyncio.gather(*(work(i) for i in range(5)))
    after = await xacts(url)
    report["transactions per question (5 workers, 10 at a time; 9 one by one)"] = (
        f"{(after - before - 1) / n:.2f}"
    )
    like = f"{prefix}%"
    sql = {
        "jobs": "SELECT sum(pg_column_size(j.*)) FROM jobs j WHERE key LIKE :k",
        "requests": "SELECT sum(pg_column_size(r.*)) FROM requests r WHERE key LIKE :k",
        "turns": "SELECT sum(pg_column_size(t.*)) FROM turns t WHERE thread LIKE 'th-' || :k",
        "threads": "SELECT sum(pg_column_size(t.*)) FROM threads t WHERE thread LIKE 'th-' || :k",
    }
    sizes = {}
    async with engine.connect() as conn:
        for table, q in sql.items():
            sizes[table] = int(await conn.scalar(text(q), {"k": like}) or 0) / (n + 50)
    # What a finished job also held when its request, route and answer stayed in it.
    kept = len(ANSWER) + len("o1 · 31 s · 2,400 tokens") + 400 + 60
    per_row_overhead = 24 * 5 + 40  # tuple headers, line pointers; index entries aside
    total = sum(sizes.values()) + per_row_overhead
    report["bytes per answered question (rows, after finish)"] = (
        f"{total:,.0f} B ({', '.join(f'{t} {s:,.0f}' for t, s in sizes.items())}); "
        f"the old code kept about {kept:,} B more in the finished job (answer twice)"
    )


async def renewals(url: str, report: dict[str, str]) -> None:
    """Lease renewals, the commonest write a job gets: HOT updates (no index entries
    written) unless an index contains ``lease_until``, as the old (status, lease_until)
    one did. Measured both ways on the same running jobs."""
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    hot = {}
    try:
        ids = [r[0] for r in await raw.fetch("SELECT id FROM jobs WHERE status = 'running'")]
        for label in ("no index on lease_until", "old index (status, lease_until)"):
            if label.startswith("old"):
                await raw.execute("CREATE INDEX bench_status_lease ON jobs (status, lease_until)")
            before = await raw.fetchrow(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'jobs'"
            )
            for _ in range(3):
                for chunk in range(0, len(ids), 500):
                    await raw.execute(
                        "UPDATE jobs SET lease_until = lease_until + interval '1 second' "
                        "WHERE id = ANY($1)",
                        ids[chunk : chunk + 500],
                    )
            await raw.execute("SELECT pg_stat_force_next_flush()")
            await asyncio.sleep(1.0)  # statistics reach the view asynchronously
            after = await raw.fetchrow(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'jobs'"
            )
            upd = after[0] - before[0]
            hot[label] = f"{100 * (after[1] - before[1]) / max(upd, 1):.0f}% of {upd:,}"
        await raw.execute("DROP INDEX bench_status_lease")
    finally:
        await raw.close()
    report["lease renewals that are HOT updates"] = ", ".join(f"{k}: {v}" for k, v in hot.items())


async def sizes(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relname IN ('jobs','requests','turns','threads','quota_counters',"
                "'user_counters','queue_teams') ORDER BY relname"
            )
        )
        return {r[0]: int(r[1]) for r in rows}


async def retention_pass(engine: AsyncEngine, report: dict[str, str]) -> None:
    before = await sizes(engine)
    started = time.perf_counter()
    result = await SqlRetention(engine, RetentionPolicy()).prune(now=NOW, force=True)
    took = time.perf_counter() - started
    raw = await asyncpg.connect(
        engine.url.render_as_string(hide_password=False).replace("+asyncpg", "")
    )
    try:
        await raw.execute("VACUUM")  # what autovacuum does next: space reusable, not returned
    finally:
        await raw.close()
    after = await sizes(engine)
    report["retention pass"] = f"{took:.0f} s; deleted " + ", ".join(
        f"{t} {n:,}" for t, n in result.deleted.items()
    )
    report["table sizes before → after the pass (MB, with indexes; VACUUM, not FULL)"] = ", ".join(
        f"{t} {before[t] / 2**20:.0f} → {after[t] / 2**20:.0f}" for t in before
    )


class Report(dict[str, str]):
    """Shown as it is measured (a full run takes minutes), and again at the end."""

    def __setitem__(self, key: str, value: str) -> None:
        print(f"  {key}: {value}", flush=True)
        super().__setitem__(key, value)


async def main(a: argparse.Namespace) -> None:
    if a.pg_url:
        os.environ["TEST_DATABASE_URL"] = a.pg_url
    async with fresh_database("postgres", Path(tempfile.mkdtemp())) as url:
        engine = make_engine(url)
        await upgrade(engine)
        await seed(url, a)
        report: dict[str, str] = Report()
        parts = set(a.parts.split(","))
        if "claims" in parts:
            await claims(engine, url, a.rounds, report, a.teams)
            await positions(engine, a.rounds, report)
            await concurrent(url, report)
            await reservations(engine, a.teams, a.rounds, report)
        if "questions" in parts:
            # On a database of their own: workers there would take the seeded backlog.
            async with fresh_database("postgres", Path(tempfile.mkdtemp())) as own:
                q_engine = make_engine(own)
                await upgrade(q_engine)
                await questions(q_engine, own, a.questions, report)
                await q_engine.dispose()
        if "retention" in parts:
            await renewals(url, report)
            await retention_pass(engine, report)
        await engine.dispose()
    print(
        f"\n{a.teams:,} teams, {a.finished:,} finished, {a.in_flight:,} in flight, "
        f"{a.waiting:,} waiting"
    )
    for k, v in report.items():
        print(f"- {k}: {v}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL"))
    p.add_argument("--teams", type=int, default=100_000)
    p.add_argument("--finished", type=int, default=1_000_000)
    p.add_argument("--in-flight", type=int, default=10_000)
    p.add_argument("--waiting", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=200, help="timed calls per measure")
    p.add_argument("--questions", type=int, default=1000)
    p.add_argument(
        "--parts",
        default="claims,questions,retention",
        help="which measures to run (comma-separated): claims, questions, retention",
    )
    args = p.parse_args()
    if not args.pg_url:
        raise SystemExit("PostgreSQL only: pass --pg-url or set TEST_DATABASE_URL")
    asyncio.run(main(args))
