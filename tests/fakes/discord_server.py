"""A fake Discord on loopback for the real discord.py client: the REST API under
``/api/v10`` (users/@me, gateway/bot, application commands, interaction callbacks with
``with_response`` whose response message ``@original`` edits in place, webhook follow-ups,
the bot's token required elsewhere (401), channel messages and replies (in servers and
in direct-message channels), the bot's reactions, threads from a message and without
one, typing) and a gateway WebSocket (HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats
and ACKs, RESUME → RESUMED, dispatches pushed by the test; with ``privileged_intents``
off, an IDENTIFY asking for one is closed with 4014 as Discord does). Errors use
Discord's body: ``{"message", "code"}`` (e.g. 10062 Unknown interaction, 40060 already
acknowledged) and 429 with ``retry_after`` and ``X-RateLimit-*`` headers. Every route
that takes content refuses what Discord refuses (`discord_rules`: 2,000 characters,
embeds, thread names, enums, flags) with 400 and Discord's body, ``{"code": 50035,
"message": "Invalid Form Body", "errors": {...}}``.

Sharding works as on Discord: any number of gateway connections at once, each IDENTIFY
naming ``"shard": [shard_id, num_shards]`` (none means ``[0, 1]``; an impossible one is
closed with 4010 "Invalid shard"). A session sees only the guilds of its shard
(`shard_of`, Discord's formula) in READY and GUILD_CREATE, and only their events; direct
messages go to shard 0. Sequence numbers belong to a session and carry over a RESUME,
which replays what the session missed. By default there is one guild; ``extra_guilds``
adds more (`SECOND_GUILD` lands on the other shard of two).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes import discord_rules as rules
from tests.fakes.loopback import LoopbackServer
from tests.fakes.recorded import recording

CLOSE_INVALID_SHARD = 4010  # Discord's gateway close code for an impossible shard
CLOSE_DISALLOWED_INTENTS = 4014  # a privileged intent the portal has not enabled
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
_ids = itertools.count(1_300_000_000_000_000_000)


def reply(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON exactly as Discord sends it: ``Content-Type: application/json`` with no
    charset parameter (discord.py compares the header verbatim)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def refused(errors: dict[str, Any]) -> web.Response:
    """Discord's 400 for a body it refuses."""
    return reply(rules.invalid_form_body(errors), status=400)


def snowflake() -> str:
    return str(next(_ids))


def shard_of(guild_id: str | int, num_shards: int) -> int:
    """Which of ``num_shards`` shards carries a guild's events (Discord's formula: the
    snowflake's timestamp bits, modulo the shard count)."""
    return (int(guild_id) >> 22) % num_shards


@dataclass(frozen=True)
class FakeGuild:
    """A server the bot is in, with one text channel."""

    id: str
    channel_id: str
    bot_role_id: str
    name: str = "Fake Guild"


# On shard 0 of 2, where FakeDiscord's default guild is on shard 1.
SECOND_GUILD = FakeGuild(
    id="1210000000000000001",
    channel_id="1210000000000000002",
    bot_role_id="1210000000000000009",
    name="Second Guild",
)


