"""`reasonbot run` as a real process with Slack and Discord side by side: Discord's
faults (a payload discord.py cannot parse, Discord unreachable at start) are logged in
a line and retried while Slack keeps answering."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import aiohttp

from tests.adapters.discord.conftest import run_until_refused
from tests.builders import discord_env, mention_callback, slack_env
from tests.fakes.bot_process import start_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, post_signed
from tests.harness import WAIT_S

SECRET = "supervision-secret"
RETRY_FOUND_S = 90.0  # the supervisor's back-off is at most 60 s; generous on a busy CI


def both_env(
    tmp_path: Path, model: FakeOpenAI, slack: FakeSlack, discord: FakeDiscord, port: int
) -> dict[str, str]:
    db = f"sqlite+aiosqlite:///{tmp_path / 'both.db'}"
    env = discord_env(discord, model, db=db, port=port)
    env.update(slack_env(slack, model, db=db, secret=SECRET, port=port))
    env["LOG_LEVEL"] = "INFO"
    return env


@contextlib.asynccontextmanager
async def running(env: dict[str, str], log: IO[bytes]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await start_bot(env, stderr=log)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(WAIT_S):
            await proc.wait()


async def slack_mention(port: int, text: str, ts: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, _, _ = await post_signed(
            http,
            f"http://127.0.0.1:{port}/slack/events",
            mention_callback(text, ts=ts, event_id=f"Ev{ts}", user="U0042"),
            secret=SECRET,
            form=False,
        )
    assert status == 200


async def until(fake: Any, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S * 2):
        await fake.wait_for(predicate)


def slack_answered(slack: FakeSlack, ts: str, question: str) -> bool:
    return any(f"You asked: {question}" in m["text"] for m in slack.thread("C0001", ts))


def discord_answered(discord: FakeDiscord, question: str) -> bool:
    return any(f"You asked: {question}" in m["content"] for m in discord.messages.values())


def opt(value: str) -> list[dict[str, object]]:
    return [{"name": "question", "type": 3, "value": value}]


async def test_a_malformed_interaction_neither_stops_discord_nor_slack(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "bot.log"
    async with FakeOpenAI() as model, FakeSlack() as slack, FakeDiscord() as discord:
        env = both_env(tmp_path, model, slack, discord, port)
        with log_path.open("wb") as log:
            async with running(env, log) as proc:
                await discord.connected()
                await discord.slash("reason", opt("broken"), drop=("application_id",))
                await discord.slash("reason", opt("after the broken one"))
                await until(discord, lambda: discord_answered(discord, "after the broken one"))
                await slack_mention(port, "slack too", "1700000900.000001")
                await until(slack, lambda: slack_answered(slack, "1700000900.000001", "slack too"))
                assert proc.returncode is None
        text = log_path.read_text()
    assert "could not be read (KeyError: 'application_id')" in text
    assert "Traceback" not in text
    assert discord.identifies == 1


async def test_discord_unreachable_at_start_is_retried_while_slack_answers(
    tmp_path: Path,
) -> None:
    port, discord_port = free_port(), free_port()
    log_path = tmp_path / "bot.log"
    async with FakeOpenAI() as model, FakeSlack() as slack:
        # The fake's addresses, with nothing listening on them yet: connections refused.
        absent = FakeDiscord(port=discord_port)
        absent.base = f"http://127.0.0.1:{discord_port}/api/v10"
        absent.gateway = f"ws://127.0.0.1:{discord_port}/gateway"
        env = both_env(tmp_path, model, slack, absent, port)
        with log_path.open("wb") as log:
            async with running(env, log) as proc:
                await slack_mention(port, "while discord is down", "1700000901.000001")
                await until(
                    slack,
                    lambda: slack_answered(slack, "1700000901.000001", "while discord is down"),
                )
                await wait_for_text(log_path, "discord stopped (")
                async with FakeDiscord(port=discord_port) as discord:
                    # A retry finds it: the back-off has grown to a few seconds by now.
                    async with asyncio.timeout(RETRY_FOUND_S):
                        await discord.wait_for(lambda: bool(discord.sessions))
                    await discord.slash("reason", opt("discord is back"))
                    await until(discord, lambda: discord_answered(discord, "discord is back"))
                    assert proc.returncode is None
            assert proc.returncode == 0  # SIGTERM: a clean stop
        text = log_path.read_text()
    down = [line for line in text.splitlines() if "discord stopped (" in line]
    assert down and all("Cannot connect to host" in line for line in down), down
    assert "restarting in" in down[0]
    assert "Traceback" not in text


async def test_discord_alone_unreachable_at_start_logs_one_line_per_attempt(
    tmp_path: Path,
) -> None:
    discord_port = free_port()
    log_path = tmp_path / "bot.log"
    async with FakeOpenAI() as model:
        absent = FakeDiscord(port=discord_port)
        absent.base = f"http://127.0.0.1:{discord_port}/api/v10"
        absent.gateway = f"ws://127.0.0.1:{discord_port}/gateway"
        env = discord_env(
            absent, model, db=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", port=free_port()
        )
        with log_path.open("wb") as log:
            async with running(env, log) as proc:
                await wait_for_text(log_path, "discord stopped (", count=2)
                assert proc.returncode is None  # still up, still retrying
        text = log_path.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert all("discord stopped (" in line for line in lines), lines
    assert "Traceback" not in text


async def wait_for_text(path: Path, fragment: str, *, count: int = 1) -> None:
    deadline = time.monotonic() + WAIT_S
    while (text := await asyncio.to_thread(path.read_text)).count(fragment) < count:
        assert time.monotonic() < deadline, text
        await asyncio.sleep(0.1)


async def test_a_privileged_intent_discord_refuses_exits_2_with_the_setting_named(
    tmp_path: Path,
) -> None:
    async with FakeDiscord(privileged_intents=False) as discord:
        code, err = await run_until_refused(tmp_path, discord, DISCORD_MESSAGE_CONTENT="true")
    assert code == 2, err
    assert "configuration error: DISCORD_MESSAGE_CONTENT" in err
    assert "Traceback" not in err
    assert discord.identifies == 1  # refused once, not retried
