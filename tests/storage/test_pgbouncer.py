"""The queue, the ledger and retention behind PgBouncer in transaction mode (the pooler a
hosted deployment puts in front of PostgreSQL): a server connection serves any client
between transactions, so nothing may rely on session state — prepared statements keep
unique names, and locks are rows, not session advisory locks.

PgBouncer comes from Debian's package (`.ci/run` installs it in CI). Outside CI the test
is skipped when it is absent."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import AskRequest, ReservationStatus, Usage
from storage import SqlJobQueue, SqlLedger, SqlRetention, make_engine, upgrade
from tests.builders import NOW, reserve
from tests.dbutil import fresh_database
from tests.fakes.loopback import free_port

BOUNCER_FLAG = os.environ.get("TEST_PGBOUNCER_FLAG", "pgbouncer=transaction")
PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
)


@pytest.fixture
def pgbouncer() -> Iterator[int]:
    """A PgBouncer in transaction mode on a free loopback port, in front of the test
    server, with fewer server connections than clients so they are shared."""
    if PGBOUNCER is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but pgbouncer is not installed (.ci/run installs it)")
        pytest.skip("pgbouncer is not installed: apt-get install pgbouncer")
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("PostgreSQL tests skipped: set TEST_DATABASE_URL")
    server = urlsplit(base)
    port = free_port()
    # Not under pytest's tmp_path: when run as root, PgBouncer runs as postgres, who
    # cannot enter root's private temporary directories.
    d = Path(tempfile.mkdtemp(prefix="reasonbot-pgbouncer-"))
    (d / "users.txt").write_text(f'"{server.username or "postgres"}" ""\n')
    (d / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.hostname or '127.0.0.1'} port={server.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {d / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 3\nmax_client_conn = 100\n"
        f"logfile = {d / 'pgbouncer.log'}\npidfile = {d / 'pgbouncer.pid'}\n"
        # Root may not run it: it drops to the postgres user, who must read this.
        + ("user = postgres\n" if os.geteuid() == 0 else "")
    )
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
        for f in d.iterdir():
            shutil.chown(f, "postgres")
    proc = subprocess.Popen([PGBOUNCER, str(d / "pgbouncer.ini")], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                assert proc.stderr is not None
                pytest.fail(f"pgbouncer exited: {proc.stderr.read().decode()}")
            subprocess.run(["sleep", "0.1"], check=True)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def bounced(pgbouncer: int, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with fresh_database("postgres", tmp_path) as url:
        direct = make_engine(url)
        await upgrade(direct)  # migrations go direct, as `reasonbot db upgrade` should
        await direct.dispose()
        parts = urlsplit(url)
        via = parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{pgbouncer}")
        # As an operator configures it: DATABASE_URL=…?pgbouncer=transaction
        engine = make_engine(via.geturl() + (f"?{BOUNCER_FLAG}" if BOUNCER_FLAG else ""))
        try:
            yield engine
        finally:
            await engine.dispose()


def request(team: str, n: int) -> AskRequest:
    key = f"{team}-{n}-{uuid.uuid4().hex[:6]}"
    return AskRequest(
        platform="test", team=team, channel="C", thread=key, user="u", text="q", key=key
    )


async def test_questions_go_through_queue_and_ledger_behind_pgbouncer(
    bounced: AsyncEngine,
) -> None:
    queue, ledger = SqlJobQueue(bounced), SqlLedger(bounced)
    asked = [request(f"T{i % 7}", i) for i in range(60)]
    assert all(await asyncio.gather(*(queue.submit(r, {}, now=NOW) for r in asked)))

    async def worker(name: str) -> int:
        done = 0
        while jobs := await queue.claim(worker=name, limit=4, lease_s=60, now=NOW):
            for job in jobs:
                r = job.request
                res = await reserve(ledger, r.key, team=r.team, user=r.user, limit=100)
                assert res.status is ReservationStatus.RESERVED
                await ledger.commit(r.key, usage=Usage(), latency_ms=1, now=NOW)
                await queue.finish(r.key, outcome="answered", now=NOW)
                done += 1
        return done

    # Eight workers (more clients than PgBouncer's three server connections).
    assert sum(await asyncio.gather(*(worker(f"w{i}") for i in range(8)))) == 60
    assert await queue.depth() == 0
    later = NOW + timedelta(days=2)
    report = await SqlRetention(bounced).prune(now=later)
    assert report.ran and report.deleted["jobs"] == 60
