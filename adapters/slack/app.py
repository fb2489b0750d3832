"""The Slack app on slack-bolt's `AsyncApp`: listeners read like a list, and each does
only what must happen before Slack is acknowledged — validate, write the request down
(`Dispatcher.submit`), acknowledge. The model call runs later, in the dispatcher."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import translate
from adapters.slack.render import mrkdwn, quota_blocks
from adapters.slack.replier import EditBudget, SlackReplier, Streaming, call
from bot.dispatch import Dispatcher, Job, SaveRoute
from bot.errors import BotError, InputRejected, PlatformError, UnknownModel, UsageError
from bot.service import AskService

log = logging.getLogger(__name__)

ADMIN_CACHE_S = 300.0  # users.info is Tier 4, but admins rarely change
REPLIES_TIMEOUT_S = 1.0  # conversations.replies before acknowledging: never wait long
REPLIES_LIMIT = 15  # what Slack serves non-Marketplace apps since 2025
# ... at one call a minute: after a refusal (or a slow answer) leave the team alone.
REPLIES_BACKOFF_S = 60.0


class _ExpectedSetupNotes(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment itself and then warns that it
    is unused (we hand it a ready client and our own ``authorize``): true, intended,
    and noise in every deployment's logs."""

    NOTES = ("As you gave `client` as well", "As `installation_store` or `authorize`")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOTES)


logging.getLogger("slack_bolt.AsyncApp").addFilter(_ExpectedSetupNotes())


