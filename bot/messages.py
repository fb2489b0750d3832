"""Every user-facing sentence, in one place, so tone stays the same on every platform.

Text is Markdown; adapters convert it to their format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.costs import usd
from bot.domain import AuditEntry, BudgetState, Effort, ModelUsage, TeamUsage, Usage
from bot.errors import (
    AnswerBrokeOff,
    AnswerCutOff,
    BotError,
    BudgetExhausted,
    ContextTooLong,
    InputRejected,
    ModelAuthError,
    ModelBadRequest,
    ModelDeadlineExceeded,
    ModelError,
    ModelOutOfCredit,
    ModelRateLimited,
    ModelRefused,
    ModelTimeout,
    ModelUnavailable,
    NotAllowed,
    PlatformError,
    QuotaExhausted,
    ReasoningUsedAllTokens,
    StorageError,
    UnknownModel,
    UsageError,
)
from bot.ports import QUEUE_POSITION_BOUND
from bot.reports import ModelWeek, Picture, UsageRow, WeekFigures, bar
from bot.router import Reason


def when(at: datetime, now: datetime) -> str:
    """``Mon 24 Nov 00:00 UTC (in 3 days)``."""
    delta = at - now
    secs = max(int(delta.total_seconds()), 0)
    if secs >= 2 * 86400:
        rel = f"in {secs // 86400} days"
    elif secs >= 2 * 3600:
        rel = f"in {secs // 3600} hours"
    elif secs >= 120:
        rel = f"in {secs // 60} minutes"
    else:
        rel = "in a moment"
    return f"{at:%a %d %b %H:%M} UTC ({rel})"


def plural(n: int, word: str) -> str:
    """``1 message``, ``0 messages``, ``1,000 messages``."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s"


def empty_question(usage: str) -> str:
    return f"Please ask a question.\n{usage}"


def too_long(length: int, limit: int) -> str:
    return (
        f"That question is {length:,} characters long; the limit is {limit:,}. "
        "Please shorten it or attach less text."
    )


def unknown_model(alias: str, known: Sequence[str]) -> str:
    return (
        f"There is no model called `{alias}`. Choose one of: "
        + ", ".join(f"`{k}`" for k in known)
        + "."
    )


def not_a_count(word: str, maximum: int) -> str:
    """A quota value that is not a count (``-5``, ``ten``, ``2.5``)."""
    what = "is negative" if word.startswith("-") else "is not a number"
    return f"`{word}` {what}: give a whole number from 0 to {maximum:,}"


def quota_exhausted(exc: QuotaExhausted, now: datetime) -> str:
    if exc.limit == 0:
        # A cap of 0 is an admin's way to turn a model off, not a week's quota used up.
        whom = "for you" if exc.scope == "user" else "for this team"
        text = f"`{exc.model}` is turned off {whom}; an admin can turn it back on."
    else:
        who = "You have" if exc.scope == "user" else "This team has"
        text = (
            f"{who} used all {plural(exc.limit, f'`{exc.model}` message')} for this week. "
            f"The quota resets {when(exc.resets_at, now)}."
        )
    if exc.alternatives:
        alts = ", ".join(f"`{a}` ({n} left)" for a, n in exc.alternatives)
        first = exc.alternatives[0][0]
        text += f" Still available this week: {alts} — e.g. `/reason --model {first} …`."
    else:
        text += " No other model has messages left this week."
    text += " Nothing was charged."
    return text


def weekly_reset(at: datetime) -> str:
    """``Mon 00:00 UTC``: when a week's quota comes back, in a few words."""
    return f"{at:%a %H:%M} UTC"


def fallback_used(*, model: str, fallback: str, scope: str, resets_at: datetime) -> str:
    """Why another model answered than the one the default (or ``auto``) picked."""
    until = weekly_reset(resets_at)
    if scope == "user":
        return (
            f"Your weekly quota of `{model}` is used up until {until} — answered with `{fallback}`."
        )
    return f"`{model}`'s weekly quota is used up until {until} — answered with `{fallback}`."


