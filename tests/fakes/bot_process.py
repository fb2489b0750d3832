"""`reasonbot run` as a real OS process, wired to the loopback fakes (tests, benches)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import IO

import aiohttp

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
    *,
    db: str,
    model_url: str,
    api_url: str,
    gateway_url: str,
    token: str,
    port: int,
    **extra: str,
) -> dict[str, str]:
    """The environment of a Discord-only `reasonbot run` against the fake Discord
    (``extra``: e.g. DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS)."""
    return bot_env(
        db=db,
        model_url=model_url,
        port=port,
        DISCORD_TOKEN=token,
        DISCORD_API_URL=api_url,
        DISCORD_GATEWAY_URL=gateway_url,
        **extra,
    )


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
