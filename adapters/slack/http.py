"""Slack's HTTP requests on aiohttp: ``POST /slack/events`` and the OAuth install pages,
translated into bolt requests. What cannot be Slack (a malformed signature header, a
body that is not UTF-8, a payload of the wrong shape) is refused here with a 4xx before
bolt parses it; the signature itself is checked once, by bolt's request verification."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.pacing import URGENT, Pacer

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # Slack's payloads are small; refuse anything absurd early
EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# Slack's request timestamps are Unix seconds and its signatures "v0=" + a SHA-256 hex
# digest; anything else cannot be Slack and would crash the verifier (int("1e9"),
# compare_digest on non-ASCII), so it is refused before the verifier sees it.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# Fields of an Events API ``event`` the adapter reads as text: Slack sends them as
# strings; a payload that does not is refused whole rather than half-read.
_EVENT_TEXT_FIELDS = ("type", "subtype", "user", "text", "channel", "ts", "thread_ts")
REFUSAL_LOG_EVERY_S = 60.0  # unauthenticated junk: one log line a minute, not one each
# bolt's verifier answers a bad signature with this (and a log line of its own, which
# would repeat the unauthenticated body: `_QuietVerification` drops it).
_INVALID = {"error": "invalid request"}


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


class RateLimitedNote(AsyncMiddleware):
    """bolt middleware, after its signature check and before authorisation: Slack's
    ``app_rate_limited`` notice (more than 30,000 events an hour for a workspace: Slack
    drops events for a while) is noted once and acknowledged with 200. A class, not a
    function: bolt builds every keyword argument a function middleware could ask for,
    about 30 µs on each request."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # bolt's name for it
    ) -> BoltResponse | None:
        body = req.body
        if body.get("type") != "app_rate_limited":
            return await next()
        log.warning(
            "Slack is dropping events for team %s: over its rate limit since minute %s",
            body.get("team_id"),
            body.get("minute_rate_limited"),
        )
        return BoltResponse(status=200, body={"ok": True})


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


class _QuietVerification(logging.Filter):
    """bolt logs every request whose signature fails, with its whole body: a flood of
    forged requests would fill the log with what strangers sent. `RefusalLog` counts
    them instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Invalid request signature detected")


logging.getLogger("slack_bolt.RequestVerification").addFilter(_QuietVerification())


def slack_routes(app: AsyncApp, *, pacer: Pacer | None = None) -> list[web.RouteDef]:
    """The routes Slack calls in HTTP mode, for the process's one HTTP server (whose
    ``client_max_size`` should be `MAX_BODY`). With a ``pacer``, a burst of events is
    handled a few per loop turn, ahead of the background work it also paces."""
    refusals = RefusalLog()

    def refuse(status: int, reason: str) -> web.Response:
        refusals.refused(reason)
        return web.json_response({"error": reason}, status=status)

    async def events(request: web.Request) -> web.Response:
        if pacer is not None:
            await pacer(URGENT)
        raw = await request.read()
        if not signature_headers_well_formed(request.headers):
            return refuse(401, "invalid request")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return refuse(400, "body is not UTF-8")
        if not well_formed(body, request.content_type):
            return refuse(400, "malformed payload")
        bolt_request = AsyncBoltRequest(
            body=body, query=request.query_string, headers=dict(request.headers)
        )
        response = await app.async_dispatch(bolt_request)
        if response.status == 401 and response.body == json.dumps(_INVALID):
            refusals.refused("invalid request")
        return await to_aiohttp_response(response)

    async def oauth(request: web.Request) -> web.Response:
        flow = app.oauth_flow
        if flow is None:
            return web.json_response({"error": "not a distributed app"}, status=404)
        bolt_request = await to_bolt_request(request)
        if request.path == INSTALL_PATH:
            return await to_aiohttp_response(await flow.handle_installation(bolt_request))
        return await to_aiohttp_response(await flow.handle_callback(bolt_request))

    return [
        web.post(EVENTS_PATH, events),
        web.get(INSTALL_PATH, oauth),
        web.get(REDIRECT_PATH, oauth),
    ]
