"""`--model auto` end to end: the service, the real ledger (SQLite and PostgreSQL), the
real model client and the fake OpenAI server. What the asker sees, which model really
answered, and what the team is charged — the classifier model never."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.settings import Settings
from app.wiring import Runtime, build_runtime
from bot.config import AutoPolicy, Catalogue, ModelSpec
from bot.domain import AskRequest, QuotaCommand
from bot.router import CLASSIFIER_PROMPT
from bot.service import AskOutcome
from tests.bot.test_model_service_faults import GENEROUS_S, TEAM, Transcript
from tests.dbutil import BACKENDS, fresh_database
from tests.fakes.openai_server import FakeOpenAI

SHORT = "What is the capital of France?"
MATHS = "Prove that the square root of 2 is irrational."


def catalogue(**changes: object) -> Catalogue:
    fields: dict[str, object] = {
        "models": [
            ModelSpec(alias="o1", id="o1", weekly_limit=30),
            ModelSpec(alias="mini", id="o1-mini", weekly_limit=50),
        ],
        "progress_every_s": 0.05,
        **changes,
    }
    return Catalogue.model_validate(fields)


@dataclass
class Asker:
    fake: FakeOpenAI
    rt: Runtime
    n: int = 0

    async def ask(self, text: str, *, thread: str | None = None) -> tuple[AskOutcome, Transcript]:
        self.n += 1
        t = Transcript()
        thread = thread or f"th-{self.n}"
        request = AskRequest("test", TEAM, "C1", thread, "ann", text, f"k{self.n}")
        async with asyncio.timeout(GENEROUS_S):
            outcome = await self.rt.service.ask(request, t)
        assert outcome is AskOutcome.ANSWERED, t.failures
        return outcome, t

    async def left(self) -> str:
        command = QuotaCommand("test", TEAM, "ann", "")
        return (await self.rt.service.quota(command)).text

    def models_called(self) -> list[str]:
        return [r.body["model"] for r in self.fake.requests]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def start(backend: str, tmp_path: Path, cat: Catalogue) -> AsyncIterator[Asker]:
    async with fresh_database(backend, tmp_path) as url, FakeOpenAI() as fake:
        settings = Settings(
            database_url=url,
            openai_base_url=fake.base_url,
            openai_api_key="sk-test-secret",
            openai_max_retries=1,
            _env_file=None,  # type: ignore[call-arg]
        )
        async with build_runtime(settings, cat, migrate=True) as rt:
            yield Asker(fake, rt)


@pytest.fixture
async def chat(backend: str, tmp_path: Path) -> AsyncIterator[Asker]:
    async for asker in start(backend, tmp_path, catalogue()):
        yield asker


@pytest.fixture
async def classified(backend: str, tmp_path: Path) -> AsyncIterator[Asker]:
    cat = catalogue(auto=AutoPolicy(router_model="mini"))
    async for asker in start(backend, tmp_path, cat):
        yield asker


async def test_auto_answers_a_short_question_with_mini_and_says_so(chat: Asker) -> None:
    _, t = await chat.ask(f"--model auto {SHORT}")
    text, footer = t.answers[0]
    assert SHORT in text
    assert footer.startswith("auto → mini: short factual question · ")
    assert chat.models_called() == ["o1-mini"]
    left = await chat.left()
    assert "`mini`: 49 of 50 left" in left and "`o1`: 30 of 30 left" in left


async def test_auto_answers_maths_with_o1_and_charges_o1(chat: Asker) -> None:
    _, t = await chat.ask(f"--model AUTO {MATHS}")
    assert t.answers[0][1].startswith("auto → o1: maths · ")
    assert chat.models_called() == ["o1"]
    assert "`o1`: 29 of 30 left" in await chat.left()


async def test_a_named_model_is_never_routed(chat: Asker) -> None:
    _, t = await chat.ask(f"--model o1 {SHORT}")
    assert t.answers[0][1].startswith("o1 · ")
    assert chat.models_called() == ["o1"]


async def test_a_thread_that_grew_long_moves_to_the_stronger_model(chat: Asker) -> None:
    for _ in range(3):  # three questions and three answers: six earlier turns
        _, t = await chat.ask("--model auto And then?", thread="th-long")
        assert "auto → mini" in t.answers[0][1]
    _, t = await chat.ask("--model auto And then?", thread="th-long")
    assert t.answers[0][1].startswith("auto → o1: long conversation · ")
    assert chat.models_called() == ["o1-mini"] * 3 + ["o1"]


async def test_default_model_auto_routes_questions_without_a_model(
    backend: str, tmp_path: Path
) -> None:
    async for asker in start(backend, tmp_path, catalogue(default_model="auto")):
        _, t = await asker.ask(SHORT)
        assert t.answers[0][1].startswith("auto → mini: short factual question")
        _, t = await asker.ask(f"Think hard: {SHORT}")
        assert t.answers[0][1].startswith("auto → o1: asked to think hard")
        assert asker.models_called() == ["o1-mini", "o1"]


# ---- [auto] router_model: a classifier, bounded and never charged ------------------------


async def test_classifier_model_decides_and_is_not_charged(classified: Asker) -> None:
    classified.fake.reply("maths")
    _, t = await classified.ask(f"--model auto {SHORT}")
    assert t.answers[0][1].startswith("auto → o1: maths, judged by mini · ")
    assert classified.models_called() == ["o1-mini", "o1"]
    asked = classified.fake.requests[0].body["messages"]
    assert asked[-1]["content"].startswith(CLASSIFIER_PROMPT) and SHORT in asked[-1]["content"]
    left = await classified.left()
    assert "`mini`: 50 of 50 left" in left and "`o1`: 29 of 30 left" in left


async def test_classifier_slower_than_two_seconds_falls_back_to_the_rules(
    classified: Asker,
) -> None:
    classified.fake.hang(10)
    _, t = await classified.ask(f"--model auto {MATHS}")
    footer = t.answers[0][1]
    assert footer.startswith("auto → o1: maths · ") and "judged" not in footer
    assert classified.models_called() == ["o1-mini", "o1"]
    left = await classified.left()
    assert "`mini`: 50 of 50 left" in left and "`o1`: 29 of 30 left" in left


async def test_failing_classifier_falls_back_to_the_rules(classified: Asker) -> None:
    classified.fake.fail(401, code="invalid_api_key")
    _, t = await classified.ask(f"--model auto {SHORT}")
    assert t.answers[0][1].startswith("auto → mini: short factual question · ")
    # Answered by mini, charged once: the failed classification costs nothing.
    assert classified.models_called() == ["o1-mini", "o1-mini"]
    assert "`mini`: 49 of 50 left" in await classified.left()


async def test_classifier_that_answers_no_label_falls_back_to_the_rules(
    classified: Asker,
) -> None:
    classified.fake.reply("It is a question about geography, I would say.")
    _, t = await classified.ask(f"--model auto {MATHS}")
    assert t.answers[0][1].startswith("auto → o1: maths · ")


@dataclass
class Resumable:
    """A durable request's checkpoint, as the dispatcher keeps it for another worker."""

    saved: tuple[str, str] | None = None

    @property
    def saved_answer(self) -> tuple[str, str] | None:
        return self.saved

    async def save_answer(self, text: str, footer: str) -> None:
        self.saved = (text, footer)


async def test_resumed_auto_request_is_answered_by_the_model_it_was_charged_for(
    classified: Asker,
) -> None:
    request = AskRequest("test", TEAM, "C1", "th-r", "ann", f"--model auto {SHORT}", "k-resume")
    checkpoint = Resumable()
    classified.fake.reply("maths")  # the first attempt's classifier: o1, reserved
    classified.fake.hang(3600)  # ...then the worker stops while o1 thinks
    first = asyncio.create_task(
        classified.rt.service.ask(request, Transcript(), checkpoint=checkpoint)
    )
    async with asyncio.timeout(GENEROUS_S):
        await classified.fake.wait_for_requests(2)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    classified.fake.reply("light")  # another worker resumes; the classifier now says mini
    t = Transcript()
    async with asyncio.timeout(GENEROUS_S):
        outcome = await classified.rt.service.ask(request, t, checkpoint=checkpoint)
    assert outcome is AskOutcome.ANSWERED, t.failures
    assert t.answers[0][1].startswith("auto → o1: ")
    assert classified.models_called() == ["o1-mini", "o1", "o1-mini", "o1"]
    left = await classified.left()
    assert "`o1`: 29 of 30 left" in left and "`mini`: 50 of 50 left" in left
