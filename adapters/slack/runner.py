"""Serving Slack: HTTP mode (``POST /slack/events`` on $PORT, with ``/healthz`` and
``/metrics``) or Socket Mode when SLACK_APP_TOKEN is set."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Callable

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.signature import SignatureVerifier

from adapters.slack.app import SlackBot, make_client
from app.ops import ops_routes, serve
from app.wiring import Runtime

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # Slack's payloads are small; refuse anything absurd early
MAX_SLACK_CONNECTIONS = 100
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
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
)


def oauth_settings(rt: Runtime) -> AsyncOAuthSettings:
    """Multi-workspace distribution: installations kept in our database with slack_sdk's
    SQLAlchemy stores (tables from our migrations)."""
    s = rt.settings
    assert s.slack_client_id is not None and s.slack_client_secret is not None
    return AsyncOAuthSettings(
        client_id=s.slack_client_id,
        client_secret=s.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        installation_store=AsyncSQLAlchemyInstallationStore(
            client_id=s.slack_client_id, engine=rt.engine
        ),
        state_store=AsyncSQLAlchemyOAuthStateStore(
            expiration_seconds=OAUTH_STATE_TTL_S, engine=rt.engine
        ),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
    )


def build_slack(rt: Runtime, session: aiohttp.ClientSession | None = None) -> SlackBot:
    s = rt.settings
    client = make_client(
        token=s.slack_bot_token.get_secret_value()
        if s.slack_bot_token and not s.slack_oauth
        else None,
        base_url=s.slack_api_url,
        session=session,
    )
    return SlackBot(
        service=rt.service,
        dispatcher=rt.dispatcher,
        client=client,
        signing_secret=s.slack_signing_secret.get_secret_value()
        if s.slack_signing_secret
        else None,
        socket_mode=s.slack_app_token is not None,
        oauth=oauth_settings(rt) if s.slack_oauth else None,
        streaming=s.slack_streaming,
    )


def well_formed(body: str, content_type: str) -> bool:
    """Slack sends JSON (Events API) or a form (commands; interactivity with a JSON
    ``payload`` field). Anything else is refused before bolt sees it."""
    try:
        if content_type == "application/json":
            return isinstance(json.loads(body), dict)
        form = urllib.parse.parse_qs(body, strict_parsing=bool(body))
        if "payload" in form:
            return isinstance(json.loads(form["payload"][0]), dict)
        return True
    except ValueError:
        return False


def http_app(bot: SlackBot, rt: Runtime, signing_secret: str) -> web.Application:
    verifier = SignatureVerifier(signing_secret)

    async def events(request: web.Request) -> web.Response:
        body = await request.text()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return web.json_response({"error": "invalid request"}, status=401)
        if not well_formed(body, request.content_type):
            log.warning("refused a malformed Slack payload (%d bytes)", len(body))
            return web.json_response({"error": "malformed payload"}, status=400)
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await bot.app.async_dispatch(bolt_request))

    app = web.Application(client_max_size=MAX_BODY)

    async def oauth(request: web.Request) -> web.Response:
        flow = bot.app.oauth_flow
        if flow is None:
            return web.json_response({"error": "not a distributed app"}, status=404)
        bolt_request = await to_bolt_request(request)
        if request.path == INSTALL_PATH:
            return await to_aiohttp_response(await flow.handle_installation(bolt_request))
        return await to_aiohttp_response(await flow.handle_callback(bolt_request))

    app.add_routes(
        [
            web.post("/slack/events", events),
            web.get(INSTALL_PATH, oauth),
            web.get(REDIRECT_PATH, oauth),
            *ops_routes(health=rt.health, metrics=rt.metrics),
        ]
    )
    return app


async def run_slack(
    rt: Runtime, *, stop: asyncio.Event, started: Callable[[int], None] | None = None
) -> None:
    # One pooled session for every Web API call (slack_sdk opens a new one per call
    # otherwise: a TCP handshake for each status edit and answer).
    connector = aiohttp.TCPConnector(limit=MAX_SLACK_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _serve_slack(rt, build_slack(rt, session), stop=stop, started=started)
        await rt.dispatcher.drained()  # answers still being delivered need the session


async def _serve_slack(
    rt: Runtime,
    bot: SlackBot,
    *,
    stop: asyncio.Event,
    started: Callable[[int], None] | None = None,
) -> None:
    s = rt.settings
    if s.slack_app_token is not None:
        handler = AsyncSocketModeHandler(bot.app, s.slack_app_token.get_secret_value())
        await handler.connect_async()
        log.info("Slack: Socket Mode connected")
        ops = web.Application()
        ops.add_routes(ops_routes(health=rt.health, metrics=rt.metrics))
        try:
            await serve(ops, host=s.host, port=s.port, stop=stop, started=started)
        finally:
            await handler.close_async()
        return
    if s.slack_signing_secret is None:
        raise RuntimeError("SLACK_SIGNING_SECRET is required in HTTP mode")
    log.info("Slack: HTTP mode, POST /slack/events on port %s", s.port)
    app = http_app(bot, rt, s.slack_signing_secret.get_secret_value())
    await serve(app, host=s.host, port=s.port, stop=stop, started=started)


async def slack_replies_only(rt: Runtime, *, stop: asyncio.Event) -> None:
    """A worker: the Web API client for posting answers, no events taken."""
    connector = aiohttp.TCPConnector(limit=MAX_SLACK_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        build_slack(rt, session)  # registers Slack's repliers with the dispatcher
        await stop.wait()
        await rt.dispatcher.drained()
