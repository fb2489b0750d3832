"""A fake Slack on loopback: the Web API (``POST /api/<method>``, form or JSON bodies,
``{"ok": false, "error": ...}`` with HTTP 200, HTTP 429 with ``Retry-After``), a Socket
Mode WebSocket (``hello``, envelopes, acks), and a client that posts *signed* requests
into a bot's real ``/slack/events`` endpoint.

Behaviour follows Slack's documentation: ``chat.update`` refuses text over 4,000
characters (``msg_too_long``), ``chat.postMessage`` into a channel the bot has not
joined fails with ``not_in_channel``, ``users.info`` carries ``is_admin``/``is_owner``.

Arguments are read as Slack reads them (see `METHODS`): a JSON body only on the methods
that accept one (write methods); on read methods (``users.info``,
``conversations.replies``, ...) a JSON body is ignored, so their arguments are missing
and Slack's own error comes back. Argument names Slack would refuse
(``invalid_arg_name``, ``invalid_array_arg``) or values of the wrong type
(``invalid_arguments``) are refused; names a method does not take are ignored, as on
Slack, and recorded in `Call.ignored` so tests can see them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import itertools
import json
import re
import time
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.recorded import recording
from tests.fakes.slack_blocks import check_view
from tests.fakes.slack_methods import (
    ARG_NAME,
    EVERY_METHOD,
    FORM_TYPES,
    METHODS,
    Refused,
    check_value,
)

UPDATE_LIMIT = 4_000  # chat.update: msg_too_long past this (in practice)
STREAM_CHUNK_LIMIT = 12_000  # markdown_text per streaming call
# Streaming chunks (chat.*Stream `chunks`): markdown_text, task_update, plan_update and
# blocks. A task's details and output are short (256 characters each); its status is
# one of four. Slack's exact error code for a bad chunk is not documented: the fake
# answers invalid_arguments, as Slack does for other malformed arguments.
CHUNK_TYPES = frozenset({"markdown_text", "task_update", "plan_update", "blocks"})
TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})
TASK_TEXT_LIMIT = 256
TASK_DISPLAY_MODES = frozenset({"timeline", "plan"})


def chunks_error(chunks: Any) -> str | None:
    """Why Slack would refuse these streaming chunks, or None."""
    if chunks is None:
        return None
    if not isinstance(chunks, list) or not chunks:
        return "invalid_arguments"
    for chunk in chunks:
        if not isinstance(chunk, dict) or chunk.get("type") not in CHUNK_TYPES:
            return "invalid_arguments"
        kind = chunk["type"]
        if kind == "markdown_text":
            text = chunk.get("text")
            if not isinstance(text, str) or not text:
                return "invalid_arguments"
            if len(text) > STREAM_CHUNK_LIMIT:
                return "msg_too_long"
        elif kind == "task_update":
            if not all(isinstance(chunk.get(k), str) and chunk[k] for k in ("id", "title")):
                return "invalid_arguments"
            if chunk.get("status") not in TASK_STATUSES:
                return "invalid_arguments"
            for k in ("details", "output"):
                if k in chunk and (
                    not isinstance(chunk[k], str) or len(chunk[k]) > TASK_TEXT_LIMIT
                ):
                    return "invalid_arguments"
        elif kind == "plan_update":
            if not isinstance(chunk.get("title"), str) or not chunk["title"]:
                return "invalid_arguments"
        elif not isinstance(chunk.get("blocks"), list):
            return "invalid_arguments"
    return None


def chunks_text(chunks: list[dict[str, Any]] | None) -> str:
    return "".join(c["text"] for c in chunks or () if c["type"] == "markdown_text")


STREAM_LIFETIME_S = 300.0  # a streamed message stops taking appends after about 5 min
POST_LIMIT = 40_000  # chat.postMessage truncates past this
REPLIES_MAX = 15  # conversations.replies for non-Marketplace apps (2025)
MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yml"


def manifest_scopes(manifest: Path = MANIFEST) -> tuple[str, ...]:
    """The bot scopes ``manifest`` asks for: what installing the app grants its token."""
    text = manifest.read_text(encoding="utf-8")
    bot_scopes = text.split("oauth_config:", 1)[1].split("settings:", 1)[0]
    return tuple(re.findall(r"^\s*-\s*([a-z_:.]+)", bot_scopes, re.MULTILINE))


MANIFEST_SCOPES = manifest_scopes()
UPLOAD_PATH = "upload-v1-"  # /api/upload-v1-<key>: no Slack method has a '-' in its name
UPLOAD_URL_TTL_S = 60.0  # an upload URL is short-lived; the fake's lifetime for one


@dataclass
class Upload:
    """One file of the files upload v2 flow, from its upload URL to its sharing."""

    id: str
    filename: str
    length: int
    key: str
    issued: float  # monotonic
    content: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass
class Call:
    method: str
    args: dict[str, Any]  # what Slack read: query, then the body it accepts
    token: str | None
    # What the request carried that Slack does not read: a JSON body on a form-only
    # method, argument names the method does not take.
    ignored: dict[str, Any] = field(default_factory=dict)
    http_verb: str = "POST"
    content_type: str = ""


@dataclass
class FakeSlack(LoopbackServer):
    team_id: str = "T0001"
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    token: str = "xoxb-test-token"
    app_token: str = "xapp-test-token"
    members: set[str] = field(default_factory=lambda: {"C0001"})
    admins: set[str] = field(default_factory=set)
    # users.info's user.team_id: a user's home workspace (default: ``team_id``).
    user_teams: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, deque[tuple[int, dict[str, Any] | str, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    base_url: str = ""
    acks: list[dict[str, Any]] = field(default_factory=list)
    installed: dict[str, str] = field(default_factory=dict)  # team id -> bot token
    # Per-method minimum seconds between calls, enforced with 429 + Retry-After as Slack
    # does (e.g. {"conversations.replies": 60.0}: non-Marketplace apps since 2025).
    min_interval: dict[str, float] = field(default_factory=dict)
    _last_call: dict[str, float] = field(default_factory=dict)
    # Workspaces where the streaming methods are not available (an older plan or
    # an app without the AI feature, as the bot sees it: an error on startStream).
    no_streaming: set[str] = field(default_factory=set)
    stream_lifetime_s: float = STREAM_LIFETIME_S
    # The bot token's scopes, sent in the x-oauth-scopes header of every Web API answer
    # as Slack does (default: what slack/manifest.yml asks for).
    scopes: tuple[str, ...] = MANIFEST_SCOPES
    # ts -> (started monotonic time, stopped by the user?) for streams not yet stopped.
    streams: dict[str, tuple[float, bool]] = field(default_factory=dict)
    pushed_at: dict[str, float] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    # users.info's tz (IANA name) per user; Slack's default in its examples otherwise.
    user_tz: dict[str, str] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)  # file id -> upload
    upload_url_ttl_s: float = UPLOAD_URL_TTL_S
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # user -> Home view
    modals: list[dict[str, Any]] = field(default_factory=list)  # views.open, in order
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    # ---- scripting -----------------------------------------------------------------

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer ``method`` with ``{"ok": false, "error": error}`` (HTTP 200)."""
        for _ in range(times):
            self.failures[method].append((200, {"ok": False, "error": error}, {}))

    def server_error(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """Answer ``method`` with an HTTP error (a Slack outage), as many times."""
        for _ in range(times):
            self.failures[method].append((status, {"ok": False, "error": "fatal_error"}, {}))

    def clear_failures(self, method: str) -> None:
        """Drop the failures still scripted for ``method`` (the outage is over)."""
        self.failures[method].clear()

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        for _ in range(times):
            self.failures[method].append(
                (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
            )

    def http_error(
        self,
        method: str,
        *,
        status: int = 500,
        body: dict[str, Any] | str | None = None,
        content_type: str = "application/json",
        times: int = 1,
    ) -> None:
        """Answer ``method`` with an HTTP error: Slack's JSON (``{"ok": false, "error":
        "internal_error"}`` by default) or, given a string, a page as a proxy or load
        balancer sends it (e.g. an HTML 503)."""
        for _ in range(times):
            if body is None:
                self.failures[method].append((status, {"ok": False, "error": "internal_error"}, {}))
            else:
                headers = {"Content-Type": content_type} if isinstance(body, str) else {}
                self.failures[method].append((status, body, headers))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages currently in a thread (root excluded), oldest first."""
        return sorted(
            (
                m
                for (ch, _), m in self.messages.items()
                if ch == channel and m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
            ),
            key=lambda m: float(m["ts"]),
        )

    async def wait_for(self, predicate: Any) -> None:
        """Wait until ``predicate()`` holds after some API call (callers bound the wait
        with ``asyncio.timeout``)."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    # ---- server --------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[recording("slack")])
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/socket-mode", self._socket)
        return app

    def serving(self, origin: str) -> None:
        self.base_url = f"{origin}/api/"

    def open_sockets(self) -> Collection[web.WebSocketResponse]:
        return self._sockets

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    async def _read(
        self, request: web.Request, method: str
    ) -> tuple[dict[str, Any], dict[str, Any], bool]:
        """The arguments Slack reads from ``request``, what it ignores, and whether
        they came in a JSON body. Raises `Refused` for what Slack refuses outright."""
        spec = METHODS.get(method)
        pairs: list[tuple[str, Any]] = list(request.query.items())
        ignored: dict[str, Any] = {}
        from_json = False
        if request.method == "POST" and request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    parsed = json.loads(await request.text())
                except ValueError:
                    raise Refused("invalid_json") from None
                if not isinstance(parsed, dict):
                    raise Refused("json_not_object")
                if spec is not None and not spec.json:
                    ignored.update(parsed)  # read methods take form or query only
                else:
                    pairs += list(parsed.items())
                    from_json = True
            elif ctype in FORM_TYPES:
                pairs += list((await request.post()).items())
            elif ctype and ctype != "application/octet-stream":
                raise Refused("invalid_post_type")
            else:
                raise Refused("missing_post_type")
        args: dict[str, Any] = {}
        for name, value in pairs:
            if name.endswith("[]") or "[" in name or (name in args and not from_json):
                raise Refused("invalid_array_arg")
            if not ARG_NAME.fullmatch(name):
                raise Refused("invalid_arg_name")
            if spec is not None and name not in EVERY_METHOD and name not in spec.args:
                ignored[name] = value  # Slack ignores arguments a method does not take
                continue
            if spec is not None and name in spec.args:
                check_value(name, spec.args[name], value)
            args[name] = value
        return args, ignored, from_json

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method.startswith(UPLOAD_PATH):
            return await self._upload_bytes(request, method.removeprefix(UPLOAD_PATH))
        auth = request.headers.get("Authorization", "")
        try:
            args, ignored, from_json = await self._read(request, method)
        except Refused as exc:
            self.calls.append(Call(method, {}, None, {}, request.method, request.content_type))
            return web.json_response(exc.body)
        # A JSON body cannot carry the token: Slack wants it in the Authorization header.
        token = auth.removeprefix("Bearer ") or (None if from_json else args.get("token"))
        self.calls.append(
            Call(method, dict(args), token, ignored, request.method, request.content_type)
        )
        if self.failures[method]:
            status, body, headers = self.failures[method].popleft()
            async with self._changed:  # a refused call is a call too (tests wait on it)
                self._changed.notify_all()
            if isinstance(body, str):  # an error page from a proxy, not Slack's JSON
                return web.Response(body=body.encode(), status=status, headers=headers)
            return web.json_response(body, status=status, headers=headers)
        if method in self.min_interval:
            now = time.monotonic()
            wait = self._last_call.get(method, float("-inf")) + self.min_interval[method] - now
            if wait > 0:
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
            self._last_call[method] = now
        if method == "oauth.v2.access":
            # Authenticated by client id and secret: HTTP Basic auth or form fields.
            if auth.startswith("Basic "):
                client_id = base64.b64decode(auth.removeprefix("Basic ")).decode().split(":")[0]
                args.setdefault("client_id", client_id)
        elif method == "apps.connections.open":
            if token != self.app_token:
                return web.json_response({"ok": False, "error": "invalid_auth"})
        elif token != self.token and token not in self.installed.values():
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        body = await handler({**args, "token": token} if method == "auth.test" else args)
        async with self._changed:
            self._changed.notify_all()
        scopes = (
            {} if method == "apps.connections.open" else {"x-oauth-scopes": ",".join(self.scopes)}
        )
        return web.json_response(body, headers=scopes)

    async def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        # The workspace the token belongs to: an installed workspace's, or the default.
        team = next((t for t, tok in self.installed.items() if tok == args["token"]), None)
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "reasonbot",
            "team_id": team or self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        """Exchange an install ``code`` (here ``code-<team id>``) for a bot token."""
        code = str(args.get("code", ""))
        if not code.startswith("code-") or not args.get("client_id"):
            return {"ok": False, "error": "invalid_code"}
        team = code.removeprefix("code-")
        token = self.installed.setdefault(team, f"xoxb-{team.lower()}-installed")
        return {
            "ok": True,
            "app_id": "A0001",
            "authed_user": {"id": "U0INSTALLER"},
            "scope": "chat:write,commands",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": self.bot_user_id,
            "team": {"id": team, "name": "Other"},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    async def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel not in self.members and not channel.startswith("D"):
            return {"ok": False, "error": "not_in_channel"}
        text = str(args.get("text") or "")
        if not text and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        msg = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "ts": ts,
            "text": text[:POST_LIMIT],
            "channel": channel,
        }
        if args.get("thread_ts"):
            msg["thread_ts"] = args["thread_ts"]
        self.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    async def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (args.get("channel", ""), args.get("ts", ""))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        text = str(args.get("text") or "")
        if len(text) > UPDATE_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        self.messages[key] = {**self.messages[key], "text": text, "edited": True}
        return {"ok": True, "channel": key[0], "ts": key[1], "text": text}

    # Streaming (chat.startStream / appendStream / stopStream): markdown_text is
    # appended to the message; recipients are required outside DMs; a stream lives
    # about five minutes, after which appends and stop answer
    # message_not_in_streaming_state; a user who pressed Stop gets stopped_by_user.

    def stop_by_user(self, ts: str) -> None:
        started, _ = self.streams[ts]
        self.streams[ts] = (started, True)

    def _stream_key(self, args: dict[str, Any]) -> tuple[tuple[str, str], dict[str, Any] | None]:
        key = (str(args.get("channel", "")), str(args.get("ts", "")))
        error = None
        if key not in self.messages:
            error = {"ok": False, "error": "message_not_found"}
        elif key[1] not in self.streams or (
            time.monotonic() - self.streams[key[1]][0] > self.stream_lifetime_s
        ):
            error = {"ok": False, "error": "message_not_in_streaming_state"}
        elif self.streams[key[1]][1]:
            error = {"ok": False, "error": "stopped_by_user"}
        return key, error

    def _append(
        self, key: tuple[str, str], markdown: str, chunks: list[dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        if len(markdown) > STREAM_CHUNK_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        error = chunks_error(chunks)
        if error is not None:
            return {"ok": False, "error": error}
        msg = self.messages[key]
        self.messages[key] = {
            **msg,
            "text": msg["text"] + markdown + chunks_text(chunks),
            "chunks": [*msg.get("chunks", ()), *(chunks or ())],
        }
        return None

    async def _chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if self.team_id in self.no_streaming:
            return {"ok": False, "error": "unknown_method"}
        if not args.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D"):
            for field_ in ("recipient_team_id", "recipient_user_id"):
                if not args.get(field_):
                    return {"ok": False, "error": f"missing_{field_}"}
        if channel not in self.members and not channel.startswith("D"):
            return {"ok": False, "error": "not_in_channel"}
        markdown = str(args.get("markdown_text") or "")
        if len(markdown) > STREAM_CHUNK_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        chunks = args.get("chunks")
        error = chunks_error(chunks)
        if error is None and args.get("task_display_mode", "timeline") not in TASK_DISPLAY_MODES:
            error = "invalid_arguments"
        if error is not None:
            return {"ok": False, "error": error}
        ts = self._next_ts()
        self.messages[(channel, ts)] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "ts": ts,
            "text": markdown + chunks_text(chunks),
            "chunks": list(chunks or ()),
            "channel": channel,
            "thread_ts": args["thread_ts"],
            "streaming": True,
        }
        self.streams[ts] = (time.monotonic(), False)
        return {"ok": True, "channel": channel, "ts": ts}

    async def _chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        key, error = self._stream_key(args)
        if error is not None:
            return error
        if not args.get("markdown_text") and not args.get("chunks"):
            return {"ok": False, "error": "invalid_arguments"}
        error = self._append(key, str(args.get("markdown_text") or ""), args.get("chunks"))
        return error or {"ok": True, "channel": key[0], "ts": key[1]}

    async def _chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        key, error = self._stream_key(args)
        if error is not None:
            return error
        error = self._append(key, str(args.get("markdown_text") or ""), args.get("chunks"))
        if error is not None:
            return error
        del self.streams[key[1]]
        self.messages[key] = {**self.messages[key], "streaming": False}
        return {"ok": True, "channel": key[0], "ts": key[1], "message": self.messages[key]}

    async def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (args.get("channel", ""), args.get("ts", ""))
        if self.messages.pop(key, None) is None:
            return {"ok": False, "error": "message_not_found"}
        self.streams.pop(key[1], None)
        return {"ok": True, "channel": key[0], "ts": key[1]}

    async def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "is_channel": channel.startswith("C"),
                "is_group": channel.startswith("G"),
                "is_im": channel.startswith("D"),
                "is_private": not channel.startswith("C"),
                "is_member": channel in self.members or channel.startswith("D"),
            },
        }

    async def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    async def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user") or "")
        if not user:
            return {"ok": False, "error": "user_not_found"}
        admin = user in self.admins
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": self.user_teams.get(user, self.team_id),
                "name": user.lower(),
                "is_admin": admin,
                "is_owner": False,
                "is_bot": False,
                "tz": self.user_tz.get(user, "America/Los_Angeles"),
            },
        }

    async def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        if channel.startswith("G"):
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        self.members.add(channel)
        return {"ok": True, "channel": {"id": channel}}

    async def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not ts:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": ["[ERROR] missing required field: ts"]},
            }
        root = self.messages.get((channel, ts))
        msgs = ([root] if root else []) + self.thread(channel, ts)
        # Non-Marketplace apps get at most 15 messages per call since 2025.
        limit = min(int(args.get("limit") or REPLIES_MAX), REPLIES_MAX)
        return {"ok": True, "messages": msgs[:limit], "has_more": len(msgs) > limit}

    async def _assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        loading = args.get("loading_messages", [])
        if (
            not args.get("channel_id")
            or not args.get("thread_ts")
            or not isinstance(args.get("status"), str)
            or not isinstance(loading, list)
            or not all(isinstance(m, str) for m in loading)
        ):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    # ---- files upload v2 -------------------------------------------------------------
    # files.getUploadURLExternal (filename, length) → POST the bytes to upload_url →
    # files.completeUploadExternal (files=[{id, title}], channel_id, thread_ts). The
    # upload URL refuses a body whose size differs from the declared length, and one
    # used after it expired; completing a file whose bytes never arrived fails.

    async def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        length = args.get("length")
        if not filename or length is None:
            missing = "filename" if not filename else "length"
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [f"[ERROR] missing required field: {missing}"]},
            }
        if int(length) <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        n = len(self.uploads) + 1
        upload = Upload(
            id=f"F{n:08d}",
            filename=filename,
            length=int(length),
            key=f"k{time.time_ns()}x{n}",
            issued=time.monotonic(),
        )
        self.uploads[upload.id] = upload
        return {
            "ok": True,
            "upload_url": f"{self.base_url}{UPLOAD_PATH}{upload.key}",
            "file_id": upload.id,
        }

    async def _upload_bytes(self, request: web.Request, key: str) -> web.Response:
        upload = next((u for u in self.uploads.values() if u.key == key), None)
        if request.method != "POST" or upload is None:
            return web.Response(status=404, text="Not Found")
        if time.monotonic() - upload.issued > self.upload_url_ttl_s:
            return web.Response(status=404, text="upload URL expired")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = form.get("file") or form.get("filename")
            data = part.file.read() if isinstance(part, web.FileField) else b""
        else:
            data = await request.read()
        if len(data) != upload.length:
            return web.Response(status=400, text=f"length mismatch: {len(data)} bytes")
        upload.content = data
        async with self._changed:
            self._changed.notify_all()
        return web.Response(text=f"OK - {len(data)}")

    async def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        if not files:
            return {"ok": False, "error": "invalid_arguments"}
        channel = args.get("channel_id")
        if channel and channel not in self.members and not str(channel).startswith("D"):
            return {"ok": False, "error": "not_in_channel"}
        done = []
        for f in files:
            upload = self.uploads.get(str(f.get("id", "")))
            if upload is None or upload.content is None:
                return {"ok": False, "error": "file_not_found"}
            upload.title = f.get("title") or upload.filename
            upload.channel = channel
            upload.thread_ts = args.get("thread_ts")
            upload.initial_comment = args.get("initial_comment")
            done.append({"id": upload.id, "title": upload.title, "name": upload.filename})
        return {"ok": True, "files": done}

    def shared_files(self, channel: str) -> list[Upload]:
        return [u for u in self.uploads.values() if u.channel == channel]

    async def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users and not args.get("channel"):
            return {"ok": False, "error": "users_list_not_supplied"}
        dm = args.get("channel") or "D" + users.split(",")[0].removeprefix("U")
        return {"ok": True, "channel": {"id": dm}}

    # ---- views -----------------------------------------------------------------------

    async def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user_id") or "")
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        try:
            view = check_view(args.get("view"), surface="home")
        except Refused as exc:
            return exc.body
        self.views[user] = view
        return {"ok": True, "view": {"id": f"V{user}", "type": "home", **view}}

    async def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        try:
            view = check_view(args.get("view"), surface="modal")
        except Refused as exc:
            return exc.body
        self.modals.append(view)
        return {"ok": True, "view": {"id": f"VM{len(self.modals)}", **view}}

    async def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.base_url.replace("http://", "ws://").replace("/api/", "/socket-mode")
        return {"ok": True, "url": ws}

    # ---- Socket Mode -----------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                "connection_info": {"app_id": "A0001"},
            }
        )
        self._connected.set()
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                ack = json.loads(msg.data)
                self.acks.append(ack)
                self.acked_at.setdefault(str(ack.get("envelope_id")), time.perf_counter())
                async with self._changed:
                    self._changed.notify_all()
        self._sockets.remove(ws)
        return ws

    async def push(
        self, kind: str, payload: dict[str, Any], *, envelope_id: str, retry_attempt: int = 0
    ) -> None:
        """Send one Socket Mode envelope (``slash_commands``, ``events_api``,
        ``interactive``) to the connected app."""
        await asyncio.wait_for(self._connected.wait(), 15)
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "",
        }
        self.pushed_at[envelope_id] = time.perf_counter()
        await self._sockets[-1].send_json(envelope)


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature over ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def slash_command(
    command: str,
    text: str,
    *,
    user: str = "U0ANN",
    channel: str = "C0001",
    team: str = "T0001",
    trigger_id: str | None = None,
) -> str:
    """A slash command as Slack posts it (form-encoded)."""
    return urllib.parse.urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": team,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "ann",
            "command": command,
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.invalid/commands/T0001/1/x",
            "trigger_id": trigger_id or f"{time.time_ns()}.1.abc",
        }
    )


