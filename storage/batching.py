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

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import StorageError
from storage.engine import NORMAL, turn

Item = TypeVar("Item")
Result = TypeVar("Result")

# Writes one batch inside an open transaction; returns one result per item, in order.
Write = Callable[[AsyncConnection, Sequence[Item]], Awaitable[Sequence[Result]]]


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        engine: AsyncEngine,
        write: Write[Item, Result],
        *,
        what: str,
        limit: int = 500,
        priority: int = NORMAL,
    ) -> None:
        self._engine = engine
        self._priority = priority
        self._write = write
        self._what = what
        self._limit = limit
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"group-commit:{self._what}")
        # The flush goes on if this caller is cancelled: other callers share it.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._limit], self._pending[self._limit :]
            items = [item for item, _ in batch]
            try:
                async with turn(self._engine, self._priority), self._engine.begin() as conn:
                    results = await self._write(conn, items)
            except SQLAlchemyError as exc:
                error = StorageError(f"could not {self._what}: {type(exc).__name__}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            except BaseException as exc:
                # A bug or a cancellation: every waiter hears of it, none hangs.
                for _, future in batch:
                    if not future.done():
                        future.set_exception(StorageError(f"could not {self._what}: {exc!r}"))
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
