"""Is the database usable, for ``/healthz``: it must take a write, and soon.

``SELECT 1`` is not enough: a SQLite file whose write lock another process holds, or a
full disk, still answers reads while every question fails. So the check commits a real
write (one row, rewritten each time) within a bounded time, as urgent work (a busy bot
is not an unhealthy one). On SQLite it also wants some free disk: a small write can
still fit in the write-ahead log's recycled pages while anything that grows the file
fails with "database or disk is full".
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import StorageError
from storage._sql import insert, naive_utc, transaction
from storage.engine import URGENT
from storage.tables import Heartbeat

HEALTH_WITHIN_S = 2.0  # load balancers give up on a health check after a few seconds
SQLITE_MIN_FREE_BYTES = 4 * 1024 * 1024  # less, and the next growth of the file fails

_HEARTBEAT = Heartbeat.__table__


async def check_writable(
    engine: AsyncEngine, *, now: datetime, within_s: float = HEALTH_WITHIN_S
) -> None:
    """Return if the database committed a write within ``within_s``; else raise
    `StorageError` saying why."""
    if engine.dialect.name == "sqlite":
        _check_free_space(engine.url.database)
    deadline = asyncio.get_running_loop().time() + within_s
    upsert = insert(engine, _HEARTBEAT).values(id=1, at=naive_utc(now))
    async with transaction(
        engine, what="write to the database", priority=URGENT, deadline=deadline
    ) as conn:
        await conn.execute(
            upsert.on_conflict_do_update(index_elements=["id"], set_={"at": upsert.excluded.at})
        )


def _check_free_space(database: str | None) -> None:
    if not database or database == ":memory:":
        return
    try:
        stats = os.statvfs(Path(database).resolve().parent)
    except OSError as exc:
        raise StorageError(f"cannot see the database's disk: {type(exc).__name__}") from exc
    free = stats.f_bavail * stats.f_frsize
    if free < SQLITE_MIN_FREE_BYTES:
        raise StorageError(f"the database's disk is full ({free // 1024} KiB free)")
