"""What every store shares: the transaction helper with the one place where database
errors become `StorageError`, the dialect's upsert, and how times are stored.

Drivers fail in their own words: SQLAlchemy wraps most errors in ``SQLAlchemyError``,
but asyncpg's ``OSError`` (connection refused) or ``PostgresError`` can escape it on
connect, sqlite3 raises its own errors from the driver thread, and a bounded wait ends
in ``TimeoutError``. All of them mean "the database failed" to the core, so they are
translated here, once, whichever driver raised them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import StorageError
from storage.engine import BUSY_MS, NORMAL, READ_ONLY, URGENT, turn

try:  # the PostgreSQL driver is installed with the package, but SQLite needs none
    import asyncpg
except ImportError:  # pragma: no cover
    _ASYNCPG: tuple[type[BaseException], ...] = ()
else:
    _ASYNCPG = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)

# OSError covers ConnectionError and TimeoutError (asyncio.TimeoutError since 3.11).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    sqlite3.Error,
    *_ASYNCPG,
)


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Translate any driver's failure into `StorageError` ("could not <what>: ...").
    The message names the error's type, never its text: that may hold the URL."""
    try:
        yield
    except StorageError:
        raise
    except TimeoutError as exc:
        raise StorageError(f"could not {what}: the database did not answer in time") from exc
    except DATABASE_ERRORS as exc:
        raise StorageError(f"could not {what}: {type(exc).__name__}") from exc


@contextlib.asynccontextmanager
async def transaction(
    engine: AsyncEngine,
    *,
    what: str,
    read_only: bool = False,
    priority: int = NORMAL,
    deadline: float | None = None,
) -> AsyncIterator[AsyncConnection]:
    """One short transaction on a connection of ``engine``, waited for in ``priority``
    order. ``deadline`` (the event loop's clock) bounds the whole of it: the wait for a
    connection, SQLite's wait for its write lock, the statements and the commit."""
    with storage_errors(what):
        async with asyncio.timeout_at(deadline), turn(engine, priority):
            async with engine.connect() as conn:
                if read_only:
                    # Reads run in autocommit on both databases (see `storage.engine`):
                    # each SELECT its own snapshot, without BEGIN and COMMIT, two trips
                    # to the server fewer on PostgreSQL.
                    conn = await conn.execution_options(**READ_ONLY, **_autocommit(engine))
                elif deadline is not None and engine.dialect.name == "sqlite":
                    # SQLite waits for another process's write lock in the driver's
                    # thread, where cancelling cannot reach: make it give up in time.
                    left = deadline - asyncio.get_running_loop().time()
                    conn = await conn.execution_options(**{BUSY_MS: max(int(left * 1000), 1)})
                async with conn.begin():
                    yield conn


def _autocommit(engine: AsyncEngine) -> dict[str, str]:
    return {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}


def insert(engine_or_pg: AsyncEngine | bool, table: Any) -> Any:
    """``INSERT`` with the dialect's ``ON CONFLICT`` clauses."""
    pg = (
        engine_or_pg
        if isinstance(engine_or_pg, bool)
        else engine_or_pg.dialect.name == "postgresql"
    )
    return (postgresql.insert if pg else sqlite.insert)(table)


def naive_utc(at: datetime) -> datetime:
    """Times are stored as naive UTC: SQLite keeps no time zone, and one convention
    keeps comparisons right on both backends."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class SqlStore:
    """Base of the stores: short transactions on one engine, in its dialect."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"

    def _insert(self, table: Any) -> Any:
        return insert(self._pg, table)

    def _tx(
        self,
        *,
        read_only: bool = False,
        what: str = "use the database",
        urgent_within_s: float | None = None,
    ) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """``urgent_within_s``: someone waits for this before a platform may be
        acknowledged; it goes first and gives up after that long."""
        if urgent_within_s is None:
            return transaction(self._engine, what=what, read_only=read_only)
        return transaction(
            self._engine,
            what=what,
            read_only=read_only,
            priority=URGENT,
            deadline=asyncio.get_running_loop().time() + urgent_within_s,
        )
