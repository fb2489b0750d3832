"""Provider faults end to end: the service, the real ledger (SQLite and PostgreSQL)
and the real model client against the fake OpenAI server, which refuses what OpenAI
refuses. Read like a chat transcript: what the asker sees, and what they are charged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.settings import load_settings
from app.wiring import Runtime, build_runtime
from bot.config import Catalogue, ModelSpec
from bot.domain import AskRequest, Effort, QuotaCommand
from bot.errors import ConfigError
from bot.ports import FailureKind, Progress
from bot.service import AskOutcome
from tests.builders import bot_settings
from tests.dbutil import BACKENDS, fresh_database
from tests.fakes.openai_server import FakeOpenAI

TEAM = "test:T1"
DEADLINE_S = 1.0
GENEROUS_S = 60.0  # bounds a hung test on a loaded machine; never a timing assertion


@dataclass
class Transcript:
    answers: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, FailureKind]] = field(default_factory=list)
    thread: str | None = None

    async def progress(self, progress: Progress) -> None:
        pass

    async def answer(self, text: str, *, footer: str) -> None:
        self.answers.append((text, footer))

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        self.failures.append((text, kind))


@dataclass
class Chat:
    rt: Runtime
    fake: FakeOpenAI
    n: int = 0

    async def ask(self, text: str) -> tuple[AskOutcome, Transcript]:
        self.n += 1
        t = Transcript()
        request = AskRequest("test", TEAM, "C1", f"th-{self.n}", "ann", text, f"k{self.n}")
        async with asyncio.timeout(GENEROUS_S):
            return await self.rt.service.ask(request, t), t

    async def left(self) -> str:
        return (await self.rt.service.quota(QuotaCommand("test", TEAM, "ann", ""))).text


def catalogue() -> Catalogue:
    return Catalogue(
        models=[
            ModelSpec(alias="o1", id="o1", weekly_limit=3),
            # Written as an old catalogue would: no efforts, no instructions_role.
            ModelSpec(alias="mini", id="o1-mini", weekly_limit=5),
            ModelSpec(alias="o3", id="o3-mini", weekly_limit=5, efforts=(Effort.LOW,)),
        ],
        progress_every_s=0.05,
    )


@pytest.fixture(params=BACKENDS)
async def chat(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Chat]:
    async with fresh_database(request.param, tmp_path) as url, FakeOpenAI() as fake:
        settings = bot_settings(
            url,
            fake,
            openai_api_key="sk-test-secret",
            openai_max_retries=1,
            model_deadline_seconds=DEADLINE_S,
        )
        async with build_runtime(settings, catalogue(), migrate=True) as rt:
            yield Chat(rt, fake)


async def test_effort_a_model_does_not_take_is_left_out_and_the_footer_says_so(
    chat: Chat,
) -> None:
    outcome, t = await chat.ask("--model mini --effort high Why is the sky blue?")
    assert outcome is AskOutcome.ANSWERED, t.failures
    body = chat.fake.requests[-1].body
    assert "reasoning_effort" not in body
    assert [m["role"] for m in body["messages"]] == ["user"]  # instructions folded in
    text, footer = t.answers[0]
    assert "Why is the sky blue?" in text
    assert "`mini` takes no `--effort`" in footer and "`high`" in footer
    assert "`mini`: 4 of 5 left" in await chat.left()


async def test_effort_outside_a_models_list_names_what_it_takes(chat: Chat) -> None:
    outcome, t = await chat.ask("--model o3 --effort high hi")
    assert outcome is AskOutcome.ANSWERED, t.failures
    assert "reasoning_effort" not in chat.fake.requests[-1].body
    assert "`o3` takes `--effort` `low` only" in t.answers[0][1]


async def test_effort_the_model_takes_is_sent_without_a_note(chat: Chat) -> None:
    outcome, t = await chat.ask("--model o3 --effort low hi")
    assert outcome is AskOutcome.ANSWERED
    assert chat.fake.requests[-1].body["reasoning_effort"] == "low"
    assert "takes" not in t.answers[0][1]


async def test_provider_that_only_keeps_alive_fails_at_the_deadline_and_is_refunded(
    chat: Chat,
) -> None:
    chat.fake.trickle(3600, every=0.05)
    outcome, t = await chat.ask("--model mini hi")
    assert outcome is AskOutcome.FAILED
    text, kind = t.failures[0]
    assert kind is FailureKind.ERROR
    assert "stopped waiting" in text and "not counted" in text
    assert "`mini`: 5 of 5 left" in await chat.left()


async def test_silent_provider_fails_at_the_deadline_and_is_refunded(chat: Chat) -> None:
    chat.fake.hang(3600, times=3)
    outcome, t = await chat.ask("hi")
    assert outcome is AskOutcome.FAILED and "stopped waiting" in t.failures[0][0]
    assert "`o1`: 3 of 3 left" in await chat.left()


async def test_stream_that_breaks_off_is_not_delivered_and_is_refunded(chat: Chat) -> None:
    chat.fake.cut_off("The safe dose is 5", times=3)
    outcome, t = await chat.ask("--model mini hi")
    assert outcome is AskOutcome.FAILED and not t.answers
    assert "broke off" in t.failures[0][0] and "not counted" in t.failures[0][0]
    assert "`mini`: 5 of 5 left" in await chat.left()


async def test_poison_answer_is_explained_and_refunded(chat: Chat) -> None:
    chat.fake.raw('{"choices": [null]}', times=3)
    outcome, t = await chat.ask("hi")
    assert outcome is AskOutcome.FAILED
    assert "unavailable" in t.failures[0][0] and "not counted" in t.failures[0][0]
    assert "`o1`: 3 of 3 left" in await chat.left()


def test_the_deadline_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).model_deadline_seconds == 900
    monkeypatch.setenv("MODEL_DEADLINE_SECONDS", "120")
    assert load_settings(_env_file=None).model_deadline_seconds == 120
    monkeypatch.setenv("MODEL_DEADLINE_SECONDS", "0")
    with pytest.raises(ConfigError, match="model_deadline_seconds"):
        load_settings(_env_file=None)
