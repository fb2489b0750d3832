"""A fake Discord on loopback for the real discord.py client: the REST API under
``/api/v10`` (users/@me, gateway/bot, application commands, interaction callbacks with
``with_response``, webhook follow-ups, channel messages with Discord's 2,000-character
limit, threads from a message and without one, typing) and a gateway WebSocket (HELLO,
IDENTIFY → READY + GUILD_CREATE, heartbeats and ACKs, RESUME → RESUMED, dispatches
pushed by the test). Errors use Discord's body: ``{"message", "code"}`` (e.g. 10062
Unknown interaction, 40060 already acknowledged, 50035 invalid form body) and 429 with
``retry_after`` and ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

MESSAGE_LIMIT = 2_000
THREAD_NAME_MAX = 100
_ids = itertools.count(1_300_000_000_000_000_000)


def reply(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON exactly as Discord sends it: ``Content-Type: application/json`` with no
    charset parameter (discord.py compares the header verbatim)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def snowflake() -> str:
    return str(next(_ids))


def user(uid: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": uid,
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


@dataclass
class Call:
    method: str
    path: str
    body: Any


@dataclass
class FakeDiscord:
    app_id: str = "1100000000000000001"
    guild_id: str = "1200000000000000001"
    channel_id: str = "1200000000000000002"
    everyone_perms: str = "2248473465835073"  # send, read, threads, history…
    token: str = "fake.discord.token"
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    responded: dict[str, int] = field(default_factory=dict)
    failures: dict[str, deque[tuple[int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    identifies: int = 0
    resumes: int = 0
    base: str = ""
    gateway: str = ""
    _seq: int = 0
    _ws: web.WebSocketResponse | None = None
    _runner: web.AppRunner | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def bot_id(self) -> str:
        return self.app_id

    @property
    def bot_role_id(self) -> str:
        return "1200000000000000009"

    # ---- inspection ----------------------------------------------------------------

    def calls_to(self, method: str, fragment: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == channel_id]

    async def wait_for(self, predicate: Any) -> None:
        async with self._changed:
            await self._changed.wait_for(predicate)

    def fail(self, fragment: str, status: int, body: dict[str, Any], *, times: int = 1) -> None:
        for _ in range(times):
            self.failures[fragment].append((status, body))

    # ---- server --------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/gateway", self._gateway)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}/api/v10"
        self.gateway = f"ws://127.0.0.1:{port}/gateway"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    def _message(
        self, channel_id: str, body: dict[str, Any], *, author: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        mid = snowflake()
        msg = {
            "id": mid,
            "channel_id": channel_id,
            "guild_id": self.guild_id,
            "author": author or user(self.bot_id, "reasonbot", bot=True),
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
            "allowed_mentions": body.get("allowed_mentions"),
        }
        self.messages[mid] = msg
        return msg

    def _thread(
        self, parent_id: str, name: str, *, kind: int, tid: str | None = None
    ) -> dict[str, Any]:
        tid = tid or snowflake()
        thread = {
            "id": tid,
            "guild_id": self.guild_id,
            "parent_id": parent_id,
            "owner_id": self.bot_id,
            "name": name,
            "type": kind,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "locked": False,
                "archive_timestamp": datetime.now(UTC).isoformat(),
            },
        }
        self.threads[tid] = thread
        return thread

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json":
                body = json.loads(raw or b"null")
            elif request.content_type.startswith("multipart"):
                body = {"multipart": True}
        self.calls.append(Call(request.method, path, body))
        try:
            for fragment, queue in self.failures.items():
                if fragment in path and queue:
                    status, err = queue.popleft()
                    headers = (
                        {"Retry-After": str(err.get("retry_after", 1)), "X-RateLimit-Scope": "user"}
                        if status == 429
                        else {}
                    )
                    return reply(err, status=status, headers=headers)
            return await self._route(request.method, path, body or {})
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _route(self, method: str, path: str, body: dict[str, Any]) -> web.Response:
        parts = path.strip("/").split("/")
        ok = reply
        if path == "/users/@me":
            return ok(user(self.bot_id, "reasonbot", bot=True))
        if path == "/gateway/bot":
            return ok(
                {
                    "url": self.gateway,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if path == "/oauth2/applications/@me" or path == "/applications/@me":
            return ok(
                {
                    "id": self.app_id,
                    "name": "reasonbot",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "0" * 64,
                    "flags": 0,
                    "owner": user("1", "owner"),
                }
            )
        if parts[0] == "applications" and parts[-1] == "commands" and method == "PUT":
            return ok(
                [
                    {
                        **c,
                        "id": snowflake(),
                        "application_id": self.app_id,
                        "version": "1",
                        "default_member_permissions": c.get("default_member_permissions"),
                        "type": c.get("type", 1),
                    }
                    for c in body
                ]
            )
        if parts[0] == "applications" and parts[-1] == "commands":
            return ok([])
        if parts[0] == "interactions" and parts[-1] == "callback":
            iid = parts[1]
            if iid not in self.responded:
                if self.responded.get(iid + ":unknown"):
                    return ok({"message": "Unknown interaction", "code": 10062}, status=404)
                self.responded[iid] = body.get("type", 0)
                return ok(
                    {
                        "interaction": {
                            "id": iid,
                            "type": 2,
                            "response_message_loading": body.get("type") == 5,
                            "response_message_ephemeral": bool(
                                (body.get("data") or {}).get("flags", 0) & 64
                            ),
                        },
                        "resource": {"type": body.get("type")},
                    }
                )
            return ok(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, status=400
            )
        if parts[0] == "webhooks":
            if method == "POST":
                return ok(self._message(self.channel_id, body))
            return ok(self._message(self.channel_id, body))
        if parts[0] == "channels":
            return await self._channels(method, parts, body)
        if parts[0] == "guilds" and "members" in parts:
            return ok(
                {
                    "user": user(parts[-1], "member"),
                    "roles": [],
                    "joined_at": datetime.now(UTC).isoformat(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            )
        return ok({"message": "404: Not Found", "code": 0}, status=404)

    async def _channels(self, method: str, parts: list[str], body: dict[str, Any]) -> web.Response:
        ok = reply
        cid = parts[1]
        if len(parts) == 2 and method == "GET":
            if cid in self.threads:
                return ok(self.threads[cid])
            return ok(self._text_channel())
        if parts[2:] == ["typing"]:
            return web.Response(status=204)
        if parts[2:] == ["messages"] and method == "POST":
            if len(body.get("content") or "") > MESSAGE_LIMIT:
                return ok(
                    {
                        "message": "Invalid Form Body",
                        "code": 50035,
                        "errors": {
                            "content": {
                                "_errors": [
                                    {
                                        "code": "BASE_TYPE_MAX_LENGTH",
                                        "message": "Must be 2000 or fewer in length.",
                                    }
                                ]
                            }
                        },
                    },
                    status=400,
                )
            return ok(self._message(cid, body))
        if len(parts) == 4 and parts[2] == "messages" and method == "PATCH":
            msg = self.messages.get(parts[3])
            if msg is None:
                return ok({"message": "Unknown Message", "code": 10008}, status=404)
            if len(body.get("content") or "") > MESSAGE_LIMIT:
                return ok({"message": "Invalid Form Body", "code": 50035}, status=400)
            msg.update(
                {k: v for k, v in body.items() if k in ("content", "embeds")},
                edited_timestamp=datetime.now(UTC).isoformat(),
            )
            msg["allowed_mentions"] = body.get("allowed_mentions", msg["allowed_mentions"])
            return ok(msg)
        if len(parts) == 5 and parts[2] == "messages" and parts[4] == "threads":
            return await self._new_thread(cid, body, tid=parts[3])
        if parts[2:] == ["threads"]:
            return await self._new_thread(cid, body, tid=None)
        return ok({"message": "404: Not Found", "code": 0}, status=404)

    async def _new_thread(
        self, parent: str, body: dict[str, Any], *, tid: str | None
    ) -> web.Response:
        name = body.get("name") or ""
        if not 1 <= len(name) <= THREAD_NAME_MAX:
            return reply({"message": "Invalid Form Body", "code": 50035}, status=400)
        kind = 11 if tid else int(body.get("type") or 12)  # no type: private (12)
        thread = self._thread(parent, name, kind=kind, tid=tid)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return reply(thread, status=201)

    def _text_channel(self) -> dict[str, Any]:
        return {
            "id": self.channel_id,
            "type": 0,
            "guild_id": self.guild_id,
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    # ---- gateway -------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=0)
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                self.identifies += 1
                await self._identify()
            elif op == 6:
                self.resumes += 1
                await self.dispatch("RESUMED", {})
            async with self._changed:
                self._changed.notify_all()
        return ws

    async def _identify(self) -> None:
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": user(self.bot_id, "reasonbot", bot=True),
                "guilds": [{"id": self.guild_id, "unavailable": True}],
                "session_id": "fake-session",
                "resume_gateway_url": self.gateway,
                "application": {"id": self.app_id, "flags": 0},
                "shard": [0, 1],
                "private_channels": [],
                "relationships": [],
                "presences": [],
            },
        )
        await self.dispatch("GUILD_CREATE", self._guild())
        self._ready.set()

    def _guild(self) -> dict[str, Any]:
        everyone = {
            "id": self.guild_id,
            "name": "@everyone",
            "color": 0,
            "hoist": False,
            "position": 0,
            "permissions": self.everyone_perms,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        bot_role = {
            "id": self.bot_role_id,
            "name": "reasonbot",
            "color": 0,
            "hoist": False,
            "position": 1,
            "permissions": "0",
            "managed": True,
            "mentionable": True,
            "flags": 0,
            "tags": {"bot_id": self.bot_id},
        }
        return {
            "id": self.guild_id,
            "name": "Fake Guild",
            "icon": None,
            "owner_id": "1",
            "roles": [everyone, bot_role],
            "emojis": [],
            "stickers": [],
            "features": [],
            "member_count": 3,
            "large": False,
            "unavailable": False,
            "joined_at": datetime.now(UTC).isoformat(),
            "channels": [self._text_channel()],
            "threads": [],
            "members": [
                {
                    "user": user(self.bot_id, "reasonbot", bot=True),
                    "roles": [self.bot_role_id],
                    "joined_at": datetime.now(UTC).isoformat(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
        }

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            return
        self._seq += 1
        await self._ws.send_json({"op": 0, "t": event, "s": self._seq, "d": data})

    async def connected(self) -> None:
        await asyncio.wait_for(self._ready.wait(), 20)

    # ---- what users do ---------------------------------------------------------------

    def member(self, uid: str, *, admin: bool = False) -> dict[str, Any]:
        perms = int(self.everyone_perms) | ((1 << 5) if admin else 0)  # MANAGE_GUILD
        return {
            "user": user(uid, f"user{uid[-3:]}"),
            "roles": [],
            "joined_at": datetime.now(UTC).isoformat(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(perms),
        }

    async def slash(
        self,
        name: str,
        options: list[dict[str, Any]],
        *,
        uid: str = "300",
        admin: bool = False,
        channel_id: str | None = None,
        guild: bool = True,
    ) -> str:
        """A user runs an application command; returns the interaction id."""
        iid = snowflake()
        cid = channel_id or self.channel_id
        data: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "type": 2,
            "token": f"tok-{iid}",
            "version": 1,
            "data": {"id": snowflake(), "name": name, "type": 1, "options": options},
            "channel_id": cid,
            "locale": "en-US",
            "entitlements": [],
            "app_permissions": "2248473465835073",
            "authorizing_integration_owners": {},
            "context": 0 if guild else 1,
            "attachment_size_limit": 8388608,
        }
        if guild:
            data.update(
                guild_id=self.guild_id,
                guild_locale="en-US",
                member=self.member(uid, admin=admin),
                channel=self.threads.get(cid) or self._text_channel(),
            )
        else:
            data.update(user=user(uid, "dm-user"), channel={"id": cid, "type": 1})
        await self.dispatch("INTERACTION_CREATE", data)
        return iid

    async def say(
        self,
        content: str,
        *,
        uid: str = "300",
        channel_id: str | None = None,
        mention_bot: bool = False,
        mid: str | None = None,
    ) -> str:
        """A user posts a message; returns its id."""
        cid = channel_id or self.channel_id
        msg = self._message(cid, {"content": content}, author=user(uid, f"user{uid[-3:]}"))
        if mid:
            self.messages.pop(msg["id"])
            msg["id"] = mid
            self.messages[mid] = msg
        if mention_bot:
            msg["mentions"] = [user(self.bot_id, "reasonbot", bot=True)]
        msg["member"] = {k: v for k, v in self.member(uid).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg["id"]

    async def reconnect(self) -> None:
        """Ask the client to reconnect (op 7); it resumes its session."""
        if self._ws is not None:
            await self._ws.send_json({"op": 7, "d": None, "s": None, "t": None})


def since(start: float) -> float:
    return time.perf_counter() - start
