"""Serving Slack: HTTP mode (``POST /slack/events`` on $PORT, with ``/healthz`` and
``/metrics``) or Socket Mode when SLACK_APP_TOKEN is set."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.signature import SignatureVerifier

from adapters.slack.app import SlackBot, make_client
from adapters.slack.notify import SlackNotifier
from adapters.slack.translate import PLATFORM
from app.ops import ops_routes, serve
from app.wiring import Runtime

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # Slack's payloads are small; refuse anything absurd early
MAX_SLACK_CONNECTIONS = 100
SOCKET_CLOSE_S = 5.0  # closing the Socket Mode client, well inside the shutdown grace
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
    "im:write",
    "files:write",
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
    bot = SlackBot(
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
    if rt.service.admin is not None:
        notifier = SlackNotifier(client, token_for=bot.bot_token if bot.installations else None)
        rt.service.admin.register(PLATFORM, notifier)
    return bot


# Slack's request timestamps are Unix seconds and its signatures "v0=" + a SHA-256 hex
# digest; anything else cannot be Slack and would crash the verifier (int("1e9"),
# compare_digest on non-ASCII), so it is refused before the verifier sees it.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# Fields of an Events API ``event`` the adapter reads as text: Slack sends them as
# strings; a payload that does not is refused whole rather than half-read.
_EVENT_TEXT_FIELDS = ("type", "subtype", "user", "text", "channel", "ts", "thread_ts")
REFUSAL_LOG_EVERY_S = 60.0  # unauthenticated junk: one log line a minute, not one each


def well_formed(body: str, content_type: str) -> bool:
    """Slack sends JSON (Events API) or a form (commands; interactivity with a JSON
    ``payload`` field). Anything else is refused before bolt sees it."""
    try:
        if content_type == "application/json":
            data = json.loads(body)
            return isinstance(data, dict) and _event_well_formed(data)
        form = urllib.parse.parse_qs(body, strict_parsing=bool(body))
        if "payload" in form:
            return isinstance(json.loads(form["payload"][0]), dict)
        return True
    except ValueError:
        return False


def _event_well_formed(data: dict[str, object]) -> bool:
    if data.get("type") != "event_callback":
        return True
    event = data.get("event")
    if not isinstance(event, dict) or not isinstance(data.get("team_id", ""), str):
        return False
    return all(isinstance(event.get(f, ""), str) for f in _EVENT_TEXT_FIELDS)


def signature_headers_well_formed(headers: Mapping[str, str]) -> bool:
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    return bool(_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature))


def _rate_limited_note(body: str) -> bool:
    """Slack's ``app_rate_limited`` notice (more than 30,000 events an hour for a
    workspace: Slack drops events for a while). Noted once, acknowledged with 200."""
    if "app_rate_limited" not in body:  # spare every other event a second parse
        return False
    data = json.loads(body)
    if data.get("type") != "app_rate_limited":
        return False
    log.warning(
        "Slack is dropping events for team %s: over its rate limit since minute %s",
        data.get("team_id"),
        data.get("minute_rate_limited"),
    )
    return True


class RefusalLog:
    """Counts refused requests and logs them at most once per ``every_s`` seconds: a
    flood of junk costs one line a minute, not one line a request."""

    def __init__(self, *, every_s: float = REFUSAL_LOG_EVERY_S) -> None:
        self._every_s = every_s
        self._last = float("-inf")
        self._counts: Counter[str] = Counter()

    def refused(self, reason: str) -> None:
        self._counts[reason] += 1
        now = time.monotonic()
        if now - self._last < self._every_s:
            return
        self._last = now
        summary = ", ".join(f"{n} {why}" for why, n in sorted(self._counts.items()))
        self._counts.clear()
        log.warning("refused Slack requests since the last note: %s", summary)


def http_app(bot: SlackBot, rt: Runtime, signing_secret: str) -> web.Application:
    # The signature is checked here, once, with slack_sdk's verifier, over the raw bytes
    # (bolt's own check is off: it would decode the body first and check it again).
    verifier = SignatureVerifier(signing_secret)
    refusals = RefusalLog()

    def refuse(status: int, reason: str) -> web.Response:
        refusals.refused(reason)
        return web.json_response({"error": reason}, status=status)

    async def events(request: web.Request) -> web.Response:
        raw = await request.read()
        if not signature_headers_well_formed(request.headers):
            return refuse(401, "invalid request")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return refuse(400, "body is not UTF-8")
        if not verifier.is_valid_request(body, dict(request.headers)):
            return refuse(401, "invalid request")
        if not well_formed(body, request.content_type):
            return refuse(400, "malformed payload")
        if request.content_type == "application/json" and _rate_limited_note(body):
            return web.json_response({"ok": True})
        bolt_request = AsyncBoltRequest(
            body=body, query=request.query_string, headers=dict(request.headers)
        )
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
        bot = build_slack(rt, session)
        try:
            await _serve_slack(rt, bot, stop=stop, started=started)
            await rt.dispatcher.drained()  # answers still being delivered need the session
        finally:
            await bot.home.close()  # Home refreshes still waiting out their debounce


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
        try:
            # slack_sdk retries the connection forever while Slack is unreachable:
            # a stop (SIGTERM) must still end it at once.
            if not await _until_stopped(handler.connect_async(), stop):
                return
            log.info("Slack: Socket Mode connected")
            ops = web.Application()
            ops.add_routes(ops_routes(health=rt.health, metrics=rt.metrics))
            await serve(ops, host=s.host, port=s.port, stop=stop, started=started)
        finally:
            await _until_stopped(handler.close_async(), None, timeout_s=SOCKET_CLOSE_S)
        return
    if s.slack_signing_secret is None:
        raise RuntimeError("SLACK_SIGNING_SECRET is required in HTTP mode")
    log.info("Slack: HTTP mode, POST /slack/events on port %s", s.port)
    app = http_app(bot, rt, s.slack_signing_secret.get_secret_value())
    await serve(app, host=s.host, port=s.port, stop=stop, started=started)


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


async def slack_replies_only(rt: Runtime, *, stop: asyncio.Event) -> None:
    """A worker: the Web API client for posting answers, no events taken."""
    connector = aiohttp.TCPConnector(limit=MAX_SLACK_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        bot = build_slack(rt, session)  # registers Slack's repliers with the dispatcher
        await stop.wait()
        await rt.dispatcher.drained()
        await bot.home.close()
