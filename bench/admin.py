"""Admin views on a large team: the Slack App Home render and a year's CSV export.

Seeds one team on a fresh PostgreSQL database with --people people and --weeks weeks of
history (each week a share of them, --active, asks about --per-week questions over two
models, a few refused), then measures:
  * Home render: the core's `Picture` (ledger + report queries) and the Block Kit view
    built from it, for an admin (every person, 8 weeks) and for a member, --renders
    times each: p50 / p99;
  * export: a year of per-week, per-model, per-person rows from the database to CSV
    text, --exports times: median and worst.
Before measuring, the finished weeks are rolled up into ``usage_weeks`` as the bot's
processes do when each week ends (the catch-up of all of them is timed, and so is a
check that finds nothing to do, which each process runs every 5 minutes); with
--no-roll-up every report reads the raw requests, as before the roll-up.

    python bench/admin.py --pg-url postgresql://postgres@127.0.0.1:5432/test

Targets: Home p50 < 50 ms, a year's export < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.slack.home import home_view
from bot.admin import AdminDesk
from bot.config import Catalogue, ModelSpec
from bot.domain import QuotaCommand, ReservationStatus
from bot.quota import QuotaDesk
from bot.reports import last_weeks, to_csv
from storage import SqlLedger, make_engine, upgrade
from storage.reports import SqlReports
from tests.dbutil import fresh_database

TEAM = "slack:TBENCH"
MODELS = (("o1", 15.0, 60.0), ("mini", 1.1, 4.4))
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def catalogue(people: int) -> Catalogue:
    return Catalogue(
        default_model="o1",
        models=[
            ModelSpec(alias=a, id=a, weekly_limit=people * 4, price_input=pin, price_output=pout)
            for a, pin, pout in MODELS
        ],
    )


def rows(people: int, weeks: int, active: float, per_week: int, seed: int = 7):  # type: ignore[no-untyped-def]
    """Request rows as the ledger writes them (column order of `COLUMNS`)."""
    rng = random.Random(seed)
    n = 0
    for window in last_weeks(NOW, catalogue(people).week, weeks):
        at = window.start.replace(tzinfo=None) + timedelta(hours=10)
        for p in range(people):
            if rng.random() >= active:
                continue
            for _ in range(rng.randint(1, per_week * 2 - 1)):
                n += 1
                model, pin, pout = MODELS[0] if rng.random() < 0.6 else MODELS[1]
                denied = rng.random() < 0.03
                prompt, completion = rng.randint(50, 2000), rng.randint(200, 8000)
                cost = (prompt * pin + completion * pout) / 1e6
                yield (
                    f"bench-{n}",
                    TEAM,
                    "C0001",
                    f"U{p:06d}",
                    model,
                    window.key,
                    (ReservationStatus.DENIED if denied else ReservationStatus.COMMITTED).value,
                    "team" if denied else None,
                    0 if denied else prompt,
                    0 if denied else completion,
                    0 if denied else completion // 2,
                    None,
                    None if denied else cost,
                    None if denied else 1000,
                    None,
                    at,
                    at,
                    not denied,
                )


COLUMNS = (
    "key",
    "team",
    "channel",
    "user",
    "model",
    "window",
    "status",
    "denied_scope",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_ms",
    "error",
    "created_at",
    "finished_at",
    "counted",
)


async def seed(url: str, args: argparse.Namespace) -> int:
    raw = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(raw)
    try:
        records = list(rows(args.people, args.weeks, args.active, args.per_week))
        await conn.copy_records_to_table("requests", records=records, columns=COLUMNS)
        # The week's counters, as reservations leave them.
        await conn.execute(
            """INSERT INTO quota_counters (team, model, "window", used, granted)
               SELECT team, model, "window", count(*) FILTER (WHERE counted), 0
               FROM requests GROUP BY team, model, "window" """
        )
        await conn.execute("ANALYZE")
        return len(records)
    finally:
        await conn.close()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    started = time.perf_counter()
    n = await seed(url, args)
    print(
        f"seeded {n:,} requests ({args.people:,} people, {args.weeks} weeks) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    cat = catalogue(args.people)
    reports = SqlReports(engine)
    admin = AdminDesk(catalogue=cat, reports=reports, clock=lambda: NOW)
    desk = QuotaDesk(catalogue=cat, ledger=SqlLedger(engine), clock=lambda: NOW, admin=admin)
    try:
        if args.roll_up:
            t0 = time.perf_counter()
            weeks = await admin.roll_up()
            caught_up = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert await admin.roll_up() == 0
            print(
                f"roll-up of {weeks} finished weeks: {caught_up:.1f} s; "
                f"a check with nothing to roll up: {(time.perf_counter() - t0) * 1000:.0f} ms"
            )
        for who, is_admin in (("admin", True), ("member", False)):
            command = QuotaCommand("slack", TEAM, "U000001", "", is_admin=is_admin)
            times, blocks = [], 0
            for i in range(args.renders + 5):
                t0 = time.perf_counter()
                picture = await desk.picture(command)
                view = home_view(picture, tz="Europe/Paris", now=NOW)
                if i >= 5:  # after a warm-up
                    times.append((time.perf_counter() - t0) * 1000)
                blocks = len(view["blocks"])
            print(
                f"Home ({who}, {len(picture.people):,} person rows this week, {blocks} blocks): "
                f"p50 {pct(times, 0.5):.1f} ms, p99 {pct(times, 0.99):.1f} ms"
            )
        exports = []
        for _ in range(args.exports):
            t0 = time.perf_counter()
            rows_ = await admin.export(TEAM, platform="slack", weeks=52)
            text = to_csv(rows_)
            exports.append(time.perf_counter() - t0)
        print(
            f"export of 52 weeks ({len(rows_):,} rows, {len(text) / 1e6:.1f} MB CSV): "
            f"median {statistics.median(exports):.2f} s, worst {max(exports):.2f} s"
        )
        print("load average during the run: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--active", type=float, default=0.4, help="share asking each week")
    parser.add_argument("--per-week", type=int, default=3, help="questions of one who asks")
    parser.add_argument("--renders", type=int, default=100)
    parser.add_argument("--exports", type=int, default=3)
    parser.add_argument(
        "--no-roll-up", dest="roll_up", action="store_false", help="reports read raw rows"
    )
    args = parser.parse_args()
    if not args.pg_url:
        parser.error("PostgreSQL is needed: --pg-url or TEST_DATABASE_URL")
    os.environ["TEST_DATABASE_URL"] = args.pg_url
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database("postgres", Path(tmp)) as url:
            await measure(url, args)


if __name__ == "__main__":
    asyncio.run(main())
