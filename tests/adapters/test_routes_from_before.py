"""Typed routes read what earlier versions saved: a job written down before an upgrade
(its request without what intake parsed, its route with ``question`` and ``model``) is
still answered, and a route's delivery state survives its JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.route import DiscordRoute
from adapters.slack.route import SlackRoute
from adapters.terminal.route import TerminalRoute
from bot.domain import AskRequest
from tests.adapters.discord.conftest import running_discord
from tests.adapters.slack.conftest import running_bot

# What the Slack adapter saved before routes were typed, mid-delivery.
OLD_SLACK = {
    "kind": "command",
    "channel": "C0001",
    "user": "U0ANN",
    "question": "What is a monad?",
    "model": "o1",
    "team_id": "T0001",
    "response_url": None,
    "thread_ts": "1700000000.000100",
    "status_ts": "1700000000.000200",
    "delivered": 1,
}
OLD_DISCORD = {
    "kind": "slash",
    "guild_id": "100",
    "channel_id": "200",
    "user": "300",
    "question": "What is a monad?",
    "model": "o1",
    "app_id": "400",
    "token": "tok",
    "thread_id": "500",
    "status_id": "600",
    "delivered": 2,
}


@pytest.mark.parametrize(
    ("kind", "old"),
    [(SlackRoute, OLD_SLACK), (DiscordRoute, OLD_DISCORD)],
    ids=["slack", "discord"],
)
def test_a_route_reads_the_old_shape_and_leaves_question_and_model_to_the_job(
    kind: type[SlackRoute | DiscordRoute], old: dict[str, Any]
) -> None:
    route = kind.from_json(old)
    assert route == kind(**{k: v for k, v in old.items() if k not in ("question", "model")})
    assert "question" not in route.to_json() and "model" not in route.to_json()
    assert kind.from_json(route.to_json()) == route


def test_terminal_route_round_trips() -> None:
    assert TerminalRoute.from_json(TerminalRoute("terminal:abc").to_json()).thread == "terminal:abc"


async def test_a_slack_job_written_before_the_upgrade_is_still_answered(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        request = AskRequest(
            platform="slack",
            team="slack:T0001",
            channel="C0001",
            thread="",
            user="U0ANN",
            text="--model o1 asked before the upgrade",
            key="slack:cmd:T0001:old-trigger",
        )
        old_route = {k: v for k, v in OLD_SLACK.items() if k in ("kind", "channel", "user")}
        old_route |= {"question": "asked before the upgrade", "model": "o1", "team_id": "T0001"}
        # As the old code wrote it: no Parsed beside the request.
        assert await bot.rt.queue.submit(request, old_route, now=datetime.now(UTC))
        await bot.until(lambda: any("You asked: asked before" in t for t in bot.posted()))
        await bot.settled(1)
        parent = bot.slack.calls_to("chat.postMessage")[0].args
        assert "<@U0ANN> asked `o1`" in parent["text"]
        assert "asked before the upgrade" in parent["text"]


async def test_a_discord_mention_written_before_the_upgrade_is_still_answered(
    tmp_path: Path,
) -> None:
    async with running_discord(tmp_path) as bot:
        fake = bot.discord
        # The mention the old job was about; nobody is listening for it now.
        mid = await fake.say("a message from before", uid="301")
        request = AskRequest(
            platform="discord",
            team=f"discord:{fake.guild_id}",
            channel=fake.channel_id,
            thread="",
            user="301",
            text="asked before the upgrade",
            key=f"discord:msg:{mid}",
        )
        old_route = {
            "kind": "message",
            "guild_id": fake.guild_id,
            "channel_id": fake.channel_id,
            "user": "301",
            "message_id": mid,
            "question": "asked before the upgrade",
            "model": "o1",
        }
        assert await bot.rt.queue.submit(request, old_route, now=datetime.now(UTC))
        await bot.until(
            lambda: any("You asked: asked before the upgrade" in m["content"] for m in bot.sent())
        )
        await bot.settled(1)
        assert bot.thread_ids() == [mid]  # started on the mention, as before
        assert fake.threads[mid]["name"].startswith("asked before the upgrade")