def app_home_opened(user: str, *, tab: str = "home") -> dict[str, Any]:
    """The Events API's ``app_home_opened`` event for ``user``."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D" + user.removeprefix("U"),
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def interaction(payload: dict[str, Any]) -> str:
    """An interactivity request (block_actions, view_submission) as Slack posts it:
    form-encoded with the JSON in the ``payload`` field."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def url_verification(challenge: str) -> str:
    """The Events API's handshake when a request URL is saved (JSON, signed)."""
    return json.dumps({"token": "deprecated", "challenge": challenge, "type": "url_verification"})


def event_callback(event: dict[str, Any], *, event_id: str, team: str = "T0001") -> str:
    """An Events API delivery (JSON)."""
    return json.dumps(
        {
            "token": "deprecated",
            "team_id": team,
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": team, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
            ],
        }
    )


async def post_signed(
    session: aiohttp.ClientSession,
    url: str,
    body: str,
    *,
    secret: str,
    form: bool,
    retry_num: int | None = None,
    timestamp: int | None = None,
    bad_signature: bool = False,
) -> tuple[int, str, float]:
    """POST ``body`` to the bot's ``/slack/events``; returns status, text, seconds."""
    headers = sign(secret, body, timestamp)
    if bad_signature:
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    started = time.perf_counter()
    async with session.post(url, data=io.BytesIO(body.encode()), headers=headers) as resp:
        text = await resp.text()
        return resp.status, text, time.perf_counter() - started
