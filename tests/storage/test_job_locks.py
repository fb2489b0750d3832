"""Writers that touch many jobs at once lock them in one order, so two of them never
wait on each other crosswise: a worker renewing its leases, group-committed route and
answer saves arriving in any order, finishes, releases and the lease-expiry scan, all
at once on PostgreSQL (where they can deadlock), never fail."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from storage import SqlJobQueue
from tests.storage.test_job_queue import NOW, request, submit

JOBS = 60
ROUNDS = 15


async def test_many_job_writers_at_once_never_deadlock(engine: AsyncEngine) -> None:
    # Several queues, as several processes have: their group commits run side by side.
    queues = [SqlJobQueue(engine, reap_every_s=0) for _ in range(4)]
    rng = random.Random(7)
    for r in range(ROUNDS):
        reqs = [request(f"t{i % 7}", r * JOBS + i) for i in range(JOBS)]
        await submit(queues[0], *reqs)
        keys = [q.key for q in reqs]
        claimed = await queues[0].claim(worker="w", limit=JOBS, lease_s=60, now=NOW)
        assert len(claimed) == JOBS

        async def saves(queue: SqlJobQueue, order: list[str]) -> None:
            await asyncio.gather(
                *(queue.save_route(k, {"ts": k}) for k in order),
                *(queue.save_answer(k, text="a", footer="f") for k in reversed(order)),
            )

        shuffled = [rng.sample(keys, len(keys)) for _ in queues]
        later = NOW + timedelta(minutes=5)  # past the lease: the scan hands them back
        await asyncio.gather(
            *(saves(q, order) for q, order in zip(queues, shuffled, strict=True)),
            queues[1].renew(list(reversed(keys)), worker="w", lease_s=60, now=NOW),
            queues[2].renew(keys, worker="w", lease_s=60, now=NOW),
            *(queues[3].finish(k, outcome="answered", now=NOW) for k in shuffled[0][: JOBS // 2]),
            queues[0].release(shuffled[1][JOBS // 2 :], worker="w"),
            queues[2].claim(worker="x", limit=JOBS, lease_s=60, now=later),
        )
