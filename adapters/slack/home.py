"""Slack's App Home tab: each person's week (``views.publish``), refreshed after their
answers (debounced) and after any quota change; for admins, per-person use, the last
weeks, a "Set limits…" modal and an "Export CSV" button.

The view is built by pure functions (`home_view`, `limits_modal`) from the core's
`Picture`; `SlackHome` only fetches, publishes and routes the buttons."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import translate
from adapters.slack.files import open_dm, upload_file
from adapters.slack.render import SECTION_LIMIT, quota_mrkdwn
from adapters.slack.webapi import call
from bot import messages
from bot.commands import parse_quota
from bot.domain import QuotaCommand
from bot.errors import BotError, NotAllowed, PlatformError, UsageError
from bot.ports import Asker
from bot.reports import ExportFile, Picture

log = logging.getLogger(__name__)

VIEW_BLOCKS_MAX = 100  # Slack refuses a view with more blocks
HOME_PEOPLE_MAX = 40  # rows of per-person use on the Home; the export has everyone
REFRESH_DEBOUNCE_S = 2.0  # answers in a burst refresh a Home once
VIEWERS_TTL_S = 86_400.0  # a team-wide change refreshes Homes opened this recently
CLOSE_WAIT_S = 5.0  # at shutdown, for a publish or an export already under way
VIEWERS_MAX = 200  # ... at most this many per team (views.publish is rate limited)
SET_LIMITS = "home_set_limits"
EXPORT = "home_export"
LIMITS_CALLBACK = "set_limits"
LIMIT_BLOCK = "limit_"  # + model alias
LIMIT_INPUT = "value"

IsAdmin = Callable[[str, str, AsyncWebClient], Awaitable[bool]]
TzOf = Callable[[str, str], str | None]
TokenFor = Callable[[str], Awaitable[str | None]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}


def _sections(heading: str, lines: Sequence[str]) -> list[dict[str, Any]]:
    """A heading and its lines, split into sections within Slack's text limit."""
    blocks, chunk = [], quota_mrkdwn(heading)
    for line in lines:
        line = quota_mrkdwn(line)
        if len(chunk) + 1 + len(line) > SECTION_LIMIT:
            blocks.append(_section(chunk))
            chunk = line
        else:
            chunk += "\n" + line
    blocks.append(_section(chunk))
    return blocks


def _button(text: str, action_id: str, *, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
    }
    if primary:
        button["style"] = "primary"
    return button


def home_view(picture: Picture, *, tz: str | None, now: datetime) -> dict[str, Any]:
    """The Home tab of ``picture.user``: theirs, the team's, and the admin's extras."""
    usage = picture.usage
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "reasonbot"}},
        *_sections(
            messages.PICTURE_OWN,
            [
                messages.resets_local(usage.window.end, tz=tz, now=now),
                *(messages.picture_own(picture, m) for m in usage.models),
            ],
        ),
        {"type": "divider"},
        *_sections(
            messages.PICTURE_TEAM,
            [messages.picture_team(m, picture.week_of(m.model)) for m in usage.models],
        ),
    ]
    if picture.admin:
        blocks += [
            {"type": "divider"},
            {
                "type": "actions",
                "elements": [
                    _button("Set limits…", SET_LIMITS, primary=True),
                    _button("Export CSV", EXPORT),
                ],
            },
        ]
        people = sorted(picture.people, key=lambda r: (-r.questions, -r.denied, r.user, r.model))
        lines = [messages.picture_person(r) for r in people[:HOME_PEOPLE_MAX]]
        more = picture.more_people + max(0, len(people) - HOME_PEOPLE_MAX)
        if more:
            lines.append(messages.picture_more_people(more))
        blocks += _sections(messages.PICTURE_PEOPLE, lines or [messages.PICTURE_NOBODY])
        blocks += _sections(
            messages.PICTURE_WEEKS,
            [messages.picture_week(day, rows) for day, rows in picture.weeks],
        )
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS_MAX]}


