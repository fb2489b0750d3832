"""The model's reasoning on Slack, end to end through the fake Slack Web API: live in
the native stream as a plan task where the workspace streams, otherwise in the edited
status message; collapsed to one line once the answer starts; never a ping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.webapi import call
from bot.errors import PlatformError
from tests.adapters.slack.conftest import SlackHarness, running_bot
from tests.builders import mention, platform_catalogue
from tests.fakes.slack_api import FakeSlack

ROOT = "1700000600.000100"
THOUGHT = (
    "First I tell <!channel> and @here nothing, nor <@U0BOSS>.\n"
    "Weighing the two readings of the question.\nThe second one fits."
)
ANSWER = "The answer is " + " ".join(f"part{i}" for i in range(30)) + "."


async def ask_thinking(bot: SlackHarness) -> None:
    bot.model.reply(ANSWER, reasoning=THOUGHT, think_s=4.0, delay=1.5, stream_chunks=8)
    await bot.event(mention("think about it", ts=ROOT), event_id=f"Ev{ROOT}")
    await bot.settled(1)


def no_pings(text: str) -> bool:
    return not any(p in text for p in ("<!channel>", "<!here>", "@here", "<@U0BOSS>"))


async def test_reasoning_streams_as_a_plan_task_then_collapses(bot: SlackHarness) -> None:
    await ask_thinking(bot)
    streamed = [c for c in bot.slack.calls if c.method.startswith("chat.") and "Stream" in c.method]
    start = streamed[0]
    assert start.method == "chat.startStream" and start.args["task_display_mode"] == "plan"
    plan, task = start.args["chunks"]
    assert plan["type"] == "plan_update" and task["type"] == "task_update"
    assert task["status"] == "in_progress" and no_pings(task["details"])
    # Every task update comes before the first answer text, and the task is closed by the
    # call that carries the first words of the answer.
    texts = [
        i
        for i, c in enumerate(streamed)
        if c.args.get("markdown_text")
        or any(k.get("type") == "markdown_text" for k in c.args.get("chunks", ()))
    ]
    tasks = [
        (i, k)
        for i, c in enumerate(streamed)
        for k in c.args.get("chunks", ())
        if k["type"] == "task_update"
    ]
    assert texts and all(i <= texts[0] for i, _ in tasks)
    assert [k["status"] for _, k in tasks if k["status"] != "in_progress"] == ["complete"]
    done = tasks[-1][1]
    assert done["title"].startswith("💭 Thought for ")
    assert "Weighing" in " ".join(k.get("details", "") for _, k in tasks)
    # One message: the answer, without the reasoning's text, footer last.
    [message] = bot.slack.thread("C0001", ROOT)
    assert message["text"].startswith("The answer is part0") and "Weighing" not in message["text"]
    assert not message["streaming"]
    for c in bot.slack.calls:
        assert no_pings(str(c.args.get("text", ""))), c
    assert not bot.slack.calls_to("assistant.threads.setStatus")  # not an assistant thread


async def test_in_the_apps_dm_the_assistant_status_shows_the_reasoning(
    bot: SlackHarness,
) -> None:
    bot.model.reply(ANSWER, reasoning=THOUGHT, think_s=4.0, delay=1.0, stream_chunks=4)
    dm = {
        "type": "message",
        "user": "U0ANN",
        "text": "think about it",
        "ts": ROOT,
        "channel": "D0001",
        "channel_type": "im",
        "event_ts": ROOT,
    }
    await bot.event(dm, event_id=f"Ev{ROOT}")
    await bot.settled(1)
    statuses = bot.slack.calls_to("assistant.threads.setStatus")
    assert statuses and statuses[0].args["channel_id"] == "D0001"
    assert statuses[0].args["thread_ts"] == ROOT
    shown = [m for c in statuses for m in c.args["loading_messages"]]
    assert any("Weighing" in m for m in shown) and all(no_pings(m) for m in shown)


async def test_without_streaming_the_status_message_shows_the_reasoning(
    bot: SlackHarness,
) -> None:
    bot.slack.no_streaming.add("T0001")
    await ask_thinking(bot)
    edits = [str(c.args.get("text", "")) for c in bot.slack.calls_to("chat.update")]
    thinking = [i for i, t in enumerate(edits) if "Weighing" in t]
    answering = [i for i, t in enumerate(edits) if "The answer is" in t]
    assert thinking and answering and thinking[0] < answering[0]
    assert all(no_pings(t) for t in edits)
    [message] = bot.slack.thread("C0001", ROOT)
    first_line = message["text"].splitlines()[0]
    assert first_line.startswith("💭 Thought for ") and "Weighing" not in message["text"]


async def test_off_shows_no_reasoning_anywhere(tmp_path: Path) -> None:
    async with running_bot(tmp_path, catalogue=platform_catalogue(show_reasoning="off")) as bot:
        await ask_thinking(bot)
        for c in bot.slack.calls:
            assert "readings" not in str(c.args), c
            assert "Thought for" not in str(c.args), c
        [message] = bot.slack.thread("C0001", ROOT)
        assert message["text"].startswith("The answer is part0")


TASK = {"type": "task_update", "id": "t1", "title": "Thinking", "status": "in_progress"}
# Where a stream starts: in ROOT's thread, for the asker.
IN_THREAD = {
    "channel": "C0001",
    "thread_ts": ROOT,
    "recipient_team_id": "T0001",
    "recipient_user_id": "U0ANN",
}


@pytest.mark.parametrize(
    ("chunks", "error"),
    [
        ([{"type": "reasoning", "text": "hm"}], "invalid_arguments"),
        ([{**TASK, "status": "thinking"}], "invalid_arguments"),
        ([{**TASK, "details": "x" * 257}], "invalid_arguments"),
        ([{"type": "task_update", "id": "t1", "status": "complete"}], "invalid_arguments"),
        ([{"type": "plan_update"}], "invalid_arguments"),
        ([{"type": "markdown_text", "text": "x" * 12_001}], "msg_too_long"),
        ([], "invalid_arguments"),
    ],
)
async def test_fake_slack_refuses_chunks_slack_refuses(
    chunks: list[dict[str, Any]], error: str
) -> None:
    async with FakeSlack() as fake, aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake.token, base_url=fake.base_url, session=session)
        ok = await call(client, "chat.startStream", **IN_THREAD, chunks=[TASK])
        with pytest.raises(PlatformError) as caught:
            await call(client, "chat.appendStream", channel="C0001", ts=ok["ts"], chunks=chunks)
        assert caught.value.code == error
        with pytest.raises(PlatformError) as caught:
            await call(
                client,
                "chat.startStream",
                **IN_THREAD,
                task_display_mode="list" if error == "msg_too_long" else "plan",
                chunks=chunks if error != "msg_too_long" else [TASK],
            )
        assert caught.value.code == "invalid_arguments"
