"""The Slack app on slack-bolt's `AsyncApp`: listeners read like a list, and each does
only what must happen before Slack is acknowledged — translate, hand the question to
`AskService.accept` (which checks it and writes it down), acknowledge or show the
refusal. The model call runs later, in the dispatcher."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import messages as slack_messages
from adapters.slack import translate
from adapters.slack.auth import InstalledTokens, TokenOwner, ephemeral_args, on_error
from adapters.slack.home import SlackHome
from adapters.slack.http import RateLimitedNote
from adapters.slack.render import mrkdwn, quota_blocks, quota_mrkdwn
from adapters.slack.replier import EditBudget, SlackReplier, Streaming, call
from adapters.slack.route import COMMAND, MESSAGE, SlackRoute
from bot import messages
from bot.domain import AskRequest
from bot.errors import BotError, PlatformError, StorageError
from bot.intake import Accepted, Refused
from bot.ports import Asker, DispatcherHooks, Job, SaveRoute
from bot.reports import ExportFile

log = logging.getLogger(__name__)

ADMIN_CACHE_S = 300.0  # users.info is Tier 4, but admins rarely change
REPLIES_TIMEOUT_S = 1.0  # conversations.replies before acknowledging: never wait long
REPLIES_LIMIT = 15  # what Slack serves non-Marketplace apps since 2025
# ... at one call a minute: after a refusal (or a slow answer) leave the team alone.
REPLIES_BACKOFF_S = 60.0
# Slack gives 3 s to acknowledge. Before it, auth.test (auth.py), then writing the
# request down: each bounded so the ack always goes out, and the asker hears why when
# it fails.
ACCEPT_TIMEOUT_S = 2.0
ADMIN_CHECK_TIMEOUT_S = 1.0  # users.info before a /quota ack; with the read, inside 3 s


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


@dataclass(frozen=True, slots=True)
class SlackOptions:
    """What the Slack adapter takes from the deployment's settings."""

    signing_secret: str | None = None  # HTTP mode's; Socket Mode's requests are unsigned
    # Native streaming (chat.startStream...) where a workspace offers it; else edits.
    streaming: bool = True


