"""What `/quota` replies look like in Slack: the people they name are shown as names
(a mention in an ephemeral reply notifies nobody), never as escaped ``<@U…>`` text."""

from __future__ import annotations

from typing import Any

from tests.adapters.slack.conftest import SlackHarness, as_json
from tests.builders import mention


def sections(reply: dict[str, Any]) -> str:
    return " ".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")


async def test_quota_usage_by_person_names_people(bot: SlackHarness) -> None:
    bot.slack.admins.add("U0BOSS")
    await bot.event(mention("hello?", ts="1700000900.000100"), event_id="EvQ1")
    await bot.settled(1)
    _, body, _ = await bot.command("/quota", "", user="U0BOSS")
    shown = as_json(body)
    assert shown["response_type"] == "ephemeral"
    assert "<@U0ANN>" in sections(shown) and "&lt;@" not in sections(shown)


async def test_quota_log_names_who_changed_what(bot: SlackHarness) -> None:
    bot.slack.admins.add("U0BOSS")
    await bot.command("/quota", "set mini 5", user="U0BOSS")
    _, body, _ = await bot.command("/quota", "log", user="U0BOSS")
    text = sections(as_json(body))
    assert "<@U0BOSS>" in text and "&lt;@" not in text
