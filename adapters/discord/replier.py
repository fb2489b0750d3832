"""Where one question's status and answer go in Discord: a thread started for it (or
the thread it was asked in), rebuilt from its saved route so a resumed request edits
the same status message and skips pieces already posted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import discord

from adapters.discord import messages as discord_messages
from adapters.discord.route import MESSAGE, SLASH, DiscordRoute
from adapters.discord.translate import MESSAGE_LIMIT, fit, thread_key, thread_name
from bot import messages
from bot.delivery import RoutedReplier, SaveRoute, answer_pieces
from bot.errors import PlatformError
from bot.intake import Parsed
from bot.ports import FailureKind, Progress

log = logging.getLogger(__name__)
EDIT_INTERVAL_S = 1.5  # status edits: well inside Discord's 5 per 5 s per channel
NO_PINGS = discord.AllowedMentions.none()
# A mention waiting in the queue gets this reaction rather than a thread: its thread is
# started only once it is answered, so a refusal never leaves an empty thread behind.
QUEUED_REACTION = "\N{HOURGLASS WITH FLOWING SAND}"


class DiscordRenderer:
    max_chars = MESSAGE_LIMIT

    def to_platform(self, markdown: str) -> str:
        return markdown  # Discord speaks Markdown; mentions were neutralised by the core


def _platform_error(exc: discord.HTTPException, what: str) -> PlatformError:
    if isinstance(exc, discord.Forbidden):
        return PlatformError(
            f"Discord {what}: forbidden", code=str(exc.code), user_text=discord_messages.CANNOT_POST
        )
    return PlatformError(f"Discord {what} failed: {exc.status} {exc.code}", code=str(exc.code))


class DiscordReplier(RoutedReplier[DiscordRoute]):
    """Implements `bot.ports.Replier` for one request, along its `DiscordRoute`."""

    def __init__(
        self,
        client: discord.Client,
        route: DiscordRoute,
        save: SaveRoute,
        *,
        parsed: Parsed | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(route, save, edit_interval_s=EDIT_INTERVAL_S, clock=clock)
        # What intake parsed: the thread is named after it, the "asked" line quotes it.
        self._question = parsed.question if parsed else ""
        self._model = parsed.model if parsed else ""
        self._client = client
        self._pointed = False  # the interaction's reply no longer says "thinking…"
        self._reacted = False  # the queued mention carries QUEUED_REACTION

    @property
    def thread(self) -> str | None:
        tid = self.route.thread_id
        return thread_key(int(self.route.guild_id), int(tid)) if tid else None

    async def _channel(self, cid: int) -> Any:
        channel = self._client.get_channel(cid)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(cid)
            except discord.HTTPException as exc:
                raise _platform_error(exc, "fetch channel") from exc
        return channel

    async def _thread(self) -> Any:
        tid = self.route.thread_id
        if tid:
            thread = await self._channel(int(tid))
        else:
            thread = await self._start_thread()
            await self.remember(thread_id=str(thread.id))
        if self.route.token and not self._pointed:
            await self._point_interaction_at(thread)
        return thread

    async def _start_thread(self) -> Any:
        channel = await self._channel(int(self.route.channel_id))
        name = thread_name(self._question)
        try:
            if self.route.message_id:
                return await channel.get_partial_message(int(self.route.message_id)).create_thread(
                    name=name
                )
            # Without type=public_thread Discord makes a *private* thread.
            return await channel.create_thread(
                name=name, type=discord.ChannelType.public_thread, auto_archive_duration=1440
            )
        except discord.HTTPException as exc:
            raise _platform_error(exc, "create thread") from exc

    def _webhook(self) -> discord.Webhook:
        """The interaction's follow-up webhook (its token lives 15 minutes)."""
        return discord.Webhook.partial(
            int(self.route.app_id), self.route.token, client=self._client
        )

    async def _point_interaction_at(self, thread: Any) -> None:
        """Replace the interaction's "thinking…" with a link to the thread, or, when
        /reason was run inside that thread, with a note that the answer follows."""
        # Once per replier: the one showing a queue position, the one answering and a
        # resumed attempt may each write it, always the same text.
        self._pointed = True
        asked_here = str(thread.id) == str(self.route.channel_id)
        where = discord_messages.ANSWERED_BELOW if asked_here else f"→ {thread.mention}"
        try:
            asked = messages.asked(self._question, self._model)
            await self._webhook().edit_message(
                "@original",
                content=fit(f"<@{self.route.user}> {asked}\n{where}"),
                allowed_mentions=NO_PINGS,
            )
        except discord.HTTPException as exc:
            # The token lives 15 minutes; the answer goes to the thread regardless.
            log.info("interaction follow-up failed: %s", exc.code)

    async def _send(self, channel: Any, text: str) -> int:
        try:
            msg = await channel.send(fit(text), allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            raise _platform_error(exc, "send") from exc
        return int(msg.id)

    async def _edit(self, channel: Any, mid: int, text: str) -> None:
        try:
            await channel.get_partial_message(mid).edit(
                content=fit(text), allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:
            raise _platform_error(exc, "edit") from exc

    def _unthreaded_mention(self) -> bool:
        """A mention in a channel whose thread has not been started yet."""
        return (
            self.route.kind == MESSAGE and bool(self.route.message_id) and not self.route.thread_id
        )

    async def _react_queued(self) -> None:
        if self._reacted:
            return
        self._reacted = True
        channel = await self._channel(int(self.route.channel_id))
        try:
            await channel.get_partial_message(int(self.route.message_id)).add_reaction(
                QUEUED_REACTION
            )
        except discord.HTTPException as exc:
            log.info("could not mark a queued mention: %s", exc.code)

    async def _reply_to_mention(self, text: str) -> None:
        """A refusal of a mention: a reply to it, pinging no one, and no thread."""
        channel = await self._channel(int(self.route.channel_id))
        mention = discord.MessageReference(
            message_id=int(self.route.message_id),
            channel_id=int(self.route.channel_id),
            guild_id=int(self.route.guild_id),
            fail_if_not_exists=False,  # the asker may have deleted it meanwhile
        )
        try:
            await channel.send(
                fit(text), reference=mention, allowed_mentions=NO_PINGS, mention_author=False
            )
        except discord.HTTPException as exc:
            raise _platform_error(exc, "reply") from exc

    async def progress(self, progress: Progress) -> None:
        if progress.queued_position is not None and self._unthreaded_mention():
            await self._react_queued()
            return
        thread = await self._thread()
        status = messages.thinking(progress.model, progress.elapsed_s, progress.queued_position)
        if progress.partial:
            tail = progress.partial[-(MESSAGE_LIMIT - 200) :]
            status = f"{tail}\n\n-# {status}"
        elif progress.reasoning:
            # The core keeps the reasoning short (a few hundred characters): with the
            # status line it stays far inside the 2,000-character limit `fit` enforces.
            status = f"{messages.reasoning_status(progress.reasoning)}\n\n-# {status}"
        if not self.route.status_id:
            await self.remember(status_id=str(await self._send(thread, status)))
            self.edited_now()
            return
        if not self.edit_due():
            return
        try:
            await thread.typing()  # the indicator lasts ten seconds
            await self._edit(thread, int(self.route.status_id), status)
        except (PlatformError, discord.HTTPException) as exc:
            log.info("status update skipped: %r", exc)

    async def answer(self, text: str, *, footer: str) -> None:
        thread = await self._thread()
        pieces = answer_pieces(text, f"\n-# {footer}", DiscordRenderer())

        async def post(piece: str) -> None:
            await self._send(thread, piece)

        async def replace(piece: str) -> None:
            await self._edit(thread, int(self.route.status_id), piece)

        await self.deliver(
            pieces, replace_status=replace, post=post, has_status=bool(self.route.status_id)
        )

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        if self.route.kind == SLASH and not self.route.status_id:
            # Refused before any status was shown, whether /reason was run in a channel
            # or inside a thread: its deferred reply, still "thinking…", says so.
            self._pointed = True
            try:
                await self._webhook().edit_message(
                    "@original", content=fit(text), allowed_mentions=NO_PINGS
                )
                return
            except discord.HTTPException as exc:
                if not self.route.thread_id:
                    raise _platform_error(exc, "interaction reply") from exc
                log.info("interaction reply failed: %s; telling the thread", exc.code)
        if self._unthreaded_mention():
            await self._reply_to_mention(text)
            return
        thread = await self._thread()
        if self.route.status_id:
            await self._edit(thread, int(self.route.status_id), text)
        else:
            await self._send(thread, text)