class SlackBot:
    def __init__(
        self,
        *,
        service: Asker,
        dispatcher: DispatcherHooks,
        client: AsyncWebClient,
        options: SlackOptions,
        oauth: AsyncOAuthSettings | None = None,
    ) -> None:
        self.service = service
        self.dispatcher = dispatcher
        self.client = client
        self.installations = oauth.installation_store if oauth else None
        self._notices: set[asyncio.Task[None]] = set()

        self.app = AsyncApp(
            # Named, or bolt reads the caller's file name from `inspect.stack()`: about
            # 0.1 s of start-up on the event loop, reading every frame's source file.
            name="reasonbot",
            client=client,
            # bolt checks the signature of every HTTP request, once (Socket Mode needs
            # none); what cannot be a signed request was refused before (http.py).
            signing_secret=options.signing_secret or "",
            before_authorize=RateLimitedNote(),
            # Listeners only validate and enqueue, so Slack is answered after they
            # finish: the request is on disk before Slack hears "OK".
            process_before_response=True,
            oauth_settings=oauth,
            # Requests bound to the token's workspace, auth.test once per token, and a
            # Slack outage never taken for a revoked token (auth.py).
            authorize=InstalledTokens(oauth.installation_store, client)
            if oauth
            else TokenOwner(client).for_bolt(),
            user_facing_authorize_error_message=slack_messages.REINSTALL,
        )
        self.app.error(on_error)
        self._admins: dict[tuple[str, str], tuple[bool, float]] = {}
        self._replies_after: dict[str, float] = {}  # team -> monotonic time
        self._edits = EditBudget()
        self._streaming = Streaming() if options.streaming else None
        self.app.command("/reason")(self._reason)
        self.app.command("/quota")(self._quota)
        self.app.event("app_mention")(self._mention)
        self.app.event("message")(self._message)
        dispatcher.register(translate.PLATFORM, self.replier_for)
        self._tz: dict[tuple[str, str], str | None] = {}  # users.info's tz, with admins
        self.home = SlackHome(
            service=service,
            client=client,
            is_admin=self._is_admin,
            tz_of=lambda team, user: self._tz.get((team, user)),
            token_for=self.bot_token if self.installations else None,
        )
        self.home.register(self.app)

    def replier_for(self, job: Job, save: SaveRoute) -> SlackReplier:
        route = SlackRoute.from_json(job.route)
        team_id = route.team_id
        return SlackReplier(
            self.client,
            route,
            save,
            parsed=job.parsed,
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

    @staticmethod
    def _team(context: Any) -> str:
        """The workspace the request was authorized for (never only the payload's say)."""
        result = context.get("authorize_result")
        return str(getattr(result, "team_id", None) or context.get("team_id") or "")

    async def _reason(self, ack: Any, command: dict[str, Any], context: Any) -> None:
        team = self._team(context)
        request = translate.command_request(command, team_id=team)
        route = SlackRoute(
            kind=COMMAND,
            channel=request.channel,
            user=request.user,
            team_id=team,
            response_url=command.get("response_url"),
        )
        result = await self._accept(request, route, within_s=ACCEPT_TIMEOUT_S)
        if isinstance(result, Refused):
            await ack(**ephemeral_args(result.text))
            return
        await ack()

    async def _accept(
        self, request: AskRequest, route: SlackRoute, *, within_s: float
    ) -> Accepted | Refused:
        # Within the ack's budget: a slow database must not keep Slack waiting (it
        # would retry, and the asker would hear nothing).
        return await self.service.accept(
            request, route.to_json(), intake=self.dispatcher, within_s=max(within_s, 0.0)
        )

    async def _quota(
        self, ack: Any, command: dict[str, Any], client: AsyncWebClient, context: Any
    ) -> None:
        team, user = self._team(context), command.get("user_id", "")
        as_member = translate.quota_command(command, is_admin=False, team_id=team)
        try:
            admin = self.service.is_admin(as_member) or await self._is_admin(team, user, client)
        except PlatformError as exc:
            if translate.wants_admin(command.get("text", "")):
                log.warning("users.info failed (%s); asked %s to try again", exc.code, user)
                await ack(**ephemeral_args(slack_messages.ADMIN_CHECK_FAILED))
                return
            admin = False  # what is left is shown to everyone; admin extras need the check
        try:
            async with asyncio.timeout(ACCEPT_TIMEOUT_S):
                result = await self.service.quota(
                    translate.quota_command(command, is_admin=admin, team_id=team)
                )
        except TimeoutError:
            text = self.service.error_text(StorageError("quota read took too long"))
            await ack(**ephemeral_args(text))
            return
        if result.file is not None:
            # Delivered privately: the file in a DM, and a pointer where the command ran.
            file = result.file
            await ack(
                **ephemeral_args(messages.export_sent_privately(rows=file.rows, weeks=file.weeks))
            )
            self._deliver_later(team, user, file, channel=command.get("channel_id", ""))
            return
        await ack(
            response_type="ephemeral",
            text=quota_mrkdwn(result.text),
            blocks=quota_blocks(result.text, result.usage),
        )

    async def _is_admin(self, team: str, user: str, client: AsyncWebClient) -> bool:
        """A workspace admin or owner *of this team* (users.info); a failed check
        raises `PlatformError` and is not remembered."""
        cached = self._admins.get((team, user))
        if cached and time.monotonic() - cached[1] < ADMIN_CACHE_S:
            return cached[0]
        try:
            async with asyncio.timeout(ADMIN_CHECK_TIMEOUT_S):
                info = await call(client, "users.info", user=user)
        except TimeoutError as exc:
            raise PlatformError("users.info took too long", code="timeout") from exc
        profile = info.get("user") or {}
        grid_teams = (profile.get("enterprise_user") or {}).get("teams") or []
        # An admin elsewhere (another workspace reached through the same org or a
        # Slack Connect channel) is no admin of this team's quotas.
        of_this_team = profile.get("team_id") == team or team in grid_teams
        admin = of_this_team and bool(
            profile.get("is_admin") or profile.get("is_owner") or profile.get("is_primary_owner")
        )
        self._admins[(team, user)] = (admin, time.monotonic())
        self._tz[(team, user)] = profile.get("tz")
        return admin

    def _deliver_later(self, team: str, user: str, file: ExportFile, *, channel: str) -> None:
        async def deliver() -> None:
            try:
                await self.home.send_privately(team, user, file)
            except BotError as exc:
                log.warning("export for %s not delivered: %r", user, exc)
                await self._tell(
                    self.client,
                    channel=channel,
                    user=user,
                    thread_ts=None,
                    text=self.service.error_text(exc),
                )

        self.home.spawn(deliver())  # ended with the Home's own tasks at shutdown

    async def _mention(self, event: dict[str, Any], context: Any, client: AsyncWebClient) -> None:
        if translate.is_triggering_message(event):
            await self._submit_message(event, context, client)

    async def _message(self, event: dict[str, Any], context: Any, client: AsyncWebClient) -> None:
        if not translate.is_triggering_message(event):
            return
        bot = context.get("bot_user_id")
        if bot and f"<@{bot}" in translate.text_of(event):
            return  # the app_mention event carries this one (same key in any case)
        if event.get("channel_type") == "im":
            await self._submit_message(event, context, client)
            return
        root = event.get("thread_ts")
        if not root or root == event.get("ts"):
            return
        key = translate.thread_key(self._team(context), event.get("channel", ""), root)
        try:
            async with asyncio.timeout(ACCEPT_TIMEOUT_S):
                ours = await self.service.knows_thread(key)
        except (BotError, TimeoutError) as exc:
            # Whether the reply was meant for the bot is unknown: nobody to tell.
            log.error("could not look up thread %s: %r", key, exc)
            return
        if ours:
            await self._submit_message(event, context, client)

    async def _submit_message(
        self, event: dict[str, Any], context: Any, client: AsyncWebClient
    ) -> None:
        team_id = self._team(context)
        bot = context.get("bot_user_id")
        channel, ts = event.get("channel", ""), event.get("ts", "")
        root = event.get("thread_ts") or ts
        turns: tuple = ()
        thread = translate.thread_key(team_id, channel, root)
        started = time.monotonic()
        try:
            async with asyncio.timeout(ACCEPT_TIMEOUT_S):
                if root != ts and not await self.service.knows_thread(thread):
                    turns = await self._earlier_messages(
                        client, team_id, channel, root, before=ts, bot=bot
                    )
        except (BotError, TimeoutError) as exc:
            # Then it is answered without what was said before the bot joined.
            log.warning("no thread context for %s: %r", thread, exc)
        request = translate.event_request(event, team_id=team_id, bot_user_id=bot, context=turns)
        route = SlackRoute(
            kind=MESSAGE, channel=channel, user=request.user, thread_ts=root, team_id=team_id
        )
        spent = time.monotonic() - started
        result = await self._accept(request, route, within_s=ACCEPT_TIMEOUT_S - spent)
        if isinstance(result, Refused):
            # Acknowledge first (the listener returns), then tell the asker privately.
            self._tell_later(
                client,
                channel=channel,
                user=str(event.get("user", "")),
                thread_ts=root,
                text=result.text,
            )

    def _tell_later(
        self, client: AsyncWebClient, *, channel: str, user: str, thread_ts: str, text: str
    ) -> None:
        task = asyncio.create_task(
            self._tell(client, channel=channel, user=user, thread_ts=thread_ts, text=text)
        )
        self._notices.add(task)  # a task nobody references can be collected mid-flight
        task.add_done_callback(self._notices.discard)

    async def _tell(
        self, client: AsyncWebClient, *, channel: str, user: str, thread_ts: str | None, text: str
    ) -> None:
        try:
            await call(
                client,
                "chat.postEphemeral",
                channel=channel,
                user=user,
                thread_ts=thread_ts,
                text=mrkdwn(text),
            )
        except PlatformError as exc:
            log.warning("could not tell %s their request was not accepted: %s", user, exc.code)

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
