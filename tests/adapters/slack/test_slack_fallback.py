"""Quota-aware fallback on Slack (real Bolt app, fake Slack API): the default model used
up is answered by its fallback and the thread says so; a model named with `--model` is
refused instead; `/quota` shows the chain and the team's budget."""

from __future__ import annotations

import json
from pathlib import Path

from tests.adapters.slack.conftest import SlackHarness, running_bot
from tests.builders import fallback_catalogue


def said(bot: SlackHarness, words: str) -> bool:
    return any(words in json.dumps(c.args, ensure_ascii=False) for c in bot.slack.calls)


async def test_the_default_model_used_up_falls_back_and_a_named_one_is_refused(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, catalogue=fallback_catalogue()) as bot:
        await bot.command("/reason", "first question")
        await bot.until(lambda: said(bot, "You asked: first question"))
        await bot.command("/reason", "second question")
        await bot.until(
            lambda: said(
                bot, "`o1`'s weekly quota is used up until Mon 00:00 UTC — answered with `mini`."
            )
        )
        await bot.command("/reason", "--model o1 third question")
        await bot.until(lambda: said(bot, "used all 1 `o1` message for this week"))
        assert [r.body["model"] for r in bot.model.requests] == ["o1", "o1-mini"]
        bot.slack.admins.add("U0BOSS")
        _, body, _ = await bot.command("/quota", "budget 20", user="U0BOSS")
        text = json.loads(body)["text"]
        assert "weekly budget is now $20.00" in text
        assert "`o1` → `mini`" in text and "spent of $20.00" in text
