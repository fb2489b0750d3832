"""One request, one path: on every platform's way in, a question's `/reason` text is
parsed once, at intake, and the worker that answers it works from what intake parsed.
Counted through the real listeners, the fakes, the queue and the dispatcher."""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.service
from adapters.terminal.chat import TerminalSession
from app.wiring import build_runtime
from bot.commands import ReasonArgs, parse_reason
from tests.adapters.discord.conftest import running_discord
from tests.adapters.slack.conftest import running_bot
from tests.builders import bot_settings, catalogue, mention, o1, reply
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """How many times each question's text went through the `/reason` parser."""
    seen: Counter[str] = Counter()

    def counting(text: str) -> ReasonArgs:
        seen[text] += 1
        return parse_reason(text)

    monkeypatch.setattr(bot.service, "parse_reason", counting)
    yield seen


def answered(posted: list[str], question: str) -> bool:
    return any(f"You asked: {question}" in text for text in posted)


async def test_slack_command_mention_and_thread_reply_are_each_parsed_once(
    tmp_path: Path, parsed: Counter[str]
) -> None:
    async with running_bot(tmp_path) as slack:
        await slack.command("/reason", "--model o1 by command")
        await slack.until(lambda: answered(slack.posted(), "by command"))
        root = f"{time.time():.6f}"
        await slack.event(mention("by mention", ts=root), event_id="Ev-mention")
        await slack.until(lambda: answered(slack.posted(), "by mention"))
        await slack.settled(2)
        follow = reply("by reply", ts=f"{float(root) + 1:.6f}", thread_ts=root)
        await slack.event(follow, event_id="Ev-reply")
        await slack.until(lambda: answered(slack.posted(), "by reply"))
        await slack.settled(3)
    assert parsed == {"--model o1 by command": 1, "by mention": 1, "by reply": 1}


async def test_discord_slash_mention_and_thread_message_are_each_parsed_once(
    tmp_path: Path, parsed: Counter[str]
) -> None:
    async with running_discord(tmp_path) as discord:
        fake = discord.discord
        await fake.slash("reason", [{"name": "question", "type": 3, "value": "by slash"}])
        await discord.until(lambda: answered([m["content"] for m in discord.sent()], "by slash"))
        mid = await fake.say(f"<@{fake.bot_id}> by mention", mention_bot=True)
        await discord.until(lambda: answered([m["content"] for m in discord.sent()], "by mention"))
        await discord.settled(2)
        # The mention's thread has the mention's id; a further mention there continues it.
        await fake.say(f"<@{fake.bot_id}> in thread", channel_id=mid, mention_bot=True)
        await discord.until(lambda: answered([m["content"] for m in discord.sent()], "in thread"))
        await discord.settled(3)
    assert sorted(parsed.values()) == [1, 1, 1]
    assert {text.strip() for text in parsed} == {"by slash", "by mention", "in thread"}


async def test_terminal_question_is_parsed_once(tmp_path: Path, parsed: Counter[str]) -> None:
    async with FakeOpenAI() as model:
        settings = bot_settings(tmp_path / "chat.db", model)
        async with build_runtime(settings, catalogue(o1(5))) as rt:
            out, err = io.StringIO(), io.StringIO()
            session = TerminalSession(rt.service, out, err)
            await session.handle("/reason --effort high in the terminal")
            await session.handle("")  # nothing asked, nothing parsed
    assert "You asked: in the terminal" in out.getvalue()
    assert parsed == {"--effort high in the terminal": 1}
    assert session.failures == 0


async def jobs_written(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM jobs")) or 0)


async def test_a_slack_mention_naming_no_model_is_refused_at_intake(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as slack:
        await slack.event(mention("--model nope hi", ts=f"{time.time():.6f}"), event_id="Ev-bad")
        await slack.until(lambda: bool(slack.slack.calls_to("chat.postEphemeral")))
        (told,) = slack.slack.calls_to("chat.postEphemeral")
        assert "no model called `nope`" in told.args["text"] and told.args["user"] == "U0ANN"
        assert await jobs_written(slack.rt.engine) == 0
        assert not slack.model.requests and not slack.slack.calls_to("chat.postMessage")


async def test_a_discord_mention_naming_no_model_is_refused_at_intake(tmp_path: Path) -> None:
    async with running_discord(tmp_path) as discord:
        fake = discord.discord
        mid = await fake.say(f"<@{fake.bot_id}> --model nope hi", mention_bot=True)

        def replies() -> list[dict[str, Any]]:
            return [
                m
                for m in discord.sent()
                if str((m.get("message_reference") or {}).get("message_id")) == mid
                and m["author"]["id"] == fake.bot_id
            ]

        await discord.until(lambda: bool(replies()))
        refused = replies()
        assert len(refused) == 1 and "no model called `nope`" in refused[0]["content"]
        assert await jobs_written(discord.rt.engine) == 0
        assert not discord.thread_ids() and not discord.model.requests