def make_client(
    *, token: str | None, base_url: str, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    # One shared session: without it slack_sdk opens a new connection for every call.
    client = AsyncWebClient(token=token, base_url=base_url, timeout=30, session=session)
    # Slack answers 429 with Retry-After; slack_sdk waits and retries for us.
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


class SlackBot:
    def __init__(
        self,
        *,
        service: AskService,
        dispatcher: Dispatcher,
        client: AsyncWebClient,
        signing_secret: str | None,
        socket_mode: bool,
        oauth: AsyncOAuthSettings | None = None,
        streaming: bool = True,
    ) -> None:
        self.service = service
        self.dispatcher = dispatcher
        self.client = client
        self.installations = oauth.installation_store if oauth else None
        self._auth_test: asyncio.Future[AuthorizeResult] | None = None

        async def authorize() -> AuthorizeResult:  # bolt reads the argument names
            return await self._authorize()

        self.app = AsyncApp(
            client=client,
            signing_secret=signing_secret or "",
            request_verification_enabled=not socket_mode,
            # Listeners only validate and enqueue, so Slack is answered after they
            # finish: the request is on disk before Slack hears "OK".
            process_before_response=True,
            oauth_settings=oauth,
            # One workspace: auth.test once for every request. (bolt's own single-team
            # check caches it too, but every request that arrives before the first
            # answer calls auth.test again: hundreds after a restart under load.)
            authorize=None if oauth else authorize,
        )
        self._admins: dict[tuple[str, str], tuple[bool, float]] = {}
        self._replies_after: dict[str, float] = {}  # team -> monotonic time
        self._edits = EditBudget()
        self._streaming = Streaming() if streaming else None
        self.app.command("/reason")(self._reason)
        self.app.command("/quota")(self._quota)
        self.app.event("app_mention")(self._mention)
        self.app.event("message")(self._message)
        dispatcher.register(translate.PLATFORM, self.replier_for)

    def replier_for(self, job: Job, save: SaveRoute) -> SlackReplier:
        team_id = str(job.route.get("team_id", ""))
        return SlackReplier(
            self.client,
            dict(job.route),
            save,
            token=(lambda: self.bot_token(team_id)) if self.installations else None,
            budget=self._edits,
            streaming=self._streaming,
        )

    async def bot_token(self, team_id: str) -> str | None:
        """A workspace's bot token, from its OAuth installation (multi-workspace)."""
        assert self.installations is not None
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise PlatformError(f"no Slack installation for team {team_id}", code="not_installed")
        return bot.bot_token

    async def _authorize(self) -> AuthorizeResult:
        if self._auth_test is None or (
            self._auth_test.done() and self._auth_test.exception() is not None
        ):
            self._auth_test = asyncio.ensure_future(self._who_am_i())
        return await asyncio.shield(self._auth_test)

    async def _who_am_i(self) -> AuthorizeResult:
        resp = await self.client.auth_test()
        return AuthorizeResult.from_auth_test_response(
            bot_token=self.client.token, auth_test_response=resp
        )

    async def _reason(self, ack: Any, command: dict[str, Any]) -> None:
        request = translate.command_request(command)
        try:
            prepared = self.service.prepare(request)
        except (UsageError, InputRejected, UnknownModel) as exc:
            await ack(response_type="ephemeral", text=mrkdwn(self.service.error_text(exc)))
            return
        route = {
            "kind": "command",
            "channel": request.channel,
            "user": request.user,
            "question": prepared.question,
            "model": prepared.spec.alias,
            "team_id": command.get("team_id", ""),
            "response_url": command.get("response_url"),
        }
        try:
            await self.dispatcher.submit(request, route)
        except BotError as exc:
            await ack(response_type="ephemeral", text=mrkdwn(self.service.error_text(exc)))
            return
        await ack()

    async def _quota(self, ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        team, user = command.get("team_id", ""), command.get("user_id", "")
        admin = await self._is_admin(team, user, client)
        result = await self.service.quota(translate.quota_command(command, is_admin=admin))
        await ack(
            response_type="ephemeral",
            text=mrkdwn(result.text),
            blocks=quota_blocks(result.text, result.usage),
        )

    async def _is_admin(self, team: str, user: str, client: AsyncWebClient) -> bool:
        cached = self._admins.get((team, user))
        if cached and time.monotonic() - cached[1] < ADMIN_CACHE_S:
            return cached[0]
        try:
            info = await call(client, "users.info", user=user)
        except PlatformError as exc:
            log.warning("users.info failed (%s); treating %s as a member", exc.code, user)
            return False
        profile = info.get("user") or {}
        admin = bool(
            profile.get("is_admin") or profile.get("is_owner") or profile.get("is_primary_owner")
        )
        self._admins[(team, user)] = (admin, time.monotonic())
        return admin

    async def _mention(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if translate.is_triggering_message(event):
            await self._submit_message(event, body, context)

    async def _message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if not translate.is_triggering_message(event):
            return
        bot = context.get("bot_user_id")
        if bot and f"<@{bot}" in event.get("text", ""):
            return  # the app_mention event carries this one (same key in any case)
        if event.get("channel_type") == "im":
            await self._submit_message(event, body, context)
            return
        root = event.get("thread_ts")
        if not root or root == event.get("ts"):
            return
        team_id = body.get("team_id") or context.get("team_id") or ""
        key = translate.thread_key(team_id, event.get("channel", ""), root)
        if await self.service.knows_thread(key):
            await self._submit_message(event, body, context)

    async def _submit_message(
        self, event: dict[str, Any], body: dict[str, Any], context: Any
    ) -> None:
        team_id = body.get("team_id") or context.get("team_id") or ""
        bot = context.get("bot_user_id")
        channel, ts = event.get("channel", ""), event.get("ts", "")
        root = event.get("thread_ts") or ts
        turns: tuple = ()
        key = translate.thread_key(team_id, channel, root)
        if root != ts and not await self.service.knows_thread(key):
            client = getattr(context, "client", None) or self.client
            turns = await self._earlier_messages(client, team_id, channel, root, before=ts, bot=bot)
        request = translate.event_request(event, team_id=team_id, bot_user_id=bot, context=turns)
        route = {
            "kind": "message",
            "channel": channel,
            "user": request.user,
            "thread_ts": root,
            "team_id": team_id,
        }
        try:
            await self.dispatcher.submit(request, route)
        except BotError as exc:
            log.error("could not accept %s: %s", request.key, exc)

    async def _earlier_messages(
        self,
        client: AsyncWebClient,
        team_id: str,
        channel: str,
        root: str,
        *,
        before: str,
        bot: str | None,
    ) -> tuple:
        """A thread the bot joins late: read what was said before (once, briefly —
        conversations.replies is rate limited hard for most apps)."""
        if time.monotonic() < self._replies_after.get(team_id, 0.0):
            return ()
        try:
            async with asyncio.timeout(REPLIES_TIMEOUT_S):
                data = await call(
                    client,
                    "conversations.replies",
                    channel=channel,
                    ts=root,
                    limit=REPLIES_LIMIT,
                )
        except (PlatformError, TimeoutError) as exc:
            # A 429 is retried by the client after Retry-After, which the timeout cuts.
            log.info("no earlier thread context: %r", exc)
            self._replies_after[team_id] = time.monotonic() + REPLIES_BACKOFF_S
            return ()
        return translate.thread_context(
            data.get("messages") or [], bot_user_id=bot, before_ts=before
        )