def budget_exhausted(exc: BudgetExhausted, now: datetime) -> str:
    return (
        f"This team has used its weekly budget of {usd(exc.budget_usd)}: "
        f"{usd(exc.spent_usd)} spent, {usd(exc.held_usd)} held by questions still being "
        f"answered, and a `{exc.model}` question may cost up to the rest. "
        f"The budget resets {when(exc.resets_at, now)}; an admin can raise it with "
        "`/quota budget <usd>`. Nothing was charged."
    )


def budget_line(state: BudgetState) -> str:
    """The team's budget in `/quota` (only shown when one is set)."""
    assert state.budget_usd is not None
    line = f"**Budget this week**: {usd(state.spent_usd)} spent of {usd(state.budget_usd)}"
    if state.held_usd:
        line += f" · {usd(state.held_usd)} held by questions still being answered"
    return line + f" · {usd(state.left_usd or 0.0)} left"


def fallback_chains(chains: Sequence[Sequence[str]]) -> str:
    """``**Fallback** when a quota is used up: `o1` → `mini```."""
    shown = "; ".join(" → ".join(f"`{m}`" for m in chain) for chain in chains)
    return f"**Fallback** when a quota is used up: {shown} (not for `--model`)"


def budget_changed(budget_usd: float | None) -> str:
    if budget_usd is None:
        return "✅ The team's weekly budget is off: spend is no longer limited."
    return f"✅ The team's weekly budget is now {usd(budget_usd)}."


# Subclasses come before their parents: the first match is the sentence.
_MODEL_ERRORS: dict[type[ModelError], str] = {
    ModelDeadlineExceeded: "The model had not finished after the longest time a question "
    "may take, so we stopped waiting. Try a narrower question or `--effort low`.",
    AnswerBrokeOff: "The model's answer broke off before it was finished, so it was not delivered.",
    ModelTimeout: "The model took too long to answer and the request timed out.",
    ModelRateLimited: "The model provider is rate limiting us right now.",
    ModelOutOfCredit: "The model provider says our account is out of credit; an admin "
    "needs to check the billing.",
    ContextTooLong: "This conversation is too long for the model. Start a new thread "
    "with a shorter question.",
    ModelRefused: "The model declined to answer this question.",
    ModelAuthError: "The model provider rejected our credentials; an admin needs to "
    "check the API key.",
    ModelBadRequest: "The model provider rejected the request.",
    ReasoningUsedAllTokens: "The model reached its token limit while still reasoning, so "
    "it wrote no answer. Ask again with a lower effort (`--effort low`), or ask an "
    "admin to lower the model's `reasoning_effort` or raise its `max_completion_tokens` in "
    "the catalogue.",
    AnswerCutOff: "The model spent its whole token budget thinking and gave no answer. "
    "Try a narrower question or `--effort low`.",
    ModelUnavailable: "The model provider is unavailable right now.",
}


def model_error(exc: ModelError) -> str:
    base = next(
        (text for cls, text in _MODEL_ERRORS.items() if isinstance(exc, cls)),
        "The model failed to answer.",
    )
    tail = " Please try again in a few minutes." if exc.retryable else ""
    return f"⚠️ {base}{tail} Your message was not counted against the quota."


def error_text(exc: BotError, *, now: datetime) -> str:
    """The one place an error becomes words."""
    match exc:
        case UsageError():
            return f"{exc}.\n{exc.usage}" if exc.usage else f"{exc}."
        case InputRejected():
            return str(exc)
        case UnknownModel():
            return unknown_model(exc.alias, exc.known)
        case NotAllowed():
            return "Only admins can change quotas. `/quota` shows what is left."
        case QuotaExhausted():
            return quota_exhausted(exc, now)
        case BudgetExhausted():
            return budget_exhausted(exc, now)
        case ModelError():
            return model_error(exc)
        case PlatformError(user_text=str(text)):
            return text
        case StorageError():
            return (
                "⚠️ The quota database is unavailable; nothing was charged. "
                "Please try again shortly."
            )
    return "⚠️ Something went wrong; nothing was charged."


