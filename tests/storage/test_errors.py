"""Whichever driver fails, and however, the core sees one error: `StorageError`."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import OperationalError

from bot.domain import Window
from bot.errors import StorageError
from storage import SqlConversationStore, SqlJobQueue, SqlLedger, make_engine
from storage._sql import storage_errors
from storage.health import check_writable
from tests.builders import NOW
from tests.fakes.loopback import free_port


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT 1", {}, Exception("gone")),
        asyncpg.PostgresError("the server said no"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "reset by peer"),
        OSError(101, "Network is unreachable"),
        TimeoutError(),  # asyncio.TimeoutError since 3.11: a bounded wait ran out
        sqlite3.OperationalError("database is locked"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_drivers_error_becomes_a_storage_error(error: BaseException) -> None:
    with pytest.raises(StorageError, match="could not claim work") as caught:
        with storage_errors("claim work"):
            raise error
    assert caught.value.__cause__ is error


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), storage_errors("claim work"):
        raise KeyError("a bug is not a database outage")


async def test_a_postgresql_refusing_connections_is_a_storage_error_everywhere() -> None:
    # Nothing listens there: asyncpg raises OSError on connect, which used to escape
    # the dispatcher's claim loop and end the process.
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        queue = SqlJobQueue(engine)
        with pytest.raises(StorageError):
            await queue.claim(worker="w", limit=5, lease_s=60, now=NOW)
        with pytest.raises(StorageError):
            await queue.depth()
        with pytest.raises(StorageError):
            await queue.positions(["k"], now=NOW)
        with pytest.raises(StorageError):
            await queue.renew(["k"], worker="w", lease_s=60, now=NOW)
        with pytest.raises(StorageError):
            await SqlLedger(engine).usage("T", _week(), limits={"o1": 3}, with_users=False)
        with pytest.raises(StorageError):
            await SqlConversationStore(engine).knows("thread")
        with pytest.raises(StorageError):
            await check_writable(engine, now=NOW)
    finally:
        await engine.dispose()


async def test_a_sqlite_file_that_cannot_be_opened_is_a_storage_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'bot.db'}")
    try:
        with pytest.raises(StorageError):
            await SqlJobQueue(engine).claim(worker="w", limit=5, lease_s=60, now=NOW)
    finally:
        await engine.dispose()
        # The worker thread of the connection that failed to open still reports back to
        # this event loop; let it end first, or it raises in its thread once the loop is
        # closed (and the next test's set-up is blamed for it).
        for _ in range(500):
            if not any(
                t.is_alive() and t.name.endswith("(_connection_worker_thread)")
                for t in threading.enumerate()
            ):
                break
            await asyncio.sleep(0.01)


def _week() -> Window:
    return Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
