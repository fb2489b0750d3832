"""The bot rides out a PostgreSQL restart: questions asked while the server is down fail
cleanly (nothing charged), and once it is back the same process answers again, without
being restarted itself."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from app.wiring import build_runtime
from bot.config import Catalogue, ModelSpec, Settings
from bot.domain import AskRequest
from bot.service import AskOutcome
from tests.bot.test_service import Transcript
from tests.dbutil import fresh_database, postgres_base_url
from tests.fakes.openai_server import FakeOpenAI


def _cluster() -> list[str]:
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs pg_ctlcluster and root")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        pytest.skip("no local PostgreSQL cluster to restart")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


async def _pg(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await proc.wait()


async def test_the_bot_recovers_from_a_postgresql_restart(tmp_path: Path) -> None:
    postgres_base_url()  # skips (or fails in CI) without a PostgreSQL to test against
    cluster = _cluster()
    catalogue = Catalogue(models=[ModelSpec(alias="o1", id="o1", weekly_limit=10, streaming=False)])
    async with fresh_database("postgres", tmp_path) as url, FakeOpenAI() as model:
        settings = Settings(
            database_url=url, openai_base_url=model.base_url, openai_api_key="sk-x", _env_file=None
        )  # type: ignore[call-arg]
        async with build_runtime(settings, catalogue, migrate=True) as rt:

            async def ask(i: int) -> AskOutcome:
                request = AskRequest(
                    platform="t",
                    team="t:T",
                    channel="C",
                    thread=f"th{i}",
                    user="u",
                    text=f"q{i}",
                    key=f"restart-{i}",
                )
                return await rt.service.ask(request, Transcript())

            assert await ask(0) is AskOutcome.ANSWERED
            await _pg(*cluster, "restart")
            try:
                outcomes = []
                for i in range(1, 40):  # the server takes a moment to accept connections
                    outcome = await ask(i)
                    outcomes.append(outcome)
                    if outcome is AskOutcome.ANSWERED:
                        break
                    await asyncio.sleep(0.5)
            finally:
                await _pg(*cluster, "start")  # whatever happened, leave it running
            assert outcomes[-1] is AskOutcome.ANSWERED
            assert set(outcomes[:-1]) <= {AskOutcome.FAILED}
            report = await rt.service.quota(
                __import__("bot.domain", fromlist=["QuotaCommand"]).QuotaCommand(
                    "t", "t:T", "u", ""
                )
            )
            assert "8 of 10 left" in report.text  # only the two answered were charged