def footer(
    *,
    model: str,
    elapsed_s: float,
    usage: Usage,
    remaining: int | None,
    truncated: bool,
    note: str | None = None,
    held: int = 0,
    auto: str | None = None,
    cost_usd: float | None = None,
) -> str:
    """``auto`` is why ``--model auto`` chose ``model`` (see `auto_choice`)."""
    parts = [f"auto → {model}: {auto}" if auto else model, duration(elapsed_s)]
    if usage.total_tokens:
        tokens = f"{usage.total_tokens:,} tokens"
        if usage.reasoning_tokens:
            tokens += f" ({usage.reasoning_tokens:,} reasoning)"
        parts.append(tokens)
    if cost_usd is not None:
        parts.append(usd(cost_usd))
    if remaining is not None:
        left = f"{remaining} left this week"
        if held:
            by = "a question" if held == 1 else "questions"
            left += f" ({held} held by {by} still being answered)"
        parts.append(left)
    text = " · ".join(parts)
    if note:
        text = f"{note} {text}"
    if truncated:
        text = "✂️ The answer hit the model's length limit and is cut off. " + text
    return text


# How platforms with a model menu (Discord) name `auto` in it.
AUTO_MODEL_CHOICE = "auto (picks a model for the question)"

# Why `--model auto` chose a model, in a few words.
AUTO_REASONS: dict[Reason, str] = {
    Reason.SHORT: "short factual question",
    Reason.EVERYDAY: "everyday question",
    Reason.LONG_QUESTION: "long question",
    Reason.LONG_CONVERSATION: "long conversation",
    Reason.CODE: "code",
    Reason.MATHS: "maths",
    Reason.HARD: "needs careful reasoning",
    Reason.THINK_HARD: "asked to think hard",
}


def auto_choice(reason: Reason, *, by: str | None = None) -> str:
    """``short factual question``, or ``maths, judged by mini`` with a classifier."""
    words = AUTO_REASONS[reason]
    return f"{words}, judged by {by}" if by else words


def effort_ignored(model: str, effort: Effort, efforts: Sequence[Effort]) -> str:
    """Why an answer came without the ``--effort`` that was asked for."""
    if not efforts:
        return f"ℹ️ `{model}` takes no `--effort`, so it answered without `{effort}`."
    taken = " or ".join(f"`{e}`" for e in efforts)
    return f"ℹ️ `{model}` takes `--effort` {taken} only, so it answered without `{effort}`."


def thinking(model: str, elapsed_s: float, position: int | None = None) -> str:
    if position is not None and position > QUEUE_POSITION_BOUND:
        return f"⏳ Queued for `{model}` ({QUEUE_POSITION_BOUND:,}+ ahead)…"
    if position is not None:
        return f"⏳ Queued for `{model}` (position {position})…"
    if elapsed_s < 1:
        return f"🤔 Thinking with `{model}`…"
    return f"🤔 Thinking with `{model}`… {duration(elapsed_s)}"


def reasoning_status(reasoning: str) -> str:
    """Live reasoning in a status message: the end of it (`bot.render.reasoning_tail`),
    quoted under a 💭, above the "thinking…" line."""
    quoted = "\n".join("> " + line for line in reasoning.splitlines())
    return f"💭 _Thinking…_\n{quoted}"


def thought(elapsed_s: float, reasoning: str = "") -> str:
    """The reasoning collapsed above the answer once it starts: "💭 Thought for 42 s";
    with ``reasoning`` (``show_reasoning = "keep"``) its end follows as a short quote."""
    line = f"💭 Thought for {duration(elapsed_s)}"
    if not reasoning:
        return line
    quoted = "\n".join("> " + part for part in reasoning.splitlines())
    return f"{line}\n{quoted}"


def gave_up(attempts: int) -> str:
    """A question that failed every time a worker took it (see `JOB_MAX_ATTEMPTS`)."""
    return (
        f"⚠️ Sorry, this question failed {plural(attempts, 'time')} in a row, so I stopped "
        "trying. "
        "You were not charged for it; please ask again, perhaps rephrased."
    )


