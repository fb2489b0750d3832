"""A TCP proxy on loopback that a test can cut and restore: a database outage for one
test's connections, without stopping the PostgreSQL server other tests share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.engine.url import make_url

from tests.fakes.loopback import free_port


class CuttableProxy:
    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = free_port()

    async def restore(self) -> None:
        """Listen again, on the same port."""
        self._server = await asyncio.start_server(
            self._link, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        """Refuse new connections and drop every open one, as a server gone away does."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(
            _pump(reader, up_writer), _pump(up_reader, writer), return_exceptions=True
        )
        self._links -= {writer, up_writer}


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


@contextlib.asynccontextmanager
async def proxy_to(host: str, port: int) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy(host, port)
    await proxy.restore()
    try:
        yield proxy
    finally:
        await proxy.cut()


@contextlib.asynccontextmanager
async def database_behind_proxy(url: str) -> AsyncIterator[tuple[str, CuttableProxy]]:
    """The PostgreSQL database of ``url`` reached through a proxy: the URL to give the
    bot, and the proxy to cut."""
    real = make_url(url)
    async with proxy_to(real.host or "127.0.0.1", real.port or 5432) as proxy:
        yield real.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
