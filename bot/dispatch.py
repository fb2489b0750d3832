"""Durable requests: accepted questions are written down before the platform is
acknowledged, and workers claim them with a lease, so a crash, deploy or OOM never loses
a question — another worker (or the restarted one) picks it up and answers it once.

    AskService.accept ─ submit(request, route, parsed) ─► JobQueue (SQL) ─ claim (lease)
        (before ack)                                                        │
                          ReplierFactory(job) ◄── Dispatcher ──► AskService.ask(parsed)

A *route* is the adapter's reply state as JSON (where to post, the status message it
created, how many answer pieces it delivered), typed in its adapter and never read here;
adapters save it as it changes, so a resumed job edits the same status message instead
of starting over.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.backoff import Backoff
from bot.domain import AskRequest
from bot.errors import BotError, StorageError
from bot.intake import Parsed
from bot.pacing import Pacer
from bot.ports import Job, JobQueue, Progress, Replier, ReplierFactory, Route, SaveRoute
from bot.service import AskOutcome, AskService
from bot.weeks import utc_now

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RateLimiter:
    """Requests per minute to the provider, as a sliding window (o1's API launched at
    20 RPM). Per process. The dispatcher claims work only while slots are free, so what
    is over the limit waits in the shared queue, in fair order and open to any worker,
    not in this process."""

    rpm: int | None
    clock: Callable[[], float] = time.monotonic
    _sent: deque[float] = field(default_factory=deque)

    def available(self) -> int | None:
        """Requests that may start now; None when there is no limit."""
        if not self.rpm:
            return None
        now = self.clock()
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        return max(self.rpm - len(self._sent), 0)

    def take(self, n: int) -> None:
        if self.rpm and n > 0:
            self._sent.extend([self.clock()] * n)


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    max_concurrent: int = 256  # model calls in flight per process
    rpm: int | None = None  # provider requests per minute, per process
    lease_s: float = 60.0  # a job whose worker stops renewing is resumed after this
    poll_s: float = 1.0  # how often to look for work submitted by other processes
    queue_refresh_s: float = 5.0  # how often queued askers see their position move
    grace_s: float = 30.0  # on shutdown, how long in-flight calls may finish
    # A job that failed (or took its worker down) this many times is given up: the
    # asker is told and refunded, instead of seeing "Thinking…" forever.
    max_attempts: int = 3


class Dispatcher:
    """Claims jobs and runs them through the service, within capacity, until stopped."""

    def __init__(
        self,
        *,
        service: AskService,
        queue: JobQueue,
        settings: DispatchSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        worker: str | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self._service = service
        # A claim starts up to `max_concurrent` jobs at once: they start a few a turn.
        self._pacer = pacer or Pacer()
        self._queue = queue
        self._settings = settings or DispatchSettings()
        self._clock = clock
        self.worker = worker or f"w-{uuid.uuid4().hex[:12]}"
        self._factories: dict[str, ReplierFactory] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._limiter = RateLimiter(self._settings.rpm, clock=monotonic)
        self._accepting = True
        self._waiting: dict[str, _Queued] = {}  # shown as queued by this process
        self._positions_due = asyncio.Event()
        self._stopped: asyncio.Future[None] | None = None
        self.outcomes: dict[str, int] = {}
        # While the database is down, each loop logs once and tries less often.
        self._claims = Backoff("claim work", log)
        self._renewals = Backoff("renew leases", log)
        self._positions = Backoff("read queue positions", log)

    def register(self, platform: str, factory: ReplierFactory) -> None:
        self._factories[platform] = factory

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def submit(
        self, request: AskRequest, route: Route, *, parsed: Parsed | None = None
    ) -> bool:
        """Write the request down (`AskService.accept` calls this before the platform
        is acknowledged). False means the key was seen before: nothing more to do."""
        if not self._accepting:
            raise StorageError("shutting down")
        accepted = await self._queue.submit(request, route, now=self._clock(), parsed=parsed)
        if accepted:
            self._wake.set()
            if self._free_slots() <= 0:
                self._show_queued(request, route, parsed)
        return accepted

    def _free_slots(self) -> int:
        free = self._settings.max_concurrent - len(self._inflight)
        slots = self._limiter.available()
        return free if slots is None else min(free, slots)

    def _show_queued(self, request: AskRequest, route: Route, parsed: Parsed | None) -> None:
        """At capacity: tell the asker where they stand instead of leaving them
        wondering; the position is kept up to date until a worker takes the question
        (its status then turns into "thinking")."""
        factory = self._factories.get(request.platform)
        if factory is None:
            return

        async def save(new: Route) -> None:
            await self._queue.save_route(request.key, new)

        replier = factory(Job(request=request, route=route, attempt=0, parsed=parsed), save)
        model = parsed.model if parsed is not None else request.model or ""
        self._waiting[request.key] = _Queued(replier, model=model)
        # One batched positions call for a whole burst of queued submits, not one each:
        # each call reads the queue, and a burst is when the queue is longest.
        self._positions_due.set()

    async def _show_positions(self, keys: Sequence[str]) -> None:
        try:
            positions = await self._queue.positions(keys, now=self._clock())
        except StorageError as exc:
            self._positions.failed(exc)
            return
        self._positions.succeeded()

        async def show(key: str) -> None:
            queued = self._waiting.get(key)
            if queued is None:
                return
            position = positions.get(key)
            if position is None:  # taken by a worker, perhaps another process
                self._waiting.pop(key, None)
                return
            async with queued.lock:
                if self._waiting.get(key) is not queued or queued.position == position:
                    return
                queued.position = position
                try:
                    await queued.replier.progress(
                        Progress(model=queued.model, elapsed_s=0.0, queued_position=position)
                    )
                except BotError as exc:
                    log.info("could not show the queue position of %s: %r", key, exc)

        await asyncio.gather(*(show(k) for k in keys))

    async def _refresh_queued(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                refresh_s = max(self._settings.queue_refresh_s, self._positions.delay)
                async with asyncio.timeout(refresh_s):
                    await self._positions_due.wait()
            self._positions_due.clear()
            if self._waiting and not stop.is_set():
                await self._show_positions(list(self._waiting))

    async def drained(self) -> None:
        """Returns once ``run`` has ended (its calls finished or handed back): until
        then the platforms' connections must stay open for the answers."""
        if self._stopped is not None and not self._stopped.done():
            await asyncio.shield(self._stopped)

    async def run(self, stop: asyncio.Event) -> None:
        self._stopped = asyncio.get_running_loop().create_future()
        renewer = asyncio.create_task(self._renew_leases(stop), name="lease-renewer")
        refresher = asyncio.create_task(self._refresh_queued(stop), name="queue-positions")
        try:
            while not stop.is_set():
                await self._fill()
                self._wake.clear()
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                # A new submission wakes it even during a back-off: that write worked.
                await asyncio.wait(
                    waiters,
                    timeout=max(self._settings.poll_s, self._claims.delay),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for w in waiters:
                    w.cancel()
        finally:
            self._accepting = False
            try:
                await self._drain()
                renewer.cancel()
                refresher.cancel()
                await asyncio.wait({renewer, refresher})
            finally:
                self._stopped.set_result(None)

    async def _fill(self) -> None:
        free = self._free_slots()
        if free <= 0:
            return
        try:
            jobs = await self._queue.claim(
                worker=self.worker, limit=free, lease_s=self._settings.lease_s, now=self._clock()
            )
        except StorageError as exc:
            self._claims.failed(exc)
            return
        self._claims.succeeded()
        self._limiter.take(len(jobs))
        for job in jobs:
            task = asyncio.create_task(self._run_job(job), name=f"job:{job.key}")
            self._inflight[job.key] = task
            task.add_done_callback(lambda _t, k=job.key: self._inflight.pop(k, None))

    async def _run_job(self, job: Job) -> None:
        await self._pacer()
        queued = self._waiting.pop(job.key, None)
        if queued is not None:
            # The "queued" status may have created messages: once its last edit is
            # done, continue from its route.
            async with queued.lock:
                pass
            job = dataclasses.replace(job, route=await self._queue.route(job.key) or job.route)
        if job.parsed is None:
            # Written down before intake carried what it parsed (jobs from before an
            # upgrade): read it here, once; a refusal is left to the service to tell.
            parsed = self._service.parse(job.request)
            if isinstance(parsed, Parsed):
                job = dataclasses.replace(job, parsed=parsed)
        factory = self._factories.get(job.request.platform)
        if factory is None:
            log.error(
                "no replier for platform %s; job %s left for another worker",
                job.request.platform,
                job.key,
            )
            await self._queue.release([job.key], worker=self.worker)
            return

        async def save_route(route: Route) -> None:
            await self._queue.save_route(job.key, route)

        last = job.attempt >= self._settings.max_attempts
        replier: Replier | None = None
        try:
            replier = factory(job, save_route)
            if job.attempt > self._settings.max_attempts:
                # Its earlier attempts died with their worker (killed, out of memory).
                await self._give_up(job, replier)
                return
            outcome = await self._service.ask(
                job.request, replier, checkpoint=JobCheckpoint(self._queue, job), parsed=job.parsed
            )
        except asyncio.CancelledError:
            raise
        except BotError as exc:
            if last:
                log.error("job %s: %r on attempt %d; giving up", job.key, exc, job.attempt)
                await self._give_up(job, replier)
            else:
                log.warning("job %s: %r; it will be retried after its lease", job.key, exc)
            return
        except Exception:
            # A bug must not take the worker down; the job is retried after its lease.
            log.exception("job %s failed unexpectedly (attempt %d)", job.key, job.attempt)
            if last:
                await self._give_up(job, replier)
            return
        await self._finished(job, outcome)

    async def _give_up(self, job: Job, replier: Replier | None) -> None:
        try:
            outcome = await self._service.give_up(job.request, replier, attempts=job.attempt)
        except Exception:
            # Even telling the asker fails: still refunded, and never tried again.
            log.exception("job %s: could not report giving up", job.key)
            outcome = AskOutcome.FAILED
        await self._finished(job, outcome)

    async def _finished(self, job: Job, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        with contextlib.suppress(StorageError):
            await self._queue.finish(job.key, outcome=outcome, now=self._clock())

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        every = self._settings.lease_s / 3
        while True:
            await asyncio.sleep(every)
            if self._inflight:
                try:
                    await self._queue.renew(
                        list(self._inflight),
                        worker=self.worker,
                        lease_s=self._settings.lease_s,
                        now=self._clock(),
                    )
                except StorageError as exc:
                    self._renewals.failed(exc)  # same cadence: the leases run out
                else:
                    self._renewals.succeeded()

    async def _drain(self) -> None:
        """Graceful shutdown: let in-flight calls finish within the grace period, then
        hand the rest back (their reservations stay; the next worker resumes them)."""
        if not self._inflight:
            return
        tasks = list(self._inflight.values())
        log.info(
            "shutting down: waiting up to %.0f s for %d request(s)",
            self._settings.grace_s,
            len(tasks),
        )
        _, pending = await asyncio.wait(tasks, timeout=self._settings.grace_s)
        if pending:
            keys = [k for k, t in self._inflight.items() if t in pending]
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(StorageError):
                await self._queue.release(keys, worker=self.worker)
            log.info("handed %d unfinished request(s) back to the queue", len(keys))


@dataclass(slots=True)
class _Queued:
    """A question this process told its asker is queued, and the position shown."""

    replier: Replier
    model: str
    position: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class JobCheckpoint:
    """What the service needs to make a job resumable: the job, and the queue that
    keeps its answer."""

    queue: JobQueue
    job: Job

    @property
    def saved_answer(self) -> tuple[str, str] | None:
        if self.job.answer is not None:
            return self.job.answer, self.job.footer or ""
        return None

    async def save_answer(self, text: str, footer: str) -> None:
        await self.queue.save_answer(self.job.key, text=text, footer=footer)


__all__ = [
    "AskOutcome",
    "DispatchSettings",
    "Dispatcher",
    "Job",
    "JobCheckpoint",
    "JobQueue",
    "RateLimiter",
    "ReplierFactory",
    "Route",
    "SaveRoute",
]