def asked(question: str, model: str, *, limit: int = 300) -> str:
    """``asked `o1`: > question`` — the adapter puts the asker's mention in front."""
    q = question if len(question) <= limit else question[: limit - 1] + "…"
    quoted = "\n".join("> " + line for line in q.splitlines()) or "> "
    return f"asked `{model}`:\n{quoted}"


def _model_line(m: ModelUsage, own: int | None) -> str:
    line = f"`{m.model}`: {m.remaining} of {m.allowance} left"
    if m.granted:
        line += f" ({m.limit} + {m.granted} granted)"
    if own is not None:
        if m.user_limit == 0:
            line += " · turned off for you"
        else:
            line += f" · you used {own}"
            if m.user_limit is not None:
                line += f" of your {m.user_limit}"
    return line


def quota_summary(
    usage: TeamUsage,
    *,
    user: str,
    now: datetime,
    admin: bool,
    spend: Mapping[tuple[str, str], float] | None = None,
    budget: BudgetState | None = None,
    chains: Sequence[Sequence[str]] = (),
) -> str:
    """``spend`` is this week's cost per (user, model), when the models have prices:
    everyone sees the team's per model, admins also each person's. ``budget`` is the
    team's, shown when set; ``chains`` the catalogue's fallbacks."""
    spend = spend or {}
    per_model: dict[str, float] = {}
    for (_, model), cost in spend.items():
        per_model[model] = per_model.get(model, 0.0) + cost
    own: dict[str, int] = {}
    for u in usage.users:
        if u.user == user:
            own[u.model] = u.used
    lines = [f"**Quota this week** — resets {when(usage.window.end, now)}"]
    for m in usage.models:
        line = "• " + _model_line(m, own.get(m.model, 0))
        if m.model in per_model:
            line += f" · team spend {usd(per_model[m.model])}"
        lines.append(line)
    if chains:
        lines.append(fallback_chains(chains))
    if budget is not None and budget.budget_usd is not None:
        lines.append(budget_line(budget))
    if admin:
        others = [u for u in usage.users if u.used]
        if others:
            lines.append("**Usage by person**")
            for u in sorted(others, key=lambda u: (-u.used, u.user, u.model)):
                line = f"• <@{u.user}> · `{u.model}`: {u.used} ({plural(u.tokens, 'token')}"
                cost = spend.get((u.user, u.model))
                line += f", {usd(cost)})" if cost is not None else ")"
                lines.append(line)
        else:
            lines.append("_Nobody has asked anything this week._")
    return "\n".join(lines)


def quota_changed(action: str, *, model: str | None, value: int | None, who: str | None) -> str:
    match action:
        case "set":
            return f"✅ `{model}` weekly limit set to {value}."
        case "grant":
            return f"✅ Granted {plural(value or 0, 'extra message')} of `{model}` for this week."
        case "reset":
            return f"✅ This week's usage of {model_scope(model)} reset to zero."
        case "user" if value is None:
            return f"✅ Removed the weekly cap of <@{who}> on {model_scope(model)}."
        case "user" if value == 0:
            return f"✅ {model_scope(model).capitalize()} is now turned off for <@{who}>."
        case "user":
            return (
                f"✅ <@{who}> may now send {plural(value or 0, 'message')} a week to "
                f"{model_scope(model)}."
            )
    return "✅ Done."


def model_scope(model: str | None) -> str:
    return "every model" if model in (None, "*", "every model") else f"`{model}`"


