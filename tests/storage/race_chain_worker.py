"""One racing process for the fallback chain and the team budget: waits for the
common start time, then reserves as fast as it can against a shared database and
prints how many reservations each model admitted (``o1=… mini=… denied=…``), and on
stderr how long its reservations took (for `bench/quota.py --chain`)."""

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


async def main(
    url: str, worker: str, count: int, mode: str, start_at: float, o1: int, mini: int
) -> None:
    engine = make_engine(url)
    ledger = SqlLedger(engine)
    window = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    now = datetime(2026, 11, 25, tzinfo=UTC)
    if mode == "chain":  # o1 falls back to mini
        limits, fallbacks = Limits(team_limit=o1), [("mini", Limits(team_limit=mini))]
    else:  # "budget": plenty of messages, each question holds $0.25 of the budget
        limits, fallbacks = Limits(team_limit=10_000, estimate_usd=0.25), []
    await asyncio.sleep(max(start_at - time.time(), 0))
    admitted: Counter[str] = Counter()
    started = time.perf_counter()
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
    elapsed = time.perf_counter() - started
    await engine.dispose()
    print(f"{elapsed:.6f}", file=sys.stderr, flush=True)
    print(" ".join(f"{k}={v}" for k, v in sorted(admitted.items())), flush=True)


if __name__ == "__main__":
    url, worker, count, mode, start_at = sys.argv[1:6]
    o1, mini = (int(n) for n in sys.argv[6:8]) if len(sys.argv) > 6 else (30, 50)
    asyncio.run(main(url, worker, int(count), mode, float(start_at), o1, mini))
