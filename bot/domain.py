"""Values that cross layers. Identities (team, channel, thread, user) are opaque keys
built by adapters (e.g. ``slack:T123``, ``discord:42:7:9``); the core compares them and
never parses them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation as the model sees it. ``reasoning_state`` is the
    model client's opaque record of an answer's reasoning (OpenAI's encrypted reasoning
    items), kept with the turn so a follow-up on any worker continues it."""

    role: Role
    content: str
    reasoning_state: str | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One answered question as its thread keeps it: recorded with the charge, in the
    same transaction, so a charged answer is always in the history and vice versa.
    ``reasoning_state`` belongs to the answer (see `Turn`)."""

    thread: str
    team: str
    question: str
    answer: str
    reasoning_state: str | None = None

    @property
    def turns(self) -> tuple[Turn, Turn]:
        return (
            Turn(Role.USER, self.question),
            Turn(Role.ASSISTANT, self.answer, reasoning_state=self.reasoning_state),
        )


class Effort(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class AskRequest:
    """A question as an adapter hands it to the core.

    ``text`` may still carry ``--model``/``--effort`` options (Slack, terminal); adapters
    with typed options (Discord) set ``model``/``effort`` instead. ``key`` is the
    platform's idempotency key (event id, interaction id): one key is charged and
    answered at most once. ``context`` holds turns the adapter read from the platform
    that our database has not seen (e.g. thread messages from before the bot joined).
    """

    platform: str
    team: str
    channel: str
    thread: str
    user: str
    text: str
    key: str
    model: str | None = None
    effort: Effort | None = None
    context: tuple[Turn, ...] = ()
    user_name: str | None = None


@dataclass(frozen=True, slots=True)
class QuotaCommand:
    """``/quota ...`` as typed by a user; ``is_admin`` is decided by the adapter
    (Slack workspace admin, Discord Manage Server), the config's admin list adds to it."""

    platform: str
    team: str
    user: str
    text: str
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0  # part of prompt_tokens, served from the provider's cache

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ModelReply:
    """What a model returned: the answer, separately any reasoning text (a summary or
    the thought itself, mentions already neutralised) and how long the model thought
    before answering, usage, and the opaque reasoning state for the next turn."""

    text: str
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str = ""
    reasoning_s: float | None = None
    reasoning_state: str | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True, slots=True)
class Window:
    """One quota week: [start, end) in UTC; ``key`` is its stable database key."""

    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Limits:
    """The catalogue's default limits for one model. The ledger applies the team's own
    overrides (an admin's weekly limit, per-user caps) in the reservation itself."""

    team_limit: int
    user_limit: int | None = None  # None: no per-user cap
    # What the team's weekly budget holds for the question until its cost is known
    # (`bot.costs.reserve_estimate`); only taken when the team has a budget.
    estimate_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class QuotaState:
    """The limits a reservation was judged by, and the team's counter after it."""

    team_limit: int
    user_limit: int | None = None
    used: int | None = None
    granted: int | None = None

    @property
    def remaining(self) -> int | None:
        if self.used is None:
            return None
        return max(self.team_limit + (self.granted or 0) - self.used, 0)


class ReservationStatus(enum.StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    REFUNDED = "refunded"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Reservation:
    """A held message of quota. ``replayed`` is true when the key was seen before: the
    caller must then neither answer nor charge again (``status`` is the first outcome)."""

    key: str
    team: str
    model: str
    user: str
    window: str
    status: ReservationStatus
    replayed: bool = False
    denied_scope: str | None = None  # "team", "user" or "budget" when status is DENIED
    limits: QuotaState | None = None  # None on a replay
    # Reserved on a fallback: the model asked for (its quota used up, for the team or
    # for the person: ``fallback_scope``) and ``model`` is the one that answers.
    fallback_from: str | None = None
    fallback_scope: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A team's weekly budget in USD (None: no budget) and its week so far: spent by
    answers, held by questions still being answered. After a commit ``spent_before``
    is the spend before that answer, so alerts know which thresholds it crossed."""

    budget_usd: float | None
    spent_usd: float = 0.0
    held_usd: float = 0.0
    spent_before_usd: float | None = None

    @property
    def left_usd(self) -> float | None:
        if self.budget_usd is None:
            return None
        return max(self.budget_usd - self.spent_usd - self.held_usd, 0.0)


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One row of a quota report."""

    model: str
    limit: int
    granted: int
    used: int
    user_limit: int | None = None
    # Reservations still being answered: counted in ``used`` until they are committed
    # or refunded.
    in_flight: int = 0

    @property
    def allowance(self) -> int:
        return self.limit + self.granted

    @property
    def remaining(self) -> int:
        return max(self.allowance - self.used, 0)


@dataclass(frozen=True, slots=True)
class UserUsage:
    user: str
    model: str
    used: int
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class TeamUsage:
    """Everything `/quota` shows for one team and one week."""

    team: str
    window: Window
    models: tuple[ModelUsage, ...]
    users: tuple[UserUsage, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    team: str
    actor: str
    action: str
    model: str | None
    value: int | None
    target: str | None
    at: datetime
