"""Which teams the database knows: every team that used, was granted or was given a
limit of any model (for ``reasonbot quota teams``)."""

from __future__ import annotations

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from storage._sql import transaction
from storage.tables import AuditRow, LimitOverride, QuotaCounter, UserCap


async def known_teams(engine: AsyncEngine) -> list[str]:
    """Team keys (``slack:T0123``, ``terminal:local``), sorted."""
    query = union(
        select(QuotaCounter.team),
        select(LimitOverride.team),
        select(UserCap.team),
        select(AuditRow.team),
    )
    async with transaction(engine, what="list teams", read_only=True) as conn:
        rows = (await conn.execute(query)).all()
    return sorted({row[0] for row in rows})
