"""`reasonbot run` as a real OS process, wired to the loopback fakes (tests, benches)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import IO

import aiohttp

from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(*, db: str, model_url: str, port: int, **variables: str) -> dict[str, str]:
    """The environment of a `reasonbot` process wired to the loopback fakes, with no
    variable of the developer's leaking in; ``variables``: the platform's and any more."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        DATABASE_URL=db,
        OPENAI_BASE_URL=model_url,
        OPENAI_API_KEY="sk-fake",
        PORT=str(port),
        HOST="127.0.0.1",
        LOG_LEVEL="WARNING",
    )
    env.update(variables)
    return env


def slack_env(
    slack: FakeSlack,
    model: FakeOpenAI,
    *,
    db: str,
    secret: str,
    port: int,
    socket_mode: bool = False,
    **extra: str,
) -> dict[str, str]:
    """A Slack bot against the fake Slack: HTTP mode, or Socket Mode."""
    if socket_mode:
        extra["SLACK_APP_TOKEN"] = slack.app_token
    return bot_env(
        db=db,
        model_url=model.base_url,
        port=port,
        SLACK_BOT_TOKEN=slack.token,
        SLACK_SIGNING_SECRET=secret,
        SLACK_API_URL=slack.base_url,
        **extra,
    )


def discord_env(
    discord: FakeDiscord,
    model: FakeOpenAI,
    *,
    db: str,
    port: int,
    token: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """A Discord-only bot against the fake Discord (``token``: another than the fake's;
    ``extra``: e.g. DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS)."""
    return bot_env(
        db=db,
        model_url=model.base_url,
        port=port,
        DISCORD_TOKEN=token or discord.token,
        DISCORD_API_URL=discord.base,
        DISCORD_GATEWAY_URL=discord.gateway,
        **extra,
    )


async def run_to_exit(env: dict[str, str], *, timeout_s: float = STARTUP_S) -> tuple[int, str]:
    """Run `reasonbot run` until it exits by itself: its exit code and what it printed
    on stderr (for start-up failures)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "run", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(timeout_s):
        _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def start_bot(
    env: dict[str, str], *, command: str = "run", stderr: IO[bytes] | None = None
) -> asyncio.subprocess.Process:
    """Start the bot and return once its /healthz answers (its log goes to ``stderr``,
    an open file, when given)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", command, cwd=ROOT, env=env, stderr=stderr
    )
    url = f"http://127.0.0.1:{env['PORT']}/healthz"
    async with aiohttp.ClientSession() as http, asyncio.timeout(STARTUP_S):
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"reasonbot {command} exited with {proc.returncode}")
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
