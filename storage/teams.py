"""Which teams the database knows: every team that used, was granted or was given a
limit of any model (for ``reasonbot quota teams``)."""

from __future__ import annotations

from sqlalchemy import select, union
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import StorageError
from storage.tables import AuditRow, LimitOverride, QuotaCounter, UserCap


async def known_teams(engine: AsyncEngine) -> list[str]:
    """Team keys (``slack:T0123``, ``terminal:local``), sorted."""
    query = union(
        select(QuotaCounter.team),
        select(LimitOverride.team),
        select(UserCap.team),
        select(AuditRow.team),
    )
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(query)
            return sorted({row[0] for row in rows})
    except SQLAlchemyError as exc:
        raise StorageError(f"could not list teams ({type(exc).__name__})") from exc
