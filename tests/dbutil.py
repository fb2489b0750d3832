"""Databases for tests: a SQLite file, or a fresh PostgreSQL database created on the
server named by TEST_DATABASE_URL and dropped afterwards.

Outside CI the PostgreSQL tests are skipped (with the reason) when TEST_DATABASE_URL is
unset; in CI (CI=true) they are mandatory, and an unreachable server fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

BACKENDS = ("sqlite", "postgres")


def postgres_base_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests are mandatory in CI"
            )
        pytest.skip(
            "PostgreSQL tests skipped: set TEST_DATABASE_URL, e.g. "
            "postgresql://postgres@127.0.0.1:5432/test"
        )
    return url.replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """Yield a URL of an empty database of ``kind`` ("sqlite" or "postgres")."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'test-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = postgres_base_url()
    name = f"reasonbot_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(base, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    head, _, _ = base.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        admin = await asyncpg.connect(base, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
