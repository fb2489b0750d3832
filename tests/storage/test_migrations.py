"""The migrations go all the way down and back up again on both databases: a
downgrade leaves nothing behind that the next upgrade would trip over."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import upgrade
from storage.engine import _alembic_config, current_revision, head_revision


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_downgrade_to_base_leaves_no_table_and_upgrade_rebuilds_the_same(
    engine: AsyncEngine,
) -> None:
    built = await _tables(engine)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_alembic_config(c), "base"))
    assert await _tables(engine) <= {"alembic_version"}
    assert await current_revision(engine) is None

    await upgrade(engine)
    assert await _tables(engine) == built
    assert await current_revision(engine) == head_revision()
