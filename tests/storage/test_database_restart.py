"""The bot rides out a PostgreSQL restart: questions asked while the server is down fail
cleanly (nothing charged), and once it is back the same process answers again, without
being restarted itself.

A restart as the bot sees it, without restarting the server other tests share: the
server ends every connection of the bot's database (what a shutdown does:
``pg_terminate_backend``), then refuses connections for a while (a proxy in front of it,
cut), then takes them again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from sqlalchemy.engine.url import make_url

from app.settings import Settings
from app.wiring import build_runtime
from bot.config import Catalogue, ModelSpec
from bot.domain import AskRequest, QuotaCommand
from bot.service import AskOutcome
from tests.bot.test_service import Transcript
from tests.dbutil import fresh_database, postgres_base_url
from tests.fakes.openai_server import FakeOpenAI
from tests.storage.tcp_proxy import proxy_to


async def _terminate_connections_to(database: str) -> int:
    admin = await asyncpg.connect(postgres_base_url())
    try:
        return len(
            await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        )
    finally:
        await admin.close()


async def test_the_bot_recovers_from_a_postgresql_restart(tmp_path: Path) -> None:
    catalogue = Catalogue(models=[ModelSpec(alias="o1", id="o1", weekly_limit=10, streaming=False)])
    async with fresh_database("postgres", tmp_path) as url, FakeOpenAI() as model:
        real = make_url(url)
        async with proxy_to(real.host or "127.0.0.1", real.port or 5432) as proxy:
            settings = Settings(
                database_url=real.set(host="127.0.0.1", port=proxy.port).render_as_string(False),
                openai_base_url=model.base_url,
                openai_api_key="sk-x",
                _env_file=None,
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
                # The pooled connections hear "terminating connection due to
                # administrator command", as in a restart; then the server is away.
                assert await _terminate_connections_to(real.database or "") >= 1
                await proxy.cut()
                assert await ask(1) is AskOutcome.FAILED
                await proxy.restore()
                outcomes = []
                for i in range(2, 40):
                    outcome = await ask(i)
                    outcomes.append(outcome)
                    if outcome is AskOutcome.ANSWERED:
                        break
                    await asyncio.sleep(0.5)
                assert outcomes[-1] is AskOutcome.ANSWERED
                assert set(outcomes[:-1]) <= {AskOutcome.FAILED}
                report = await rt.service.quota(QuotaCommand("t", "t:T", "u", ""))
                assert "8 of 10 left" in report.text  # only the two answered were charged
