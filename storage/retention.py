"""Retention: what the bot keeps, and for how long. One pruner for every growing table.

- ``jobs``, finished: `FINISHED_JOBS_KEPT` (a platform's retry of a key within that time
  is recognised by the queue; later, the ledger's ``requests`` still refuses a second
  charge). A finished job keeps only its key and outcome anyway (`storage.jobs`).
- ``requests``: ``request_retention_days`` (usage and the idempotency of charges), and
  only once their week is rolled up into ``usage_weeks`` (`storage.rollup`), so reports
  reach back past the raw rows and no row is added to the sums twice. A pass first rolls
  up every week surely over (the bot's processes roll each up a day after it ends).
- ``quota_counters``, ``user_counters``, ``budget_counters``: weeks that began within
  ``request_retention_days``. One row per team, model and week is small, but forever
  adds up with many teams, and only the current week decides a quota.
- ``turns``: ``conversation_retention_days``. A thread whose last turns go is marked
  ``pruned_at`` (a reply there is answered as a new conversation, and says the earlier
  context expired); its row goes once it is ``request_retention_days`` old, if no turn
  is left.
- ``queue_teams``, idle: `FINISHED_JOBS_KEPT` after last served. A team back after that
  counts as never served: it goes first among equals, which it is.

A pass runs in bounded batches, each its own short transaction (no long lock, no long
snapshot holding back vacuum), and once across all workers: whoever takes the
``retention`` row of ``leases`` (a conditional update, not a held lock) runs it; the row
then says when the next pass is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import StorageError
from storage._sql import insert, naive_utc, transaction
from storage.jobs import DONE
from storage.rollup import roll_up, rolled, settled_before
from storage.tables import (
    BudgetCounter,
    JobRow,
    Lease,
    QueueTeam,
    QuotaCounter,
    RequestRow,
    ThreadRow,
    TurnRow,
    UserCounter,
)

log = logging.getLogger(__name__)

FINISHED_JOBS_KEPT = timedelta(days=1)
BATCH = 5000  # rows per delete: a few ms of work and row locks, then commit
LEASE = "retention"
RUN_TTL = timedelta(minutes=10)  # a pass renews this after every batch; a dead pruner's lapses

jobs = JobRow.__table__
requests = RequestRow.__table__
turns = TurnRow.__table__
threads = ThreadRow.__table__
counters = QuotaCounter.__table__
user_counters = UserCounter.__table__
budget_counters = BudgetCounter.__table__
queue_teams = QueueTeam.__table__
leases = Lease.__table__


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    request_days: int = 90
    conversation_days: int = 30
    every: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PruneReport:
    ran: bool  # False: another process holds the pass, or it is not due
    deleted: dict[str, int] = field(default_factory=dict)


class SqlRetention:
    def __init__(self, engine: AsyncEngine, policy: RetentionPolicy | None = None) -> None:
        self._engine = engine
        self._policy = policy or RetentionPolicy()
        self._me = f"p-{uuid.uuid4().hex[:12]}"

    async def prune(self, *, now: datetime, force: bool = False) -> PruneReport:
        """Run a pass if one is due (or, with ``force``, unless one is running now)."""
        now = naive_utc(now)
        if not await self._take(now, force=force):
            return PruneReport(ran=False)
        deleted: dict[str, int] = {}
        try:
            before, open_before = settled_before(now)
            await roll_up(self._engine, before=before, open_before=open_before, now=now)
            for name, table, key, where in self._targets(now):
                deleted[name] = await self._delete(table, key, where, now)
            await self._mark_pruned(now)
        finally:
            await self._release(now)
        log.info("retention pass: deleted %s", deleted)
        return PruneReport(ran=True, deleted=deleted)

    def _targets(self, now: datetime) -> list[tuple[str, Any, Any, Any]]:
        p = self._policy
        req_cut = now - timedelta(days=p.request_days)
        conv_cut = now - timedelta(days=p.conversation_days)
        job_cut = now - FINISHED_JOBS_KEPT
        window_cut = req_cut.strftime("%Y-%m-%dT%H:%M:%SZ")  # `Window.key` sorts as time
        return [
            # Through ix_jobs_finished (the time it was finished), not in id order.
            (
                "jobs",
                jobs,
                (jobs.c.id.label("job"),),
                and_(jobs.c.status == DONE, jobs.c.finished_at < job_cut),
            ),
            (
                "requests",
                requests,
                (requests.c.id,),
                and_(
                    requests.c.created_at < req_cut,
                    rolled(requests.c.team, requests.c.window),
                ),
            ),
            (
                "quota_counters",
                counters,
                (counters.c.team, counters.c.model, counters.c.window),
                counters.c.window < window_cut,
            ),
            (
                "user_counters",
                user_counters,
                (
                    user_counters.c.team,
                    user_counters.c.model,
                    user_counters.c.window,
                    user_counters.c.user,
                ),
                user_counters.c.window < window_cut,
            ),
            (
                "budget_counters",
                budget_counters,
                (budget_counters.c.team, budget_counters.c.window),
                budget_counters.c.window < window_cut,
            ),
            ("turns", turns, (turns.c.id,), turns.c.created_at < conv_cut),
            (
                "threads",
                threads,
                (threads.c.thread,),
                and_(
                    threads.c.created_at < req_cut,
                    ~exists().where(turns.c.thread == threads.c.thread),
                ),
            ),
            (
                "queue_teams",
                queue_teams,
                (queue_teams.c.team,),
                and_(
                    queue_teams.c.in_flight == 0,
                    queue_teams.c.waiting == 0,
                    queue_teams.c.served_at < job_cut,
                ),
            ),
        ]

    async def _delete(
        self,
        table: Any,
        key: tuple[Any, ...],
        where: Any,
        now: datetime,
    ) -> int:
        """Delete in batches, each its own transaction."""
        total = 0
        started = time.monotonic()
        while True:
            chosen = select(*key).where(where).limit(BATCH)
            if len(key) == 1:
                # In key order where the key is an id: the oldest rows come first, found
                # through the primary key without scanning the newer ones.
                # (jobs go through ix_jobs_finished instead: finished, by time.)
                if key[0].name == "id" and table is not jobs:
                    chosen = chosen.order_by(key[0])
                stmt = delete(table).where(key[0].in_(chosen.scalar_subquery()))
            else:
                stmt = delete(table).where(tuple_(*key).in_(chosen))
            async with transaction(self._engine, what="prune") as conn:
                n = (await conn.execute(stmt)).rowcount or 0
                # Still ours? Another pruner may have taken over a lapsed lease.
                kept = await conn.execute(
                    update(leases)
                    .where(leases.c.name == LEASE, leases.c.holder == self._me)
                    .values(until=now + timedelta(seconds=time.monotonic() - started) + RUN_TTL)
                )
            total += n
            if n < BATCH or kept.rowcount == 0:
                return total

    async def _mark_pruned(self, now: datetime) -> None:
        """Threads past the conversation cut with no turn left become tombstones."""
        conv_cut = now - timedelta(days=self._policy.conversation_days)
        async with transaction(self._engine, what="prune") as conn:
            await conn.execute(
                update(threads)
                .where(
                    threads.c.pruned_at.is_(None),
                    threads.c.created_at < conv_cut,
                    ~exists().where(turns.c.thread == threads.c.thread),
                )
                .values(pruned_at=now)
            )

    async def _take(self, now: datetime, *, force: bool) -> bool:
        now = naive_utc(now)
        free = leases.c.until < now
        if force:  # due or not, unless a pass is running (its holder is set)
            free = free | (leases.c.holder == "")
        async with transaction(self._engine, what="prune") as conn:
            await conn.execute(
                insert(self._engine, leases)
                .values(name=LEASE, holder="", until=now - timedelta(seconds=1))
                .on_conflict_do_nothing(index_elements=["name"])
            )
            taken = await conn.execute(
                update(leases)
                .where(leases.c.name == LEASE, free)
                .values(holder=self._me, until=now + RUN_TTL)
            )
        return taken.rowcount == 1

    async def _release(self, now: datetime) -> None:
        async with transaction(self._engine, what="prune") as conn:
            await conn.execute(
                update(leases)
                .where(leases.c.name == LEASE, leases.c.holder == self._me)
                .values(holder="", until=now + self._policy.every)
            )


async def run_retention(
    pruner: SqlRetention,
    stop: asyncio.Event,
    *,
    clock: Callable[[], datetime],
    check_s: float,
    first_s: float | None = None,
) -> None:
    """The bot's background pass: every process checks now and then whether a pass is
    due; the lease makes one of them run it. The first check comes after a random part
    of ``check_s`` (or ``first_s``): not while the process starts, and not all processes
    of a deploy at once."""
    wait = random.uniform(0, check_s) if first_s is None else first_s
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await stop.wait()
        if stop.is_set():
            return
        try:
            await pruner.prune(now=clock())
        except StorageError as exc:
            log.warning("retention pass failed (next check in %.0f s): %s", check_s, exc)
        wait = check_s
