"""Operational HTTP endpoints: ``GET /healthz`` (checks the database) and
``GET /metrics`` (Prometheus), on the process's one HTTP server (`app.platforms`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from app.metrics import Metrics
from bot.errors import BotError

log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 5.0
HealthCheck = Callable[[], Awaitable[None]]


def ops_routes(*, health: HealthCheck, metrics: Metrics) -> list[web.RouteDef]:
    async def healthz(_: web.Request) -> web.Response:
        try:
            # The check bounds itself (2 s); this is the backstop for one that does not.
            await asyncio.wait_for(health(), timeout=HEALTH_TIMEOUT_S)
        except Exception as exc:  # any failure means unhealthy; say what, not secrets
            # Our own errors' messages name no secret (`storage._sql`); others' might.
            reason = str(exc) if isinstance(exc, BotError) else type(exc).__name__
            log.warning("health check failed: %s", reason)
            body = {"ok": False, "database": type(exc).__name__, "reason": reason}
            return web.json_response(body, status=503)
        return web.json_response({"ok": True, "database": "ok"})

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})

    return [web.get("/healthz", healthz), web.get("/metrics", prometheus)]


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    started: Callable[[int], None] | None = None,
) -> None:
    """Run ``app`` until ``stop`` is set; ``started`` gets the bound port (port 0 works)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("listening on %s:%s", host, bound)
    if started is not None:
        started(bound)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
