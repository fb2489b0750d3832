"""One racing process: waits for the common start time, then makes reservations
against a shared database as fast as it can and prints how many were admitted."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.domain import Limits, ReservationStatus, Window
from storage import SqlLedger, make_engine


async def main(url: str, worker: str, count: int, limit: int, start_at: float) -> None:
    engine = make_engine(url)
    ledger = SqlLedger(engine)
    window = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    now = datetime(2026, 11, 25, tzinfo=UTC)
    await asyncio.sleep(max(start_at - time.time(), 0))
    admitted = 0
    started = time.perf_counter()
    for i in range(count):
        r = await ledger.reserve(
            key=f"{worker}-{i}",
            team="race",
            model="o1",
            user=f"u{i % 5}",
            channel="c",
            window=window,
            limits=Limits(team_limit=limit),
            now=now,
        )
        admitted += r.status is ReservationStatus.RESERVED
    elapsed = time.perf_counter() - started
    await engine.dispose()
    print(f"{admitted} {elapsed:.6f}", flush=True)


if __name__ == "__main__":
    url, worker, count, limit, start_at = sys.argv[1:6]
    asyncio.run(main(url, worker, int(count), int(limit), float(start_at)))
