"""Prometheus metrics: an `Observer` for the core plus gauges read at scrape time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.backoff import Backoff
from bot.errors import BotError
from bot.ports import Finished

log = logging.getLogger(__name__)

# Reasoning calls range from seconds to many minutes.
_LATENCY_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "reasonbot_requests",
            "Questions by outcome and model",
            ["platform", "model", "outcome"],
            registry=r,
        )
        self.denials = Counter(
            "reasonbot_quota_denials",
            "Questions refused for quota",
            ["platform", "model"],
            registry=r,
        )
        self.latency = Histogram(
            "reasonbot_request_seconds",
            "Time from accepting a question to its answer",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.model_latency = Histogram(
            "reasonbot_model_seconds",
            "Time the model took to answer",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("reasonbot_tokens", "Tokens used", ["model", "kind"], registry=r)
        self.queue_depth = Gauge(
            "reasonbot_queue_depth", "Unfinished accepted questions", registry=r
        )
        self.loop_lag = Histogram(
            "reasonbot_event_loop_lag_seconds",
            "Delay of the event loop beyond a scheduled wake-up",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.in_flight = Gauge(
            "reasonbot_in_flight", "Model calls running in this process", registry=r
        )

    def finished(self, request: Finished) -> None:
        self.requests.labels(request.platform, request.model, request.outcome).inc()
        if request.outcome == "denied":
            self.denials.labels(request.platform, request.model).inc()
        if request.outcome == "answered":
            self.latency.labels(request.model).observe(request.latency_s)
        if request.model_latency_s is not None:
            self.model_latency.labels(request.model).observe(request.model_latency_s)
        for kind, count in (
            ("prompt", request.usage.prompt_tokens),
            ("completion", request.usage.completion_tokens),
            ("reasoning", request.usage.reasoning_tokens),
        ):
            if count:
                self.tokens.labels(request.model, kind).inc(count)

    async def watch_loop_lag(self, stop: asyncio.Event, *, every: float = 0.25) -> None:
        """How late the event loop wakes a sleeper: the time any callback (an ack, a
        heartbeat) waits behind others. Should stay in milliseconds under load."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            start = loop.time()
            await asyncio.sleep(every)
            self.loop_lag.observe(max(loop.time() - start - every, 0.0))

    async def watch_queue(
        self, depth: Callable[[], Awaitable[int]], stop: asyncio.Event, *, every: float = 5.0
    ) -> None:
        backoff = Backoff("count the queue", log)
        while not stop.is_set():
            try:
                self.queue_depth.set(await depth())
            except BotError as exc:
                backoff.failed(exc)  # the database is down: /healthz says so
            else:
                backoff.succeeded()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(every, backoff.delay)):
                    await stop.wait()

    def track_in_flight(self, read: Callable[[], float]) -> None:
        self.in_flight.set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
