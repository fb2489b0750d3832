"""One racing process for the fallback chain and the team budget: waits for the
common start time, then reserves as fast as it can against a shared database and
prints how many reservations each model admitted (``o1=… mini=… denied=…``)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.domain import Limits, ReservationStatus, Window
from storage import SqlLedger, make_engine


async def main(url: str, worker: str, count: int, mode: str, start_at: float) -> None:
    engine = make_engine(url)
    ledger = SqlLedger(engine)
    window = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    now = datetime(2026, 11, 25, tzinfo=UTC)
    if mode == "chain":  # o1 (30 a week) falls back to mini (50 a week)
        limits, fallbacks = Limits(team_limit=30), [("mini", Limits(team_limit=50))]
    else:  # "budget": plenty of messages, each question holds $0.25 of the budget
        limits, fallbacks = Limits(team_limit=10_000, estimate_usd=0.25), []
    await asyncio.sleep(max(start_at - time.time(), 0))
    admitted: Counter[str] = Counter()
    for i in range(count):
        r = await ledger.reserve(
            key=f"{worker}-{i}",
            team="race",
            model="o1",
            user=f"u{i % 5}",
            channel="c",
            window=window,
            limits=limits,
            now=now,
            fallbacks=fallbacks,
        )
        admitted[r.model if r.status is ReservationStatus.RESERVED else "denied"] += 1
    await engine.dispose()
    print(" ".join(f"{k}={v}" for k, v in sorted(admitted.items())), flush=True)


if __name__ == "__main__":
    url, worker, count, mode, start_at = sys.argv[1:6]
    asyncio.run(main(url, worker, int(count), mode, float(start_at)))
