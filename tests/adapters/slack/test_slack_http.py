"""Slack's HTTP intake (`adapters.slack.http`) on its own: a bolt app with one listener
behind `slack_routes`, no runtime, database or model. bolt checks the signature; what
cannot be Slack is refused before bolt parses it."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from adapters.slack.http import MAX_BODY, RateLimitedNote, slack_routes
from tests.fakes.slack_api import post_signed, slash_command

SECRET = "http-test-secret"


@dataclass
class Intake:
    http: aiohttp.ClientSession
    url: str
    commands: list[str] = field(default_factory=list)
    authorized: list[str | None] = field(default_factory=list)

    async def post(self, body: str, *, form: bool, **kw: Any) -> tuple[int, str]:
        status, text, _ = await post_signed(
            self.http, self.url, body, secret=SECRET, form=form, **kw
        )
        return status, text


@pytest.fixture
async def intake() -> AsyncIterator[Intake]:
    async def authorize(team_id: str | None) -> AuthorizeResult:
        seen.authorized.append(team_id)
        return AuthorizeResult(
            enterprise_id=None, team_id=team_id, bot_token="xoxb-t", bot_user_id="UBOT"
        )

    bolt = AsyncApp(
        signing_secret=SECRET,
        authorize=authorize,
        before_authorize=RateLimitedNote(),
        process_before_response=True,
    )

    @bolt.command("/reason")
    async def reason(ack: Any, command: dict[str, Any]) -> None:
        seen.commands.append(command["text"])
        await ack("noted")

    server = web.Application(client_max_size=MAX_BODY)
    server.add_routes(slack_routes(bolt))
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        seen = Intake(http, f"http://127.0.0.1:{port}/slack/events")
        try:
            yield seen
        finally:
            await runner.cleanup()


async def test_a_signed_command_reaches_the_listener(intake: Intake) -> None:
    status, text = await intake.post(slash_command("/reason", "why?"), form=True)
    assert (status, intake.commands) == (200, ["why?"])
    assert "noted" in text


async def test_a_forged_signature_is_refused_by_bolt_before_authorisation(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    body = slash_command("/reason", "secret plans")
    with caplog.at_level(logging.INFO):
        statuses = [(await intake.post(body, form=True, bad_signature=True))[0] for _ in range(5)]
    assert statuses == [401] * 5
    assert intake.commands == [] and intake.authorized == []
    # One refusal note for the five, and the forged body is never logged.
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert not [r for r in caplog.records if "secret plans" in r.getMessage()]


async def test_a_malformed_payload_is_refused_before_bolt(intake: Intake) -> None:
    status, _ = await intake.post('{"type": "event_callback", "event": []}', form=False)
    assert status == 400 and intake.authorized == []


async def test_app_rate_limited_is_acknowledged_without_authorisation(intake: Intake) -> None:
    note = json.dumps({"type": "app_rate_limited", "team_id": "T0001", "minute_rate_limited": 1})
    status, text = await intake.post(note, form=False)
    assert (status, json.loads(text)) == (200, {"ok": True})
    assert intake.authorized == []
