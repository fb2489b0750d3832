"""A running bot: the real discord.py client on the real core (SQLite), talking to the
fake Discord (REST + gateway) and the fake model over loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.discord_runner import build_discord, run_discord
from app.wiring import Runtime, build_runtime
from bot.config import Catalogue
from tests.builders import bot_settings, discord_env, platform_catalogue
from tests.fakes.bot_process import run_to_exit
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.harness import WAIT_S, Waits, serving


@dataclass
class DiscordHarness(Waits):
    rt: Runtime
    discord: FakeDiscord
    model: FakeOpenAI

    @property
    def fake(self) -> FakeDiscord:
        return self.discord

    def sent(self) -> list[dict[str, Any]]:
        return list(self.discord.messages.values())

    def texts_in(self, channel_id: str) -> list[str]:
        return [m["content"] for m in self.discord.channel_messages(channel_id)]

    def thread_ids(self) -> list[str]:
        return list(self.discord.threads)


@contextlib.asynccontextmanager
async def running_discord(
    tmp_path: Path,
    *,
    catalogue: Catalogue | None = None,
    fake_options: dict[str, Any] | None = None,
    advertised_gateway: str | None = None,
    **settings: Any,
) -> AsyncIterator[DiscordHarness]:
    """``fake_options``: FakeDiscord's (guilds, recommended shards); ``advertised_gateway``:
    what GET /gateway/bot names instead of the fake's gateway, which the bot is configured
    with (as when it reaches Discord through a proxy)."""
    async with FakeOpenAI() as model, FakeDiscord(**(fake_options or {})) as fake:
        gateway = fake.gateway
        if advertised_gateway is not None:
            fake.gateway = advertised_gateway
        config = bot_settings(
            tmp_path / "discord.db",
            model,
            discord_token=fake.token,
            discord_api_url=fake.base,
            discord_gateway_url=gateway,
            discord_guild_id=int(fake.guild_id),
            **settings,
        )
        async with build_runtime(config, catalogue or platform_catalogue()) as rt:
            client = build_discord(rt)
            async with serving(rt, lambda stop: run_discord(rt, stop=stop, client=client)):
                await fake.connected()
                async with asyncio.timeout(WAIT_S):
                    await client.wait_until_ready()
                yield DiscordHarness(rt, fake, model)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[DiscordHarness]:
    async with running_discord(tmp_path) as harness:
        yield harness


async def run_until_refused(
    tmp_path: Path, discord: FakeDiscord, **settings: str
) -> tuple[int, str]:
    """Run a Discord-only bot process (database ``tmp_path/discord.db``) against
    ``discord`` until it exits by itself: its exit code and stderr. ``settings``: a
    ``token`` other than the fake's, or environment variables."""
    async with FakeOpenAI() as model:
        db = f"sqlite+aiosqlite:///{tmp_path / 'discord.db'}"
        return await run_to_exit(discord_env(discord, model, db=db, port=free_port(), **settings))
