"""Quota ledger throughput and correctness under contention.

N OS processes (1 and 8) reserve as fast as they can against one team's quota on one
database; the remaining quota is smaller than the number of attempts, so some are
refused. Reports reservations per second (all attempts, admitted or refused, over the
wall time of the slowest process) and over-admission (admitted beyond the limit: must
be 0). Each configuration runs --rounds times on a fresh database; medians are shown.

    python bench/quota.py [--attempts 400] [--rounds 3] [--pg-url postgresql://...] [--chain]

With --chain every reservation asks for `o1`, which falls back to `mini` (each holds
half the limit): past `o1`'s messages each reservation walks the chain, and
over-admission is counted per model.

PostgreSQL is used when --pg-url or TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage import make_engine, upgrade
from tests.dbutil import fresh_database
from tests.storage.race_worker import admitted_by_all, race


async def one_round(url: str, procs: int, attempts: int, limit: int) -> tuple[float, int]:
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    per_proc = attempts // procs
    results = await race(url, procs=procs, per_proc=per_proc, o1=limit, start_in_s=2.0)
    admitted = sum(r.reserved for r in results)
    slowest = max(r.elapsed for r in results)
    return per_proc * procs / slowest, admitted - limit if admitted > limit else 0


async def chain_round(url: str, procs: int, attempts: int, limit: int) -> tuple[float, int]:
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    per_proc = attempts // procs
    o1, mini = limit // 2, limit - limit // 2
    results = await race(
        url, procs=procs, per_proc=per_proc, start_in_s=2.0, mode="chain", o1=o1, mini=mini
    )
    counts = admitted_by_all(results)
    slowest = max(r.elapsed for r in results)
    over = max(counts.get("o1", 0) - o1, 0) + max(counts.get("mini", 0) - mini, 0)
    return per_proc * procs / slowest, over


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--attempts", type=int, default=400, help="reservations per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL"))
    ap.add_argument("--chain", action="store_true", help="o1 falling back to mini")
    args = ap.parse_args()
    run_round = chain_round if args.chain else one_round
    if args.pg_url:
        os.environ["TEST_DATABASE_URL"] = args.pg_url
    kinds = ["sqlite"] + (["postgres"] if args.pg_url else [])
    limit = args.attempts * 3 // 4
    print(
        f"{args.attempts} reservations per round against a limit of {limit}"
        f"{' (o1 half, then mini)' if args.chain else ''}, median of {args.rounds} rounds"
    )
    print(f"{'database':<10}{'processes':>10}{'reserve/s':>12}{'over-admitted':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for procs in (1, 8):
                rates, over = [], 0
                for _ in range(args.rounds):
                    async with fresh_database(kind, Path(tmp)) as url:
                        rate, extra = await run_round(url, procs, args.attempts, limit)
                    rates.append(rate)
                    over += extra
                print(f"{kind:<10}{procs:>10}{statistics.median(rates):>12.0f}{over:>15}")


if __name__ == "__main__":
    asyncio.run(main())
