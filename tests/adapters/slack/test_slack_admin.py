"""Slack end to end for admins: the notify channel set with a channel mention, the
80% and 100% alerts posted there once each, and `/quota history|export` with costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import Catalogue, ModelSpec
from tests.adapters.slack.conftest import SlackHarness, as_json, running_bot
from tests.builders import mention

ADMIN_CHANNEL = "C0ADMIN"


def priced_catalogue() -> Catalogue:
    return Catalogue(
        models=[
            ModelSpec(alias="o1", id="o1", weekly_limit=5, price_input=15.0, price_output=60.0),
            ModelSpec(alias="mini", id="o1-mini", weekly_limit=50),
        ],
        progress_every_s=0.2,
        show_cost=True,
    )


def notices(bot: SlackHarness) -> list[dict[str, Any]]:
    return [
        c.args
        for c in bot.slack.calls_to("chat.postMessage")
        if c.args.get("channel") == ADMIN_CHANNEL
    ]


async def ask(bot: SlackHarness, n: int) -> None:
    ts = f"17000001{n:02d}.000100"
    await bot.event(mention(f"question {n}", ts=ts), event_id=f"EvAdm{n}")
    await bot.until(lambda: bool(bot.answers_in("C0001", ts)))


async def test_alerts_reach_the_notify_channel_once_per_threshold(tmp_path: Path) -> None:
    async with running_bot(tmp_path, catalogue=priced_catalogue()) as bot:
        bot.slack.members.add(ADMIN_CHANNEL)
        _, body, _ = await bot.command("/quota", f"notify <#{ADMIN_CHANNEL}|admins>")
        assert "Only admins" in as_json(body)["text"]
        bot.slack.admins.add("U0BOSS")
        _, body, _ = await bot.command("/quota", f"notify <#{ADMIN_CHANNEL}|admins>", user="U0BOSS")
        assert f"now go to <#{ADMIN_CHANNEL}>" in as_json(body)["text"]  # shown as #admins

        for n in range(1, 4):
            await ask(bot, n)
        await bot.settled(3)
        assert notices(bot) == []
        await ask(bot, 4)  # 4 of 5: 80%
        await bot.until(lambda: len(notices(bot)) == 1)
        alert = notices(bot)[0]["text"]
        assert "80%" in alert and "4 of 5" in alert and "<@U0ANN> (4)" in alert
        assert "resets" in alert
        await ask(bot, 5)  # 5 of 5: 100%
        await bot.until(lambda: len(notices(bot)) == 2)
        assert "used all 5 `o1` messages" in notices(bot)[1]["text"]
        # Past the limit: refused, and no third notice.
        await bot.event(mention("six", ts="1700000199.000100"), event_id="EvAdm6")
        await bot.until(lambda: bool(bot.answers_in("C0001", "1700000199.000100")))
        await bot.settled(6)
        assert len(notices(bot)) == 2

        # The answer's footer carries its cost; /quota the week's spend.
        answer = bot.answers_in("C0001", "1700000101.000100")[0]
        assert "$" in answer
        _, body, _ = await bot.command("/quota", "", user="U0BOSS")
        shown = as_json(body)["text"]
        assert "team spend $" in shown and "<@U0ANN>" in shown

        _, body, _ = await bot.command("/quota", "history 2", user="U0BOSS")
        history = as_json(body)["text"]
        assert "last 2 weeks" in history and "`o1` 5 ($" in history

        _, body, _ = await bot.command("/quota", "export 1", user="U0BOSS")
        assert "direct messages" in as_json(body)["text"]
        await bot.until(lambda: bool(bot.slack.shared_files("D0BOSS")))
        content = bot.slack.shared_files("D0BOSS")[0].content
        export = (content or b"").decode()
        assert "week_start,platform,team,model,user,questions,denied" in export
        assert ",slack,slack:T0001,o1,U0ANN,5,1," in export
