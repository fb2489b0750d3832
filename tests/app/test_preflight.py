"""What the chat checks before the first question: which providers need a key, and why
a provider cannot be reached (refused, DNS, TLS), named with its URL."""

from __future__ import annotations

import socket

from aiohttp import web

from app.preflight import is_local, reach


def test_local_servers_need_no_key() -> None:
    for url in (
        "http://127.0.0.1:11434/v1",
        "http://localhost:8000/v1",
        "http://[::1]:8000/v1",
        "http://192.168.1.20:8000/v1",
        "http://gpu.local/v1",
    ):
        assert is_local(url), url
    for url in ("https://api.openai.com/v1", "https://8.8.8.8/v1", "https://api.deepseek.com"):
        assert not is_local(url), url


async def test_a_refused_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert await reach(f"http://127.0.0.1:{port}/v1") == "connection refused"


async def test_a_host_that_does_not_resolve() -> None:
    # .invalid never resolves (RFC 2606).
    assert await reach("https://api.openai.invalid/v1") == "the host name does not resolve"


async def test_https_to_a_server_that_speaks_plain_http() -> None:
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reason = await reach(f"https://127.0.0.1:{port}/v1", within_s=10)
        assert reason is not None and reason.startswith("TLS"), reason
        assert await reach(f"http://127.0.0.1:{port}/v1") is None
    finally:
        await runner.cleanup()