def limits_modal(picture: Picture) -> dict[str, Any]:
    """One input per model, prefilled with this week's limit."""
    blocks: list[dict[str, Any]] = [_section(quota_mrkdwn(messages.SET_LIMITS_HINT))]
    for m in picture.usage.models:
        blocks.append(
            {
                "type": "input",
                "block_id": LIMIT_BLOCK + m.model,
                "label": {"type": "plain_text", "text": m.model},
                "element": {
                    "type": "plain_text_input",
                    "action_id": LIMIT_INPUT,
                    "initial_value": str(m.limit),
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": LIMITS_CALLBACK,
        "title": {"type": "plain_text", "text": messages.SET_LIMITS_TITLE},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks[:VIEW_BLOCKS_MAX],
    }


def submitted_limits(view: dict[str, Any]) -> dict[str, str]:
    """model -> the text typed in its input, from a ``view_submission``'s state."""
    values = (view.get("state") or {}).get("values") or {}
    out = {}
    for block_id, inputs in values.items():
        if block_id.startswith(LIMIT_BLOCK) and isinstance(inputs, dict):
            value = (inputs.get(LIMIT_INPUT) or {}).get("value")
            out[block_id.removeprefix(LIMIT_BLOCK)] = str(value or "").strip()
    return out


class SlackHome:
    def __init__(
        self,
        *,
        service: Asker,
        client: AsyncWebClient,
        is_admin: IsAdmin,
        tz_of: TzOf,
        token_for: TokenFor | None = None,
        debounce_s: float = REFRESH_DEBOUNCE_S,
    ) -> None:
        self.service = service
        self.client = client
        self._is_admin = is_admin
        self._tz_of = tz_of
        self._token_for = token_for
        self._debounce_s = debounce_s
        self._viewers: dict[str, dict[str, float]] = {}  # team key -> user -> opened
        self._pending: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._closed = False
        self._following: asyncio.Future[None] | None = None
        self._watching = False

    def register(self, app: Any) -> None:
        app.event("app_home_opened")(self._opened)
        app.action(SET_LIMITS)(self._set_limits)
        app.action(EXPORT)(self._export)
        app.view(LIMITS_CALLBACK)(self._submitted)
        self._watching = self.service.watch(self.changed)

    async def _token(self, team_id: str) -> str | None:
        return await self._token_for(team_id) if self._token_for else None

    async def _command(self, team_id: str, user: str, text: str = "") -> QuotaCommand:
        command = translate.quota_command(
            {"user_id": user, "text": text}, is_admin=False, team_id=team_id
        )
        # users.info also gives the person's time zone, so it is asked (cached) even
        # of an admin the config names.
        try:
            workspace_admin = await self._is_admin(team_id, user, self.client)
        except PlatformError:
            if not self.service.is_admin(command):
                raise
            workspace_admin = False
        admin = workspace_admin or self.service.is_admin(command)
        return translate.quota_command(
            {"user_id": user, "text": text}, is_admin=admin, team_id=team_id
        )

    async def publish(self, team_id: str, user: str) -> None:
        """Render and publish ``user``'s Home (raises `BotError`)."""
        command = await self._command(team_id, user)
        picture = await self.service.picture(command)
        view = home_view(picture, tz=self._tz_of(team_id, user), now=self.service.now())
        await call(
            self.client,
            "views.publish",
            token=await self._token(team_id),
            user_id=user,
            view=json.dumps(view),
        )

    async def _opened(self, event: dict[str, Any], context: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        team_id = _team(context)
        user = str(event.get("user", ""))
        viewers = self._viewers.setdefault(translate.team_key(team_id), {})
        viewers[user] = time.monotonic()
        if self._following is None and self._watching and not self._closed:
            # Homes open here also refresh after a quota change made in another process.
            self._following = self.spawn(self.service.follow_changes())
        if len(viewers) > VIEWERS_MAX:
            del viewers[min(viewers, key=viewers.__getitem__)]
        try:
            await self.publish(team_id, user)
        except BotError as exc:
            log.warning("Home of %s not published: %r", user, exc)

    # ---- refresh ---------------------------------------------------------------

    def changed(self, team: str, user: str | None) -> None:
        """The core's word that ``user``'s use (or, with None, the team's quotas)
        changed: refresh the Homes that show it, once per burst. Only Homes opened
        lately are refreshed: Slack sends `app_home_opened` each time the tab is shown,
        and that publishes a fresh one, so refreshing every asker's Home after every
        answer would be work (and Slack calls) nobody sees."""
        if self._closed or not team.startswith(translate.PLATFORM + ":"):
            return
        viewers = self._viewers.get(team, {})
        horizon = time.monotonic() - VIEWERS_TTL_S
        users = [u for u, t in viewers.items() if t >= horizon and user in (None, u)]
        team_id = team.partition(":")[2]
        for u in users:
            if (team, u) not in self._pending:
                self._pending[(team, u)] = self.spawn(self._refresh(team, team_id, u))

    async def _refresh(self, team: str, team_id: str, user: str) -> None:
        try:
            await asyncio.sleep(self._debounce_s)
        finally:
            self._pending.pop((team, user), None)
        try:
            await self.publish(team_id, user)
        except BotError as exc:
            log.info("Home of %s not refreshed: %r", user, exc)

    async def close(self) -> None:
        """Drop refreshes still waiting out their debounce; let work already talking to
        Slack or the database finish (briefly), so no connection is cut mid-query."""
        self._closed = True
        if self._following is not None:
            self._following.cancel()
        for task in list(self._pending.values()):
            task.cancel()
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- admin buttons ---------------------------------------------------------

    async def _set_limits(self, ack: Any, body: dict[str, Any], context: Any) -> None:
        await ack()
        team_id, user = _team(context), str((body.get("user") or {}).get("id", ""))
        try:
            command = await self._command(team_id, user)
            if not self.service.is_admin(command):
                raise NotAllowed("set")
            picture = await self.service.picture(command)
            await call(
                self.client,
                "views.open",
                token=await self._token(team_id),
                trigger_id=body.get("trigger_id"),
                view=json.dumps(limits_modal(picture)),
            )
        except BotError as exc:
            log.warning("limits modal not opened for %s: %r", user, exc)

    async def _export(self, ack: Any, body: dict[str, Any], context: Any) -> None:
        await ack()
        team_id, user = _team(context), str((body.get("user") or {}).get("id", ""))
        self.spawn(self._send_export(team_id, user, text="export"))

    async def _send_export(self, team_id: str, user: str, *, text: str) -> None:
        try:
            command = await self._command(team_id, user, text)
            result = await self.service.quota(command)
            if result.file is None:
                token = await self._token(team_id)
                dm = await open_dm(self.client, user, token=token)
                await call(
                    self.client, "chat.postMessage", token=token, channel=dm, text=result.text
                )
                return
            await self.send_privately(team_id, user, result.file)
        except BotError as exc:
            log.warning("export for %s not sent: %r", user, exc)

    async def send_privately(self, team_id: str, user: str, file: ExportFile) -> None:
        """The export as a file in ``user``'s direct messages with the bot."""
        token = await self._token(team_id)
        dm = await open_dm(self.client, user, token=token)
        await upload_file(
            self.client,
            channel=dm,
            filename=file.name,
            content=file.content,
            title=messages.EXPORT_FILE_TITLE,
            comment=quota_mrkdwn(messages.export_attached(rows=file.rows, weeks=file.weeks)),
            token=token,
        )

    def spawn(self, work: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # a task nobody references can be collected mid-flight
        task.add_done_callback(self._tasks.discard)
        return task

    async def _submitted(self, ack: Any, body: dict[str, Any], context: Any) -> None:
        team_id, user = _team(context), str((body.get("user") or {}).get("id", ""))
        typed = submitted_limits(body.get("view") or {})
        errors: dict[str, str] = {}
        try:
            command = await self._command(team_id, user)
        except BotError as exc:
            first = LIMIT_BLOCK + next(iter(typed), "")
            await ack(response_action="errors", errors={first: self.service.error_text(exc)})
            return
        if not self.service.is_admin(command):
            first = LIMIT_BLOCK + next(iter(typed), "")
            text = self.service.error_text(NotAllowed("set"))
            await ack(response_action="errors", errors={first: text})
            return
        # The same rules as `/quota set <model> <n>`: parsed by the same grammar.
        # Slack keeps a required input from being sent empty; one that is counts as
        # unchanged.
        typed = {m: v for m, v in typed.items() if v}
        wanted: dict[str, int] = {}
        for model, value in typed.items():
            try:
                wanted[model] = parse_quota(f"set {model} {value}").value or 0
            except UsageError as exc:
                errors[LIMIT_BLOCK + model] = quota_mrkdwn(str(exc))
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        current = {m.model: m.limit for m in (await self._picture_or_none(command))}
        changed = [m for m, v in wanted.items() if current.get(m) != v]
        for model in changed:
            result = await self.service.quota(
                translate.quota_command(
                    {"user_id": user, "text": f"set {model} {wanted[model]}"},
                    is_admin=command.is_admin,
                    team_id=team_id,
                )
            )
            if not result.ok:
                await ack(response_action="errors", errors={LIMIT_BLOCK + model: result.text})
                return
        await ack()

    async def _picture_or_none(self, command: QuotaCommand) -> Sequence[Any]:
        try:
            return (await self.service.picture(command)).usage.models
        except BotError:
            return ()


def _team(context: Any) -> str:
    result = context.get("authorize_result")
    return str(getattr(result, "team_id", None) or context.get("team_id") or "")
