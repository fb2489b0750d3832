"""Requests are bound to the installation their token belongs to: a signed payload
naming another workspace gets no quota of its own, and an admin of one workspace
changes no other workspace's limits."""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from bot.domain import QuotaCommand
from bot.quota import QuotaDesk
from tests.adapters.slack.conftest import SECRET, SlackHarness, as_json, running_bot
from tests.builders import mention, platform_catalogue
from tests.fakes.slack_api import event_callback, post_signed, slash_command


async def test_a_payload_for_another_workspace_is_refused_in_single_workspace_mode(
    bot: SlackHarness,
) -> None:
    command = slash_command("/reason", "free quota?", team="T9999")
    status, body, _ = await post_signed(bot.http, bot.url, command, secret=SECRET, form=True)
    assert status == 200 and "isn't installed for your workspace" in as_json(body)["text"]
    event = event_callback(mention("me too", ts="1700000700.000100"), event_id="EvX", team="T9999")
    status, _, _ = await post_signed(bot.http, bot.url, event, secret=SECRET, form=False)
    assert status == 200  # acknowledged, so Slack does not deliver it again
    quota = slash_command("/quota", "", team="T9999")
    _, body, _ = await post_signed(bot.http, bot.url, quota, secret=SECRET, form=True)
    assert "isn't installed" in as_json(body)["text"]
    assert await bot.rt.queue.depth() == 0 and not bot.model.requests
    await bot.event(mention("home team", ts="1700000701.000100"), event_id="EvHome")
    await bot.until(lambda: any("You asked: home team" in t for t in bot.posted()))
    assert len(bot.model.requests) == 1


async def install(bot: SlackHarness, team: str) -> None:
    """Run Slack's OAuth install flow for ``team`` against the fake."""
    base = bot.url.removesuffix("/slack/events")
    async with bot.http.get(base + "/slack/install", allow_redirects=False) as r:
        page = await r.text()
        cookie = r.headers.get("Set-Cookie", "").split(";")[0]
    found = re.search(r'href="(https://slack\.com/oauth[^"]+)"', page)
    link = r.headers.get("Location") or (found.group(1) if found else "")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(link.replace("&amp;", "&")).query)
    async with bot.http.get(
        base + "/slack/oauth_redirect",
        params={"code": f"code-{team}", "state": query["state"][0]},
        headers={"Cookie": cookie},
    ) as r:
        assert r.status == 200, await r.text()


async def test_an_admin_of_one_workspace_cannot_change_anothers_limits(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, slack_client_id="111.222", slack_client_secret="oauth-secret"
    ) as bot:
        await install(bot, "T0002")
        bot.slack.admins.update({"U0BOSS", "U0T2BOSS"})  # U0BOSS's home is T0001
        bot.slack.user_teams["U0T2BOSS"] = "T0002"
        outsider = slash_command("/quota", "set mini 5", team="T0002", user="U0BOSS")
        _, body, _ = await post_signed(bot.http, bot.url, outsider, secret=SECRET, form=True)
        assert "Only admins" in as_json(body)["text"]
        own = slash_command("/quota", "set mini 7", team="T0002", user="U0T2BOSS")
        _, body, _ = await post_signed(bot.http, bot.url, own, secret=SECRET, form=True)
        assert "limit set to 7" in as_json(body)["text"]


async def test_a_catalogue_admin_named_with_a_team_is_admin_there(tmp_path: Path) -> None:
    catalogue = platform_catalogue(admins=["slack:T0001:U0CAT"])
    async with running_bot(tmp_path, catalogue=catalogue) as bot:
        _, body, _ = await bot.command("/quota", "set mini 4", user="U0CAT")
        assert "limit set to 4" in as_json(body)["text"]


def test_a_team_scoped_catalogue_admin_is_no_admin_elsewhere() -> None:
    desk = QuotaDesk(
        catalogue=platform_catalogue(admins=["slack:T0001:U0CAT", "slack:U0ALL"]),
        ledger=None,  # type: ignore[arg-type]  # is_admin never reads the ledger
        clock=lambda: datetime(2026, 1, 5, tzinfo=UTC),
    )

    def admin(team: str, user: str) -> bool:
        return desk.is_admin(QuotaCommand("slack", f"slack:{team}", user, "log"))

    assert admin("T0001", "U0CAT") and not admin("T0002", "U0CAT")
    assert admin("T0001", "U0ALL") and admin("T0002", "U0ALL")  # bare: documented as all
