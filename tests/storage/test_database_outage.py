"""PostgreSQL going away mid-run: the process keeps running (questions get "database
unavailable, nothing charged", /healthz says 503, the background loops say so once and
retry), and once the database is back the same process answers again by itself. And an
unreachable database at start: one clear line and exit code 2.

The outage is a proxy in front of the shared server that the test cuts and restores:
the server itself, which other tests use meanwhile, is never stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.engine.url import make_url

from app.ops import ops_routes, serve
from app.settings import Settings
from app.wiring import Runtime, build_runtime
from bot.config import Catalogue, ModelSpec
from bot.dispatch import Job, SaveRoute
from bot.domain import AskRequest, QuotaCommand
from bot.errors import StorageError
from bot.service import AskOutcome
from tests.bot.test_service import Transcript
from tests.dbutil import fresh_database
from tests.fakes.bot_process import free_port, run_to_exit, slack_env
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.harness import POLL_S, WAIT_S
from tests.storage.tcp_proxy import CuttableProxy, proxy_to

CATALOGUE = Catalogue(models=[ModelSpec(alias="o1", id="o1", weekly_limit=10, streaming=False)])


def question(key: str) -> AskRequest:
    return AskRequest(
        platform="t", team="t:T", channel="C", thread=f"th-{key}", user="u", text=key, key=key
    )


class Bot:
    """The runtime with its dispatcher, queue-depth watcher and /healthz running, as
    `reasonbot run` has them; each job's replies go to a transcript."""

    def __init__(self, rt: Runtime, health_url: str) -> None:
        self.rt = rt
        self.health_url = health_url
        self.transcripts: dict[str, Transcript] = {}

    def replier(self, job: Job, _save: SaveRoute) -> Transcript:
        return self.transcripts.setdefault(job.key, Transcript())

    async def healthz(self) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.health_url, timeout=aiohttp.ClientTimeout(total=WAIT_S)) as r,
        ):
            return r.status

    async def until(self, check: Callable[[], Awaitable[bool]]) -> None:
        for _ in range(int(WAIT_S / POLL_S)):
            if await check():
                return
            await asyncio.sleep(POLL_S)
        raise TimeoutError("the bot did not get there")

    async def answered(self, key: str) -> bool:
        t = self.transcripts.get(key)
        return t is not None and bool(t.answers)


@contextlib.asynccontextmanager
async def running(rt: Runtime, stop: asyncio.Event) -> AsyncIterator[Bot]:
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    ops = web.Application()
    ops.add_routes(ops_routes(health=rt.health, metrics=rt.metrics))
    tasks = [
        asyncio.create_task(rt.dispatcher.run(stop), name="dispatcher"),
        asyncio.create_task(rt.metrics.watch_queue(rt.queue.depth, stop, every=0.2)),
        asyncio.create_task(
            serve(ops, host="127.0.0.1", port=0, stop=stop, started=bound.set_result)
        ),
    ]
    bot = Bot(rt, f"http://127.0.0.1:{await bound}/healthz")
    rt.dispatcher.register("t", bot.replier)
    try:
        yield bot
    finally:
        stop.set()
        await asyncio.gather(*tasks)  # an exception here is a loop that died


async def test_the_bot_rides_out_a_postgresql_outage_and_recovers_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with fresh_database("postgres", tmp_path) as url, FakeOpenAI() as model:
        real = make_url(url)
        async with proxy_to(real.host or "127.0.0.1", real.port or 5432) as proxy:
            via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            settings = Settings(
                database_url=via_proxy,
                openai_base_url=model.base_url,
                openai_api_key="sk-x",
                _env_file=None,
            )  # type: ignore[call-arg]
            async with build_runtime(settings, CATALOGUE, migrate=True) as rt:
                async with running(rt, asyncio.Event()) as bot:
                    await _outage_and_recovery(bot, proxy, caplog)


async def _outage_and_recovery(
    bot: Bot, proxy: CuttableProxy, caplog: pytest.LogCaptureFixture
) -> None:
    rt = bot.rt
    assert await rt.dispatcher.submit(question("before"), {}) is True
    await bot.until(lambda: bot.answered("before"))
    assert await bot.healthz() == 200

    await proxy.cut()
    # Asked directly (as the service is for a resumed job): told, not charged.
    direct = Transcript()
    assert await rt.service.ask(question("during"), direct) is AskOutcome.FAILED
    assert "database is unavailable; nothing was charged" in direct.said
    # The adapters' write before acknowledging fails with the one error they handle.
    with pytest.raises(StorageError):
        await rt.dispatcher.submit(question("refused"), {})
    assert await bot.healthz() == 503
    # Several rounds of every background loop fail meanwhile (poll 1 s, depth 0.2 s).
    await asyncio.sleep(4)
    claim_warnings = [m for m in caplog.messages if "could not claim work" in m]
    assert len(claim_warnings) == 1, claim_warnings  # said once, not once a poll
    assert sum("could not count the queue" in m for m in caplog.messages) == 1

    await proxy.restore()
    await bot.until(lambda: _is(bot.healthz(), 200))
    assert await rt.dispatcher.submit(question("after"), {}) is True
    await bot.until(lambda: bot.answered("after"))
    assert any("can claim work again" in m for m in caplog.messages)
    report = await rt.service.quota(QuotaCommand("t", "t:T", "u", ""))
    assert "8 of 10 left" in report.text  # the two answered, nothing for the failures


async def _is(status: Awaitable[int], want: int) -> bool:
    try:
        return await status == want
    except aiohttp.ClientError:
        return False


async def test_an_unreachable_database_at_start_is_one_line_and_exit_code_2(
    tmp_path: Path,
) -> None:
    nothing_there = free_port()
    async with FakeOpenAI() as model, FakeSlack() as slack:
        env = slack_env(
            slack,
            model,
            db=f"postgresql://bot:s3cret-pw@127.0.0.1:{nothing_there}/reasonbot",
            secret="signing-secret",
            port=free_port(),
            LOG_LEVEL="INFO",
        )
        code, err = await run_to_exit(env)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and "s3cret-pw" not in err
    assert "running" not in err
    assert any(
        line.startswith("reasonbot: cannot use the database at postgresql+asyncpg://bot:***@")
        for line in lines
    ), err
