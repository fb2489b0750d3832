"""The model's reasoning in the terminal, end to end (the real service, ledger and
model client against the fake OpenAI server): dim lines while it thinks, before the
answer, collapsed to one line once the answer starts; "off" shows none of it; an
answer whose tokens all went to reasoning is explained, refunded and still billed."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.terminal.chat import TerminalSession
from app.wiring import Runtime, build_runtime
from bot.config import Catalogue, ModelSpec
from bot.weeks import utc_now, week_window
from tests.builders import bot_settings
from tests.fakes.openai_server import FakeOpenAI

THOUGHT = "Reading it twice.\nWeighing the two readings of the question.\nThe second one fits.\n"
ANSWER = "The answer is " + " ".join(f"part{i}" for i in range(20)) + "."


def catalogue(show: str = "live") -> Catalogue:
    return Catalogue(
        models=[ModelSpec(alias="r1", id="deepseek-reasoner", weekly_limit=5, price_output=2.0)],
        default_model="r1",
        progress_every_s=0.05,
        show_reasoning=show,  # type: ignore[arg-type]
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def runtime(fake: FakeOpenAI, tmp_path: Path, show: str) -> AsyncIterator[Runtime]:
    async with build_runtime(bot_settings(tmp_path / "chat.db", fake), catalogue(show)) as rt:
        yield rt


async def chat(fake: FakeOpenAI, tmp_path: Path, *lines: str, show: str = "live") -> str:
    """What the terminal showed (stdout and stderr in one stream, in order)."""
    screen = io.StringIO()
    async for rt in runtime(fake, tmp_path, show):
        session = TerminalSession(rt.service, out=screen, err=screen)
        for line in lines:
            await session.handle(line)
    return screen.getvalue()


async def test_reasoning_lines_come_before_the_answer_then_collapse(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.reply(ANSWER, reasoning=THOUGHT, think_s=0.8, delay=0.3, stream_chunks=4)
    screen = await chat(fake, tmp_path, "which reading?")
    assert "💭 Weighing the two readings of the question." in screen
    assert screen.index("Weighing") < screen.index("The answer is")
    assert "💭 Thought for " in screen
    assert screen.count("Weighing") == 1  # each line of reasoning shown once


async def test_off_shows_no_reasoning(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.reply(ANSWER, reasoning=THOUGHT, think_s=0.5, delay=0.2, stream_chunks=4)
    screen = await chat(fake, tmp_path, "which reading?", show="off")
    assert "The answer is part0" in screen
    assert "Weighing" not in screen and "Thought for" not in screen


async def test_all_tokens_spent_reasoning_is_explained_refunded_and_billed(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.reply("", reasoning=THOUGHT, finish_reason="length")
    screen = io.StringIO()
    async for rt in runtime(fake, tmp_path, "live"):
        session = TerminalSession(rt.service, out=screen, err=screen, admin=True)
        await session.handle("prove it")
        await session.handle("/quota")
        assert rt.service.admin is not None
        week = week_window(utc_now(), rt.service.catalogue.week)
        spend = await rt.service.admin.spend(session.team_key, week)
    text = screen.getvalue()
    assert "still reasoning" in text and "`max_completion_tokens`" not in text  # plain
    assert "max_completion_tokens" in text and "reasoning_effort" in text
    assert "not counted" in text
    assert spend[("me", "r1")] > 0  # refunded, and what the provider billed is recorded
