"""Where one question's status and answer go in Slack, rebuilt from its saved *route*
(see `bot.dispatch`), so a worker that resumes a request edits the same status message
and skips the answer pieces already posted."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import messages as slack_messages
from adapters.slack.render import SlackRenderer, mrkdwn
from adapters.slack.translate import thread_key
from bot import messages
from bot.delivery import RoutedReplier, SaveRoute, answer_pieces
from bot.errors import PlatformError
from bot.ports import FailureKind, Progress

log = logging.getLogger(__name__)

# Slack allows about one message a second per channel; edits of one status message
# are spaced at least this far apart (the final answer is never held back).
EDIT_INTERVAL_S = 1.5
PARTIAL_TAIL = 3_000  # how much of a streaming answer the status message shows
# chat.update is Tier 3 (about 50 a minute per workspace, shared by every message):
# status edits get part of it, so the final answers' edits are not refused.
STATUS_EDITS_PER_MIN = 30.0
STATUS_EDITS_BURST = 10.0


@dataclass(slots=True)
class EditBudget:
    """A token bucket per workspace for *optional* status edits; answers never wait on
    it. One per process, shared by every replier."""

    per_minute: float = STATUS_EDITS_PER_MIN
    burst: float = STATUS_EDITS_BURST
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, team: str) -> bool:
        now = self.clock()
        tokens, then = self._buckets.get(team, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[team] = (tokens, now)
            return False
        self._buckets[team] = (tokens - 1.0, now)
        return True


async def call(
    client: AsyncWebClient, method: str, *, token: str | None = None, **kw: Any
) -> dict[str, Any]:
    """One Web API call; Slack's errors become `PlatformError` here, once. (429s were
    already retried after Retry-After by the client's retry handler.)"""
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        resp = await client.api_call(method, json=kw, headers=headers)
    except SlackApiError as exc:
        code = exc.response.get("error") if exc.response is not None else None
        raise PlatformError(f"Slack {method} failed: {code}", code=code) from exc
    except (SlackClientError, OSError, TimeoutError) as exc:
        raise PlatformError(f"Slack {method} failed: {type(exc).__name__}") from exc
    return dict(resp.data) if isinstance(resp.data, dict) else {}


class SlackReplier(RoutedReplier):
    """Implements `bot.ports.Replier` for one request.

    Route keys: ``kind`` ("command" or "message"), ``channel``, ``user``, ``thread_ts``
    (the thread's root once known), ``status_ts`` (the status message), ``delivered``
    (answer pieces posted), ``model``, ``question``, ``response_url``.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        route: dict[str, Any],
        save: SaveRoute,
        *,
        clock: Callable[[], float] = time.monotonic,
        token: Callable[[], Awaitable[str | None]] | None = None,
        budget: EditBudget | None = None,
    ) -> None:
        super().__init__(route, save, edit_interval_s=EDIT_INTERVAL_S, clock=clock)
        self._budget = budget
        self._client = client
        self._renderer = SlackRenderer()
        self._token_source = token  # multi-workspace: the team's own bot token
        self._token: str | None = None

    async def _call(self, method: str, **kw: Any) -> dict[str, Any]:
        if self._token_source is not None and self._token is None:
            self._token = await self._token_source()
        return await call(self._client, method, token=self._token, **kw)

    @property
    def thread(self) -> str | None:
        root = self.route.get("thread_ts")
        if not root:
            return None
        return thread_key(str(self.route.get("team_id", "")), self.route["channel"], str(root))

    async def _post(self, text: str, *, thread_ts: str | None) -> str:
        args: dict[str, Any] = {
            "channel": self.route["channel"],
            "text": text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            args["thread_ts"] = thread_ts
        try:
            resp = await self._call("chat.postMessage", **args)
        except PlatformError as exc:
            if exc.code not in ("not_in_channel", "channel_not_found"):
                raise
            # Public channels can be joined (channels:join); others need an invite.
            try:
                await self._call("conversations.join", channel=self.route["channel"])
            except PlatformError:
                raise PlatformError(
                    f"cannot post in {self.route['channel']}",
                    code=exc.code,
                    user_text=slack_messages.NOT_IN_CHANNEL,
                ) from exc
            resp = await self._call("chat.postMessage", **args)
        return str(resp.get("ts", ""))

    async def _thread_root(self) -> str:
        if self.route.get("thread_ts"):
            return str(self.route["thread_ts"])
        # A slash command cannot run in a thread: start one with a visible message.
        asked = messages.asked(self.route.get("question", ""), self.route.get("model", ""))
        text = f"<@{self.route['user']}> " + mrkdwn(asked)
        ts = await self._post(text, thread_ts=None)
        await self.remember(thread_ts=ts)
        return ts

    async def progress(self, progress: Progress) -> None:
        root = await self._thread_root()
        if progress.partial:
            tail = progress.partial[-PARTIAL_TAIL:]
            status = (
                mrkdwn(tail) + "\n\n_" + messages.thinking(progress.model, progress.elapsed_s) + "_"
            )
        else:
            status = mrkdwn(
                messages.thinking(progress.model, progress.elapsed_s, progress.queued_position)
            )
        if not self.route.get("status_ts"):
            ts = await self._post(status, thread_ts=root)
            self.edited_now()
            await self.remember(status_ts=ts)
            return
        if not self.edit_due():
            return
        if self._budget is not None and not self._budget.take(str(self.route.get("team_id"))):
            return
        try:
            await self._call(
                "chat.update",
                channel=self.route["channel"],
                ts=self.route["status_ts"],
                text=status,
            )
        except PlatformError as exc:
            log.info("status update skipped: %s", exc.code)

    async def answer(self, text: str, *, footer: str) -> None:
        pieces = answer_pieces(text, "\n\n" + mrkdwn(f"_{footer}_"), self._renderer)
        root = await self._thread_root()

        async def post(piece: str) -> None:
            await self._post(piece, thread_ts=root)

        async def replace(piece: str) -> None:
            await self._replace_status(piece, root)

        await self.deliver(
            pieces, replace_status=replace, post=post, has_status=bool(self.route.get("status_ts"))
        )

    async def _replace_status(self, text: str, root: str) -> None:
        try:
            await self._call(
                "chat.update",
                channel=self.route["channel"],
                ts=self.route["status_ts"],
                text=text,
            )
        except PlatformError as exc:
            if exc.code not in ("msg_too_long", "message_not_found", "cant_update_message"):
                raise
            await self._post(text, thread_ts=root)

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        body = mrkdwn(text)
        root = self.route.get("thread_ts")
        if not root:
            # Nothing visible exists yet (a slash command refused before its thread
            # was started): only the asker hears about it.
            await self._tell_privately(body)
        elif self.route.get("status_ts"):
            await self._replace_status(body, str(root))
        else:
            await self._post(body, thread_ts=str(root))

    async def _tell_privately(self, text: str) -> None:
        try:
            await self._call(
                "chat.postEphemeral",
                channel=self.route["channel"],
                user=self.route["user"],
                text=text,
            )
            return
        except PlatformError as exc:
            if not self.route.get("response_url"):
                raise
            log.info("ephemeral message failed (%s); using the response URL", exc.code)
        # A slash command's response_url works even where the bot is not a member.
        webhook = AsyncWebhookClient(self.route["response_url"])
        try:
            await webhook.send(text=text, response_type="ephemeral")
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise PlatformError(f"Slack response_url failed: {type(exc).__name__}") from exc
