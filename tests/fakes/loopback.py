"""`LoopbackServer`: the base of the wire-level fakes (OpenAI, Slack, Discord). Each is
an aiohttp application served on 127.0.0.1 for the length of an ``async with``; the
subclass builds the application and learns its address, the base starts and stops it.

Stopping closes the fake's open websockets first: a client stays connected otherwise,
and the runner's shutdown would wait for it.
"""

from __future__ import annotations

import socket
from collections.abc import Collection
from typing import Self

from aiohttp import web

HOST = "127.0.0.1"
SHUTDOWN_TIMEOUT_S = 0.5  # a fake holds nothing worth waiting longer for


def free_port() -> int:
    """A port nothing listens on now (the OS's pick, released at once)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class LoopbackServer:
    """Serves `app()` on loopback at ``port`` (0: any free one) inside ``async with``."""

    host: str = HOST
    port: int = 0
    _loopback: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The fake's routes and middlewares."""
        raise NotImplementedError

    def serving(self, origin: str) -> None:
        """Called once the server listens at ``origin`` (``http://127.0.0.1:PORT``)."""

    def open_sockets(self) -> Collection[web.WebSocketResponse]:
        """Websockets to close before stopping (a gateway's, Socket Mode's)."""
        return ()

    async def __aenter__(self) -> Self:
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._loopback = runner
        self.serving(f"http://{self.host}:{runner.addresses[0][1]}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self.open_sockets()):
            await ws.close()
        runner, self._loopback = self._loopback, None
        if runner is not None:
            await runner.cleanup()
