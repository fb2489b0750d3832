"""The small interfaces ("ports") the core needs from the edges.

Storage implements `QuotaLedger`, `ConversationStore` and `JobQueue`; the model client
implements `ReasoningModel`; each chat adapter implements `Replier` for one request, a
`ReplierFactory` that rebuilds it from a job's route, and a `Renderer` for its text
format. The core never reaches back for platform objects.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain import (
    AskRequest,
    AuditEntry,
    BudgetState,
    Effort,
    Exchange,
    Limits,
    ModelReply,
    ModelUsage,
    Reservation,
    TeamUsage,
    Turn,
    Usage,
    Window,
)

if TYPE_CHECKING:
    from bot.config import ModelSpec
    from bot.domain import QuotaCommand
    from bot.errors import BotError
    from bot.intake import Accepted, Parsed, Refused
    from bot.quota import QuotaResult
    from bot.reports import Askers, ModelWeek, NotifyTarget, Picture, UsageRow


class QuotaLedger(Protocol):
    """Weekly message quotas per team and model, atomic across processes.

    Every method is one short transaction; none is held across a model call.
    """

    async def reserve(
        self,
        *,
        key: str,
        team: str,
        model: str,
        user: str,
        channel: str,
        window: Window,
        limits: Limits,
        now: datetime,
        fallbacks: Sequence[tuple[str, Limits]] = (),
    ) -> Reservation:
        """Hold one message. Idempotent on ``key``: a second call returns the first
        outcome with ``replayed=True`` and charges nothing. When the team allowance
        (limit + grants) or the user's cap is used up, the outcome is DENIED.

        ``fallbacks`` (model, limits) are tried in order, in the same transaction, when
        ``model`` is used up for the team or the person: the first with a message left
        is held (``Reservation.model``, with ``fallback_from``); a DENIED outcome names
        ``model``. When the team has a weekly budget, ``limits.estimate_usd`` is held
        against it too, and a budget that cannot hold it is DENIED (scope "budget")."""
        ...

    async def commit(
        self,
        key: str,
        *,
        usage: Usage,
        latency_ms: int,
        now: datetime,
        exchange: Exchange | None = None,
        cost_usd: float | None = None,
    ) -> BudgetState | None:
        """Mark a reservation answered, with its token usage and cost. ``exchange`` is
        recorded in its thread (the `ConversationStore`'s history) in the same
        transaction, and only by the commit that marks the reservation answered: a
        retried commit neither charges nor appends a second time. A reservation held
        under a budget has its hold replaced by its cost: the budget after that is
        returned (None for one held under no budget)."""
        ...

    async def refund(
        self,
        key: str,
        *,
        error: str,
        now: datetime,
        usage: Usage | None = None,
        cost_usd: float | None = None,
    ) -> bool:
        """Give the message back to the window it was reserved in. Idempotent: returns
        False if the key was not RESERVED (already refunded, committed or unknown).
        ``usage``/``cost_usd``: what the provider billed for a failed answer (all of it
        went to reasoning), recorded though the message is given back."""
        ...

    async def set_budget(
        self, team: str, budget_usd: float | None, *, window: Window, actor: str, now: datetime
    ) -> None:
        """Set (or with ``None`` remove) the team's weekly budget in USD; audited."""
        ...

    async def budget(self, team: str, window: Window) -> BudgetState:
        """The team's weekly budget, and this week's spend and holds against it."""
        ...

    async def user_cap(self, team: str, model: str, user: str) -> int | None:
        """The per-user weekly cap an admin set for ``user`` (any model: model '*')."""
        ...

    async def usage(
        self, team: str, window: Window, *, limits: dict[str, int], with_users: bool
    ) -> TeamUsage:
        """This week's usage of every model in ``limits`` (alias -> default limit)."""
        ...

    async def model_usage(
        self, team: str, model: str, window: Window, *, default_limit: int
    ) -> ModelUsage:
        """This week's usage of one model, in one read (the footer of every answer)."""
        ...

    async def set_limit(
        self, team: str, model: str, limit: int, *, actor: str, now: datetime
    ) -> None: ...

    async def grant(
        self, team: str, model: str, window: Window, extra: int, *, actor: str, now: datetime
    ) -> None: ...

    async def reset(
        self, team: str, model: str, window: Window, *, actor: str, now: datetime
    ) -> None: ...

    async def set_user_cap(
        self, team: str, user: str, model: str, cap: int | None, *, actor: str, now: datetime
    ) -> None:
        """Set (or with ``None`` clear) a user's weekly cap; model '*' means every model."""
        ...

    async def audit_log(self, team: str, *, limit: int = 20) -> Sequence[AuditEntry]: ...


class ConversationStore(Protocol):
    """Each thread's conversation, so follow-ups have context across restarts and
    workers: opened when the bot starts answering there, read as history, and grown by
    one `Exchange` per answered question. The exchange is written with its charge
    (`QuotaLedger.commit`), by this store's code on the ledger's transaction."""

    async def history(self, thread: str, *, limit: int = 50) -> list[Turn]:
        """The thread's turns, oldest first (the last ``limit``)."""
        ...

    async def open(self, thread: str, *, team: str, now: datetime) -> None:
        """Note that the bot is answering in ``thread`` (idempotent), so replies there
        continue the conversation even before the first answer is in."""
        ...

    async def knows(self, thread: str) -> bool:
        """True if the bot has taken part in this thread."""
        ...

    async def recall(self, thread: str, *, limit: int = 50) -> tuple[list[Turn], bool]:
        """The thread's turns, as `history`, and whether its conversation expired:
        retention removed it and nothing was said there since (a reply there starts
        afresh, and is told so). One read for what every question needs."""
        ...


ProgressCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ModelCall:
    spec: ModelSpec
    messages: tuple[Turn, ...]
    effort: Effort | None = None
    instructions: str | None = None


class ReasoningModel(Protocol):
    async def complete(
        self,
        call: ModelCall,
        *,
        on_text: ProgressCallback | None = None,
        on_reasoning: ProgressCallback | None = None,
    ) -> ModelReply:
        """Run one completion. ``on_text`` receives the answer so far (never the
        reasoning) while the model streams; ``on_reasoning`` the reasoning so far (a
        Responses summary, ``reasoning_content``, ``<think>`` text) *raw*, since it can
        be long and arrives in many deltas: neutralise what is shown of it (see
        `bot.render.reasoning_tail`). ``ModelReply.reasoning`` is neutralised. Raises a
        `bot.errors.ModelError`."""
        ...


class FailureKind(enum.StrEnum):
    REJECTED = "rejected"  # bad input or unknown model: nothing charged
    DENIED = "denied"  # quota exhausted: nothing charged
    ERROR = "error"  # the model failed after we started: refunded


# Queue positions are exact up to here; past it the queue reports this plus one, shown
# as "1,000+ ahead", so a refresh never has to rank a long backlog.
QUEUE_POSITION_BOUND = 1000


@dataclass(frozen=True, slots=True)
class Progress:
    """What a replier shows while the model works."""

    model: str
    elapsed_s: float
    partial: str = ""  # answer text so far, already safe to show
    queued_position: int | None = None  # > QUEUE_POSITION_BOUND: "more than the bound"
    # The end of the reasoning so far (see `bot.render.reasoning_tail`), already safe to
    # show; empty once the answer starts, when the reasoning collapses into `partial`.
    reasoning: str = ""


class Replier(Protocol):
    """Where one request's status and answer go; made by the adapter per request.

    ``thread`` names the conversation when the replier starts a new thread itself (a
    Slack slash command, a Discord `/reason`): after the first `progress` it is that
    thread's key, and the question and answer are kept under it. Otherwise ``None``:
    the request's own ``thread`` is the conversation.
    """

    @property
    def thread(self) -> str | None: ...

    async def progress(self, progress: Progress) -> None:
        """Show or update the status while the model thinks (called often; throttle)."""
        ...

    async def answer(self, text: str, *, footer: str) -> None:
        """Deliver the final answer (Markdown, mass mentions already neutralised)."""
        ...

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        """Deliver a clear message instead of an answer. REJECTED and DENIED come
        before any progress (nothing was shown yet); ERROR usually comes after progress,
        but also without any when the database is down before the reservation."""
        ...


@dataclass(frozen=True, slots=True)
class Finished:
    """One finished request, as an `Observer` hears of it."""

    platform: str
    model: str
    outcome: str
    latency_s: float
    model_latency_s: float | None
    usage: Usage


class Observer(Protocol):
    """Told about every finished request (metrics); must not block or raise."""

    def finished(self, request: Finished) -> None: ...


class Checkpoint(Protocol):
    """Makes one request resumable by another worker (see `bot.dispatch`)."""

    @property
    def saved_answer(self) -> tuple[str, str] | None:
        """(answer, footer) saved by an earlier attempt, to deliver without asking again."""
        ...

    async def save_answer(self, text: str, footer: str) -> None:
        """Keep the answer before delivering it, so a crash mid-delivery loses nothing."""
        ...


class Renderer(Protocol):
    """A platform's text format: Markdown in, platform text out, under its limit."""

    max_chars: int

    def to_platform(self, markdown: str) -> str: ...


class Notifier(Protocol):
    """Posts to a team's admin channel (alerts, digests); one per platform."""

    async def post(self, team: str, channel: str, text: str) -> None:
        """Post ``text`` (Markdown, nobody pinged) in ``channel`` of ``team``. Raises
        `bot.errors.PlatformError`."""
        ...


class ReportStore(Protocol):
    """The admin's view of the ledger: aggregates per week, and what was announced.

    ``since``/``until`` are week keys (`Window.key`), both included. The claims insert
    a unique key and say whether this caller inserted it, so across every worker and
    restart exactly one caller sends each alert and digest.
    """

    async def set_notify(
        self, team: str, *, platform: str, channel: str | None, actor: str, now: datetime
    ) -> None:
        """Set (or with ``None`` clear) the team's admin channel."""
        ...

    async def notify_target(self, team: str) -> NotifyTarget | None: ...

    async def notify_targets(self) -> Sequence[tuple[str, NotifyTarget]]:
        """Every team with an admin channel."""
        ...

    async def claim_alert(
        self, team: str, model: str, window: str, threshold: int, *, now: datetime
    ) -> bool: ...

    async def claim_digest(self, team: str, window: str, *, now: datetime) -> bool: ...

    async def quota_changes(self, after: int | None) -> tuple[int, tuple[str, ...]]:
        """The teams whose quotas any process changed (an audit entry) after the entry
        numbered ``after``, and the number to pass next; with None, no teams and the
        number to start from."""
        ...

    async def roll_up(self, *, before: str, open_before: str, now: datetime) -> int:
        """Sum every week with a key below ``before`` into per-person weekly rows, once
        across workers, so reports read those instead of its raw requests; a week with
        a question still in flight waits unless its key is below ``open_before``.
        Returns how many weeks this call rolled up."""
        ...

    async def usage_rows(
        self, team: str, *, since: str, until: str, user: str | None = None
    ) -> Sequence[UsageRow]:
        """Per week, model and person (only ``user``, if given): questions, denials,
        tokens and cost."""
        ...

    async def busiest(
        self, team: str, window: str, *, limit: int
    ) -> tuple[Sequence[UsageRow], int]:
        """The week's ``limit`` busiest (person, model) rows, most questions first, and
        how many rows the week has in all."""
        ...

    async def model_weeks(self, team: str, *, since: str, until: str) -> Sequence[ModelWeek]:
        """Per week and model: questions, denials and cost."""
        ...

    async def askers(
        self, team: str, window: str, *, model: str | None = None, top: int = 5
    ) -> Askers:
        """How many people had questions answered that week, and the busiest."""
        ...


# ---- the durable queue (see `bot.dispatch`) ----------------------------------------

# An adapter's reply state as JSON (where to post, the status message it created, how
# many answer pieces it delivered): typed in its adapter, opaque to the core.
Route = Mapping[str, Any]
SaveRoute = Callable[[Route], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    request: AskRequest
    route: Route
    attempt: int  # 1 on the first claim, more when resumed after a lost worker
    answer: str | None = None  # saved once the model answered, before delivery
    footer: str | None = None
    # What intake parsed; None only for jobs written down before intake carried it.
    parsed: Parsed | None = None

    @property
    def key(self) -> str:
        return self.request.key


class JobQueue(Protocol):
    """Accepted requests, durable and claimed with leases (`storage.SqlJobQueue`)."""

    async def submit(
        self, request: AskRequest, route: Route, *, now: datetime, parsed: Parsed | None = None
    ) -> bool:
        """Record a request, with what intake parsed of it (given back on `Job.parsed`);
        False if its key was seen before (a platform retry)."""
        ...

    async def claim(self, *, worker: str, limit: int, lease_s: float, now: datetime) -> list[Job]:
        """Lease up to ``limit`` pending jobs (new, or whose lease expired), in fair-share
        order: by the team's count of unfinished questions, then the team served longest
        ago, then age; so one busy team cannot starve the rest. Each claim counts as an
        attempt (`Job.attempt`); a `release` gives the attempt back."""
        ...

    async def renew(
        self, keys: Sequence[str], *, worker: str, lease_s: float, now: datetime
    ) -> None: ...

    async def save_route(self, key: str, route: Route) -> None: ...

    async def route(self, key: str) -> Route | None: ...

    async def save_answer(self, key: str, *, text: str, footer: str) -> None: ...

    async def finish(self, key: str, *, outcome: str, now: datetime) -> None: ...

    async def release(self, keys: Sequence[str], *, worker: str) -> None:
        """Give leased jobs back at once (graceful shutdown) for another worker."""
        ...

    async def positions(self, keys: Sequence[str], *, now: datetime) -> Mapping[str, int]:
        """Where each of ``keys`` stands among the jobs waiting to be claimed, in the
        order `claim` takes them (1 = next), in one call for all of them. Exact up to
        `QUEUE_POSITION_BOUND`; past it, ``QUEUE_POSITION_BOUND + 1`` ("1,000+ ahead"),
        so the cost stays bounded whatever the backlog. Keys being answered or finished
        are left out."""
        ...

    async def depth(self) -> int:
        """Unfinished jobs in the queue."""
        ...


class Intake(Protocol):
    """Where `AskService.accept` hands an accepted question: the durable queue
    (`bot.dispatch.Dispatcher`), or, in the terminal, an answer at once."""

    async def submit(self, request: AskRequest, route: Route, *, parsed: Parsed) -> bool:
        """Take the question; False if its key was seen before (a platform retry).
        Raises `bot.errors.StorageError` when it cannot be written down."""
        ...


class ReplierFactory(Protocol):
    """Rebuilds a job's replier from its route, on whichever worker runs it."""

    def __call__(self, job: Job, save_route: SaveRoute) -> Replier: ...


class DispatcherHooks(Intake, Protocol):
    """What a platform adapter needs of the dispatcher (`bot.dispatch.Dispatcher`): the
    intake its questions go to, and a place to register how its jobs are answered."""

    def register(self, platform: str, factory: ReplierFactory) -> None:
        """Answer ``platform``'s jobs with the repliers ``factory`` rebuilds."""
        ...


class Asker(Protocol):
    """What a platform adapter asks of the core (`bot.service.AskService`): take a
    question in, run a ``/quota`` command, and put an error into words. Adapters call
    into it; it never reaches back for platform objects."""

    async def accept(
        self,
        request: AskRequest,
        route: Route,
        *,
        intake: Intake,
        within_s: float | None = None,
    ) -> Accepted | Refused:
        """Parse and check a question once, then hand it to ``intake``."""
        ...

    async def ask(
        self, request: AskRequest, replier: Replier, *, parsed: Parsed | None = None
    ) -> object:
        """Answer a question now, through ``replier`` (no queue: the terminal)."""
        ...

    async def knows_thread(self, thread: str) -> bool:
        """True if the bot has answered in ``thread`` before (so replies continue it)."""
        ...

    async def quota(self, command: QuotaCommand) -> QuotaResult:
        """Run one ``/quota`` command; the reply is meant for the caller only."""
        ...

    async def picture(self, command: QuotaCommand) -> Picture:
        """The week as ``command.user`` may see it (the Home, Discord's embed)."""
        ...

    def is_admin(self, command: QuotaCommand) -> bool:
        """True if the configuration or the platform makes the caller an admin."""
        ...

    def error_text(self, exc: BotError) -> str:
        """The user-facing words for ``exc``."""
        ...

    def watch(self, callback: Callable[[str, str | None], None]) -> bool:
        """Call ``callback(team, user)`` when a person's use changes, ``(team, None)``
        when the team's quotas do (views that show them refresh). False: nothing here
        reports changes."""
        ...

    async def follow_changes(self) -> None:
        """Until cancelled: report the quota changes other processes make too."""
        ...

    def now(self) -> datetime:
        """The core's clock (reset times are shown relative to it)."""
        ...
