"""End-to-end throughput of two checkouts of this project, alternating in one run, with
transactions per question counted by PostgreSQL (``pg_stat_database`` of the run's own
database): the way to tell what a change costs on a machine whose speed drifts.

Each run is `bench/load.py`'s throughput measure (one worker, zero-latency model,
--n questions through /slack/events) of one checkout, in a process of its own started
in that checkout, with this interpreter:

    git worktree add --detach ../old 5b9cbab
    python bench/ab.py ../old . --runs 3 --pg-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ONE = re.compile(r"= (\d+)/s \(bot CPU ([\d.]+) ms per question.*· ([\d.]+) transactions")


async def one(root: str, pg_url: str, n: int) -> None:
    """In the checkout at ``root``: its own load bench, its own database."""
    sys.path[:0] = [root, f"{root}/bench"]
    import asyncpg
    import load

    async def xacts(url: str) -> int:
        conn = await asyncpg.connect(pg_url)
        try:
            # Backends report their counts when idle or at exit, at most a second late.
            await asyncio.sleep(1.5)
            return int(
                await conn.fetchval(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
                    url.rsplit("/", 1)[1],
                )
            )
        finally:
            await conn.close()

    with tempfile.TemporaryDirectory() as tmp:
        async with await load.fresh("postgres", tmp, pg_url) as url:
            url = await load.migrated(url)
            before = await xacts(url)
            line = await load.throughput(n, url, 1)
            after = await xacts(url)
    # The bot's start-up and shutdown transactions are included (a few dozen).
    print(f"{line} · {(after - before) / n:.2f} transactions per question", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="checkout measured first in each round (e.g. the old code)")
    ap.add_argument("b", help="the other checkout")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL"))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.pg_url:
        raise SystemExit("PostgreSQL only: pass --pg-url or set TEST_DATABASE_URL")
    if args.one:
        asyncio.run(one(args.one, args.pg_url, args.n))
        return
    roots = [str(Path(r).resolve()) for r in (args.a, args.b)]
    figures: dict[str, list[tuple[float, float, float]]] = {r: [] for r in roots}
    for i in range(args.runs):
        # Alternate which goes first, so a drift in the machine's speed hits both.
        for root in roots if i % 2 == 0 else roots[::-1]:
            cmd = [sys.executable, __file__, *roots, "--one", root, "--n", str(args.n)]
            done = subprocess.run(
                [*cmd, "--pg-url", args.pg_url], cwd=root, capture_output=True, text=True
            )
            out = done.stdout.strip() or done.stderr.strip().splitlines()[-1]
            print(f"{root}: {out}", flush=True)
            m = ONE.search(out)
            if m:
                figures[root].append((float(m[1]), float(m[2]), float(m[3])))
    med = {
        r: tuple(statistics.median(f[k] for f in fs) for k in range(3)) for r, fs in figures.items()
    }
    for r, (qps, cpu, tx) in med.items():
        print(f"median of {len(figures[r])}: {r}: {qps:.0f}/s, {cpu:.1f} ms CPU, {tx:.2f} tx")
    (qa, ca, ta), (qb, cb, tb) = med[roots[0]], med[roots[1]]
    print(f"b / a: {qb / qa:.2f}× the questions/s, {cb / ca:.2f}× the CPU, {tb / ta:.2f}× tx")


if __name__ == "__main__":
    main()
