"""`AdminDesk`: what reaches admins without their asking (threshold alerts, the weekly
digest, in the team's notify channel) and the reports they ask for (history, export).

Each alert and digest is sent at most once across every worker and restart: it is
claimed first with a unique key in the database, and only the claimant posts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime

from bot import messages
from bot.config import Catalogue
from bot.domain import BudgetState, QuotaState, Window
from bot.errors import BotError
from bot.ports import Notifier, ReportStore
from bot.reports import (
    OPEN_WAITED,
    SETTLE,
    ExportRow,
    ModelWeek,
    WeekFigures,
    bulk,
    crossed,
    export_rows,
    last_weeks,
    previous_window,
    week_containing,
    week_start,
)
from bot.weeks import week_window

log = logging.getLogger(__name__)
DIGEST_EVERY_S = 300.0  # how often a process looks for a week that ended undigested
# How often a process showing views looks for quota changes other processes made.
QUOTA_CHANGES_EVERY_S = 10.0
ALERT_TOP_ASKERS = 3
# Budget alerts are claimed under this key in place of a model: no alias can take it
# (aliases are lower-case letters, digits and ``._-``), so each threshold of the budget
# is claimed once per week apart from every model's.
BUDGET_ALERT_KEY = "$budget"
DIGEST_TOP_ASKERS = 5


class AdminDesk:
    def __init__(
        self, *, catalogue: Catalogue, reports: ReportStore, clock: Callable[[], datetime]
    ) -> None:
        self.catalogue = catalogue
        self.reports = reports
        self._clock = clock
        self._notifiers: dict[str, Notifier] = {}
        self._watchers: list[Callable[[str, str | None], None]] = []

    def register(self, platform: str, notifier: Notifier) -> None:
        """The adapter of ``platform`` posts that platform's teams' notices."""
        self._notifiers[platform] = notifier

    async def _post(self, team: str, text: str) -> bool:
        target = await self.reports.notify_target(team)
        if target is None:
            return False
        notifier = self._notifiers.get(target.platform)
        if notifier is None:
            log.warning("no %s notifier in this process; notice for %s dropped", *target)
            return False
        await notifier.post(team, target.channel, text)
        return True

    def watch(self, callback: Callable[[str, str | None], None]) -> None:
        """Call ``callback(team, user)`` when a person's use changed (an answer), or
        ``callback(team, None)`` when the team's quotas did (an admin's change): views
        that show them (Slack's App Home) refresh. Callbacks must not block."""
        self._watchers.append(callback)

    async def follow_quota_changes(self, *, every_s: float | None = None) -> None:
        """Until cancelled: tell the watchers of every team whose quotas another process
        changed (``callback(team, None)``), within ``every_s`` (`QUOTA_CHANGES_EVERY_S`).
        This process's own changes are told at once as well; a view refreshed twice
        shows the same."""
        every_s = QUOTA_CHANGES_EVERY_S if every_s is None else every_s
        after: int | None = None
        while True:
            try:
                after, teams = await self.reports.quota_changes(after)
            except BotError as exc:
                log.info("quota changes not read (next try in %.0f s): %r", every_s, exc)
            else:
                for team in teams:
                    self.changed(team)
            await asyncio.sleep(every_s)

    def changed(self, team: str, user: str | None = None) -> None:
        for callback in self._watchers:
            try:
                callback(team, user)
            except Exception:  # a view's refresh never breaks an answer
                log.exception("usage watcher failed for %s", team)

    # ---- alerts ----------------------------------------------------------------

    async def after_commit(
        self,
        *,
        team: str,
        model: str,
        state: QuotaState | None,
        window: Window,
        budget: BudgetState | None = None,
        user: str | None = None,
    ) -> None:
        """Alert the team's channel if this answer's reservation crossed a threshold of
        its model's quota, or its cost one of the team's budget. Cheap when it did not
        (no database call); never raises. ``user``'s views are told their use changed."""
        if user is not None:
            self.changed(team, user)
        if budget is not None:
            for threshold in budget_crossed(budget, self.catalogue.alert_at):
                try:
                    await self._budget_alert(team, threshold, budget, window)
                except BotError as exc:
                    log.warning("budget alert %s %d%% not sent: %r", team, threshold, exc)
        if state is None or state.used is None:
            return
        allowance = state.team_limit + (state.granted or 0)
        for threshold in crossed(state.used, allowance, self.catalogue.alert_at):
            try:
                await self._alert(team, model, threshold, state.used, allowance, window)
            except BotError as exc:
                log.warning("alert %s %s %d%% not sent: %r", team, model, threshold, exc)

    async def _alert(
        self, team: str, model: str, threshold: int, used: int, allowance: int, window: Window
    ) -> None:
        if await self.reports.notify_target(team) is None:
            return  # no channel: nothing claimed, so setting one later still alerts
        now = self._clock()
        if not await self.reports.claim_alert(team, model, window.key, threshold, now=now):
            return
        askers = await self.reports.askers(team, window.key, model=model, top=ALERT_TOP_ASKERS)
        text = messages.alert(
            model=model,
            threshold=threshold,
            used=used,
            allowance=allowance,
            top=askers.top,
            resets_at=window.end,
            now=now,
        )
        await self._post(team, text)

    async def _budget_alert(
        self, team: str, threshold: int, budget: BudgetState, window: Window
    ) -> None:
        if await self.reports.notify_target(team) is None:
            return
        now = self._clock()
        if not await self.reports.claim_alert(
            team, BUDGET_ALERT_KEY, window.key, threshold, now=now
        ):
            return
        per_user: dict[str, float] = {}
        for (user, _), cost in (await self.spend(team, window)).items():
            per_user[user] = per_user.get(user, 0.0) + cost
        top = sorted(per_user.items(), key=lambda uc: (-uc[1], uc[0]))[:ALERT_TOP_ASKERS]
        assert budget.budget_usd is not None
        text = messages.budget_alert(
            threshold=threshold,
            spent_usd=budget.spent_usd,
            budget_usd=budget.budget_usd,
            top=top,
            resets_at=window.end,
            now=now,
        )
        await self._post(team, text)

    # ---- weekly digest -----------------------------------------------------------

    async def figures(self, team: str, window: Window) -> WeekFigures:
        models = await self.reports.model_weeks(team, since=window.key, until=window.key)
        askers = await self.reports.askers(team, window.key, top=DIGEST_TOP_ASKERS)
        return WeekFigures(window=window, models=tuple(models), askers=askers)

    async def digest(self, team: str, *, week: date | None = None) -> str:
        """The digest of the week containing ``week`` (default: the last finished one)."""
        policy = self.catalogue.week
        if week is None:
            window = previous_window(week_window(self._clock(), policy), policy)
        else:
            window = week_containing(week, policy)
        this = await self.figures(team, window)
        before = await self.figures(team, previous_window(window, policy))
        return messages.digest(this, before, week_start=week_start(window.key, policy))

    async def send_digests(self) -> int:
        """Send the last finished week's digest to every team with a channel that has
        not had it yet; returns how many this process sent."""
        policy = self.catalogue.week
        window = previous_window(week_window(self._clock(), policy), policy)
        sent = 0
        for team, target in await self.reports.notify_targets():
            if target.platform not in self._notifiers:
                continue  # another process serves that platform and will send it
            try:
                if not await self.reports.claim_digest(team, window.key, now=self._clock()):
                    continue
                text = await self.digest(team, week=window.start.astimezone(policy.tz).date())
                await self._post(team, text)
                sent += 1
            except BotError as exc:
                log.warning("weekly digest for %s not sent: %r", team, exc)
        return sent

    async def roll_up(self) -> int:
        """Roll up every week that ended `SETTLE` ago (or earlier, missed while nothing
        ran) and is not yet: reports then read its per-person sums. Once per week
        across workers (the store's claim); returns how many this process rolled up."""
        policy, now = self.catalogue.week, self._clock()
        return await self.reports.roll_up(
            before=week_window(now - SETTLE, policy).key,
            open_before=week_window(now - SETTLE - OPEN_WAITED, policy).key,
            now=now,
        )

    async def digest_loop(self, stop: asyncio.Event, *, every_s: float = DIGEST_EVERY_S) -> None:
        """From start (catching up a week that ended while nothing ran), then every
        ``every_s``: send digests due, and roll up the weeks that are over."""
        while not stop.is_set():
            try:
                await self.send_digests()
            except BotError as exc:
                log.warning("digest check failed: %r", exc)
            try:
                await self.roll_up()
            except BotError as exc:
                log.warning("weekly roll-up failed: %r", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every_s):
                    await stop.wait()

    # ---- reports asked for -----------------------------------------------------

    async def history(self, team: str, *, weeks: int) -> str:
        policy = self.catalogue.week
        windows = last_weeks(self._clock(), policy, weeks)
        rows = await self.reports.model_weeks(team, since=windows[0].key, until=windows[-1].key)
        by_week: dict[str, list[ModelWeek]] = {w.key: [] for w in windows}
        for r in rows:
            by_week.setdefault(r.window, []).append(r)
        return messages.history([(week_start(k, policy), v) for k, v in by_week.items()])

    async def export(self, team: str, *, platform: str, weeks: int) -> Sequence[ExportRow]:
        policy = self.catalogue.week
        windows = last_weeks(self._clock(), policy, weeks)
        with bulk():
            rows = await self.reports.usage_rows(team, since=windows[0].key, until=windows[-1].key)
            return export_rows(rows, platform=platform, team=team, policy=policy)

    async def spend(self, team: str, window: Window) -> dict[tuple[str, str], float]:
        """This week's cost per (user, model), for models with prices."""
        rows = await self.reports.usage_rows(team, since=window.key, until=window.key)
        return {(r.user, r.model): r.cost_usd for r in rows if r.cost_usd is not None}


def budget_crossed(budget: BudgetState, thresholds: Sequence[int]) -> tuple[int, ...]:
    """The thresholds (percent of the budget) that this answer's cost went past: spend
    only grows as answers are committed, so each is crossed by exactly one answer."""
    if budget.budget_usd is None or budget.budget_usd <= 0 or budget.spent_before_usd is None:
        return ()
    return tuple(
        t
        for t in thresholds
        if budget.spent_before_usd < budget.budget_usd * t / 100 <= budget.spent_usd
    )
