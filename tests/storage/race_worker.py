"""One racing process: waits for the common start time, then makes reservations
against a shared database as fast as it can and prints how many were admitted, and in
how many seconds. `race` starts several at once (the ledger's tests and bench/quota.py)."""

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


async def race(
    url: str, *, procs: int, per_proc: int, limit: int, start_in_s: float
) -> list[tuple[int, float]]:
    """Run ``procs`` racing processes against ``limit``: each one's admitted count and
    elapsed seconds. Raises `RuntimeError` with its stderr if one fails."""
    start_at = time.time() + start_in_s
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            url,
            f"p{n}",
            str(per_proc),
            str(limit),
            str(start_at),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(procs)
    ]
    outputs = [await c.communicate() for c in children]
    for c, (_, err) in zip(children, outputs, strict=True):
        if c.returncode:
            raise RuntimeError(err.decode()[-2000:])
    return [(int(out.split()[0]), float(out.split()[1])) for out, _ in outputs]


if __name__ == "__main__":
    url, worker, count, limit, start_at = sys.argv[1:6]
    asyncio.run(main(url, worker, int(count), int(limit), float(start_at)))
