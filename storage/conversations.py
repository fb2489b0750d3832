"""`SqlConversationStore`: each thread's turns, so follow-ups keep their context
across restarts and workers. `record_exchange` is the one writer of turns: the ledger
runs it inside the transaction that charges the answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain import Exchange, Role, Turn
from storage._sql import SqlStore, naive_utc
from storage.batching import GroupCommit
from storage.engine import ACK_WITHIN_S
from storage.tables import ThreadRow, TurnRow

T = TurnRow.__table__
TH = ThreadRow.__table__


async def record_exchange(conn: AsyncConnection, exchange: Exchange, *, now: datetime) -> None:
    """Append the question and its answer to their thread, on the caller's transaction
    (the ledger's commit: the turns and the charge stand or fall together)."""
    at = naive_utc(now)
    await conn.execute(
        T.insert(),
        [
            {
                "thread": exchange.thread,
                "team": exchange.team,
                "role": turn.role.value,
                "content": turn.content,
                "reasoning_state": turn.reasoning_state,
                "created_at": at,
            }
            for turn in exchange.turns
        ],
    )


class SqlConversationStore(SqlStore):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        # Every question opens its thread: under load these share transactions.
        self._opens = GroupCommit(engine, self._insert_threads, what="open threads")

    async def history(self, thread: str, *, limit: int = 50) -> list[Turn]:
        if limit <= 0:
            return []
        async with self._tx(read_only=True) as conn:
            return await _turns(conn, thread, limit)

    async def recall(self, thread: str, *, limit: int = 50) -> tuple[list[Turn], bool]:
        async with self._tx(read_only=True) as conn:
            turns = await _turns(conn, thread, max(limit, 1))
            # No turn left, and a tombstone: retention removed the conversation.
            expired = (
                not turns
                and (await conn.scalar(select(TH.c.pruned_at).where(TH.c.thread == thread)))
                is not None
            )
        return (turns if limit > 0 else []), expired

    async def open(self, thread: str, *, team: str, now: datetime) -> None:
        await self._opens((thread, team, now))

    async def _insert_threads(
        self, conn: AsyncConnection, batch: Sequence[tuple[str, str, datetime]]
    ) -> list[None]:
        # One row per thread, in key order (two workers' batches never deadlock).
        rows = dict(sorted({thread: (team, now) for thread, team, now in batch}.items()))
        await conn.execute(  # executemany: compiled once, whatever the batch size
            self._insert(TH).on_conflict_do_nothing(),
            [
                {"thread": thread, "team": team, "created_at": naive_utc(now)}
                for thread, (team, now) in rows.items()
            ],
        )
        return [None] * len(batch)

    async def knows(self, thread: str) -> bool:
        # Asked before Slack is acknowledged (is a thread reply a follow-up?).
        async with self._tx(read_only=True, urgent_within_s=ACK_WITHIN_S) as conn:
            if (await conn.scalar(select(TH.c.thread).where(TH.c.thread == thread))) is not None:
                return True
            return (
                await conn.scalar(select(T.c.id).where(T.c.thread == thread).limit(1))
            ) is not None


async def _turns(conn: AsyncConnection, thread: str, limit: int) -> list[Turn]:
    """The thread's last ``limit`` turns, oldest first."""
    rows = (
        await conn.execute(
            select(T.c.role, T.c.content, T.c.reasoning_state)
            .where(T.c.thread == thread)
            .order_by(T.c.id.desc())
            .limit(limit)
        )
    ).all()
    return [Turn(Role(r.role), r.content, r.reasoning_state) for r in reversed(rows)]
