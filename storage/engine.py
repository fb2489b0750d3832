"""Engines, built by the caller (never at import time), and schema migrations."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import uuid
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30  # writers queue behind each other this long before failing
READ_ONLY = {"reasonbot_read_only": True}
# Execution option: how long (ms) this transaction may wait for SQLite's write lock, when
# it must be shorter than SQLITE_BUSY_TIMEOUT_S (see `storage._sql.transaction`).
BUSY_MS = "reasonbot_busy_ms"
# A server that does not answer the connection at all: give up on a new connection
# after this long (asyncpg's own default is 60 s) so loops retry instead of hanging.
PG_CONNECT_TIMEOUT_S = 5
# Slack wants its acknowledgement within 3 s, and the request is written down first:
# that write (its turn for a connection included) succeeds or fails within this.
ACK_WITHIN_S = 2.0
PG_POOL_SIZE, PG_POOL_OVERFLOW = 10, 20  # connections per process


def normalise_url(url: str) -> str:
    """Accept the URLs deployments use and pick the async driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://"):
        url = "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


def pgbouncer_connect_args() -> dict[str, Any]:
    """asyncpg settings for PgBouncer in transaction mode, where consecutive transactions
    of one client may run on different server connections: no statement cache, and
    unique names for the statements SQLAlchemy still prepares, so two clients never
    collide on one server connection."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__rb_{uuid.uuid4().hex}__",
    }


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"DATABASE_URL: not a database URL ({type(exc).__name__})") from exc
    if parsed.get_backend_name() == "sqlite":
        # Every transaction here ends in an explicit COMMIT or ROLLBACK, so the pool's
        # extra rollback on check-in would only be a wasted trip to the driver's thread.
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
            pool_reset_on_return=None,
            pool_size=1,
            max_overflow=0,
            **kw,
        )
        _sqlite_serialised_writes(engine)
        _turns[engine.sync_engine] = Turns()
        return engine
    if parsed.get_backend_name() == "postgresql":
        # DATABASE_URL=postgresql://…?pgbouncer=transaction: behind PgBouncer (README).
        if parsed.query.get("pgbouncer") == "transaction":
            url = parsed.difference_update_query(["pgbouncer"]).render_as_string(
                hide_password=False
            )
            kw["connect_args"] = {**pgbouncer_connect_args(), **kw.get("connect_args", {})}
        # No pre-ping: it costs a round trip per checkout, i.e. per transaction
        # (measured on 2,000 reservations, 200 at a time, loopback: 8-10 % fewer a
        # second, 5-20 % more CPU each). Without it a dead pool still recovers by
        # itself: the first transaction on a lost connection fails (a clear
        # StorageError, nothing charged), SQLAlchemy then replaces every pooled
        # connection made before it, and while the server is away new connections are
        # refused at once. The background loops touch the database every few seconds,
        # so an outage of any length is usually noticed, and the pool emptied, before
        # the first question after it (tests/storage/test_database_outage.py).
        engine = create_async_engine(
            url,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_POOL_OVERFLOW,
            connect_args={"timeout": PG_CONNECT_TIMEOUT_S, **kw.pop("connect_args", {})},
            **kw,
        )
        _turns[engine.sync_engine] = Turns(PG_POOL_SIZE + PG_POOL_OVERFLOW)
        return engine
    raise ConfigError(f"DATABASE_URL: unsupported database {parsed.get_backend_name()!r}")


URGENT, NORMAL = 0, 1


class Turns:
    """Who gets one of the database's connections next. Waiting in SQLAlchemy's pool is
    first come, first served, so a burst of platform requests (each waiting for its
    write before Slack may be told "OK") would queue behind the transactions of every
    question already being answered. Here urgent work goes first; the rest keeps its
    order. ``capacity`` is the pool's size, so nobody waits inside the pool itself."""

    def __init__(self, capacity: int = 1) -> None:
        self._free = capacity
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def __call__(self, priority: int = NORMAL) -> AsyncIterator[None]:
        if self._free > 0:
            self._free -= 1
        else:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._order), turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._next()  # handed the turn as it was cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        """Hand a connection that was let go straight to the next in line."""
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


_turns: weakref.WeakKeyDictionary[Any, Turns] = weakref.WeakKeyDictionary()


def turn(engine: AsyncEngine, priority: int = NORMAL) -> contextlib.AbstractAsyncContextManager:
    """Wait for a turn on one of the database's connections, urgent work first."""
    turns = _turns.get(engine.sync_engine)
    return turns(priority) if turns is not None else contextlib.nullcontext()


_DEFAULT_BUSY_MS = SQLITE_BUSY_TIMEOUT_S * 1000


def _sqlite_serialised_writes(engine: AsyncEngine) -> None:
    """SQLite has no SELECT … FOR UPDATE; a transaction that writes takes the write
    lock up front (BEGIN IMMEDIATE) so read-then-write sequences cannot interleave
    across processes. WAL lets readers go on meanwhile."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_DEFAULT_BUSY_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        # Reads run in autocommit: each SELECT is its own consistent snapshot, and
        # skipping BEGIN/COMMIT saves two trips to the driver's thread per read.
        options = conn.get_execution_options()
        if options.get("reasonbot_read_only", False):
            return
        # The busy timeout belongs to the connection: set it only when it changes.
        busy = min(options.get(BUSY_MS, _DEFAULT_BUSY_MS), _DEFAULT_BUSY_MS)
        if conn.info.get(BUSY_MS, _DEFAULT_BUSY_MS) != busy:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy)}")
            conn.info[BUSY_MS] = busy
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    from storage._sql import storage_errors

    with storage_errors("migrate the database"):
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), revision))


def head_revision() -> str | None:
    """The newest migration this code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from storage._sql import storage_errors

    with storage_errors("read the schema's revision"):
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
