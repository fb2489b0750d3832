"""What a ``reasonbot run`` or ``worker`` process serves: every configured platform,
each under its own supervisor, and the process's one HTTP server on $PORT. That server
always carries ``/healthz`` and ``/metrics``; Slack's routes join it when this process
takes Slack's HTTP requests. This is the one place that decides either."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from adapters.slack.http import MAX_BODY, slack_routes
from app.discord_runner import discord_replies_only, run_discord
from app.ops import ops_routes, serve
from app.slack_runner import build_slack, run_socket_mode, slack_session
from app.supervise import supervise
from app.wiring import Runtime
from bot.errors import ConfigError

log = logging.getLogger(__name__)


async def serve_platforms(
    rt: Runtime,
    *,
    stop: asyncio.Event,
    ingress: bool = True,
    started: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop``, then wait for the answers in flight to be delivered (they
    post through these clients). ``ingress`` False (a worker): the platforms' clients
    post answers, but no events are taken. ``started`` gets the HTTP server's port."""
    s = rt.settings
    http = web.Application(client_max_size=MAX_BODY)
    http.add_routes(ops_routes(health=rt.health, metrics=rt.metrics))
    # Each platform under its own supervisor: a crash in one (a malformed payload, the
    # platform unreachable) is logged and retried while the other keeps serving.
    jobs: dict[str, Callable[[], Awaitable[None]]] = {}
    async with contextlib.AsyncExitStack() as clients:
        if s.slack_enabled:
            slack = build_slack(rt, await clients.enter_async_context(slack_session()))
            # Home refreshes still waiting out their debounce, before the session goes.
            clients.push_async_callback(slack.home.close)
            if ingress and s.slack_app_token is not None:
                app_token = s.slack_app_token.get_secret_value()
                jobs["slack"] = lambda: run_socket_mode(slack, app_token, stop=stop)
            elif ingress:
                if s.slack_signing_secret is None:
                    raise ConfigError("SLACK_SIGNING_SECRET is required in HTTP mode")
                http.add_routes(slack_routes(slack.app, pacer=rt.pacer))
                log.info("Slack: HTTP mode, POST /slack/events on port %s", s.port)
        if s.discord_enabled:
            discord = run_discord if ingress else discord_replies_only
            jobs["discord"] = lambda: discord(rt, stop=stop)
        jobs["http"] = lambda: serve(http, host=s.host, port=s.port, stop=stop, started=started)
        log.info("serving: %s", ", ".join(jobs))
        tasks = [
            asyncio.create_task(supervise(name, job, stop=stop), name=name)
            for name, job in jobs.items()
        ]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t.exception() for t in done if not t.cancelled() and t.exception()]
        if failed:
            stop.set()  # a setting to fix (the only error supervise lets through)
        await asyncio.gather(*tasks, return_exceptions=True)
        if failed:
            raise failed[0]  # type: ignore[misc]
        await rt.dispatcher.drained()
