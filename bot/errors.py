"""Every error the core knows, translated once at the edge where it happens.

    BotError
    ├── UsageError            the user typed something we cannot parse (no charge)
    ├── InputRejected         empty or over-long question (no charge)
    ├── UnknownModel          an alias that is not in the catalogue
    ├── NotAllowed            a non-admin tried an admin command
    ├── QuotaExhausted        the team (or the user) has no messages left this week
    ├── BudgetExhausted       the team's weekly USD budget cannot hold another question
    ├── ModelError            the provider failed; the reservation is refunded
    │   ├── ModelTimeout
    │   │   └── ModelDeadlineExceeded   the whole call, retries included, ran too long
    │   ├── ModelRateLimited
    │   ├── ModelOutOfCredit
    │   ├── ContextTooLong
    │   ├── ModelRefused
    │   ├── ModelAuthError
    │   ├── ModelBadRequest
    │   ├── AnswerCutOff      the token budget ran out before any answer
    │   │   └── ReasoningUsedAllTokens  it all went to reasoning (a Responses call)
    │   └── ModelUnavailable
    │       └── AnswerBrokeOff  the stream ended before the answer was finished
    ├── PlatformError         Slack/Discord refused or failed a call
    ├── StorageError          the database failed
    └── ConfigError           invalid configuration (exit code 2 before connecting)

Only `bot.service` turns these into user-facing text (through `bot.messages`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.domain import Usage


class BotError(Exception):
    """Base of every error reasonbot raises on purpose."""


class UsageError(BotError):
    """The command could not be parsed; `usage` is the help text to show."""

    def __init__(self, message: str, *, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class InputRejected(BotError):
    """The question is empty or too long."""


class UnknownModel(BotError):
    def __init__(self, alias: str, *, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown model {alias!r}")
        self.alias = alias
        self.known = known


class NotAllowed(BotError):
    """A non-admin asked for an admin-only command."""


class QuotaExhausted(BotError):
    def __init__(
        self,
        *,
        model: str,
        limit: int,
        resets_at: datetime,
        scope: str = "team",
        alternatives: tuple[tuple[str, int], ...] = (),
    ) -> None:
        super().__init__(f"{scope} quota for {model} exhausted")
        self.model = model
        self.limit = limit
        self.resets_at = resets_at
        self.scope = scope  # "team" or "user"
        self.alternatives = alternatives  # (alias, remaining) of models that still have messages


class BudgetExhausted(BotError):
    """The team's weekly budget, less what answers spent and questions hold, is smaller
    than what this question must hold (`bot.costs.reserve_estimate`)."""

    def __init__(
        self,
        *,
        model: str,
        budget_usd: float,
        spent_usd: float,
        held_usd: float,
        resets_at: datetime,
    ) -> None:
        super().__init__(f"weekly budget exhausted for {model}")
        self.model = model
        self.budget_usd = budget_usd
        self.spent_usd = spent_usd
        self.held_usd = held_usd
        self.resets_at = resets_at


class ModelError(BotError):
    """The model provider failed. `retryable` says whether a later retry may succeed."""

    retryable: bool = False

    def __init__(self, message: str = "", *, status: int | None = None, code: str | None = None):
        super().__init__(message or self.__class__.__name__)
        self.status = status
        self.code = code


class ModelTimeout(ModelError):
    retryable = True


class ModelDeadlineExceeded(ModelTimeout):
    """The overall deadline of one model call passed; another attempt would start the
    same wait over, so it is not retried."""

    retryable = False

    def __init__(self, message: str = "", *, deadline_s: float, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.deadline_s = deadline_s


class ModelRateLimited(ModelError):
    retryable = True

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ModelOutOfCredit(ModelError):
    pass


class ContextTooLong(ModelError):
    pass


class ModelRefused(ModelError):
    pass


class ModelAuthError(ModelError):
    pass


class ModelBadRequest(ModelError):
    pass


class AnswerCutOff(ModelError):
    pass


class ReasoningUsedAllTokens(AnswerCutOff):
    """The token limit was reached while the model was still reasoning: there is no
    answer at all, and the fix is on our side (lower effort, higher limit).

    ``usage`` is what the provider billed for it: the message is refunded, but its
    tokens and cost are still recorded."""

    def __init__(self, message: str = "", *, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class ModelUnavailable(ModelError):
    retryable = True


class AnswerBrokeOff(ModelUnavailable):
    """A stream ended cleanly but with neither a ``finish_reason`` nor ``[DONE]``: what
    arrived is only part of the answer."""


class PlatformError(BotError):
    """``user_text``, when set, is what the asker should be told (e.g. how to invite
    the bot); otherwise a generic sentence is used and the details go to the log."""

    def __init__(
        self, message: str, *, code: str | None = None, user_text: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.user_text = user_text


class StorageError(BotError):
    pass


class ConfigError(BotError):
    """Invalid configuration: the message names the field."""
