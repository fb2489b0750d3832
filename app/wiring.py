"""The composition root: settings + catalogue in, a running `AskService` out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.metrics import Metrics
from app.settings import Settings, api_key_for
from bot.config import Catalogue
from bot.dispatch import Dispatcher, DispatchSettings
from bot.model_client import OpenAIClient
from bot.pacing import Pacer
from bot.service import AskService
from bot.weeks import utc_now
from storage import SqlConversationStore, SqlJobQueue, SqlLedger, make_engine, upgrade
from storage.health import check_writable
from storage.reports import SqlReports


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    catalogue: Catalogue
    service: AskService
    ledger: SqlLedger
    engine: AsyncEngine
    model: OpenAIClient
    dispatcher: Dispatcher
    queue: SqlJobQueue
    metrics: Metrics
    pacer: Pacer

    async def health(self) -> None:
        """Raises `StorageError` unless the database takes a write, within 2 s."""
        await check_writable(self.engine, now=utc_now())


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@contextlib.asynccontextmanager
async def build_runtime(
    settings: Settings, catalogue: Catalogue, *, migrate: bool | None = None
) -> AsyncIterator[Runtime]:
    """Open the database (migrating it: always for SQLite, where the bot owns its file;
    for PostgreSQL only when asked, since deployments migrate on release) and the
    model client's connection pool; close both on exit."""
    engine = make_engine(settings.database_url)
    model = OpenAIClient(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        read_timeout=settings.openai_read_timeout,
        max_retries=settings.openai_max_retries,
        deadline=settings.model_deadline_seconds,
        key_for=lambda spec: api_key_for(spec, settings),
    )
    try:
        if migrate or (migrate is None and is_sqlite(settings.database_url)):
            await upgrade(engine)
        ledger = SqlLedger(engine)
        metrics = Metrics()
        # One per process: intake, job starts and deliveries share each loop turn.
        pacer = Pacer()
        service = AskService(
            catalogue=catalogue,
            ledger=ledger,
            conversations=SqlConversationStore(engine),
            model=model,
            observer=metrics,
            log_prompts=settings.log_prompts,
            reports=SqlReports(engine),
            pacer=pacer,
        )
        queue = SqlJobQueue(engine)
        dispatcher = Dispatcher(
            service=service,
            queue=queue,
            settings=DispatchSettings(
                max_concurrent=settings.max_concurrent_calls,
                rpm=settings.provider_rpm,
                lease_s=settings.job_lease_seconds,
                grace_s=settings.shutdown_grace_seconds,
                max_attempts=settings.job_max_attempts,
            ),
            pacer=pacer,
        )
        metrics.track_in_flight(lambda: dispatcher.in_flight)
        yield Runtime(
            settings, catalogue, service, ledger, engine, model, dispatcher, queue, metrics, pacer
        )
    finally:
        await model.aclose()
        await engine.dispose()
