"""`SqlConversationStore`: each thread's turns, so follow-ups keep their context
across restarts and workers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from bot.domain import Role, Turn
from storage.ledger import SqlStore, append_turns, naive_utc
from storage.tables import ThreadRow, TurnRow

T = TurnRow.__table__
TH = ThreadRow.__table__


class SqlConversationStore(SqlStore):
    async def history(self, thread: str, *, limit: int = 50) -> list[Turn]:
        if limit <= 0:
            return []
        async with self._tx(read_only=True) as conn:
            rows = (
                await conn.execute(
                    select(T.c.role, T.c.content)
                    .where(T.c.thread == thread)
                    .order_by(T.c.id.desc())
                    .limit(limit)
                )
            ).all()
        return [Turn(Role(r.role), r.content) for r in reversed(rows)]

    async def append(self, thread: str, turns: Sequence[Turn], *, team: str, now: datetime) -> None:
        if turns:
            async with self._tx() as conn:
                await append_turns(conn, thread, turns, team=team, now=now)

    async def open(self, thread: str, *, team: str, now: datetime) -> None:
        async with self._tx() as conn:
            await conn.execute(
                self._insert(TH)
                .values(thread=thread, team=team, created_at=naive_utc(now))
                .on_conflict_do_nothing()
            )

    async def knows(self, thread: str) -> bool:
        async with self._tx(read_only=True) as conn:
            if (await conn.scalar(select(TH.c.thread).where(TH.c.thread == thread))) is not None:
                return True
            return (
                await conn.scalar(select(T.c.id).where(T.c.thread == thread).limit(1))
            ) is not None
