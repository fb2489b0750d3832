"""Whose requests these are: one workspace's requests are bound to the installation its
bot token belongs to (``auth.test``), and what Slack is told when that cannot be
confirmed. (Many workspaces: bolt's OAuth installation store binds them itself.)"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import messages as slack_messages
from adapters.slack.render import mrkdwn
from bot.errors import PlatformError

log = logging.getLogger(__name__)

# auth.test happens before Slack is acknowledged (3 s): wait at most this long for it,
# retrying a failure after these pauses. Once answered it is kept for the process.
AUTH_WAIT_S = 1.5
AUTH_RETRY_DELAYS_S = (0.1, 0.3)
# auth.test errors that mean the token itself is dead: only a reinstall helps. Any
# other failure (HTTP 5xx, network, Slack's internal_error, ...) may pass on retry.
TOKEN_DEAD = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "team_access_not_granted",
    }
)
# PlatformError codes raised here and turned into Slack responses by `on_error`.
SLACK_UNREACHABLE = "slack_unreachable"
TOKEN_REFUSED = "token_refused"
OTHER_WORKSPACE = "other_workspace"
_REFUSALS = frozenset({SLACK_UNREACHABLE, TOKEN_REFUSED, OTHER_WORKSPACE})


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the bot token belongs to, per auth.test."""

    result: AuthorizeResult
    enterprise_install: bool

    def admits(self, *, enterprise_id: str | None, team_id: str | None) -> bool:
        me = self.result
        if self.enterprise_install:  # an org-wide install serves all the org's teams
            return enterprise_id is not None and enterprise_id == me.enterprise_id
        same_org = enterprise_id is None or me.enterprise_id in (None, enterprise_id)
        return team_id == me.team_id and same_org


class TokenOwner:
    """bolt's ``authorize`` for one workspace: auth.test once for every request (bolt's
    own single-team check would call it for each request until the first answer:
    hundreds after a restart under load), and a payload signed with our secret but
    naming another workspace is refused, not given a quota of its own."""

    def __init__(self, client: AsyncWebClient, *, token: str | None = None) -> None:
        self._client = client
        self._token = token  # else the client's
        self._me: Identity | None = None
        self._lock = asyncio.Lock()

    def for_bolt(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        """``authorize`` as bolt wants it: a function whose argument names it reads."""

        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return await self.authorize(enterprise_id=enterprise_id, team_id=team_id)

        return authorize

    async def authorize(self, *, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        me = await self.identity()
        if not me.admits(enterprise_id=enterprise_id, team_id=team_id):
            raise PlatformError(
                f"a request for team {team_id} (enterprise {enterprise_id}) reached the bot "
                f"of team {me.result.team_id}",
                code=OTHER_WORKSPACE,
                user_text=slack_messages.OTHER_WORKSPACE,
            )
        if me.enterprise_install and team_id:
            return AuthorizeResult(
                enterprise_id=me.result.enterprise_id,
                team_id=team_id,
                bot_user_id=me.result.bot_user_id,
                bot_id=me.result.bot_id,
                bot_token=me.result.bot_token,
            )
        return me.result

    async def identity(self) -> Identity:
        if self._me is not None:
            return self._me
        try:
            async with asyncio.timeout(AUTH_WAIT_S), self._lock:
                if self._me is None:  # one auth.test for a burst of waiting requests
                    self._me = await self._auth_test()
        except TimeoutError as exc:
            raise _unreachable("auth.test took too long") from exc
        return self._me

    async def _auth_test(self) -> Identity:
        failure: Exception | None = None
        for delay in (*AUTH_RETRY_DELAYS_S, None):
            try:
                resp = await self._client.auth_test(token=self._token or self._client.token)
            except SlackApiError as exc:
                error = _slack_error(exc)
                if error in TOKEN_DEAD:
                    raise PlatformError(
                        f"auth.test: {error}",
                        code=TOKEN_REFUSED,
                        user_text=slack_messages.REINSTALL,
                    ) from exc
                failure = exc
            except (aiohttp.ClientError, OSError) as exc:
                failure = exc
            else:
                result = AuthorizeResult.from_auth_test_response(
                    bot_token=self._token or self._client.token, auth_test_response=resp
                )
                return Identity(result, enterprise_install=bool(resp.get("is_enterprise_install")))
            if delay is not None:
                await asyncio.sleep(delay)
        raise _unreachable(f"auth.test failed: {failure!r}") from failure


class InstalledTokens(AsyncAuthorize):
    """bolt's ``authorize`` for many workspaces: the payload's installation from bolt's
    store, then its token's auth.test as for one workspace (once per token; a Slack
    outage is "try again", never "reinstall" as bolt's own would have it)."""

    def __init__(self, store: AsyncInstallationStore, client: AsyncWebClient) -> None:
        self._store = store
        self._client = client
        self._owners: dict[str, TokenOwner] = {}  # bot token -> its auth.test

    async def __call__(  # type: ignore[override]  # bolt may add actor_* arguments
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **_: object,
    ) -> AuthorizeResult | None:
        bot = await self._store.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=context.is_enterprise_install,
        )
        if bot is None or not bot.bot_token:
            return None  # not installed: bolt says so
        owner = self._owners.get(bot.bot_token)
        if owner is None:
            owner = self._owners[bot.bot_token] = TokenOwner(self._client, token=bot.bot_token)
        return await owner.authorize(enterprise_id=enterprise_id, team_id=team_id)


async def on_error(
    error: Exception, request: AsyncBoltRequest, response: BoltResponse | None
) -> BoltResponse | None:
    """bolt's error handler (middleware and listeners). A request Slack could not
    confirm is refused so that it is not lost: commands say "try again", events get a
    503, which Slack delivers again (HTTP and Socket Mode alike: unacknowledged). A
    dead token or another workspace: commands say why, events are acknowledged."""
    code = error.code if isinstance(error, PlatformError) else None
    if code not in _REFUSALS:
        log.error("Slack request failed: %r", error, exc_info=error)
        return None
    assert isinstance(error, PlatformError) and error.user_text is not None
    log.warning("refused a Slack request: %s", error)
    if "command" in request.body:
        return BoltResponse(
            status=200,
            body=json.dumps(ephemeral_args(error.user_text)),
            headers={"content-type": "application/json;charset=utf-8"},
        )
    return BoltResponse(status=503 if code == SLACK_UNREACHABLE else 200, body="")


def ephemeral_args(text: str) -> dict[str, Any]:
    """A slash command's answer seen only by its user."""
    return {"response_type": "ephemeral", "text": mrkdwn(text)}


def _unreachable(why: str) -> PlatformError:
    return PlatformError(why, code=SLACK_UNREACHABLE, user_text=slack_messages.SLACK_UNREACHABLE)


def _slack_error(exc: SlackApiError) -> str | None:
    # A non-JSON error page leaves no parsed body (exc.response is then aiohttp's).
    data = getattr(exc.response, "data", None)
    return data.get("error") if isinstance(data, dict) else None