def audit(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "No quota changes yet."
    lines = ["**Recent quota changes**"]
    for e in entries:
        target = ""
        if e.target:
            target = f"<#{e.target}>" if e.action == "notify" else f"<@{e.target}>"
        elif e.action in ("notify", "budget") and e.value is None:
            target = "off"
        if e.action == "budget" and e.value is not None:
            value = usd(e.value / 100)  # kept in cents
        else:
            value = str(e.value) if e.value is not None else ""
        detail = " ".join(
            p
            for p in (
                e.action,
                e.model or "",
                value,
                target,
            )
            if p
        )
        lines.append(f"• {e.at:%Y-%m-%d %H:%M} UTC <@{e.actor}>: {detail}")
    return "\n".join(lines)


# ---- admin reports (bot.admin) ------------------------------------------------


def notify_changed(channel: str | None) -> str:
    if channel is None:
        return "✅ Alerts and the weekly digest are off: no admin channel is set."
    return f"✅ Alerts and the weekly digest now go to <#{channel}>."


def _top(top: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"<@{user}> ({n})" for user, n in top)


def alert(
    *,
    model: str,
    threshold: int,
    used: int,
    allowance: int,
    top: Sequence[tuple[str, int]],
    resets_at: datetime,
    now: datetime,
) -> str:
    head = (
        f"🔔 The team has used all {allowance} `{model}` messages of this week."
        if used >= allowance
        else f"🔔 The team has used {threshold}% of this week's `{model}` messages: "
        f"{used} of {allowance}."
    )
    lines = [head]
    if top:
        lines.append(f"Top askers: {_top(top)}.")
    lines.append(f"The quota resets {when(resets_at, now)}; `/quota grant <n> {model}` adds more.")
    return "\n".join(lines)


def budget_alert(
    *,
    threshold: int,
    spent_usd: float,
    budget_usd: float,
    top: Sequence[tuple[str, float]],
    resets_at: datetime,
    now: datetime,
) -> str:
    head = (
        f"💰 The team has spent its whole weekly budget: {usd(spent_usd)} of {usd(budget_usd)}."
        if spent_usd >= budget_usd
        else f"💰 The team has spent {threshold}% of this week's budget: "
        f"{usd(spent_usd)} of {usd(budget_usd)}."
    )
    lines = [head]
    if top:
        lines.append("Top spenders: " + ", ".join(f"<@{u}> ({usd(c)})" for u, c in top) + ".")
    lines.append(f"The budget resets {when(resets_at, now)}; `/quota budget <usd>` changes it.")
    return "\n".join(lines)


def _change(now: float, before: float | None, fmt: Callable[[float], str]) -> str:
    if before is None:
        return ""
    delta = now - before
    if abs(delta) < 1e-9:
        return " (same as the week before)"
    sign = "+" if delta > 0 else "−"
    return f" ({sign}{fmt(abs(delta))} on the week before)"


def digest(week: WeekFigures, before: WeekFigures | None, *, week_start: str) -> str:
    """The weekly summary for a team's admin channel."""
    lines = [f"**Weekly digest** — week of {week_start}"]
    if not week.models:
        lines.append("_Nobody asked anything this week._")
    for m in week.models:
        line = f"• `{m.model}`: {plural(m.questions, 'question')}"
        if m.denied:
            line += f", {m.denied} denied"
        if m.cost_usd is not None:
            line += f", {usd(m.cost_usd)}"
        lines.append(line)
    lines.append(
        f"Questions: {week.questions}"
        + _change(week.questions, before.questions if before else None, lambda d: f"{d:g}")
    )
    people = f"Askers: {week.askers.count}"
    if week.askers.top:
        people += f" — most active: {_top(week.askers.top)}"
    lines.append(people)
    lines.append(f"Denied for quota: {week.denied}")
    if week.cost_usd is not None:
        earlier = before.cost_usd if before is not None else None
        lines.append(f"Spend: {usd(week.cost_usd)}" + _change(week.cost_usd, earlier, usd))
    return "\n".join(lines)


def history(weeks: Sequence[tuple[str, Sequence[ModelWeek]]]) -> str:
    """``weeks``: (week start, that week's models), oldest first."""
    lines = [f"**Questions and spend, last {plural(len(weeks), 'week')}**"]
    for start, models in weeks:
        if not models:
            lines.append(f"• {start}: —")
            continue
        parts = []
        for m in models:
            part = f"`{m.model}` {m.questions}"
            if m.cost_usd is not None:
                part += f" ({usd(m.cost_usd)})"
            parts.append(part)
        lines.append(f"• {start}: " + ", ".join(parts))
    return "\n".join(lines)


def export_inline(csv_text: str, *, weeks: int) -> str:
    head = f"Usage of the last {plural(weeks, 'week')}, one row per week, model and person:"
    return f"{head}\n```\n{csv_text}```"


def export_too_big(*, rows: int, weeks: int) -> str:
    return (
        f"The export of the last {plural(weeks, 'week')} has {plural(rows, 'row')}, too many "
        "to show here. "
        "An operator can write it to a file with "
        "`reasonbot quota --team <team> export --weeks N`."
    )


def export_sent_privately(*, rows: int, weeks: int) -> str:
    return (
        f"The export of the last {plural(weeks, 'week')} ({plural(rows, 'row')}, one per "
        "week, model and person) is in your direct messages with me."
    )


def export_attached(*, rows: int, weeks: int) -> str:
    return (
        f"Usage of the last {plural(weeks, 'week')}: {plural(rows, 'row')}, one per week, "
        "model and person, in the attached CSV."
    )


EXPORT_FILE_TITLE = "reasonbot usage export"
PICTURE_OWN = "**Your quota this week**"
PICTURE_TEAM = "**The team this week**"
PICTURE_PEOPLE = "**Per person this week**"
PICTURE_WEEKS = "**The last weeks**"
PICTURE_NOBODY = "_Nobody has asked anything this week._"
SET_LIMITS_TITLE = "Set weekly limits"
SET_LIMITS_HINT = "Messages per week for the whole team; 0 turns a model off."


def resets_local(at: datetime, *, tz: str | None, now: datetime) -> str:
    """The reset time in the reader's own time zone (``tz`` from their profile, UTC
    when unknown): ``resets Mon 30 Nov 01:00 Europe/Paris (in 3 days)``."""
    try:
        zone = ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone, tz = UTC, None
    local = at.astimezone(zone)
    rel = when(at, now).partition(" (")[2]
    return f"resets {local:%a %d %b %H:%M} {tz or 'UTC'} ({rel}"


def picture_own(picture: Picture, m: ModelUsage) -> str:
    """One model as the viewer stands: what they asked, what is left for them."""
    own = picture.own(m.model)
    left = picture.left_for_viewer(m)
    if m.allowance == 0 or m.user_limit == 0:
        return f"`{m.model}` turned off"
    return (
        f"`{m.model}` {bar(own, own + left)} you asked {plural(own, 'question')} · "
        f"{left:,} left for you"
    )


def picture_team(m: ModelUsage, week: ModelWeek | None) -> str:
    """The team's use of one model this week, as a bar."""
    line = f"`{m.model}` {bar(m.used, m.allowance)} {m.used:,} of {m.allowance:,} used"
    if week is not None and week.denied:
        line += f" · {week.denied:,} denied"
    if week is not None and week.cost_usd is not None:
        line += f" · {usd(week.cost_usd)}"
    return line


def picture_person(row: UsageRow) -> str:
    line = f"<@{row.user}> · `{row.model}`: {plural(row.questions, 'question')}"
    if row.denied:
        line += f", {row.denied:,} denied"
    if row.cost_usd is not None:
        line += f", {usd(row.cost_usd)}"
    return line


def picture_more_people(n: int) -> str:
    return f"…and {plural(n, 'more row')}: the CSV export has everyone."


def picture_week(day: str, rows: Sequence[ModelWeek]) -> str:
    if not rows:
        return f"{day}: no questions"
    parts = []
    for r in rows:
        part = f"`{r.model}` {r.questions:,}"
        if r.denied:
            part += f" ({r.denied:,} denied)"
        if r.cost_usd is not None:
            part += f" {usd(r.cost_usd)}"
        parts.append(part)
    return f"{day}: " + " · ".join(parts)


def limit_invalid(model: str, reason: str) -> str:
    return f"`{model}`: {reason}"


def limits_saved(changed: Sequence[str]) -> str:
    if not changed:
        return "No limit changed."
    return "✅ New weekly limits for " + ", ".join(f"`{m}`" for m in changed) + "."


def context_expired() -> str:
    return (
        "_The earlier messages of this thread are no longer kept, so I answered this "
        "as a new conversation._"
    )
