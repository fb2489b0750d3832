"""Where one question's status and answer go in Slack, rebuilt from its saved *route*
(see `bot.dispatch`), so a worker that resumes a request edits the same status message
and skips the answer pieces already posted."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import messages as slack_messages
from adapters.slack.render import SlackRenderer, mrkdwn, slack_markdown, streamable_markdown
from adapters.slack.route import SlackRoute
from adapters.slack.translate import thread_key
from adapters.slack.webapi import call, persist
from bot import messages
from bot.delivery import RoutedReplier, SaveRoute, answer_pieces
from bot.errors import PlatformError
from bot.intake import Parsed
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
# Native streaming: markdown_text takes 12,000 characters a call; a streamed answer
# longer than this is delivered as ordinary messages instead.
STREAM_MAX_CHARS = 11_000
# chat.appendStream calls per minute per workspace, shared by every answer streaming
# there (Slack rate-limits appends per workspace; Tier 4 is about 100 a minute).
STREAM_APPENDS_PER_MIN = 90.0
STREAM_APPENDS_BURST = 20.0
# startStream errors that mean "not here": the workspace, plan or token has no
# streaming. Remembered per workspace; its answers go back to status edits.
STREAM_UNAVAILABLE = frozenset(
    {
        "unknown_method",
        "method_deprecated",
        "not_allowed_token_type",
        "missing_scope",
        "feature_not_enabled",
        "not_allowed",
        "access_denied",
        "channel_type_not_supported",
    }
)
# The reasoning shows in the stream as one task of a plan (chunks of type plan_update and
# task_update); a task's details hold at most this many characters.
TASK_DETAILS_MAX = 256
REASONING_TASK_ID = "reasoning"
# Inside an assistant thread (the app's DM), the reasoning's last lines also rotate
# under the status line (assistant.threads.setStatus loading_messages), each this long
# at most, updated no oftener than status edits.
ASSISTANT_LINES = 3
ASSISTANT_LINE_MAX = 100
# The stream is over for good: Slack ended it (about five minutes after it began) or
# the asker pressed Stop.
STREAM_OVER = frozenset({"message_not_in_streaming_state", "stopped_by_user"})


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


@dataclass(slots=True)
class Streaming:
    """Native streaming, per process: which workspaces lack it, and the append budget
    each workspace shares."""

    appends: EditBudget = field(
        default_factory=lambda: EditBudget(
            per_minute=STREAM_APPENDS_PER_MIN, burst=STREAM_APPENDS_BURST
        )
    )
    unavailable: set[str] = field(default_factory=set)


__all__ = ["EditBudget", "SlackReplier", "Streaming", "call"]


class SlackReplier(RoutedReplier[SlackRoute]):
    """Implements `bot.ports.Replier` for one request, along its `SlackRoute`."""

    def __init__(
        self,
        client: AsyncWebClient,
        route: SlackRoute,
        save: SaveRoute,
        *,
        clock: Callable[[], float] = time.monotonic,
        parsed: Parsed | None = None,
        token: Callable[[], Awaitable[str | None]] | None = None,
        budget: EditBudget | None = None,
        streaming: Streaming | None = None,
    ) -> None:
        super().__init__(route, save, edit_interval_s=EDIT_INTERVAL_S, clock=clock)
        self._parsed = parsed  # what intake parsed: the "asked" line quotes it
        self._budget = budget
        self._streaming = streaming
        self._streamed: str | None = None  # Markdown streamed so far by this process
        self._task_shown = False  # the stream began with a reasoning task
        self._thinking_task = False  # ...which is still in progress
        self._assistant_at: float | None = float("-inf")  # None: not an assistant thread
        self._stream_over: str | None = None  # why the stream ended early, if it did
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
        root = self.route.thread_ts
        if not root:
            return None
        return thread_key(self.route.team_id, self.route.channel, str(root))

    async def _post(self, text: str, *, thread_ts: str | None) -> str:
        args: dict[str, Any] = {
            "channel": self.route.channel,
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
                await self._call("conversations.join", channel=self.route.channel)
            except PlatformError:
                raise PlatformError(
                    f"cannot post in {self.route.channel}",
                    code=exc.code,
                    user_text=slack_messages.NOT_IN_CHANNEL,
                ) from exc
            resp = await self._call("chat.postMessage", **args)
        return str(resp.get("ts", ""))

    async def _thread_root(self) -> str:
        if self.route.thread_ts:
            return str(self.route.thread_ts)
        # A slash command cannot run in a thread: start one with a visible message.
        parsed = self._parsed
        asked = messages.asked(parsed.question if parsed else "", parsed.model if parsed else "")
        text = f"<@{self.route.user}> " + mrkdwn(asked)
        ts = await self._post(text, thread_ts=None)
        await self.remember(thread_ts=ts)
        return ts

    async def progress(self, progress: Progress) -> None:
        root = await self._thread_root()
        if progress.reasoning and not progress.partial:
            await self._assistant_status(progress.reasoning, root)
        if (
            progress.reasoning
            and self.route.status_ts
            and await self._stream_reasoning(progress.reasoning, root)
        ):
            return
        if progress.partial and self.route.status_ts and await self._stream(progress.partial, root):
            return
        if not self.route.status_ts:
            # The first sign of life for the asker: worth a retry if Slack hiccups.
            first = self._status_text(progress)
            ts = await persist(lambda: self._post(first, thread_ts=root))
            self.edited_now()
            await self.remember(status_ts=ts)
            return
        # Checked before the text is rendered: with many answers streaming, most updates
        # are dropped here, and rendering each would cost more than the edits sent.
        if not self.edit_due():
            return
        if self._budget is not None and not self._budget.take(self.route.team_id):
            return
        try:
            await self._edit_status(self._status_text(progress))
        except PlatformError as exc:
            log.info("status update skipped: %s", exc.code)

    async def _edit_status(self, text: str) -> None:
        await self._call(
            "chat.update", channel=self.route.channel, ts=self.route.status_ts, text=text
        )

    @staticmethod
    def _status_text(progress: Progress) -> str:
        if progress.partial:
            tail = progress.partial[-PARTIAL_TAIL:]
            thinking = messages.thinking(progress.model, progress.elapsed_s)
            return mrkdwn(tail) + "\n\n_" + thinking + "_"
        if progress.reasoning:
            return mrkdwn(
                messages.reasoning_status(progress.reasoning)
                + "\n\n"
                + messages.thinking(progress.model, progress.elapsed_s)
            )
        return mrkdwn(
            messages.thinking(progress.model, progress.elapsed_s, progress.queued_position)
        )

    # ---- native streaming ----------------------------------------------------------

    async def _stream(self, partial: str, root: str) -> bool:
        """Stream the answer so far; False leaves it to the status message instead."""
        team = self.route.team_id
        if self._streaming is None or not self._may_stream(team):
            return False
        thought, markdown = self._without_thought(streamable_markdown(partial))
        if self._streamed is None:
            return await self._start_stream(markdown[:STREAM_MAX_CHARS], root, team)
        if self._stream_over or not markdown.startswith(self._streamed):
            return True  # nothing more can be shown; the final answer settles it
        delta = markdown[len(self._streamed) : STREAM_MAX_CHARS]
        if not delta or not self.edit_due() or not self._streaming.appends.take(team):
            return True
        if not await self._append_stream("stream", **self._text_args(delta, thought)):
            return True
        self._streamed += delta
        self._thinking_task = False  # closed by the call that carried the first words
        return True

    def _may_stream(self, team: str) -> bool:
        if self._streaming is None or team in self._streaming.unavailable:
            return False
        # Another worker's stream: what it showed is unknown here.
        return not (self.route.stream_ts and self._streamed is None)

    async def _start_stream(self, markdown: str, root: str, team: str) -> bool:
        if not markdown.strip():
            return False
        ts = await self._open_stream("stream", root, team, markdown_text=markdown)
        if ts is None:
            return False
        self._streamed = markdown
        self.edited_now()
        await self.remember(stream_ts=ts)
        return True

    async def _open_stream(self, what: str, root: str, team: str, **content: Any) -> str | None:
        """chat.startStream in the thread: the stream's ts, or None when Slack refused
        (a workspace without native streaming is remembered, and edits instead)."""
        assert self._streaming is not None
        try:
            resp = await self._call(
                "chat.startStream",
                channel=self.route.channel,
                thread_ts=root,
                recipient_team_id=team,
                recipient_user_id=self.route.user,
                **content,
            )
        except PlatformError as exc:
            if exc.code in STREAM_UNAVAILABLE:
                log.info("no native streaming in %s (%s): editing a status message", team, exc.code)
                self._streaming.unavailable.add(team)
            else:
                log.info("%s not started: %s", what, exc.code)
            return None
        return str(resp.get("ts", ""))

    async def _append_stream(self, what: str, **content: Any) -> bool:
        """chat.appendStream; False when Slack refused it (a stream that is over, or
        stopped by the asker, takes no more)."""
        try:
            await self._call(
                "chat.appendStream", channel=self.route.channel, ts=self.route.stream_ts, **content
            )
        except PlatformError as exc:
            if exc.code in STREAM_OVER:
                self._stream_over = exc.code
            log.info("%s append skipped: %s", what, exc.code)
            return False
        return True

    async def _assistant_status(self, reasoning: str, root: str) -> None:
        """In an assistant thread, the reasoning's last lines under its status line.
        Only the app's DM holds assistant threads; Slack refusing the call elsewhere
        (or for an app without the feature) ends the attempts for this question."""
        channel = str(self.route.channel)
        if self._assistant_at is None or not channel.startswith("D"):
            return
        now = self._clock()
        if now - self._assistant_at < EDIT_INTERVAL_S:
            return
        self._assistant_at = now
        lines = [line[:ASSISTANT_LINE_MAX] for line in reasoning.splitlines()[-ASSISTANT_LINES:]]
        try:
            await self._call(
                "assistant.threads.setStatus",
                channel_id=channel,
                thread_ts=root,
                status=slack_messages.ASSISTANT_THINKING,
                loading_messages=lines,
            )
        except PlatformError as exc:
            self._assistant_at = None
            log.info("no assistant thread status: %s", exc.code)

    def _without_thought(self, markdown: str) -> tuple[str | None, str]:
        """With a reasoning task in the stream, the answer's collapsed reasoning ("💭
        Thought for 42 s") belongs to that task rather than to the streamed text."""
        if not self._task_shown or not markdown.startswith("💭 "):
            return None, markdown
        thought, sep, rest = markdown.partition("\n\n")
        return (thought, rest) if sep else (None, markdown)

    def _text_args(self, markdown: str, thought: str | None) -> dict[str, Any]:
        """Arguments that add ``markdown`` to the stream, closing the reasoning task
        (collapsed to ``thought``) in the same call while it is still open."""
        if not self._thinking_task:
            return {"markdown_text": markdown}
        title, _, kept = (thought or "").partition("\n")
        done: dict[str, Any] = {
            "type": "task_update",
            "id": REASONING_TASK_ID,
            "title": title or slack_messages.THINKING_TASK,
            "status": "complete",
        }
        if kept:
            done["details"] = _task_text(kept)
        return {"chunks": [done, {"type": "markdown_text", "text": markdown}]}

    async def _stream_reasoning(self, reasoning: str, root: str) -> bool:
        """Show the reasoning so far as a task in the native stream; False leaves it
        to the status message instead."""
        team = self.route.team_id
        if self._streaming is None or not self._may_stream(team):
            return False
        if self._streamed:
            return True  # the answer is streaming: the task was closed
        task = {
            "type": "task_update",
            "id": REASONING_TASK_ID,
            "title": slack_messages.THINKING_TASK,
            "status": "in_progress",
            "details": _task_text(reasoning),
        }
        if self._streamed is None:
            plan = {"type": "plan_update", "title": slack_messages.THINKING_PLAN}
            ts = await self._open_stream(
                "reasoning stream", root, team, task_display_mode="plan", chunks=[plan, task]
            )
            if ts is None:
                return False
            self._streamed = ""
            self._task_shown = self._thinking_task = True
            self.edited_now()
            await self.remember(stream_ts=ts)
            return True
        if self._stream_over or not self.edit_due() or not self._streaming.appends.take(team):
            return True
        await self._append_stream("reasoning", chunks=[task])
        return True

    async def _finish_stream(self, text: str, footer: str) -> bool:
        """End the stream with the rest of the answer and the footer. False: the
        stream cannot carry the answer exactly (it is gone, too long, or showed text
        the answer does not start with), so it is taken away for ordinary messages."""
        stream_ts = str(self.route.stream_ts)
        if self._stream_over == "stopped_by_user":
            return True  # the asker stopped it: the answer ends where they stopped it
        markdown = slack_markdown(text)
        thought, markdown = self._without_thought(markdown)
        rest = f"{markdown[len(self._streamed or '') :]}\n\n_{footer}_"
        if (
            self._streamed is not None
            and self._stream_over is None
            and markdown.startswith(self._streamed)
            and len(markdown) <= STREAM_MAX_CHARS
        ):
            try:
                await self._call(
                    "chat.stopStream",
                    channel=self.route.channel,
                    ts=stream_ts,
                    **self._text_args(rest, thought),
                )
                return True
            except PlatformError as exc:
                if exc.code == "stopped_by_user":
                    return True
                log.info("stream could not be finished (%s): posting the answer", exc.code)
        await self._delete(stream_ts)
        await self.remember(stream_ts=None)
        return False

    async def _delete(self, ts: str) -> None:
        try:
            await self._call("chat.delete", channel=self.route.channel, ts=ts)
        except PlatformError as exc:
            log.info("could not delete %s: %s", ts, exc.code)

    async def answer(self, text: str, *, footer: str) -> None:
        if self.route.streamed or (
            self.route.stream_ts and await self._finish_stream(text, footer)
        ):
            # The streamed message holds the answer (perhaps since an earlier
            # attempt): the status message has done its job.
            await self.remember(streamed=True)
            if self.route.status_ts:
                await self._delete(str(self.route.status_ts))
                await self.remember(status_ts=None)
            return
        pieces = answer_pieces(text, "\n\n" + mrkdwn(f"_{footer}_"), self._renderer)
        root = await self._thread_root()

        async def post(piece: str) -> None:
            await persist(lambda: self._post(piece, thread_ts=root))

        async def replace(piece: str) -> None:
            await persist(lambda: self._replace_status(piece, root))

        try:
            await self.deliver(
                pieces,
                replace_status=replace,
                post=post,
                has_status=bool(self.route.status_ts),
            )
        except PlatformError as exc:
            delivered = self.route.delivered
            if not delivered or exc.user_text:
                raise
            # Part of the answer is showing: `fail` adds a note under it with these words.
            raise PlatformError(
                f"answer cut after piece {delivered} of {len(pieces)}: {exc}",
                code=exc.code,
                user_text=slack_messages.answer_incomplete(delivered, len(pieces)),
            ) from exc

    async def _replace_status(self, text: str, root: str) -> None:
        try:
            await self._edit_status(text)
        except PlatformError as exc:
            if exc.code not in ("msg_too_long", "message_not_found", "cant_update_message"):
                raise
            await self._post(text, thread_ts=root)

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        if self.route.stream_ts:
            # Part of an answer that failed would mislead: the error takes its place.
            await self._delete(str(self.route.stream_ts))
            await self.remember(stream_ts=None)
        body = mrkdwn(text)
        root = self.route.thread_ts
        if not root:
            # Nothing visible exists yet (a slash command refused before its thread
            # was started): only the asker hears about it.
            await self._tell_privately(body)
        elif self.route.status_ts and not self.route.delivered:
            await self._replace_status(body, str(root))
        else:
            # Pieces of the answer already delivered stay as they are: the status
            # message holds the first of them now.
            await self._post(body, thread_ts=str(root))

    async def _tell_privately(self, text: str) -> None:
        try:
            await self._call(
                "chat.postEphemeral",
                channel=self.route.channel,
                user=self.route.user,
                text=text,
            )
            return
        except PlatformError as exc:
            if not self.route.response_url:
                raise
            log.info("ephemeral message failed (%s); using the response URL", exc.code)
        # A slash command's response_url works even where the bot is not a member.
        webhook = AsyncWebhookClient(self.route.response_url)
        try:
            await webhook.send(text=text, response_type="ephemeral")
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise PlatformError(f"Slack response_url failed: {type(exc).__name__}") from exc


def _task_text(text: str) -> str:
    """``text`` within a task's details limit, keeping its end (the newest thought)."""
    if len(text) <= TASK_DETAILS_MAX:
        return text
    return "…" + text[-(TASK_DETAILS_MAX - 1) :]
