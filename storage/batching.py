"""Group commit: writes that arrive together share one transaction.

Under load every question makes a few small writes (its job's route, its answer
checkpoint, its end). One transaction each means hundreds of commits a second queueing
for the database — on SQLite for its single write lock, on PostgreSQL for pool
connections. A `GroupCommit` collects the writes that arrive while the previous batch is
being written and writes them in one transaction; each caller still waits until *its*
write is committed, so nothing is acknowledged that is not on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import StorageError
from storage._sql import transaction
from storage.engine import NORMAL

Item = TypeVar("Item")
Result = TypeVar("Result")

# Writes one batch inside an open transaction; returns one result per item, in order.
Write = Callable[[AsyncConnection, Sequence[Item]], Awaitable[Sequence[Result]]]

# Every caller of a batch resumes in the same turn of the event loop, each doing a
# fraction of a millisecond before its next wait: 500 made one turn of 30-80 ms
# (bench/load.py), 64 keeps it near 10 ms, still one commit for 64 writes.
BATCH_LIMIT = 64


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        engine: AsyncEngine,
        write: Write[Item, Result],
        *,
        what: str,
        limit: int = BATCH_LIMIT,
        priority: int = NORMAL,
        within_s: float | None = None,
    ) -> None:
        self._engine = engine
        self._priority = priority
        self._within_s = within_s  # each caller's answer, committed or failed, by then
        self._write = write
        self._what = what
        self._limit = limit
        self._pending: list[tuple[Item, asyncio.Future[Result], float | None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        deadline = None if self._within_s is None else loop.time() + self._within_s
        self._pending.append((item, future, deadline))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"group-commit:{self._what}")
        # The flush goes on if this caller is cancelled: other callers share it.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending[: self._limit], self._pending[self._limit :]
            # Whoever waited past their deadline for the previous batch is told so now,
            # and their write is dropped: no one is told "failed" of a write that lands.
            batch = [entry for entry in batch if self._in_time(entry, loop.time())]
            if not batch:
                continue
            items = [item for item, _, _ in batch]
            deadlines = [d for _, _, d in batch if d is not None]
            try:
                async with transaction(
                    self._engine,
                    what=self._what,
                    priority=self._priority,
                    deadline=min(deadlines) if deadlines else None,
                ) as conn:
                    results = await self._write(conn, items)
            except StorageError as error:
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            except BaseException as exc:
                # A bug or a cancellation: every waiter hears of it, none hangs.
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(StorageError(f"could not {self._what}: {exc!r}"))
                raise
            for (_, future, _), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _in_time(
        self, entry: tuple[Item, asyncio.Future[Result], float | None], now: float
    ) -> bool:
        _, future, deadline = entry
        if future.done():
            return False
        if deadline is not None and now >= deadline:
            future.set_exception(
                StorageError(f"could not {self._what}: the database did not answer in time")
            )
            return False
        return True
