"""An answer's reasoning record is kept with its turn (SQLite and PostgreSQL): written
with the charge, read back by any worker for the thread's next question; a database
from before migration 0006 keeps its turns, with no record."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Exchange, Role, Turn, Usage
from storage import (
    SqlConversationStore,
    SqlLedger,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from tests.builders import NOW, reserve

STATE = '{"model": "o3", "items": [{"type": "reasoning", "encrypted_content": "gAAA"}]}'


async def charge(ledger: SqlLedger, key: str, exchange: Exchange) -> None:
    await reserve(ledger, key, team=exchange.team, model="o3")
    await ledger.commit(key, usage=Usage(), latency_ms=1, now=NOW, exchange=exchange)


async def test_the_record_travels_with_the_charged_answer(engine: AsyncEngine) -> None:
    exchange = Exchange("th", "T", "why?", "because", STATE)
    await charge(SqlLedger(engine), "k1", exchange)
    # Another worker: its own store over a fresh connection pool.
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        history = await SqlConversationStore(other).history("th")
    finally:
        await other.dispose()
    assert history == list(exchange.turns)
    assert history[1].reasoning_state == STATE and history[0].reasoning_state is None


async def test_a_large_record_is_kept_whole(engine: AsyncEngine) -> None:
    big = STATE.replace("gAAA", "g" * 200_000)  # encrypted items run to kilobytes
    await charge(SqlLedger(engine), "k1", Exchange("th", "T", "q", "a", big))
    assert (await SqlConversationStore(engine).history("th"))[1].reasoning_state == big


async def test_migration_keeps_older_turns(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO turns (thread, team, role, content, created_at) "
                    "VALUES ('th', 'T', 'assistant', 'old answer', :at)"
                ),
                {"at": NOW.replace(tzinfo=None)},
            )
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        history = await SqlConversationStore(engine).history("th")
        assert history == [Turn(Role.ASSISTANT, "old answer")]
    finally:
        await engine.dispose()
