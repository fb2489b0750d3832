"""Quota policy and ``/quota``: limits in force, what is left, and the admin commands.

Every change goes through the ledger, which records who did what.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import messages
from bot.admin import AdminDesk
from bot.commands import ADMIN_VERBS, QUOTA_USAGE, QuotaArgs, QuotaVerb, parse_quota
from bot.config import Catalogue, ModelSpec
from bot.domain import QuotaCommand, QuotaState, TeamUsage, Window
from bot.errors import NotAllowed, QuotaExhausted, StorageError, UnknownModel, UsageError
from bot.ports import QuotaLedger
from bot.reports import ExportFile, ModelWeek, Picture, export_file, last_weeks, to_csv, week_start
from bot.weeks import week_window

# An export shown in the chat itself (a code block) stays well inside Slack's 3,000
# characters per text block and Discord's 2,000 per message; larger ones are files.
EXPORT_INLINE_MAX_CHARS = 1_800
PICTURE_WEEKS = 8  # the admin's Home shows this many weeks per model
PICTURE_PEOPLE = 30  # ... and the busiest (person, model) rows of the week
PAST_WEEKS_CACHE_S = 600.0  # finished weeks' totals, per team, for the Home
PAST_WEEKS_CACHED = 1_000  # teams' worth of them in one process


@dataclass(frozen=True, slots=True)
class QuotaResult:
    text: str
    ok: bool = True
    usage: TeamUsage | None = None
    # Lines of the summary that are not the usage table (fallback chains, the budget),
    # for adapters that show ``usage`` as a table of their own.
    notes: tuple[str, ...] = ()
    # An export as a file, for adapters that can attach one (``text`` then says what
    # a platform without files shows instead).
    file: ExportFile | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    left: int  # what is left once this answer is charged, counting ``held`` as left
    held: int  # of ``left``: held by other questions still being answered


class QuotaDesk:
    def __init__(
        self,
        *,
        catalogue: Catalogue,
        ledger: QuotaLedger,
        clock: Callable[[], datetime],
        admin: AdminDesk | None = None,
    ) -> None:
        self.catalogue = catalogue
        self._ledger = ledger
        self._clock = clock
        self._admin = admin
        self._past: dict[tuple[str, str, str], tuple[Sequence[ModelWeek], float]] = {}

    def now(self) -> datetime:
        return self._clock()

    async def _past_weeks(self, team: str, since: str, until: str) -> Sequence[ModelWeek]:
        """Finished weeks per model, kept a while: they no longer change (but for an
        answer in flight at the boundary), and summing them is most of a large team's
        Home."""
        assert self._admin is not None
        key = (team, since, until)
        hit = self._past.get(key)
        if hit is not None and time.monotonic() - hit[1] < PAST_WEEKS_CACHE_S:
            return hit[0]
        rows = await self._admin.reports.model_weeks(team, since=since, until=until)
        if len(self._past) >= PAST_WEEKS_CACHED:
            self._past.pop(next(iter(self._past)))  # the oldest entry
        self._past[key] = (rows, time.monotonic())
        return rows

    def default_limits(self) -> dict[str, int]:
        return {m.alias: m.weekly_limit for m in self.catalogue.models}

    async def standing(self, team: str, spec: ModelSpec, window: Window) -> Standing | None:
        """What the team has left of ``spec`` this week, for the footer of an answer that
        is still reserved: messages held by other questions being answered are named
        apart, since a failure gives them back."""
        m = await self._ledger.model_usage(
            team, spec.alias, window, default_limit=spec.weekly_limit
        )
        held = max(m.in_flight - 1, 0)  # not the answer this footer is for
        return Standing(left=min(m.remaining + held, m.allowance), held=held)

    async def exhausted(
        self, team: str, spec: ModelSpec, window: Window, limits: QuotaState, *, scope: str
    ) -> QuotaExhausted:
        """The refusal, with the limit that applied and the models still available."""
        usage = await self._ledger.usage(
            team, window, limits=self.default_limits(), with_users=False
        )
        # The model's own fallbacks first: the alternative the catalogue means for it.
        chain = self.catalogue.fallback_chain(spec.alias)
        alternatives = tuple(
            (m.model, m.remaining)
            for m in sorted(
                usage.models,
                key=lambda m: chain.index(m.model) if m.model in chain else len(chain),
            )
            if m.model != spec.alias and m.remaining
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

    def is_admin(self, command: QuotaCommand) -> bool:
        """The platform said so, or the catalogue lists the user: ``<team key>:<user>``
        (``slack:T0001:U123``) in that team only; a bare ``U123`` or ``slack:U123`` in
        every team (one workspace, or an operator trusted everywhere)."""
        admins = self.catalogue.admins
        return (
            command.is_admin
            or command.user in admins
            or f"{command.platform}:{command.user}" in admins
            or f"{command.team}:{command.user}" in admins
        )

    async def quota(self, command: QuotaCommand) -> QuotaResult:
        """Run one ``/quota`` command; the reply is meant for the caller only."""
        try:
            args = parse_quota(command.text)
            if args.verb in ADMIN_VERBS and not self.is_admin(command):
                raise NotAllowed(args.verb)
            return await self._quota(command, args)
        except (UsageError, NotAllowed, UnknownModel, StorageError) as exc:
            return QuotaResult(messages.error_text(exc, now=self._clock()), ok=False)

    def _alias(self, alias: str | None) -> str:
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
            case QuotaVerb.NOTIFY | QuotaVerb.HISTORY | QuotaVerb.EXPORT:
                return await self._report(command, args)
            case QuotaVerb.BUDGET:
                await self._ledger.set_budget(team, args.usd, window=window, actor=actor, now=now)
                shown = await self._show(command, window, now)
                text = messages.budget_changed(args.usd) + "\n\n" + shown.text
                return QuotaResult(text, usage=shown.usage, notes=shown.notes)
            case QuotaVerb.SET:
                model = self._alias(args.model)
                assert args.value is not None
                await self._ledger.set_limit(team, model, args.value, actor=actor, now=now)
            case QuotaVerb.GRANT:
                model = self._alias(args.model)
                assert args.value is not None
                await self._ledger.grant(team, model, window, args.value, actor=actor, now=now)
            case QuotaVerb.RESET:
                models = [self._alias(args.model)] if args.model else list(self.catalogue.aliases)
                for m in models:
                    await self._ledger.reset(team, m, window, actor=actor, now=now)
                model = args.model or "every model"
            case QuotaVerb.USER:
                model = self._alias(args.model) if args.model else "*"
                assert args.who is not None
                await self._ledger.set_user_cap(
                    team, args.who, model, args.value, actor=actor, now=now
                )
        if self._admin is not None:
            self._admin.changed(team)
        text = messages.quota_changed(args.verb, model=model, value=args.value, who=args.who)
        shown = await self._show(command, window, now)
        return QuotaResult(text + "\n\n" + shown.text, usage=shown.usage, notes=shown.notes)

    async def _report(self, command: QuotaCommand, args: QuotaArgs) -> QuotaResult:
        if self._admin is None:
            raise UsageError("reports are not available in this process", usage=QUOTA_USAGE)
        team = command.team
        match args.verb:
            case QuotaVerb.NOTIFY:
                await self._admin.reports.set_notify(
                    team,
                    platform=command.platform,
                    channel=args.channel,
                    actor=command.user,
                    now=self._clock(),
                )
                return QuotaResult(messages.notify_changed(args.channel))
            case QuotaVerb.HISTORY:
                assert args.value is not None
                return QuotaResult(await self._admin.history(team, weeks=args.value))
        assert args.value is not None
        rows = await self._admin.export(team, platform=command.platform, weeks=args.value)
        csv_text = to_csv(rows)
        day = self._clock().astimezone(self.catalogue.week.tz).date()
        file = export_file(rows, weeks=args.value, day=day)
        if len(csv_text) > EXPORT_INLINE_MAX_CHARS:
            return QuotaResult(messages.export_too_big(rows=len(rows), weeks=args.value), file=file)
        return QuotaResult(messages.export_inline(csv_text, weeks=args.value), file=file)

    async def picture(
        self, command: QuotaCommand, *, weeks: int = PICTURE_WEEKS, people: int = PICTURE_PEOPLE
    ) -> Picture:
        """The week as ``command.user`` may see it: everyone their own use and what is
        left per model, and the team's totals; admins also each person's use, spend
        and denials, and the last ``weeks`` weeks per model."""
        if self._admin is None:
            raise UsageError("reports are not available in this process", usage=QUOTA_USAGE)
        now = self._clock()
        policy = self.catalogue.week
        window = week_window(now, policy)
        admin = self.is_admin(command)
        team, user = command.team, command.user
        usage = await self._ledger.usage(
            team, window, limits=self.default_limits(), with_users=False
        )
        models = []
        for m in usage.models:
            spec = self.catalogue.get(m.model)
            cap = await self._ledger.user_cap(team, m.model, user)
            default_cap = spec.per_user_limit if spec else None
            models.append(
                dataclasses.replace(m, user_limit=cap if cap is not None else default_cap)
            )
        usage = dataclasses.replace(usage, models=tuple(models))
        reports = self._admin.reports
        more = 0
        if admin:
            busiest, total = await reports.busiest(team, window.key, limit=people)
            own = await reports.usage_rows(team, since=window.key, until=window.key, user=user)
            rows = {(r.user, r.model): r for r in (*busiest, *own)}
            shown = tuple(rows.values())
            more = max(0, total - len(shown))
            windows = last_weeks(now, policy, weeks)
            past = (
                await self._past_weeks(team, windows[0].key, windows[-2].key)
                if len(windows) > 1
                else ()
            )
            current = await reports.model_weeks(team, since=window.key, until=window.key)
            weekly = [*past, *current]
            history = tuple(
                (week_start(w.key, policy), tuple(r for r in weekly if r.window == w.key))
                for w in windows
            )
            this_week = history[-1][1]
        else:
            shown = tuple(
                await reports.usage_rows(team, since=window.key, until=window.key, user=user)
            )
            history = ()
            this_week = tuple(await reports.model_weeks(team, since=window.key, until=window.key))
        return Picture(
            usage=usage,
            user=user,
            admin=admin,
            this_week=tuple(this_week),
            people=shown,
            weeks=history,
            more_people=more,
        )

    async def _show(self, command: QuotaCommand, window: Window, now: datetime) -> QuotaResult:
        admin = self.is_admin(command)
        usage = await self._ledger.usage(
            command.team, window, limits=self.default_limits(), with_users=True
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
        spend = await self._admin.spend(command.team, window) if self._admin else {}
        if not admin:
            # Everyone sees the team's spend per model; only admins see each person's.
            team_spend: dict[tuple[str, str], float] = {}
            for (_, m), cost in spend.items():
                team_spend[("", m)] = team_spend.get(("", m), 0.0) + cost
            spend = team_spend
        budget = await self._ledger.budget(command.team, window)
        chains = self.catalogue.fallback_chains
        text = messages.quota_summary(
            usage,
            user=command.user,
            now=now,
            admin=admin,
            spend=spend,
            budget=budget,
            chains=chains,
        )
        notes = []
        if chains:
            notes.append(messages.fallback_chains(chains))
        if budget.budget_usd is not None:
            notes.append(messages.budget_line(budget))
        return QuotaResult(text, usage=usage, notes=tuple(notes))
