"""`--model auto` on Slack, typed as text, and `default_model = "auto"`: the answer in
the thread says which model the router chose and why (real Bolt app, fake Slack API)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.adapters.slack.conftest import SlackHarness, running_bot
from tests.builders import platform_catalogue


def said(bot: SlackHarness, words: str) -> bool:
    return any(words in json.dumps(c.args, ensure_ascii=False) for c in bot.slack.calls)


async def test_reason_with_auto_answers_with_the_chosen_model_and_says_why(
    bot: SlackHarness,
) -> None:
    status, _, _ = await bot.command("/reason", "--model auto Prove that 1 + 1 = 2 rigorously.")
    assert status == 200
    await bot.until(lambda: said(bot, "auto → o1: asked to think hard"))
    assert [r.body["model"] for r in bot.model.requests] == ["o1"]


async def test_default_model_auto_routes_a_question_without_a_model(tmp_path: Path) -> None:
    async with running_bot(tmp_path, catalogue=platform_catalogue(default_model="auto")) as bot:
        await bot.command("/reason", "What is the capital of Peru?")
        await bot.until(lambda: said(bot, "auto → mini: short factual question"))
        assert [r.body["model"] for r in bot.model.requests] == ["o1-mini"]
