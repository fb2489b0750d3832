"""Serving Discord: one client, with all its shards or those configured, on the shared
event loop."""

from __future__ import annotations

import asyncio
import logging

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.client import DiscordOptions, ReasonBotClient
from adapters.discord.notify import DiscordNotifier
from adapters.discord.translate import PLATFORM
from app.wiring import Runtime
from bot.errors import ConfigError

log = logging.getLogger(__name__)


def point_at(api_url: str | None, gateway_url: str | None) -> None:
    """DISCORD_API_URL / DISCORD_GATEWAY_URL: a proxy or a test server instead of
    Discord. discord.py reads both from class attributes, so this is process-wide."""
    if api_url:
        Route.BASE = api_url.rstrip("/")
    if gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def build_discord(rt: Runtime) -> ReasonBotClient:
    s = rt.settings
    point_at(s.discord_api_url, s.discord_gateway_url)
    client = ReasonBotClient(
        service=rt.service,
        dispatcher=rt.dispatcher,
        catalogue=rt.catalogue,
        options=DiscordOptions(
            guild_id=s.discord_guild_id,
            message_content=s.discord_message_content,
            shard_count=s.discord_shard_count,
            shard_ids=tuple(s.discord_shard_ids) if s.discord_shard_ids is not None else None,
            fixed_gateway=s.discord_gateway_url is not None,
        ),
    )
    if rt.service.admin is not None:
        rt.service.admin.register(PLATFORM, DiscordNotifier(client))
    return client


async def _login(client: ReasonBotClient, rt: Runtime) -> None:
    """Log in, or close the client's HTTP session and say which setting is wrong."""
    assert rt.settings.discord_token is not None
    try:
        await client.login(rt.settings.discord_token.get_secret_value())
    except BaseException as exc:
        await client.close()
        if isinstance(exc, discord.LoginFailure):
            raise ConfigError("DISCORD_TOKEN: Discord refused this bot token") from exc
        raise


async def run_discord(
    rt: Runtime, *, stop: asyncio.Event, client: ReasonBotClient | None = None
) -> None:
    client = client or build_discord(rt)
    await _login(client, rt)
    connection = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if stopping in done:
        await rt.dispatcher.drained()  # answers in flight still post through this client
    await client.close()
    stopping.cancel()
    await asyncio.wait({connection})
    failure = connection.exception() if connection in done else None
    if isinstance(failure, discord.PrivilegedIntentsRequired):
        # Gateway close 4014: a setting to change, not an outage to retry.
        raise ConfigError(
            "DISCORD_MESSAGE_CONTENT: Discord refused the Message Content intent; enable "
            "it for the bot in the Developer Portal (Bot → Privileged Gateway Intents) "
            "or unset DISCORD_MESSAGE_CONTENT"
        ) from failure
    if failure is not None:
        raise failure


async def discord_replies_only(rt: Runtime, *, stop: asyncio.Event) -> None:
    """A worker: logged in for the REST API (answers, threads), no gateway session."""
    client = build_discord(rt)
    await _login(client, rt)
    try:
        await stop.wait()
        await rt.dispatcher.drained()
    finally:
        await client.close()


__all__ = ["build_discord", "discord", "discord_replies_only", "point_at", "run_discord"]
