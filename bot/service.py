"""The pipeline: one question in, one answer (or one clear error) out, under quota.

    validate → pick model → reserve → call model (progress) → deliver → commit
                                   ╰── on any failure: refund + clear message

`AskService` is the only place that turns `BotError`s into words and refunds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot import messages
from bot.commands import (
    ADMIN_VERBS,
    QUOTA_USAGE,
    REASON_USAGE,
    QuotaArgs,
    QuotaVerb,
    parse_quota,
    parse_reason,
)
from bot.config import Catalogue, ModelSpec
from bot.domain import (
    AskRequest,
    Effort,
    Limits,
    QuotaCommand,
    ReservationStatus,
    Role,
    TeamUsage,
    Turn,
    Usage,
    Window,
)
from bot.errors import (
    BotError,
    InputRejected,
    ModelError,
    NotAllowed,
    QuotaExhausted,
    StorageError,
    UnknownModel,
    UsageError,
)
from bot.ports import (
    Checkpoint,
    ConversationStore,
    FailureKind,
    ModelCall,
    Observer,
    Progress,
    QuotaLedger,
    ReasoningModel,
    Replier,
)
from bot.render import neutralise_mentions
from bot.weeks import utc_now, week_window

log = logging.getLogger(__name__)


class AskOutcome(enum.StrEnum):
    ANSWERED = "answered"
    FAILED = "failed"  # the model (or delivery) failed; refunded
    DENIED = "denied"  # quota exhausted; nothing charged
    REJECTED = "rejected"  # bad input; nothing charged
    DUPLICATE = "duplicate"  # the key was seen before; nothing sent, nothing charged


@dataclass(frozen=True, slots=True)
class Prepared:
    request: AskRequest
    question: str
    spec: ModelSpec
    effort: Effort | None


@dataclass(frozen=True, slots=True)
class QuotaResult:
    text: str
    ok: bool = True
    usage: TeamUsage | None = None


class AskService:
    def __init__(
        self,
        *,
        catalogue: Catalogue,
        ledger: QuotaLedger,
        conversations: ConversationStore,
        model: ReasoningModel,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        observer: Observer | None = None,
    ) -> None:
        self.catalogue = catalogue
        self._ledger = ledger
        self._conversations = conversations
        self._model = model
        self._clock = clock
        self._monotonic = monotonic
        self._observer = observer

    # ---- /reason ---------------------------------------------------------------

    def prepare(self, request: AskRequest) -> Prepared:
        """Parse and validate a question without charging anything.

        Raises `UsageError`, `InputRejected` or `UnknownModel`.
        """
        args = parse_reason(request.text)
        alias = (request.model or args.model or self.catalogue.default_model).lower()
        spec = self.catalogue.get(alias)
        if spec is None:
            raise UnknownModel(alias, known=self.catalogue.aliases)
        question = args.question
        if not question:
            raise InputRejected(messages.empty_question(REASON_USAGE))
        limit = self.catalogue.max_prompt_chars
        if len(question) > limit:
            raise InputRejected(messages.too_long(len(question), limit))
        return Prepared(request, question, spec, request.effort or args.effort)

    def error_text(self, exc: BotError) -> str:
        return messages.error_text(exc, now=self._clock())

    async def ask(
        self, request: AskRequest, replier: Replier, *, checkpoint: Checkpoint | None = None
    ) -> AskOutcome:
        """Answer one question; see `AskOutcome` for what the replier was sent.

        With a ``checkpoint`` the request is durable: a second attempt with the same key
        whose reservation is still held resumes it (no second charge), and a cancelled
        attempt keeps its reservation for the worker that resumes it.
        """
        record = _Record()
        started = self._monotonic()
        outcome: AskOutcome | None = None
        try:
            outcome = await self._ask(request, replier, checkpoint, record)
            return outcome
        finally:
            latency = self._monotonic() - started
            log.info(
                "request %s",
                outcome or "interrupted",
                extra={
                    "request_id": request.key,
                    "platform": request.platform,
                    "team": request.team,
                    "model": record.model,
                    "outcome": outcome or "interrupted",
                    "latency_ms": int(latency * 1000),
                },
            )
            if outcome is not None and self._observer is not None:
                self._observer.finished(
                    platform=request.platform,
                    model=record.model or "unknown",
                    outcome=outcome,
                    latency_s=latency,
                    model_latency_s=record.model_latency_s,
                    usage=record.usage,
                )

    async def _ask(
        self,
        request: AskRequest,
        replier: Replier,
        checkpoint: Checkpoint | None,
        record: _Record,
    ) -> AskOutcome:
        try:
            prepared = self.prepare(request)
        except (UsageError, InputRejected, UnknownModel) as exc:
            await replier.fail(self.error_text(exc), kind=FailureKind.REJECTED)
            return AskOutcome.REJECTED
        spec = prepared.spec
        record.model = spec.alias
        now = self._clock()
        window = week_window(now, self.catalogue.week)
        try:
            limits = await self._limits(request.team, spec, request.user)
            reservation = await self._ledger.reserve(
                key=request.key,
                team=request.team,
                model=spec.alias,
                user=request.user,
                channel=request.channel,
                window=window,
                limits=limits,
                now=now,
            )
        except StorageError as exc:
            log.error("ledger unavailable for %s: %s", request.key, exc)
            await replier.fail(self.error_text(exc), kind=FailureKind.ERROR)
            return AskOutcome.FAILED
        resuming = (
            reservation.replayed
            and checkpoint is not None
            and reservation.status is ReservationStatus.RESERVED
        )
        if reservation.replayed and not resuming:
            log.info(
                "duplicate request %s ignored (first outcome %s)", request.key, reservation.status
            )
            return AskOutcome.DUPLICATE
        if reservation.status is ReservationStatus.DENIED:
            exc = await self._exhausted(
                request.team, spec, window, limits, scope=reservation.denied_scope or "team"
            )
            await replier.fail(self.error_text(exc), kind=FailureKind.DENIED)
            return AskOutcome.DENIED
        if resuming:
            log.info("resuming request %s", request.key)
        return await self._answer(prepared, replier, window, checkpoint, record)

    async def _answer(
        self,
        prepared: Prepared,
        replier: Replier,
        window: Window,
        checkpoint: Checkpoint | None,
        record: _Record,
    ) -> AskOutcome:
        request, spec = prepared.request, prepared.spec
        started = self._monotonic()
        pump = _ProgressPump(
            replier, spec.alias, started, self._monotonic, every=self.catalogue.progress_every_s
        )
        saved = checkpoint.saved_answer if checkpoint is not None else None
        usage = Usage()
        try:
            await pump.show()
            if saved is None:
                pump.start()
                history = await self._conversations.history(
                    request.thread, limit=self.catalogue.max_history_turns
                )
                call = ModelCall(
                    spec=spec,
                    messages=(*history, *request.context, Turn(Role.USER, prepared.question)),
                    effort=prepared.effort,
                    instructions=self.catalogue.instructions,
                )
                called = self._monotonic()
                reply = await self._model.complete(call, on_text=pump.text)
                record.model_latency_s = self._monotonic() - called
                await pump.stop()
                usage = record.usage = reply.usage
                remaining = await self._remaining(request.team, spec, window)
                answer = neutralise_mentions(reply.text)
                footer = messages.footer(
                    model=spec.alias,
                    elapsed_s=self._monotonic() - started,
                    usage=reply.usage,
                    remaining=remaining,
                    truncated=reply.truncated,
                )
                if checkpoint is not None:
                    await checkpoint.save_answer(answer, footer)
            else:
                answer, footer = saved
            await replier.answer(answer, footer=footer)
        except (ModelError, StorageError) as exc:
            await pump.stop()
            await self._refund(request.key, exc)
            log.warning("request %s failed: %r", request.key, exc)
            with contextlib.suppress(BotError):
                await replier.fail(self.error_text(exc), kind=FailureKind.ERROR)
            return AskOutcome.FAILED
        except BotError as exc:
            # Delivery failed (PlatformError): the user never saw the answer, so they
            # are not charged for it.
            await pump.stop()
            await self._refund(request.key, exc)
            log.warning("request %s not delivered: %r", request.key, exc)
            with contextlib.suppress(BotError):
                await replier.fail(self.error_text(exc), kind=FailureKind.ERROR)
            return AskOutcome.FAILED
        except BaseException as exc:
            await pump.stop()
            if checkpoint is None:
                await asyncio.shield(self._refund(request.key, exc))
            # A durable request keeps its reservation: the worker that resumes it
            # answers under the same single charge.
            raise
        latency_ms = int((self._monotonic() - started) * 1000)
        await self._ledger.commit(
            request.key, usage=usage, latency_ms=latency_ms, now=self._clock()
        )
        await self._conversations.append(
            request.thread,
            [Turn(Role.USER, prepared.question), Turn(Role.ASSISTANT, answer)],
            team=request.team,
            now=self._clock(),
        )
        return AskOutcome.ANSWERED

    async def _refund(self, key: str, exc: BaseException) -> None:
        try:
            await self._ledger.refund(key, error=type(exc).__name__, now=self._clock())
        except StorageError:
            log.exception("could not refund %s", key)

    async def _limits(self, team: str, spec: ModelSpec, user: str) -> Limits:
        override = await self._ledger.limit_override(team, spec.alias)
        cap = await self._ledger.user_cap(team, spec.alias, user)
        return Limits(
            team_limit=spec.weekly_limit if override is None else override,
            user_limit=spec.per_user_limit if cap is None else cap,
        )

    def _default_limits(self) -> dict[str, int]:
        return {m.alias: m.weekly_limit for m in self.catalogue.models}

    async def _remaining(self, team: str, spec: ModelSpec, window: Window) -> int | None:
        usage = await self._ledger.usage(
            team, window, limits=self._default_limits(), with_users=False
        )
        for m in usage.models:
            if m.model == spec.alias:
                return m.remaining
        return None

    async def _exhausted(
        self, team: str, spec: ModelSpec, window: Window, limits: Limits, *, scope: str
    ) -> QuotaExhausted:
        usage = await self._ledger.usage(
            team, window, limits=self._default_limits(), with_users=False
        )
        alternatives = tuple(
            (m.model, m.remaining) for m in usage.models if m.model != spec.alias and m.remaining
        )
        denied = next((m for m in usage.models if m.model == spec.alias), None)
        if scope == "user" and limits.user_limit is not None:
            limit = limits.user_limit
        else:
            limit = denied.allowance if denied else limits.team_limit
        return QuotaExhausted(
            model=spec.alias,
            limit=limit,
            resets_at=window.end,
            scope=scope,
            alternatives=alternatives,
        )

    async def knows_thread(self, thread: str) -> bool:
        """True if the bot has answered in ``thread`` before (so replies continue it)."""
        return await self._conversations.knows(thread)

    # ---- /quota ----------------------------------------------------------------

    def is_admin(self, command: QuotaCommand) -> bool:
        admins = self.catalogue.admins
        return (
            command.is_admin
            or command.user in admins
            or f"{command.platform}:{command.user}" in admins
        )

    async def quota(self, command: QuotaCommand) -> QuotaResult:
        """Run one ``/quota`` command; the reply is meant for the caller only."""
        try:
            args = parse_quota(command.text)
            if args.verb in ADMIN_VERBS and not self.is_admin(command):
                raise NotAllowed(args.verb)
            return await self._quota(command, args)
        except (UsageError, NotAllowed, UnknownModel, StorageError) as exc:
            return QuotaResult(self.error_text(exc), ok=False)

    def _model(self, alias: str | None) -> str:
        alias = alias or self.catalogue.default_model
        if self.catalogue.get(alias) is None:
            raise UnknownModel(alias, known=self.catalogue.aliases)
        return alias

    async def _quota(self, command: QuotaCommand, args: QuotaArgs) -> QuotaResult:
        now = self._clock()
        window = week_window(now, self.catalogue.week)
        team, actor = command.team, command.user
        match args.verb:
            case QuotaVerb.HELP:
                return QuotaResult(QUOTA_USAGE)
            case QuotaVerb.SHOW:
                return await self._show(command, window, now)
            case QuotaVerb.LOG:
                entries = await self._ledger.audit_log(team, limit=20)
                return QuotaResult(messages.audit(entries))
            case QuotaVerb.SET:
                model = self._model(args.model)
                assert args.value is not None
                await self._ledger.set_limit(team, model, args.value, actor=actor, now=now)
            case QuotaVerb.GRANT:
                model = self._model(args.model)
                assert args.value is not None
                await self._ledger.grant(team, model, window, args.value, actor=actor, now=now)
            case QuotaVerb.RESET:
                models = [self._model(args.model)] if args.model else list(self.catalogue.aliases)
                for m in models:
                    await self._ledger.reset(team, m, window, actor=actor, now=now)
                model = args.model or "every model"
            case QuotaVerb.USER:
                model = self._model(args.model) if args.model else "*"
                assert args.who is not None
                await self._ledger.set_user_cap(
                    team, args.who, model, args.value, actor=actor, now=now
                )
        text = messages.quota_changed(args.verb, model=model, value=args.value, who=args.who)
        shown = await self._show(command, window, now)
        return QuotaResult(text + "\n\n" + shown.text, usage=shown.usage)

    async def _show(self, command: QuotaCommand, window: Window, now: datetime) -> QuotaResult:
        admin = self.is_admin(command)
        usage = await self._ledger.usage(
            command.team, window, limits=self._default_limits(), with_users=True
        )
        if not admin:
            usage = dataclasses.replace(
                usage, users=tuple(u for u in usage.users if u.user == command.user)
            )
        models = []
        for m in usage.models:
            spec = self.catalogue.get(m.model)
            cap = await self._ledger.user_cap(command.team, m.model, command.user)
            models.append(
                dataclasses.replace(
                    m,
                    user_limit=cap if cap is not None else (spec.per_user_limit if spec else None),
                )
            )
        usage = dataclasses.replace(usage, models=tuple(models))
        text = messages.quota_summary(usage, user=command.user, now=now, admin=admin)
        return QuotaResult(text, usage=usage)


@dataclass(slots=True)
class _Record:
    """What one request learned on its way, for logs and metrics."""

    model: str | None = None
    usage: Usage = dataclasses.field(default_factory=Usage)
    model_latency_s: float | None = None


class _ProgressPump:
    """Feeds a replier progress updates one at a time: a tick every ``every`` seconds
    and, coalesced, whenever streamed text arrives. A slow platform call therefore
    never stacks up edits, and a failing one never stops the model call."""

    def __init__(
        self,
        replier: Replier,
        model: str,
        started: float,
        monotonic: Callable[[], float],
        *,
        every: float,
    ) -> None:
        self._replier = replier
        self._model = model
        self._started = started
        self._monotonic = monotonic
        self._every = every
        self._partial = ""
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def show(self) -> None:
        await self._replier.progress(Progress(model=self._model, elapsed_s=0.0))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"progress:{self._model}")

    async def text(self, partial: str) -> None:
        self._partial = neutralise_mentions(partial)
        self._changed.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=self._every)
            self._changed.clear()
            progress = Progress(
                model=self._model,
                elapsed_s=self._monotonic() - self._started,
                partial=self._partial,
            )
            try:
                await self._replier.progress(progress)
            except BotError as exc:
                log.warning("progress update failed: %r", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
