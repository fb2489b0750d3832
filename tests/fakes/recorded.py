"""Every HTTP request the fakes receive, in one process-wide list, so the spec contract
(tests/contract) can check each one against the official API specs.

Each fake installs `recording(service)` as an aiohttp middleware: one line per fake,
and nothing about any route. A request is recorded once its handler is done (or
cancelled, as a hanging one is when its fake stops). WebSocket upgrades (Discord's
gateway, Slack's Socket Mode) are not recorded: the specs describe HTTP requests only.

The fakes run in the test process even when the bot runs as its own OS process
(tests/fakes/bot_process.py), so the requests of that bot are recorded too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

Service = Literal["openai", "slack", "discord"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as it arrived: ``content_type`` is the media type without parameters
    ("" when the request named none); ``body`` the raw bytes."""

    service: Service
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


_RECORDED: list[Recorded] = []


def take() -> list[Recorded]:
    """The requests recorded since the last call (and forget them)."""
    taken = list(_RECORDED)
    del _RECORDED[: len(taken)]
    return taken


def recording(service: Service) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware that records each request before the fake handles it."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        try:
            return await handler(request)
        finally:
            # Read after the handler, which may ask whether a body is left to read;
            # aiohttp keeps what it read, so this is the same body.
            body = await request.read() if request.body_exists else b""
            _RECORDED.append(
                Recorded(
                    service=service,
                    method=request.method,
                    path=request.path,
                    query=tuple(request.query.items()),
                    content_type=request.content_type if "Content-Type" in request.headers else "",
                    headers=tuple(request.headers.items()),
                    body=body,
                )
            )

    return record
