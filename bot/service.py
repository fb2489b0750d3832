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
from bot.costs import answer_cost, reserve_estimate
from bot.domain import (
    AskRequest,
    Effort,
    Exchange,
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
    BudgetExhausted,
    InputRejected,
    ReasoningUsedAllTokens,
    StorageError,
    UnknownModel,
    UsageError,
)
from bot.intake import Accepted, Parsed, Refused
from bot.pacing import Pacer
from bot.ports import (
    Checkpoint,
    ConversationStore,
    FailureKind,
    Finished,
    Intake,
    ModelCall,
    Observer,
    Progress,
    QuotaLedger,
    ReasoningModel,
    Replier,
    ReportStore,
    Route,
)
from bot.quota import QuotaDesk, QuotaResult, Standing
from bot.render import neutralise_mentions, reasoning_tail
from bot.reports import Picture
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
    # Named with `--model` (or a typed option): refused when used up, never swapped.
    explicit: bool = False
    # Set when a fallback answers for the model picked: the footer says why.
    fallback_note: str | None = None

    @property
    def parsed(self) -> Parsed:
        return Parsed(
            self.question,
            self.spec.alias,
            self.effort,
            self.ignored_effort,
            self.auto,
            explicit=self.explicit,
        )


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
        pacer: Pacer | None = None,
    ) -> None:
        self.catalogue = catalogue
        # Model calls started together end together: their deliveries take turns.
        self._pacer = pacer or Pacer()
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

    async def accept(
        self,
        request: AskRequest,
        route: Route,
        *,
        intake: Intake,
        within_s: float | None = None,
    ) -> Accepted | Refused:
        """The one way in for a question, from every platform: parse and check it once
        (nothing is charged), then hand it to ``intake`` with what was parsed, so no
        worker parses it again. ``route`` is the adapter's reply state, kept opaque.

        ``within_s`` bounds writing it down (a platform's acknowledgement deadline): a
        slow database is a refusal the asker hears about, not a silence.
        """
        parsed = self.parse(request)
        if isinstance(parsed, Refused):
            self._rejected(request)
            return parsed
        try:
            async with asyncio.timeout(within_s):
                new = await intake.submit(request, route, parsed=parsed)
        except TimeoutError:
            return self._not_taken(request, StorageError("writing the request down took too long"))
        except BotError as exc:
            return self._not_taken(request, exc)
        return Accepted(parsed, new=new)

    def _rejected(self, request: AskRequest) -> None:
        # Logged and counted as `ask` does its outcomes: refused input is one of them.
        self._report(request, AskOutcome.REJECTED, _Record(), latency=0.0)

    def _not_taken(self, request: AskRequest, exc: BotError) -> Refused:
        log.error("could not accept %s: %r", request.key, exc)
        return Refused(self.error_text(exc), FailureKind.ERROR)

    def parse(self, request: AskRequest) -> Parsed | Refused:
        """What a question asks (see `prepare`), or why it is refused."""
        try:
            return self.prepare(request).parsed
        except (UsageError, InputRejected, UnknownModel) as exc:
            return Refused(self.error_text(exc), FailureKind.REJECTED)

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
        explicit = alias != AUTO and (request.model or args.model) is not None
        if alias == AUTO:
            # Provisional, from what the adapter knows (its context turns); `_ask`
            # decides once it has read the thread's depth.
            choice = self._router.choose(question, history_depth=len(request.context))
            alias = choice.alias
        prepared = self._fit(request, question, alias, effort, choice)
        return dataclasses.replace(prepared, explicit=True) if explicit else prepared

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

    def _restore(self, request: AskRequest, parsed: Parsed) -> Prepared:
        """What intake parsed, fitted to today's catalogue (a model may have left it
        since, or changed its efforts) without parsing the question again."""
        effort = parsed.effort or parsed.ignored_effort
        prepared = self._fit(request, parsed.question, parsed.model, effort, parsed.auto)
        return dataclasses.replace(prepared, explicit=True) if parsed.explicit else prepared

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
        self,
        request: AskRequest,
        replier: Replier,
        *,
        checkpoint: Checkpoint | None = None,
        parsed: Parsed | None = None,
    ) -> AskOutcome:
        """Answer one question; see `AskOutcome` for what the replier was sent.

        ``parsed`` is what `accept` read of it; without it (a job written down before
        intake carried it) the question is parsed here.

        With a ``checkpoint`` the request is durable: a second attempt with the same key
        whose reservation is still held resumes it (no second charge), and a cancelled
        attempt keeps its reservation for the worker that resumes it.
        """
        record = _Record()
        started = self._monotonic()
        outcome: AskOutcome | None = None
        try:
            outcome = await self._ask(request, replier, checkpoint, record, parsed)
            return outcome
        finally:
            self._report(request, outcome, record, latency=self._monotonic() - started)

    def _report(
        self, request: AskRequest, outcome: AskOutcome | None, record: _Record, *, latency: float
    ) -> None:
        """One log line per request, and the metrics (None: interrupted)."""
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
                Finished(
                    platform=request.platform,
                    model=record.model or "unknown",
                    outcome=outcome,
                    latency_s=latency,
                    model_latency_s=record.model_latency_s,
                    usage=record.usage,
                )
            )

    async def _ask(
        self,
        request: AskRequest,
        replier: Replier,
        checkpoint: Checkpoint | None,
        record: _Record,
        parsed: Parsed | None,
    ) -> AskOutcome:
        try:
            prepared = self.prepare(request) if parsed is None else self._restore(request, parsed)
        except (UsageError, InputRejected, UnknownModel) as exc:
            await replier.fail(self.error_text(exc), kind=FailureKind.REJECTED)
            return AskOutcome.REJECTED
        prepared = await self._choose_model(prepared)
        spec = prepared.spec
        record.model = spec.alias
        now = self._clock()
        window = week_window(now, self.catalogue.week)
        try:
            limits = _limits(spec)
            # Only a model the asker did not name may be swapped for its fallback.
            chain = () if prepared.explicit else self.catalogue.fallback_chain(spec.alias)[1:]
            reservation = await self._ledger.reserve(
                key=request.key,
                team=request.team,
                model=spec.alias,
                user=request.user,
                channel=request.channel,
                window=window,
                limits=limits,
                now=now,
                fallbacks=[(a, _limits(self.catalogue.get(a) or spec)) for a in chain],
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
            if reservation.denied_scope == "budget":
                await replier.fail(
                    self.error_text(await self._budget_exhausted(request.team, spec, window)),
                    kind=FailureKind.DENIED,
                )
                return AskOutcome.DENIED
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
        if reservation.model != spec.alias:
            # A fallback was charged, or a resumed `auto` request was charged for a model
            # `auto` now judges differently (a classifier, a longer thread): the model
            # that answers is the one the reservation holds.
            choice = (
                None
                if prepared.auto is None
                else dataclasses.replace(prepared.auto, alias=reservation.model)
            )
            effort = prepared.effort or prepared.ignored_effort
            note = None
            if reservation.fallback_from is not None:
                note = messages.fallback_used(
                    model=reservation.fallback_from,
                    fallback=reservation.model,
                    scope=reservation.fallback_scope or "team",
                    resets_at=window.end,
                )
            prepared = dataclasses.replace(
                self._fit(request, prepared.question, reservation.model, effort, choice),
                fallback_note=note,
            )
            record.model = prepared.spec.alias
        return await self._answer(prepared, replier, window, checkpoint, record, reservation.limits)

    async def _budget_exhausted(
        self, team: str, spec: ModelSpec, window: Window
    ) -> BudgetExhausted | StorageError:
        try:
            state = await self._ledger.budget(team, window)
        except StorageError as exc:
            return exc
        return BudgetExhausted(
            model=spec.alias,
            budget_usd=state.budget_usd or 0.0,
            spent_usd=state.spent_usd,
            held_usd=state.held_usd,
            resets_at=window.end,
        )

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
        show = self.catalogue.show_reasoning
        pump = _ProgressPump(
            replier,
            spec.alias,
            started,
            self._monotonic,
            every=self.catalogue.progress_every_s,
            keep_reasoning=show == "keep",
        )
        saved = checkpoint.saved_answer if checkpoint is not None else None
        usage = Usage()
        try:
            await pump.show()
            thread = replier.thread or request.thread
            await self._conversations.open(thread, team=request.team, now=self._clock())
            if saved is None:
                pump.start()
                # A reply in a thread whose conversation retention removed: answered
                # afresh, and the answer says so rather than silently forgetting.
                history, expired = await self._conversations.recall(
                    thread, limit=self.catalogue.max_history_turns
                )
                call = ModelCall(
                    spec=spec,
                    messages=(*history, *request.context, Turn(Role.USER, prepared.question)),
                    effort=prepared.effort,
                    instructions=self.catalogue.instructions,
                )
                called = self._monotonic()
                reply = await self._model.complete(
                    call,
                    on_text=pump.text,
                    on_reasoning=None if show == "off" else pump.reasoning,
                )
                record.model_latency_s = self._monotonic() - called
                await self._pacer()
                await pump.stop()
                usage = record.usage = reply.usage
                # Read now, not at reservation: minutes have passed, and other
                # questions may have been answered or refunded since.
                standing = await self._standing(request.team, spec, window)
                cost = answer_cost(spec, usage)
                answer = neutralise_mentions(reply.text)
                thought = pump.thought
                if thought is None and show != "off" and reply.reasoning:
                    # Not streamed: the reasoning collapses all the same.
                    thought = messages.thought(
                        reply.reasoning_s or record.model_latency_s or 0.0,
                        reasoning_tail(reply.reasoning) if show == "keep" else "",
                    )
                shown = answer if thought is None else f"{thought}\n\n{answer}"
                if expired:
                    shown = messages.context_expired() + "\n\n" + shown
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
                    note=_notes(
                        prepared.fallback_note,
                        None
                        if ignored is None
                        else messages.effort_ignored(spec.alias, ignored, spec.efforts),
                    ),
                    auto=None
                    if prepared.auto is None
                    else messages.auto_choice(prepared.auto.reason, by=prepared.auto.by),
                )
                if checkpoint is not None:
                    await checkpoint.save_answer(shown, footer)
            else:
                # The answer was saved by a worker that stopped: its reasoning items
                # were not, so the follow-up starts its reasoning afresh.
                shown, footer = saved
                answer = _without_thought(shown)
                reasoning_state = None
            await replier.answer(shown, footer=footer)
        except BotError as exc:
            # The model, the database or the platform failed (a PlatformError means the
            # user never saw the answer): either way they are not charged.
            await pump.stop()
            billed = exc.usage if isinstance(exc, ReasoningUsedAllTokens) else None
            if billed is not None:
                # Refunded, yet the provider billed every token it spent thinking.
                record.usage = billed
                await self._refund(request.key, exc, usage=billed, cost=answer_cost(spec, billed))
            else:
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
        exchange = Exchange(
            thread=replier.thread or request.thread,
            team=request.team,
            question=prepared.question,
            answer=answer,
            reasoning_state=reasoning_state,
        )
        budget = await self._ledger.commit(
            request.key,
            usage=usage,
            latency_ms=latency_ms,
            now=self._clock(),
            exchange=exchange,
            cost_usd=cost,
        )
        if self.admin is not None:
            await self.admin.after_commit(
                team=request.team,
                model=spec.alias,
                state=quota,
                window=window,
                budget=budget,
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

    async def _refund(
        self,
        key: str,
        exc: BaseException,
        *,
        usage: Usage | None = None,
        cost: float | None = None,
    ) -> None:
        try:
            if usage is None:
                await self._ledger.refund(key, error=type(exc).__name__, now=self._clock())
            else:
                await self._ledger.refund(
                    key, error=type(exc).__name__, now=self._clock(), usage=usage, cost_usd=cost
                )
        except StorageError:
            log.exception("could not refund %s", key)

    async def knows_thread(self, thread: str) -> bool:
        """True if the bot has answered in ``thread`` before (so replies continue it)."""
        return await self._conversations.knows(thread)

    # ---- /quota ----------------------------------------------------------------

    async def quota(self, command: QuotaCommand) -> QuotaResult:
        """Run one ``/quota`` command; the reply is meant for the caller only."""
        return await self.quotas.quota(command)

    async def picture(self, command: QuotaCommand) -> Picture:
        """The week as ``command.user`` may see it (see `QuotaDesk.picture`)."""
        return await self.quotas.picture(command)

    def is_admin(self, command: QuotaCommand) -> bool:
        return self.quotas.is_admin(command)

    def now(self) -> datetime:
        return self._now()

    def watch(self, callback: Callable[[str, str | None], None]) -> bool:
        if self.admin is None:
            return False
        self.admin.watch(callback)
        return True

    async def follow_changes(self) -> None:
        if self.admin is not None:
            await self.admin.follow_quota_changes()


def _notes(*notes: str | None) -> str | None:
    """The footer's notes (a fallback, an effort left out), in that order, or None."""
    return " ".join(n for n in notes if n) or None


def _limits(spec: ModelSpec) -> Limits:
    return Limits(
        team_limit=spec.weekly_limit,
        user_limit=spec.per_user_limit,
        estimate_usd=reserve_estimate(spec),
    )


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
        keep_reasoning: bool = False,
    ) -> None:
        self._replier = replier
        self._keep_reasoning = keep_reasoning
        self._reasoning = ""
        # The reasoning collapsed to a line, set when the answer starts (None: no
        # reasoning was shown). Streamed and final answers start with the same line.
        self.thought: str | None = None
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
        if self.thought is None and self._reasoning:
            self.thought = messages.thought(
                self._monotonic() - self._started,
                reasoning_tail(self._reasoning) if self._keep_reasoning else "",
            )
        # Kept raw and neutralised once per update: deltas come far oftener than
        # updates, and the answer so far grows with each of them.
        self._partial = partial
        self._changed.set()

    async def reasoning(self, text: str) -> None:
        # Kept whole and cut at each update: deltas arrive far faster than updates go out.
        if not self._partial:
            self._reasoning = text
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
            partial = neutralise_mentions(self._partial) if self._partial else ""
            if partial and self.thought is not None:
                partial = f"{self.thought}\n\n{partial}"
            progress = Progress(
                model=self._model,
                elapsed_s=self._monotonic() - self._started,
                partial=partial,
                reasoning="" if partial else reasoning_tail(self._reasoning),
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


def _without_thought(shown: str) -> str:
    """The answer itself, without the collapsed reasoning in front of it: history
    carries answers only (DeepSeek refuses reasoning sent back)."""
    expired = messages.context_expired() + "\n\n"
    if shown.startswith(expired):
        shown = shown[len(expired) :]
    if shown.startswith("💭 "):
        _, _, answer = shown.partition("\n\n")
        return answer or shown
    return shown
