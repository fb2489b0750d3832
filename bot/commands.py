"""The one grammar of ``/reason`` and ``/quota``, shared by every platform."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from bot import messages
from bot.domain import Effort
from bot.errors import UsageError

REASON_USAGE = (
    "Usage: `/reason [--model NAME|auto] [--effort low|medium|high] <question>`\n"
    "Example: `/reason --model mini --effort high Why is the sky blue?`"
)
QUOTA_USAGE = (
    "Usage:\n"
    "• `/quota` — remaining messages per model and when the week resets\n"
    "• `/quota set <model> <n>` — set the team's weekly limit (admins)\n"
    "• `/quota grant <n> [model]` — extra messages for this week (admins)\n"
    "• `/quota reset [model]` — give back this week's messages (admins)\n"
    "• `/quota user <who> <n|off> [model]` — a per-user weekly cap (admins)\n"
    "• `/quota log` — recent quota changes (admins)\n"
    "• `/quota notify <#channel>|off` — where alerts and the weekly digest go (admins)\n"
    "• `/quota history [weeks]` — questions and spend per week and model (admins)\n"
    "• `/quota export [weeks]` — per-person usage as CSV (admins)\n"
    "• `/quota budget <usd>|off` — the team's weekly spending limit in USD (admins)"
)
MAX_QUOTA_VALUE = 1_000_000
# Only ASCII digits are numbers here: str.isdigit() also takes "²" (which int() then
# refuses) and int() takes "١٢" as 12.
_NUMBER = re.compile(r"[0-9]+")
# An option is a whole word "--name" or "--name=value"; other text that starts with "-"
# ("-1 times -1?") is the question.
_OPTION = re.compile(r"--(?:[A-Za-z][A-Za-z-]*)?(?:=\S*)?")
_FIRST_WORD = re.compile(r"(\S+)\s*(.*)", re.DOTALL)
# User references: a platform mention (<@U123>, <@U123|ann>, <@!42>) or a bare id/name.
# Role mentions (<@&1>), special mentions (<!channel>) and anything longer than a real
# id are refused, so a cap can only ever be stored for someone who can ask.
_MENTION = re.compile(r"<@!?([A-Za-z0-9]{1,32})(?:\|[^<>]{0,100})?>")
_BARE_USER = re.compile(r"@?([A-Za-z0-9][A-Za-z0-9._-]{0,63})")
_NOT_USERS = frozenset({"here", "channel", "everyone", "all"})
MAX_USER_CHARS = 64
# Channel references: a platform mention (Slack <#C123|name>, Discord <#123>) or a bare
# id, which always has a digit (Slack C0123ABC, a Discord snowflake); a bare word is
# more likely a channel *name*, which no platform API posts to.
_CHANNEL_MENTION = re.compile(r"<#([A-Za-z0-9]{1,32})(?:\|[^<>]{0,100})?>")
_BARE_CHANNEL = re.compile(r"#?((?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{1,32})")
MAX_WEEKS = 52
MAX_BUDGET_USD = 1_000_000
# A budget in dollars and cents: "50", "12.5", "$0.75".
_USD = re.compile(r"\$?([0-9]{1,7}(?:\.[0-9]{1,2})?)")
DEFAULT_REPORT_WEEKS = 8


@dataclass(frozen=True, slots=True)
class ReasonArgs:
    question: str
    model: str | None = None
    effort: Effort | None = None


def parse_reason(text: str) -> ReasonArgs:
    """Split leading ``--model``/``--effort`` options from the question.

    Options are only read before the question, so a question may itself contain
    ``--model``; ``--`` ends the options explicitly. Options and their values may be
    separated by any whitespace (a tab, a newline); the question keeps its own.
    """
    rest = text.strip()
    model: str | None = None
    effort: Effort | None = None
    while (m := _FIRST_WORD.fullmatch(rest)) and _OPTION.fullmatch(m.group(1)):
        head, tail = m.group(1), m.group(2)
        if head == "--":
            rest = tail
            break
        name, eq, value = head.partition("=")
        if not eq:
            v = _FIRST_WORD.fullmatch(tail)
            value, tail = (v.group(1), v.group(2)) if v else ("", "")
        name = name.lower()
        if name == "--model":
            if not value:
                raise UsageError("`--model` needs a model name", usage=REASON_USAGE)
            model = value.lower()
        elif name == "--effort":
            try:
                effort = Effort(value.lower())
            except ValueError:
                raise UsageError(
                    f"`--effort` must be low, medium or high, not `{value}`", usage=REASON_USAGE
                ) from None
        else:
            raise UsageError(f"unknown option `{name}`", usage=REASON_USAGE)
        rest = tail
    return ReasonArgs(question=rest.strip(), model=model, effort=effort)


class QuotaVerb(enum.StrEnum):
    SHOW = "show"
    SET = "set"
    GRANT = "grant"
    RESET = "reset"
    USER = "user"
    LOG = "log"
    HELP = "help"
    NOTIFY = "notify"
    HISTORY = "history"
    EXPORT = "export"
    BUDGET = "budget"


ADMIN_VERBS = frozenset(
    {
        QuotaVerb.SET,
        QuotaVerb.GRANT,
        QuotaVerb.RESET,
        QuotaVerb.USER,
        QuotaVerb.LOG,
        QuotaVerb.NOTIFY,
        QuotaVerb.HISTORY,
        QuotaVerb.EXPORT,
        QuotaVerb.BUDGET,
    }
)


@dataclass(frozen=True, slots=True)
class QuotaArgs:
    verb: QuotaVerb
    model: str | None = None
    value: int | None = None  # None with USER means "remove the cap"; weeks for reports
    who: str | None = None
    channel: str | None = None  # NOTIFY: the channel id; None means "off"
    usd: float | None = None  # BUDGET: the weekly budget; None means "off"


def normalise_user(who: str) -> str:
    """A user as typed in a command (``<@U123|ann>``, ``<@!42>``, ``@ann``, ``U123``) to
    the bare id the adapters use as user key. Anything else is a usage error."""
    who = who.strip()
    if len(who) <= MAX_USER_CHARS + 110:
        m = _MENTION.fullmatch(who) or _BARE_USER.fullmatch(who)
        if m and m.group(1).lower() not in _NOT_USERS:
            return m.group(1)
    shown = who if len(who) <= 40 else who[:40] + "…"
    raise UsageError(f"`{shown}` is not a person: mention them, e.g. `@ann`", usage=QUOTA_USAGE)


def normalise_channel(where: str) -> str:
    """A channel as typed (``<#C123|general>``, ``<#123>``, ``C123``) to its bare id,
    which the adapter posts to. Anything else is a usage error."""
    where = where.strip()
    if len(where) <= 140:
        m = _CHANNEL_MENTION.fullmatch(where) or _BARE_CHANNEL.fullmatch(where)
        if m:
            return m.group(1)
    shown = where if len(where) <= 40 else where[:40] + "…"
    raise UsageError(
        f"`{shown}` is not a channel: mention it, e.g. `#admins`, or say `off`",
        usage=QUOTA_USAGE,
    )


def _weeks(args: list[str], default: int) -> int:
    if not args:
        return default
    n = _count(args[0])
    if not 1 <= n <= MAX_WEEKS:
        raise UsageError(f"weeks must be from 1 to {MAX_WEEKS}", usage=QUOTA_USAGE)
    return n


def _budget(word: str) -> float | None:
    if word.lower() in ("off", "none"):
        return None
    m = _USD.fullmatch(word)
    if m is None or float(m.group(1)) > MAX_BUDGET_USD:
        raise UsageError(
            f"`{word[:40]}` is not a budget: give US dollars from 0 to {MAX_BUDGET_USD:,} "
            "(e.g. `50` or `12.50`), or `off`",
            usage=QUOTA_USAGE,
        )
    return float(m.group(1))


def _is_number(word: str) -> bool:
    return _NUMBER.fullmatch(word) is not None


def _count(word: str) -> int:
    if not _is_number(word):
        raise UsageError(messages.not_a_count(word, MAX_QUOTA_VALUE), usage=QUOTA_USAGE)
    n = int(word)
    if n > MAX_QUOTA_VALUE:
        raise UsageError(f"`{word}` is too large (at most {MAX_QUOTA_VALUE:,})", usage=QUOTA_USAGE)
    return n


def parse_quota(text: str) -> QuotaArgs:
    words = text.split()
    if not words:
        return QuotaArgs(QuotaVerb.SHOW)
    try:
        verb = QuotaVerb(words[0].lower())
    except ValueError:
        raise UsageError(f"unknown subcommand `{words[0]}`", usage=QUOTA_USAGE) from None
    args = words[1:]

    def arity(lo: int, hi: int) -> None:
        if not lo <= len(args) <= hi:
            raise UsageError(f"wrong number of arguments for `{verb}`", usage=QUOTA_USAGE)

    match verb:
        case QuotaVerb.SHOW | QuotaVerb.HELP | QuotaVerb.LOG:
            arity(0, 0)
            return QuotaArgs(verb)
        case QuotaVerb.SET:
            arity(2, 2)
            # Accept both `set mini 10` and `set 10 mini`.
            model, n = (args[0], args[1]) if not _is_number(args[0]) else (args[1], args[0])
            return QuotaArgs(verb, model=model.lower(), value=_count(n))
        case QuotaVerb.GRANT:
            arity(1, 2)
            if not _is_number(args[0]) and len(args) == 2:
                args = [args[1], args[0]]
            return QuotaArgs(
                verb, value=_count(args[0]), model=args[1].lower() if len(args) == 2 else None
            )
        case QuotaVerb.RESET:
            arity(0, 1)
            return QuotaArgs(verb, model=args[0].lower() if args else None)
        case QuotaVerb.USER:
            arity(2, 3)
            value = None if args[1].lower() in ("off", "none", "unlimited") else _count(args[1])
            return QuotaArgs(
                verb,
                who=normalise_user(args[0]),
                value=value,
                model=args[2].lower() if len(args) == 3 else None,
            )
        case QuotaVerb.NOTIFY:
            arity(1, 1)
            off = args[0].lower() in ("off", "none")
            return QuotaArgs(verb, channel=None if off else normalise_channel(args[0]))
        case QuotaVerb.HISTORY:
            arity(0, 1)
            return QuotaArgs(verb, value=_weeks(args, DEFAULT_REPORT_WEEKS))
        case QuotaVerb.EXPORT:
            arity(0, 1)
            return QuotaArgs(verb, value=_weeks(args, DEFAULT_REPORT_WEEKS))
        case QuotaVerb.BUDGET:
            arity(1, 1)
            return QuotaArgs(verb, usd=_budget(args[0]))
    raise AssertionError(verb)  # pragma: no cover