@dataclass
class GatewaySession:
    """One IDENTIFYed gateway session: its shard, its sequence and every frame it was
    sent (a RESUME replays those after the client's last sequence number)."""

    id: str
    shard: tuple[int, int]
    ws: web.WebSocketResponse
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)

    def carries(self, guild_id: str | None) -> bool:
        shard_id, num_shards = self.shard
        if guild_id is None:
            return shard_id == 0  # Discord sends direct messages to shard 0 only
        return shard_of(guild_id, num_shards) == shard_id

    async def send(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.sent.append(frame)
        await self.write(frame)

    async def write(self, frame: dict[str, Any]) -> None:
        if self.ws.closed:
            return  # kept in ``sent``: a RESUME delivers it
        try:
            await self.ws.send_json(frame)
        except ConnectionResetError:
            pass  # the client is going away; same as above


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
class FakeDiscord(LoopbackServer):
    app_id: str = "1100000000000000001"
    guild_id: str = "1200000000000000001"
    channel_id: str = "1200000000000000002"
    everyone_perms: str = "2248473465835073"  # send, read, threads, history…
    token: str = "fake.discord.token"
    extra_guilds: list[FakeGuild] = field(default_factory=list)
    recommended_shards: int = 1  # what GET /gateway/bot advises
    privileged_intents: bool = True  # the Developer Portal's switches for this bot
    app_flags: int = 0  # GET /applications/@me flags (1 << 18: Message Content intent on)
    calls: list[Call] = field(default_factory=list)
    refusals: list[Call] = field(default_factory=list)  # the calls answered 400
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    dm_channels: set[str] = field(default_factory=set)  # direct-message channels seen
    reactions: dict[str, list[str]] = field(default_factory=dict)  # message id -> the bot's
    responded: dict[str, int] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)  # interaction id -> message id
    failures: dict[str, deque[tuple[int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    interactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # attachment url -> bytes
    identifies: int = 0
    identified: list[tuple[Any, ...]] = field(default_factory=list)  # each IDENTIFY's shard
    resumes: int = 0
    sessions: list[GatewaySession] = field(default_factory=list)
    port: int = 0  # 0: any free port; a fixed one lets a test start Discord "later"
    base: str = ""
    gateway: str = ""
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def bot_id(self) -> str:
        return self.app_id

    @property
    def bot_role_id(self) -> str:
        return self.guilds[0].bot_role_id

    @property
    def guilds(self) -> list[FakeGuild]:
        default = FakeGuild(self.guild_id, self.channel_id, "1200000000000000009")
        return [default, *self.extra_guilds]

    def guild(self, guild_id: str) -> FakeGuild:
        return next(g for g in self.guilds if g.id == guild_id)

    def guild_of(self, channel_id: str) -> FakeGuild:
        """The guild a text channel or thread is in (unknown ids: the default guild)."""
        if channel_id in self.threads:
            return self.guild(self.threads[channel_id]["guild_id"])
        return next((g for g in self.guilds if g.channel_id == channel_id), self.guilds[0])

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

    def app(self) -> web.Application:
        app = web.Application(middlewares=[recording("discord")])
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/gateway", self._gateway)
        return app

    def serving(self, origin: str) -> None:
        self.base = f"{origin}/api/v10"
        self.gateway = f"ws{origin.removeprefix('http')}/gateway"

    def open_sockets(self) -> Collection[web.WebSocketResponse]:
        return self._sockets

    def _message(
        self, channel_id: str, body: dict[str, Any], *, author: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        mid = snowflake()
        msg = {
            "id": mid,
            "channel_id": channel_id,
            "author": author or user(self.bot_id, "reasonbot", bot=True),
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": body.get("attachments") or [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
            "allowed_mentions": body.get("allowed_mentions"),
        }
        if channel_id not in self.dm_channels:
            msg["guild_id"] = self.guild_of(channel_id).id
        if body.get("message_reference"):
            msg["message_reference"] = body["message_reference"]
            msg["type"] = 19  # REPLY
        self.messages[mid] = msg
        return msg

    def _thread(
        self, parent_id: str, name: str, *, kind: int, tid: str | None = None
    ) -> dict[str, Any]:
        tid = tid or snowflake()
        thread = {
            "id": tid,
            "guild_id": self.guild_of(parent_id).id,
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
                body = self._multipart(raw, request.headers.get("Content-Type", ""))
        self.calls.append(Call(request.method, path, body))
        if isinstance(body, dict) and "_refused" in body:
            self.refusals.append(self.calls[-1])
            return refused(body["_refused"])
        # Interaction callbacks and webhooks are authorised by their token in the path;
        # everything else needs the bot's token, or Discord answers 401.
        authorised = request.headers.get("Authorization") == f"Bot {self.token}"
        if not authorised and not path.startswith(("/interactions/", "/webhooks/")):
            return reply({"message": "401: Unauthorized", "code": 0}, status=401)
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
            response = await self._route(request.method, path, body or {})
            if response.status == 400:
                self.refusals.append(self.calls[-1])
            return response
        finally:
            async with self._changed:
                self._changed.notify_all()

    def _multipart(self, raw: bytes, content_type: str) -> dict[str, Any]:
        """A message with files: its payload, whose ``attachments`` become attachment
        objects as Discord stores them (the bytes kept in `files`)."""
        errors, payload, files = rules.multipart_errors_and_body(raw, content_type)
        if errors:
            return {"_refused": errors}
        target = payload.get("data") if isinstance(payload.get("data"), dict) else payload
        stored = []
        for a in target.get("attachments") or []:
            aid = snowflake()
            url = f"{self.base}/attachments/{aid}/{a['filename']}"
            self.files[url] = files[str(a["id"])]
            stored.append(
                {
                    "id": aid,
                    "filename": a["filename"],
                    "size": len(files[str(a["id"])]),
                    "url": url,
                    "proxy_url": url,
                }
            )
        if stored:
            target["attachments"] = stored
        return payload

    async def _route(self, method: str, path: str, body: dict[str, Any]) -> web.Response:
        parts = path.strip("/").split("/")
        ok = reply
        if path == "/users/@me":
            return ok(user(self.bot_id, "reasonbot", bot=True))
        if path == "/gateway/bot":
            return ok(
                {
                    "url": self.gateway,
                    "shards": self.recommended_shards,
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
                    "flags": self.app_flags,
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
            if errors := rules.callback_errors(body):
                return refused(errors)
            iid = parts[1]
            if iid not in self.responded:
                if self.responded.get(iid + ":unknown"):
                    return ok({"message": "Unknown interaction", "code": 10062}, status=404)
                self.responded[iid] = body.get("type", 0)
                if body.get("type") in (4, 5):
                    # The response is a message ("…is thinking" while deferred) that
                    # `@original` then names; an ephemeral one is only the user's.
                    data = body.get("data") or {}
                    original = self._message(self._interaction_channel(iid), data)
                    original["interaction_token"] = f"tok-{iid}"
                    original["flags"] = (data.get("flags") or 0) | (
                        128 if body.get("type") == 5 else 0  # LOADING
                    )
                    self.originals[iid] = original["id"]
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
            return self._webhook(method, parts, body)
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

    def _interaction_channel(self, iid: str) -> str:
        interaction = self.interactions.get(iid)
        return interaction["channel_id"] if interaction else self.channel_id

    def _webhook(self, method: str, parts: list[str], body: dict[str, Any]) -> web.Response:
        """An interaction's webhook: follow-ups are new messages in the channel it was run
        in; ``messages/@original`` is the response message, edited in place (Discord
        answers 10008 Unknown Message before there is one)."""
        iid = (parts[2] if len(parts) > 2 else "").removeprefix("tok-")
        if parts[3:4] != ["messages"]:
            errors = rules.message_errors(body, flags_allowed=rules.INTERACTION_FLAGS)
            if (err := rules.thread_name_errors(body.get("thread_name"))) is not None:
                errors["thread_name"] = err
            if errors:
                return refused(errors)
            return reply(self._message(self._interaction_channel(iid), body))
        if method == "PATCH" and (
            errors := rules.message_errors(body, flags_allowed=rules.EDIT_FLAGS)
        ):
            return refused(errors)
        mid = self.originals.get(iid) if parts[4:5] == ["@original"] else parts[4]
        msg = self.messages.get(mid or "")
        if msg is None:
            return reply({"message": "Unknown Message", "code": 10008}, status=404)
        if method == "DELETE":
            del self.messages[msg["id"]]
            return web.Response(status=204)
        if method == "PATCH":
            for name in ("content", "embeds", "allowed_mentions", "components"):
                if name in body:
                    msg[name] = body[name] if body[name] is not None else msg[name]
            msg["flags"] = msg["flags"] & ~128  # no longer "thinking"
            msg["edited_timestamp"] = datetime.now(UTC).isoformat()
        return reply(msg)

    async def _channels(self, method: str, parts: list[str], body: dict[str, Any]) -> web.Response:
        ok = reply
        cid = parts[1]
        if len(parts) == 2 and method == "GET":
            if cid in self.threads:
                return ok(self.threads[cid])
            return ok(self._text_channel(self.guild_of(cid)))
        if parts[2:] == ["typing"]:
            return web.Response(status=204)
        if parts[2:] == ["messages"] and method == "POST":
            if errors := rules.message_errors(body, flags_allowed=rules.CREATE_FLAGS):
                return refused(errors)
            return ok(self._message(cid, body))
        if len(parts) == 4 and parts[2] == "messages" and method == "PATCH":
            msg = self.messages.get(parts[3])
            if msg is None:
                return ok({"message": "Unknown Message", "code": 10008}, status=404)
            if errors := rules.message_errors(body, flags_allowed=rules.EDIT_FLAGS):
                return refused(errors)
            msg.update(
                {k: v for k, v in body.items() if k in ("content", "embeds")},
                edited_timestamp=datetime.now(UTC).isoformat(),
            )
            msg["allowed_mentions"] = body.get("allowed_mentions", msg["allowed_mentions"])
            return ok(msg)
        if len(parts) == 7 and parts[2] == "messages" and parts[4] == "reactions":
            if parts[6] != "@me" or method != "PUT":
                return ok({"message": "404: Not Found", "code": 0}, status=404)
            if parts[3] not in self.messages:
                return ok({"message": "Unknown Message", "code": 10008}, status=404)
            self.reactions.setdefault(parts[3], []).append(parts[5])
            return web.Response(status=204)
        if len(parts) == 5 and parts[2] == "messages" and parts[4] == "threads":
            return await self._new_thread(cid, body, tid=parts[3])
        if parts[2:] == ["threads"]:
            return await self._new_thread(cid, body, tid=None)
        return ok({"message": "404: Not Found", "code": 0}, status=404)

    async def _new_thread(
        self, parent: str, body: dict[str, Any], *, tid: str | None
    ) -> web.Response:
        if errors := rules.thread_errors(body, from_message=tid is not None):
            return refused(errors)
        name = body["name"]
        kind = 11 if tid else int(body.get("type") or 12)  # no type: private (12)
        thread = self._thread(parent, name, kind=kind, tid=tid)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return reply(thread, status=201)

    def _text_channel(self, guild: FakeGuild | None = None) -> dict[str, Any]:
        guild = guild or self.guilds[0]
        return {
            "id": guild.channel_id,
            "type": 0,
            "guild_id": guild.id,
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
        self._sockets.add(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    self.identifies += 1
                    await self._identify(ws, frame.get("d") or {})
                elif op == 6:
                    self.resumes += 1
                    await self._resume(ws, frame.get("d") or {})
                async with self._changed:
                    self._changed.notify_all()
        finally:
            self._sockets.discard(ws)
        return ws

    async def _identify(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        shard = payload.get("shard") or [0, 1]
        self.identified.append(tuple(shard) if isinstance(shard, list) else (shard,))
        valid = (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(x, int) for x in shard)
            and 0 <= shard[0] < shard[1]
        )
        if not valid:
            await ws.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard")
            return
        if not self.privileged_intents and int(payload.get("intents") or 0) & PRIVILEGED_INTENTS:
            await ws.close(code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return
        shard_id, num_shards = shard
        session = GatewaySession(
            id=f"fake-session-{len(self.sessions) + 1}", shard=(shard_id, num_shards), ws=ws
        )
        self.sessions.append(session)
        guilds = [g for g in self.guilds if session.carries(g.id)]
        await session.send(
            "READY",
            {
                "v": 10,
                "user": user(self.bot_id, "reasonbot", bot=True),
                "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
                "session_id": session.id,
                "resume_gateway_url": self.gateway,
                "application": {"id": self.app_id, "flags": 0},
                "shard": [shard_id, num_shards],
                "private_channels": [],
                "relationships": [],
                "presences": [],
            },
        )
        for g in guilds:
            await session.send("GUILD_CREATE", self._guild(g))
        self._ready.set()

    async def _resume(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        session = next((s for s in self.sessions if s.id == payload.get("session_id")), None)
        if session is None:
            # Discord's "invalid session, not resumable": the client must IDENTIFY anew.
            await ws.send_json({"op": 9, "d": False, "s": None, "t": None})
            return
        session.ws = ws
        last = payload.get("seq") or 0
        for frame in [f for f in session.sent if f["s"] > last]:
            await session.write(frame)
        await session.send("RESUMED", {})

    def _guild(self, guild: FakeGuild) -> dict[str, Any]:
        everyone = {
            "id": guild.id,
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
            "id": guild.bot_role_id,
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
            "id": guild.id,
            "name": guild.name,
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
            "channels": [self._text_channel(guild)],
            "threads": [t for t in self.threads.values() if t["guild_id"] == guild.id],
            "members": [
                {
                    "user": user(self.bot_id, "reasonbot", bot=True),
                    "roles": [guild.bot_role_id],
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
        """Send an event to every session whose shard carries its guild (an event with
        no guild, such as a direct message, to shard 0)."""
        guild_id = data.get("guild_id")
        for session in self.sessions:
            if session.carries(guild_id):
                await session.send(event, data)

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
        drop: tuple[str, ...] = (),
        resolved: dict[str, Any] | None = None,
    ) -> str:
        """A user runs an application command in ``channel_id`` (a text channel or
        thread of any guild; default: the default guild's channel); returns the
        interaction id. `interactions` keeps the payload, so a test can send it again.
        ``drop``: fields left out of the payload (a malformed one)."""
        iid = snowflake()
        cid = channel_id or self.channel_id
        data: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "type": 2,
            "token": f"tok-{iid}",
            "version": 1,
            "data": {
                "id": snowflake(),
                "name": name,
                "type": 1,
                "options": options,
                **({"resolved": resolved} if resolved else {}),
            },
            "channel_id": cid,
            "locale": "en-US",
            "entitlements": [],
            "app_permissions": "2248473465835073",
            "authorizing_integration_owners": {},
            "context": 0 if guild else 1,
            "attachment_size_limit": 8388608,
        }
        if guild:
            where = self.guild_of(cid)
            data.update(
                guild_id=where.id,
                guild_locale="en-US",
                member=self.member(uid, admin=admin),
                channel=self.threads.get(cid) or self._text_channel(where),
            )
        else:
            data.update(user=user(uid, "dm-user"), channel={"id": cid, "type": 1})
        for name in drop:
            data.pop(name, None)
        self.interactions[iid] = data
        await self.dispatch("INTERACTION_CREATE", data)
        return iid

    def resolved_channel(self, channel_id: str) -> dict[str, Any]:
        """The ``resolved`` data Discord sends with a CHANNEL option: a partial channel
        with the member's permissions in it."""
        return {
            "channels": {
                channel_id: {
                    "id": channel_id,
                    "name": "admins",
                    "type": 0,
                    "permissions": "2248473465835073",
                    "parent_id": None,
                }
            }
        }

    async def say(
        self,
        content: str,
        *,
        uid: str = "300",
        channel_id: str | None = None,
        mention_bot: bool = False,
        mid: str | None = None,
        dm: bool = False,
    ) -> str:
        """A user posts a message in ``channel_id`` (default: the default guild's
        channel; with ``dm``, their direct-message channel with the bot); returns its
        id."""
        cid = channel_id or (f"1500000000000000{uid[-3:]:0>3}" if dm else self.channel_id)
        if dm:
            self.dm_channels.add(cid)
        msg = self._message(cid, {"content": content}, author=user(uid, f"user{uid[-3:]}"))
        if mid:
            self.messages.pop(msg["id"])
            msg["id"] = mid
            self.messages[mid] = msg
        if mention_bot:
            msg["mentions"] = [user(self.bot_id, "reasonbot", bot=True)]
        if not dm:
            msg["member"] = {k: v for k, v in self.member(uid).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg["id"]

    async def reconnect(self, *, shard_id: int | None = None) -> None:
        """Ask the clients (or those of one shard) to reconnect (op 7); each resumes its
        session."""
        for session in self.sessions:
            if shard_id is None or session.shard[0] == shard_id:
                await session.write({"op": 7, "d": None, "s": None, "t": None})


def since(start: float) -> float:
    return time.perf_counter() - start
