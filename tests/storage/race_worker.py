"""One racing process: waits for the common start time, then makes reservations
against a shared database as fast as it can and prints how long they took and how many
each model admitted (``0.123456 o1=… mini=… denied=…``). `race` starts several at once
(the ledger's tests and bench/quota.py).

Modes: ``plain`` (o1 alone, ``o1`` messages), ``chain`` (o1 falling back to mini, ``o1``
and ``mini`` messages), ``budget`` (plenty of messages, each question holding $0.25 of
the team's budget)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.domain import Limits, ReservationStatus, Window
from storage import SqlLedger, make_engine


def _limits(mode: str, o1: int, mini: int) -> tuple[Limits, list[tuple[str, Limits]]]:
    if mode == "chain":
        return Limits(team_limit=o1), [("mini", Limits(team_limit=mini))]
    if mode == "budget":
        return Limits(team_limit=10_000, estimate_usd=0.25), []
    return Limits(team_limit=o1), []


async def main(
    url: str, worker: str, count: int, mode: str, start_at: float, o1: int, mini: int
) -> None:
    engine = make_engine(url)
    ledger = SqlLedger(engine)
    window = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    now = datetime(2026, 11, 25, tzinfo=UTC)
    limits, fallbacks = _limits(mode, o1, mini)
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
    counts = " ".join(f"{k}={v}" for k, v in sorted(admitted.items()))
    print(f"{elapsed:.6f} {counts}", flush=True)


@dataclass(frozen=True, slots=True)
class Raced:
    """What one racing process admitted, per model (and ``denied``), and how long its
    reservations took."""

    admitted: Counter[str]
    elapsed: float

    @property
    def reserved(self) -> int:
        return sum(n for model, n in self.admitted.items() if model != "denied")

    @classmethod
    def parse(cls, line: str) -> Raced:
        elapsed, *parts = line.split()
        counts = Counter({k: int(v) for k, v in (p.split("=") for p in parts)})
        return cls(counts, float(elapsed))


async def race(
    url: str,
    *,
    procs: int,
    per_proc: int,
    start_in_s: float,
    mode: str = "plain",
    o1: int = 30,
    mini: int = 50,
) -> list[Raced]:
    """Run ``procs`` racing processes of ``per_proc`` reservations each (``o1``, ``mini``:
    the models' weekly limits). Raises `RuntimeError` with its stderr if one fails."""
    start_at = time.time() + start_in_s
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            url,
            f"p{n}",
            str(per_proc),
            mode,
            str(start_at),
            str(o1),
            str(mini),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(procs)
    ]
    outputs = [await c.communicate() for c in children]
    for c, (_, err) in zip(children, outputs, strict=True):
        if c.returncode:
            raise RuntimeError(err.decode()[-2000:])
    return [Raced.parse(out.decode()) for out, _ in outputs]


def admitted_by_all(results: list[Raced]) -> Counter[str]:
    """What all the racing processes admitted together, per model and ``denied``."""
    counts: Counter[str] = Counter()
    for r in results:
        counts.update(r.admitted)
    return counts


if __name__ == "__main__":
    url, worker, count, mode, start_at, o1, mini = sys.argv[1:8]
    asyncio.run(main(url, worker, int(count), mode, float(start_at), int(o1), int(mini)))
