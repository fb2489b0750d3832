"""The small interfaces ("ports") the core needs from the edges.

Storage implements `QuotaLedger` and `ConversationStore`; the model client implements
`ReasoningModel`; each chat adapter implements `Replier` for one request and a
`Renderer` for its text format. The core never reaches back for platform objects.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.domain import (
    AuditEntry,
    Effort,
    Limits,
    ModelReply,
    Reservation,
    TeamUsage,
    Turn,
    Usage,
    Window,
)

if TYPE_CHECKING:
    from bot.config import ModelSpec
    from bot.reports import Askers, ModelWeek, NotifyTarget, UsageRow


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
    ) -> Reservation:
        """Hold one message. Idempotent on ``key``: a second call returns the first
        outcome with ``replayed=True`` and charges nothing. When the team allowance
        (limit + grants) or the user's cap is used up, the outcome is DENIED."""
        ...

    async def commit(
        self,
        key: str,
        *,
        usage: Usage,
        latency_ms: int,
        now: datetime,
        conversation: tuple[str, str, Sequence[Turn]] | None = None,
        cost_usd: float | None = None,
    ) -> None:
        """Mark a reservation answered, with its token usage and cost. ``conversation``
        (thread, team, turns) is appended to the thread's history in the same
        transaction, so a charged answer is always in the history and vice versa."""
        ...

    async def refund(self, key: str, *, error: str, now: datetime) -> bool:
        """Give the message back to the window it was reserved in. Idempotent: returns
        False if the key was not RESERVED (already refunded, committed or unknown)."""
        ...

    async def limit_override(self, team: str, model: str) -> int | None:
        """The team's own weekly limit for ``model``, if an admin set one."""
        ...

    async def user_cap(self, team: str, model: str, user: str) -> int | None:
        """The per-user weekly cap an admin set for ``user`` (any model: model '*')."""
        ...

    async def usage(
        self, team: str, window: Window, *, limits: dict[str, int], with_users: bool
    ) -> TeamUsage:
        """This week's usage of every model in ``limits`` (alias -> default limit)."""
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
    """Conversation turns per thread, so follow-ups have context across restarts."""

    async def history(self, thread: str, *, limit: int = 50) -> list[Turn]:
        """The thread's turns, oldest first (the last ``limit``)."""
        ...

    async def append(
        self, thread: str, turns: Sequence[Turn], *, team: str, now: datetime
    ) -> None: ...

    async def open(self, thread: str, *, team: str, now: datetime) -> None:
        """Note that the bot is answering in ``thread`` (idempotent), so replies there
        continue the conversation even before the first answer is in."""
        ...

    async def knows(self, thread: str) -> bool:
        """True if the bot has taken part in this thread."""
        ...

    async def expired(self, thread: str) -> bool:
        """True if retention removed this thread's conversation (and nothing was said
        there since): a reply there starts afresh, and is told so."""
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
        Responses summary, ``reasoning_content``, ``<think>`` text), mentions already
        neutralised. Raises a `bot.errors.ModelError`."""
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


class Observer(Protocol):
    """Told about every finished request (metrics); must not block or raise."""

    def finished(
        self,
        *,
        platform: str,
        model: str,
        outcome: str,
        latency_s: float,
        model_latency_s: float | None,
        usage: Usage,
    ) -> None: ...


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
