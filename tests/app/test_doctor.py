"""`reasonbot doctor` against the loopback fakes: everything in order, then each fault
injected in turn, each named on its own ✗ line with the fix."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.doctor import Check, report, run_checks
from app.settings import Settings, load_settings
from bot.config import Catalogue, ModelSpec
from storage import make_engine, upgrade
from tests.dbutil import BACKENDS, fresh_database
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack

KEY = "sk-doctor"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path) as url:
        yield url


async def migrated(url: str) -> str:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return url


async def doctor(settings: Settings, catalogue: Catalogue | None = None) -> list[Check]:
    return await run_checks(settings, catalogue or Catalogue())


def settings_in(tmp_path: Path, **fields: Any) -> Settings:
    """Settings whose SQLite database (not created yet) is in ``tmp_path``."""
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", **fields)


def named(checks: list[Check], name: str) -> Check:
    return next(c for c in checks if c.name == name)


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


async def test_all_in_order_every_line_is_a_tick(tmp_path: Path) -> None:
    url = await migrated(f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}")
    async with FakeOpenAI(api_key=KEY) as model, FakeSlack() as slack, FakeDiscord() as discord:
        settings = load_settings(
            openai_base_url=model.base_url,
            openai_api_key=KEY,
            database_url=url,
            slack_bot_token=slack.token,
            slack_app_token=slack.app_token,
            slack_api_url=slack.base_url,
            discord_token=discord.token,
            discord_api_url=discord.base,
        )
        checks = await doctor(settings)
    assert failures(checks) == []
    names = [c.name for c in checks]
    for expected in (
        "configuration",
        "database",
        "migrations",
        "database writable",
        "model o1",
        "model mini",
        "Slack token",
        "Slack scopes",
        "Slack Socket Mode",
        "Discord token",
        "Discord application",
        "Discord intents",
        "Discord invite",
    ):
        assert expected in names
    assert f"client_id={discord.app_id}" in named(checks, "Discord invite").detail
    out = io.StringIO()
    assert report(checks, out) == 0
    assert out.getvalue().splitlines()[0].startswith("✓ configuration")
    assert KEY not in out.getvalue() and slack.token not in out.getvalue()


async def test_database_not_migrated(db_url: str) -> None:
    engine = make_engine(db_url)  # connecting creates an empty SQLite file
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    await engine.dispose()
    checks = await doctor(
        load_settings(database_url=db_url, openai_base_url="http://127.0.0.1:9/v1")
    )
    check = named(checks, "migrations")
    assert not check.ok and "reasonbot db upgrade" in check.fix


async def test_database_read_only_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    await migrated(f"sqlite+aiosqlite:///{path}")
    url = f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    check = named(await doctor(load_settings(database_url=url)), "database writable")
    assert not check.ok and "write access" in check.fix


async def test_database_read_only_postgres(tmp_path: Path) -> None:
    async with fresh_database("postgres", tmp_path) as url:
        await migrated(url)
        role = f"ro_{tmp_path.name[-8:].replace('-', '_')}".lower()
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
            await admin.execute(f'CREATE ROLE "{role}" LOGIN')
            await admin.execute(f'GRANT SELECT ON alembic_version TO "{role}"')
            host_db = url.split("@", 1)[1]
            check = named(
                await doctor(load_settings(database_url=f"postgresql://{role}@{host_db}")),
                "database writable",
            )
        finally:
            await admin.execute(f'REVOKE ALL ON alembic_version FROM "{role}"')
            await admin.close()
    assert not check.ok and "write access" in check.fix


async def test_database_unreachable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    check = named(await doctor(load_settings(database_url=url)), "database")
    assert not check.ok and "connection refused" in check.detail and "DATABASE_URL" in check.fix


async def test_sqlite_file_missing_is_fine_where_the_bot_can_create_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    check = named(await doctor(load_settings(database_url=url)), "database")
    assert check.ok and "creates it on start" in check.detail
    assert not (tmp_path / "new.db").exists()


async def test_missing_key_is_named(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, openai_base_url="https://api.openai.invalid/v1")
    check = named(await doctor(settings), "model o1")
    assert not check.ok and "OPENAI_API_KEY is not set" in check.detail


async def test_key_rejected(tmp_path: Path) -> None:
    async with FakeOpenAI(api_key=KEY) as model:
        settings = settings_in(tmp_path, openai_base_url=model.base_url, openai_api_key="sk-wrong")
        check = named(await doctor(settings), "model o1")
    assert not check.ok and "rejected the key" in check.detail and "OPENAI_API_KEY" in check.fix


async def test_provider_unreachable_names_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = settings_in(tmp_path, openai_base_url=url, openai_api_key=KEY)
    check = named(await doctor(settings), "model mini")
    assert not check.ok
    assert f"cannot reach {url} (connection refused)" in check.detail
    assert "OPENAI_BASE_URL" in check.fix


async def test_unknown_model_id(tmp_path: Path) -> None:
    catalogue = Catalogue(
        default_model="o9", models=[ModelSpec(alias="o9", id="o9-preview", weekly_limit=1)]
    )
    async with FakeOpenAI(api_key=KEY) as model:
        settings = settings_in(tmp_path, openai_base_url=model.base_url, openai_api_key=KEY)
        check = named(await doctor(settings, catalogue), "model o9")
    assert not check.ok and "no model 'o9-preview'" in check.detail and "o1-mini" in check.detail


async def test_provider_without_model_list_gets_one_tiny_request(tmp_path: Path) -> None:
    async with FakeOpenAI(api_key=KEY) as model:
        model.model_ids = None
        settings = settings_in(tmp_path, openai_base_url=model.base_url, openai_api_key=KEY)
        model.fail(404, code="model_not_found", times=1)  # the first model (o1) is unknown
        checks = await doctor(settings)
    assert (
        not named(checks, "model o1").ok
        and "does not know model 'o1'" in named(checks, "model o1").detail
    )
    assert named(checks, "model mini").ok
    assert [r.body["max_completion_tokens"] for r in model.requests] == [16, 16]


async def test_slack_faults(tmp_path: Path) -> None:
    async with FakeSlack() as slack:
        base = {"slack_api_url": slack.base_url}
        checks = await doctor(settings_in(tmp_path, slack_bot_token="xoxb-wrong", **base))
        assert not named(checks, "Slack token").ok
        assert "invalid_auth" in named(checks, "Slack token").detail

        slack.scopes = tuple(s for s in slack.scopes if s != "users:read")
        checks = await doctor(
            settings_in(tmp_path, slack_bot_token=slack.token, slack_app_token="xapp-wrong", **base)
        )
    scopes = named(checks, "Slack scopes")
    assert not scopes.ok and scopes.detail == "missing users:read" and "reinstall" in scopes.fix
    socket_mode = named(checks, "Slack Socket Mode")
    assert not socket_mode.ok and "connections:write" in socket_mode.fix


async def test_discord_faults(tmp_path: Path) -> None:
    async with FakeDiscord() as discord:
        base = {"discord_api_url": discord.base}
        checks = await doctor(settings_in(tmp_path, discord_token="not.the.token", **base))
        assert not named(checks, "Discord token").ok

        checks = await doctor(
            settings_in(tmp_path, discord_token=discord.token, discord_message_content=True, **base)
        )
        intents = named(checks, "Discord intents")
        assert not intents.ok and "Message Content Intent" in intents.fix

        discord.app_flags = 1 << 18
        checks = await doctor(
            settings_in(tmp_path, discord_token=discord.token, discord_message_content=True, **base)
        )
    assert named(checks, "Discord intents").ok


async def test_cli_exits_non_zero_on_any_failure(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "OPENAI_BASE_URL": "https://api.openai.invalid/v1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "doctor", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert proc.returncode == 1
    assert "✗ model o1: OPENAI_API_KEY is not set" in text and "fix: set OPENAI_API_KEY" in text
    assert text.rstrip().endswith("2 problems found.")
