"""Slack in a ``reasonbot`` process: the bot built from the settings (one workspace's
token, or many workspaces' installations in our database through Slack's OAuth flow)
and Socket Mode's connection. HTTP mode's routes are served by the process's one HTTP
server (`app.platforms`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.slack.app import SlackBot, SlackOptions, make_client
from adapters.slack.http import INSTALL_PATH, REDIRECT_PATH
from adapters.slack.notify import SlackNotifier
from adapters.slack.translate import PLATFORM
from app.settings import Settings
from app.wiring import Runtime

log = logging.getLogger(__name__)
MAX_SLACK_CONNECTIONS = 100
SOCKET_CLOSE_S = 5.0  # closing the Socket Mode client, well inside the shutdown grace
OAUTH_STATE_TTL_S = 600
# The same scopes as slack/manifest.yml.
BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "chat:write",
    "channels:join",
    "commands",
    "users:read",
    "im:write",
    "files:write",
)


def oauth_settings(settings: Settings, engine: AsyncEngine) -> AsyncOAuthSettings:
    """Multi-workspace distribution: installations kept in our database with slack_sdk's
    SQLAlchemy stores (tables from our migrations)."""
    assert settings.slack_client_id is not None and settings.slack_client_secret is not None
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        installation_store=AsyncSQLAlchemyInstallationStore(
            client_id=settings.slack_client_id, engine=engine
        ),
        state_store=AsyncSQLAlchemyOAuthStateStore(
            expiration_seconds=OAUTH_STATE_TTL_S, engine=engine
        ),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
    )


@contextlib.asynccontextmanager
async def slack_session() -> AsyncIterator[aiohttp.ClientSession]:
    """One pooled session for every Web API call (slack_sdk opens a new one per call
    otherwise: a TCP handshake for each status edit and answer)."""
    connector = aiohttp.TCPConnector(limit=MAX_SLACK_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def build_slack(rt: Runtime, session: aiohttp.ClientSession | None = None) -> SlackBot:
    """The Slack bot, its repliers registered with the dispatcher and its notifier with
    the admin desk."""
    s = rt.settings
    client = make_client(
        token=s.slack_bot_token.get_secret_value()
        if s.slack_bot_token and not s.slack_oauth
        else None,
        base_url=s.slack_api_url,
        session=session,
    )
    bot = SlackBot(
        service=rt.service,
        dispatcher=rt.dispatcher,
        client=client,
        options=SlackOptions(
            signing_secret=s.slack_signing_secret.get_secret_value()
            if s.slack_signing_secret
            else None,
            streaming=s.slack_streaming,
        ),
        oauth=oauth_settings(s, rt.engine) if s.slack_oauth else None,
    )
    if rt.service.admin is not None:
        notifier = SlackNotifier(client, token_for=bot.bot_token if bot.installations else None)
        rt.service.admin.register(PLATFORM, notifier)
    return bot


async def run_socket_mode(bot: SlackBot, app_token: str, *, stop: asyncio.Event) -> None:
    """Slack's events over Socket Mode until ``stop``."""
    handler = AsyncSocketModeHandler(bot.app, app_token)
    try:
        # slack_sdk retries the connection forever while Slack is unreachable: a stop
        # (SIGTERM) must still end it at once.
        if not await _until_stopped(handler.connect_async(), stop):
            return
        log.info("Slack: Socket Mode connected")
        await stop.wait()
    finally:
        await _until_stopped(handler.close_async(), None, timeout_s=SOCKET_CLOSE_S)


async def _until_stopped(
    work: Coroutine[Any, Any, None], stop: asyncio.Event | None, *, timeout_s: float | None = None
) -> bool:
    """Run ``work`` until it ends (True), or cancel it when ``stop`` is set or after
    ``timeout_s`` (False)."""
    task = asyncio.ensure_future(work)
    waits: set[asyncio.Future[Any]] = {task}
    if stop is not None:
        waits.add(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            if not waiting.done():
                waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    if task.cancelled():
        return False
    task.result()  # a connection that failed for good says why
    return True
