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
from bot.admin import AdminDesk
from bot.classifier import classify
from bot.commands import (
    REASON_USAGE,
    parse_reason,
)
from bot.config import AUTO, Catalogue, ModelSpec
from bot.costs import answer_cost
from bot.domain import (
    AskRequest,
    Effort,
    Limits,
    QuotaCommand,
    QuotaState,
    ReservationStatus,
    Role,
    Turn,
    Usage,
    Window,
)
from bot.errors import (
    BotError,
    InputRejected,
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
    ReportStore,
)
from bot.quota import QuotaDesk, QuotaResult, Standing
from bot.render import neutralise_mentions
from bot.router import Choice, Router
from bot.weeks import utc_now, week_window

log = logging.getLogger(__name__)
STOP_WAIT_S = 5.0  # how long a last status update may take once the answer is in


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
    # Asked for but not taken by the model: answered without it, and the footer says so.
    ignored_effort: Effort | None = None
    # Set when `--model auto` chose `spec`: the footer says which and why.
    auto: Choice | None = None


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
        log_prompts: bool = False,
        reports: ReportStore | None = None,
    ) -> None:
        self.catalogue = catalogue
        self._log_prompts = log_prompts
        self._ledger = ledger
        self._conversations = conversations
        self._model = model
        self._clock = clock
        self._monotonic = monotonic
        self._observer = observer
        # Without a report store (some tests), no alerts, digests or reports.
        self.admin = (
            AdminDesk(catalogue=catalogue, reports=reports, clock=self._now)
            if reports is not None
            else None
        )
        self.quotas = QuotaDesk(
            catalogue=catalogue, ledger=ledger, clock=self._now, admin=self.admin
        )
        self._router = Router.for_catalogue(catalogue)

    # ---- /reason ---------------------------------------------------------------

    def _now(self) -> datetime:
        # Indirect, so tests that swap the clock reach the quota desk as well.
        return self._clock()

    def prepare(self, request: AskRequest) -> Prepared:
        """Parse and validate a question without charging anything.

        Raises `UsageError`, `InputRejected` or `UnknownModel`.
        """
        args = parse_reason(request.text)
        alias = (request.model or args.model or self.catalogue.default_model).lower()
        if alias != AUTO and self.catalogue.get(alias) is None:
            raise UnknownModel(alias, known=self.catalogue.choices)
        question = args.question
        if not question:
            raise InputRejected(messages.empty_question(REASON_USAGE))
        limit = self.catalogue.max_prompt_chars
        if len(question) > limit:
            raise InputRejected(messages.too_long(len(question), limit))
        effort = request.effort or args.effort
        choice = None
        if alias == AUTO:
            # Provisional, from what the adapter knows (its context turns); `_ask`
            # decides once it has read the thread's depth.
            choice = self._router.choose(question, history_depth=len(request.context))
            alias = choice.alias
        return self._fit(request, question, alias, effort, choice)

    def _fit(
        self,
        request: AskRequest,
        question: str,
        alias: str,
        effort: Effort | None,
        choice: Choice | None,
    ) -> Prepared:
        spec = self.catalogue.get(alias)
        if spec is None:
            raise UnknownModel(alias, known=self.catalogue.choices)
        if effort is not None and effort not in spec.efforts:
            # Sending it would only earn the provider's 400; the question is still good.
            return Prepared(request, question, spec, None, ignored_effort=effort, auto=choice)
        return Prepared(request, question, spec, effort, auto=choice)

    async def _choose_model(self, prepared: Prepared) -> Prepared:
        """For `--model auto`, the final choice: the local rules with the thread's depth
        and, if ``[auto] router_model`` is set, that model's reading of the question."""
        if prepared.auto is None:
            return prepared
        request = prepared.request
        depth = len(request.context)
        if request.thread:
            try:
                history = await self._conversations.history(
                    request.thread, limit=self.catalogue.max_history_turns
                )
                depth += len(history)
            except StorageError as exc:
                log.warning("thread depth unknown for %s, routing without it: %r", request.key, exc)
        by = self.catalogue.auto.router_model
        router_spec = self.catalogue.get(by) if by is not None else None
        label = None
        if router_spec is not None:
            # Straight to the model port: never reserved, so no team is charged for it.
            label = await classify(self._model, router_spec, prepared.question)
        choice = self._router.choose(prepared.question, history_depth=depth, classified=label)
        if label is not None:
            choice = dataclasses.replace(choice, by=by)
        effort = prepared.effort or prepared.ignored_effort
        return self._fit(request, prepared.question, choice.alias, effort, choice)

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
            fields = {
                "request_id": request.key,
                "platform": request.platform,
                "team": request.team,
                "model": record.model,
                "outcome": outcome or "interrupted",
                "latency_ms": int(latency * 1000),
            }
            if self._log_prompts:
                fields["question"] = request.text
            log.info("request %s", outcome or "interrupted", extra=fields)
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
        prepared = await self._choose_model(prepared)
        spec = prepared.spec
        record.model = spec.alias
        now = self._clock()
        window = week_window(now, self.catalogue.week)
        try:
            limits = Limits(team_limit=spec.weekly_limit, user_limit=spec.per_user_limit)
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
            exc = await self.quotas.exhausted(
                request.team,
                spec,
                window,
                reservation.limits or QuotaState(limits.team_limit),
                scope=reservation.denied_scope or "team",
            )
            await replier.fail(self.error_text(exc), kind=FailureKind.DENIED)
            return AskOutcome.DENIED
        if resuming:
            log.info("resuming request %s", request.key)
            if prepared.auto is not None and reservation.model != spec.alias:
                # `auto` may judge differently this time (a classifier, a longer
                # thread): the model is the one the first attempt was charged for.
                choice = dataclasses.replace(prepared.auto, alias=reservation.model)
                effort = prepared.effort or prepared.ignored_effort
                prepared = self._fit(request, prepared.question, choice.alias, effort, choice)
                record.model = prepared.spec.alias
        return await self._answer(prepared, replier, window, checkpoint, record, reservation.limits)

    async def _standing(self, team: str, spec: ModelSpec, window: Window) -> Standing | None:
        try:
            return await self.quotas.standing(team, spec, window)
        except StorageError as exc:
            # The answer matters more than its footer's count.
            log.warning("could not read what is left for the footer: %s", exc)
            return None

    async def _answer(
        self,
        prepared: Prepared,
        replier: Replier,
        window: Window,
        checkpoint: Checkpoint | None,
        record: _Record,
        quota: QuotaState | None,
    ) -> AskOutcome:
        """``quota``: the team's counter as the reservation left it (None when resumed),
        for the alerts that follow the commit."""
        request, spec = prepared.request, prepared.spec
        cost: float | None = None
        started = self._monotonic()
        pump = _ProgressPump(
            replier, spec.alias, started, self._monotonic, every=self.catalogue.progress_every_s
        )
        saved = checkpoint.saved_answer if checkpoint is not None else None
        usage = Usage()
        try:
            await pump.show()
            thread = replier.thread or request.thread
            await self._conversations.open(thread, team=request.team, now=self._clock())
            if saved is None:
                pump.start()
                history = await self._conversations.history(
                    thread, limit=self.catalogue.max_history_turns
                )
                # A reply in a thread whose conversation retention removed: answered
                # afresh, and the answer says so rather than silently forgetting.
                expired = not history and await self._conversations.expired(thread)
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
                # Read now, not at reservation: minutes have passed, and other
                # questions may have been answered or refunded since.
                standing = await self._standing(request.team, spec, window)
                cost = answer_cost(spec, usage)
                answer = neutralise_mentions(reply.text)
                stored = answer
                if expired:
                    answer = messages.context_expired() + "\n\n" + answer
                reasoning_state = reply.reasoning_state
                ignored = prepared.ignored_effort
                footer = messages.footer(
                    model=spec.alias,
                    elapsed_s=self._monotonic() - started,
                    usage=reply.usage,
                    remaining=standing.left if standing else None,
                    held=standing.held if standing else 0,
                    truncated=reply.truncated,
                    cost_usd=cost if self.catalogue.show_cost else None,
                    note=None
                    if ignored is None
                    else messages.effort_ignored(spec.alias, ignored, spec.efforts),
                    auto=None
                    if prepared.auto is None
                    else messages.auto_choice(prepared.auto.reason, by=prepared.auto.by),
                )
                if checkpoint is not None:
                    await checkpoint.save_answer(answer, footer)
            else:
                # The answer was saved by a worker that stopped: its reasoning items
                # were not, so the follow-up starts its reasoning afresh.
                answer, footer = saved
                stored = answer
                reasoning_state = None
            await replier.answer(answer, footer=footer)
        except BotError as exc:
            # The model, the database or the platform failed (a PlatformError means the
            # user never saw the answer): either way they are not charged.
            await pump.stop()
            await self._refund(request.key, exc)
            log.warning("request %s failed: %r", request.key, exc)
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
        turns = (
            Turn(Role.USER, prepared.question),
            Turn(Role.ASSISTANT, stored, reasoning_state=reasoning_state),
        )
        await self._ledger.commit(
            request.key,
            usage=usage,
            latency_ms=latency_ms,
            now=self._clock(),
            conversation=(replier.thread or request.thread, request.team, turns),
            cost_usd=cost,
        )
        if self.admin is not None:
            await self.admin.after_commit(
                team=request.team,
                model=spec.alias,
                state=quota,
                window=window,
                user=request.user,
            )
        return AskOutcome.ANSWERED

    async def give_up(
        self, request: AskRequest, replier: Replier | None, *, attempts: int
    ) -> AskOutcome:
        """A durable request failed on every attempt a worker made: refund its charge
        (if it was charged) and tell the asker, once, instead of trying forever."""
        try:
            await self._ledger.refund(request.key, error="TooManyAttempts", now=self._clock())
        except StorageError:
            log.exception("could not refund %s", request.key)
        if replier is not None:
            with contextlib.suppress(BotError):
                await replier.fail(messages.gave_up(attempts), kind=FailureKind.ERROR)
        return AskOutcome.FAILED

    async def _refund(self, key: str, exc: BaseException) -> None:
        try:
            await self._ledger.refund(key, error=type(exc).__name__, now=self._clock())
        except StorageError:
            log.exception("could not refund %s", key)

    async def knows_thread(self, thread: str) -> bool:
        """True if the bot has answered in ``thread`` before (so replies continue it)."""
        return await self._conversations.knows(thread)

    # ---- /quota ----------------------------------------------------------------

    async def quota(self, command: QuotaCommand) -> QuotaResult:
        """Run one ``/quota`` command; the reply is meant for the caller only."""
        return await self.quotas.quota(command)

    def is_admin(self, command: QuotaCommand) -> bool:
        return self.quotas.is_admin(command)


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
        self._stopped = False

    async def show(self) -> None:
        await self._replier.progress(Progress(model=self._model, elapsed_s=0.0))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"progress:{self._model}")

    async def text(self, partial: str) -> None:
        self._partial = neutralise_mentions(partial)
        self._changed.set()

    async def _run(self) -> None:
        while not self._stopped:
            try:
                async with asyncio.timeout(self._every):
                    await self._changed.wait()
            except TimeoutError:
                pass
            if self._stopped:
                return
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
        """Stop updating. The loop is asked to end rather than cancelled, so this never
        swallows a cancellation aimed at the caller; a stuck platform call is cut off."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopped = True
        self._changed.set()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
