"""Every sentence of `bot.messages`, rendered with edge values (0, 1, many, every model),
read for what people noticed: numbers that disagree with their noun ("1 messages"),
"all 0" for a model that is turned off, markup around words that are not names
(`every model`), placeholders or ``None`` left in the text."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot import messages
from bot.commands import MAX_QUOTA_VALUE, QUOTA_USAGE
from bot.domain import (
    AuditEntry,
    BudgetState,
    Effort,
    ModelUsage,
    TeamUsage,
    Usage,
    UserUsage,
    Window,
)
from bot.errors import (
    BotError,
    BudgetExhausted,
    InputRejected,
    ModelDeadlineExceeded,
    ModelError,
    ModelRateLimited,
    NotAllowed,
    PlatformError,
    QuotaExhausted,
    StorageError,
    UnknownModel,
    UsageError,
)
from bot.reports import Askers, ModelWeek, Picture, UsageRow, WeekFigures
from bot.router import Reason

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
COUNTS = (0, 1, 2, 1_000_000)
MODELS = ("o1", "mini", None, "*", "every model")


def usage(*, users: bool, granted: int = 0, cap: int | None = None) -> TeamUsage:
    return TeamUsage(
        team="slack:T1",
        window=WEEK,
        models=(
            ModelUsage("o1", limit=30, granted=granted, used=1, user_limit=cap),
            ModelUsage("mini", limit=0, granted=0, used=0, user_limit=0),
        ),
        users=(UserUsage("ann", "o1", 1, tokens=1), UserUsage("bob", "o1", 2, 2_000))
        if users
        else (),
    )


def model_errors(cls: type[ModelError]) -> Iterator[type[ModelError]]:
    """``cls`` and every kind of model failure under it in `bot.errors`, so a new one
    is read here without being listed."""
    yield cls
    for sub in cls.__subclasses__():
        if sub.__module__ == "bot.errors":
            yield from model_errors(sub)


def errors() -> Iterator[BotError]:
    yield UsageError("`x` is wrong", usage=QUOTA_USAGE)
    yield UsageError("no usage")
    yield InputRejected("too long")
    yield UnknownModel("o9", known=("o1", "mini"))
    yield NotAllowed("set")
    for limit in COUNTS:
        for scope in ("user", "team"):
            for alternatives in ((), (("mini", 1),), (("mini", 0), ("r1", 5))):
                yield QuotaExhausted(
                    model="o1",
                    limit=limit,
                    resets_at=WEEK.end,
                    scope=scope,
                    alternatives=alternatives,
                )
    for spent, held in ((0.0, 0.0), (9.5, 0.004), (10.0, 2.5)):
        yield BudgetExhausted(
            model="o1", budget_usd=10.0, spent_usd=spent, held_usd=held, resets_at=WEEK.end
        )
    for cls in model_errors(ModelError):
        if cls is ModelDeadlineExceeded:
            yield from (cls("x", deadline_s=deadline) for deadline in (1, 900))
        else:
            yield cls("x")
    yield ModelRateLimited("x", retry_after=3)
    yield PlatformError("x", user_text="Invite me first.")
    yield PlatformError("x")
    yield StorageError("x")
    yield BotError("x")


def audit_entries() -> Iterator[list[AuditEntry]]:
    yield []
    yield [
        AuditEntry("slack:T1", "ann", "set", "o1", 0, None, NOW),
        AuditEntry("slack:T1", "operator", "reset", None, None, None, NOW),
        AuditEntry("slack:T1", "ann", "user", "*", 1, "bob", NOW),
        AuditEntry("slack:T1", "ann", "budget", None, 5_000, None, NOW),
        AuditEntry("slack:T1", "ann", "budget", None, None, None, NOW),
    ]


def budgets() -> Iterator[BudgetState]:
    yield BudgetState(budget_usd=0.0)
    yield BudgetState(budget_usd=50.0, spent_usd=12.34, held_usd=1.2)
    yield BudgetState(budget_usd=50.0, spent_usd=51.0, held_usd=0.0)


def model_weeks(n: int) -> tuple[ModelWeek, ...]:
    return (
        ModelWeek(WEEK.key, "o1", questions=n, denied=n - 1 if n else 0, cost_usd=None),
        ModelWeek(WEEK.key, "mini", questions=1, denied=0, cost_usd=0.01 * n),
    )


def week_figures() -> Iterator[WeekFigures]:
    yield WeekFigures(WEEK, (), Askers(0, ()))
    yield WeekFigures(WEEK, model_weeks(1), Askers(1, (("U1", 1),)))
    yield WeekFigures(WEEK, model_weeks(2), Askers(2, (("U1", 2), ("U2", 1))))


# Each public function of bot.messages and the calls that render it.
def usage_rows() -> tuple[UsageRow, ...]:
    return (
        UsageRow("w", "o1", "ann", 1, 0, 10, 20, 5, None),
        UsageRow("w", "o1", "bob", 2_000, 3, 10, 20, 5, 1.5),
        UsageRow("w", "mini", "ann", 0, 1, 0, 0, 0, 0.0),
    )


def pictures() -> Iterator[Picture]:
    for cap in (None, 0, 1, 50):
        for admin in (False, True):
            yield Picture(
                usage=usage(users=False, cap=cap),
                user="ann",
                admin=admin,
                this_week=model_weeks(2),
                people=usage_rows(),
            )


CASES: dict[str, Callable[[], Iterator[str]]] = {
    "when": lambda: (
        messages.when(NOW + timedelta(seconds=s), NOW) for s in (0, 59, 3600 * 3, 86400 * 5)
    ),
    "plural": lambda: (messages.plural(n, "message") for n in COUNTS),
    "duration": lambda: (messages.duration(s) for s in (0, 1, 59.6, 61, 3600)),
    "empty_question": lambda: iter([messages.empty_question("Usage: /reason <question>")]),
    "too_long": lambda: (messages.too_long(n + 1, n) for n in (1, 20_000)),
    "unknown_model": lambda: (
        messages.unknown_model("o9", known) for known in (("o1",), ("o1", "mini"))
    ),
    "not_a_count": lambda: (messages.not_a_count(w, MAX_QUOTA_VALUE) for w in ("-5", "ten", "2.5")),
    "quota_exhausted": lambda: (
        messages.quota_exhausted(e, NOW) for e in errors() if isinstance(e, QuotaExhausted)
    ),
    "model_error": lambda: (messages.model_error(e) for e in errors() if isinstance(e, ModelError)),
    "error_text": lambda: (messages.error_text(e, now=NOW) for e in errors()),
    "footer": lambda: (
        messages.footer(
            model="o1",
            elapsed_s=s,
            usage=Usage(prompt_tokens=n, completion_tokens=n, reasoning_tokens=n),
            remaining=left,
            held=held,
            truncated=cut,
            auto=auto,
        )
        for s in (0, 75)
        for n in COUNTS
        for left in (None, 0, 1, 29)
        for held in (0, 1, 2)
        for cut in (False, True)
        for auto in (None, "maths, judged by mini")
    ),
    "thinking": lambda: (
        messages.thinking("o1", s, pos)
        for s in (0, 0.5, 12)
        for pos in (None, 0, 1, 3, 1_000, 1_001)
    ),
    "reasoning_status": lambda: (
        messages.reasoning_status(r) for r in ("one line", "first\nsecond", "…cut short")
    ),
    "thought": lambda: (
        messages.thought(s, r) for s in (0, 42, 75) for r in ("", "why\nbecause", "a > b")
    ),
    "asked": lambda: (messages.asked(q, "o1") for q in ("", "one line", "two\nlines", "x" * 400)),
    "quota_summary": lambda: (
        messages.quota_summary(
            usage(users=users, granted=granted, cap=cap),
            user=user,
            now=NOW,
            admin=admin,
            budget=budget,
            chains=chains,
        )
        for users in (False, True)
        for granted in (0, 1)
        for cap in (None, 0, 1, 5)
        for user in ("ann", "nobody")
        for admin in (False, True)
        for budget in (None, BudgetState(None), *budgets())
        for chains in ((), (("o1", "mini"),))
    ),
    "weekly_reset": lambda: iter([messages.weekly_reset(WEEK.end)]),
    "fallback_used": lambda: (
        messages.fallback_used(model="o1", fallback="mini", scope=scope, resets_at=WEEK.end)
        for scope in ("team", "user")
    ),
    "budget_exhausted": lambda: (
        messages.budget_exhausted(e, NOW) for e in errors() if isinstance(e, BudgetExhausted)
    ),
    "budget_line": lambda: (messages.budget_line(b) for b in budgets()),
    "fallback_chains": lambda: (
        messages.fallback_chains(c)
        for c in ((("o1", "mini"),), (("o3", "o1", "mini"), ("r1", "mini")))
    ),
    "budget_changed": lambda: (messages.budget_changed(b) for b in (None, 0.5, 50.0, 1_000_000.0)),
    "budget_alert": lambda: (
        messages.budget_alert(
            threshold=t, spent_usd=spent, budget_usd=50.0, top=top, resets_at=WEEK.end, now=NOW
        )
        for t, spent in ((80, 40.0), (100, 50.0), (100, 52.5))
        for top in ((), (("U1", 0.004),), (("U1", 30.0), ("U2", 10.0)))
    ),
    "quota_changed": lambda: (
        messages.quota_changed(action, model=model, value=value, who="ann")
        for action in ("set", "grant", "reset", "user", "other")
        for model in MODELS
        for value in (None, *COUNTS)
        if not (
            action in ("set", "grant") and (model in (None, "*", "every model") or value is None)
        )
    ),
    "alert": lambda: (
        messages.alert(
            model=model,
            threshold=t,
            used=used,
            allowance=10,
            top=top,
            resets_at=WEEK.end,
            now=NOW,
        )
        for model in ("o1", "mini")
        for t, used in ((80, 8), (100, 10))
        for top in ((), (("U1", 1),), (("U1", 5), ("U2", 3)))
    ),
    "digest": lambda: (
        messages.digest(week, before, week_start="2026-11-23")
        for week in week_figures()
        for before in (None, *week_figures())
    ),
    "history": lambda: iter(
        [
            messages.history([]),
            messages.history([("2026-11-16", ()), ("2026-11-23", model_weeks(1))]),
            messages.history([("2026-11-23", model_weeks(2))]),
        ]
    ),
    "notify_changed": lambda: (messages.notify_changed(c) for c in (None, "C123")),
    "export_inline": lambda: (
        messages.export_inline("week_start,model\n2026-11-23,o1\n", weeks=w) for w in (1, 8)
    ),
    "export_too_big": lambda: (
        messages.export_too_big(rows=r, weeks=w) for r in (1, 5_000) for w in (1, 52)
    ),
    "export_sent_privately": lambda: (
        messages.export_sent_privately(rows=r, weeks=w) for r in (0, 1, 5_000) for w in (1, 52)
    ),
    "export_attached": lambda: (
        messages.export_attached(rows=r, weeks=w) for r in (0, 1, 5_000) for w in (1, 52)
    ),
    "resets_local": lambda: (
        messages.resets_local(WEEK.end, tz=tz, now=NOW)
        for tz in (None, "Europe/Paris", "America/Los_Angeles", "Not/AZone")
    ),
    "picture_own": lambda: (messages.picture_own(p, m) for p in pictures() for m in p.usage.models),
    "picture_team": lambda: (
        messages.picture_team(m, w)
        for m in usage(users=False).models
        for w in (None, *model_weeks(2))
    ),
    "picture_person": lambda: (messages.picture_person(r) for r in usage_rows()),
    "picture_more_people": lambda: (messages.picture_more_people(n) for n in (1, 4_980)),
    "picture_week": lambda: iter(
        [
            messages.picture_week("2026-11-16", ()),
            messages.picture_week("2026-11-23", model_weeks(2)),
        ]
    ),
    "limit_invalid": lambda: iter([messages.limit_invalid("o1", "`x` is not a whole number")]),
    "limits_saved": lambda: (messages.limits_saved(c) for c in ((), ("o1",), ("o1", "mini"))),
    "context_expired": lambda: iter([messages.context_expired()]),
    "gave_up": lambda: (messages.gave_up(n) for n in (1, 3)),
    "auto_choice": lambda: (
        messages.auto_choice(reason, by=by) for reason in Reason for by in (None, "mini")
    ),
    "effort_ignored": lambda: (
        messages.effort_ignored(model, Effort.HIGH, efforts)
        for model in ("o1", "mini")
        for efforts in ((), (Effort.LOW,), (Effort.LOW, Effort.MEDIUM))
    ),
    "model_scope": lambda: (messages.model_scope(m) for m in MODELS),
    "audit": lambda: (messages.audit(entries) for entries in audit_entries()),
}


def test_every_message_function_has_cases() -> None:
    public = {
        name
        for name, fn in inspect.getmembers(messages, inspect.isfunction)
        if fn.__module__ == messages.__name__ and not name.startswith("_")
    }
    assert public - set(CASES) == set(), "add the new sentence to CASES"


NOUNS = r"(?:`[^`]+` )?(?:extra )?(?:message|token|day|hour|minute)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_reads_well_with_edge_values(name: str) -> None:
    rendered = list(CASES[name]())
    assert rendered
    for text in rendered:
        assert text.strip(), repr(text)
        assert "None" not in text and "{" not in text and "}" not in text, text
        assert "  " not in text.replace("\n", " ").strip(), text
        # A count agrees with its noun: "1 message", "2 messages", "0 messages".
        assert not re.search(rf"(?<![\d,.])1 {NOUNS}s\b", text), text
        assert not re.search(
            rf"(?<![\d,.])(?:0|[2-9]|\d{{2,}}|\d{{1,3}}(?:,\d{{3}})+) {NOUNS}\b(?!s)", text
        ), text
        assert "all 0" not in text, text  # a cap of 0 means "turned off"
        assert "`every model`" not in text and "`*`" not in text, text
        assert "of your 0" not in text, text


def test_a_cap_of_zero_says_the_model_is_turned_off() -> None:
    exc = QuotaExhausted(model="mini", limit=0, resets_at=WEEK.end, scope="user")
    assert messages.quota_exhausted(exc, NOW).startswith("`mini` is turned off for you")
    summary = messages.quota_summary(usage(users=False), user="ann", now=NOW, admin=False)
    assert "`mini`: 0 of 0 left · turned off for you" in summary


def test_quota_wording_fixes() -> None:
    assert messages.quota_changed("reset", model="every model", value=None, who=None) == (
        "✅ This week's usage of every model reset to zero."
    )
    assert messages.quota_changed("grant", model="o1", value=1, who=None) == (
        "✅ Granted 1 extra message of `o1` for this week."
    )
    assert messages.not_a_count("-5", 10) == "`-5` is negative: give a whole number from 0 to 10"


def test_the_thread_says_which_model_answered_in_place_of_a_used_up_one() -> None:
    assert messages.fallback_used(
        model="o1", fallback="mini", scope="team", resets_at=WEEK.end
    ) == ("`o1`'s weekly quota is used up until Mon 00:00 UTC — answered with `mini`.")
    assert "o1` → `mini`" in messages.quota_summary(
        usage(users=False), user="ann", now=NOW, admin=False, chains=(("o1", "mini"),)
    )
