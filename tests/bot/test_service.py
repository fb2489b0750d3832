"""The pipeline end to end through the real ledger (SQLite) and the real model client
against the fake OpenAI server, read like a chat transcript."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.wiring import Runtime, build_runtime
from bot.config import Catalogue, ModelSpec
from bot.domain import AskRequest, QuotaCommand
from bot.ports import FailureKind, Progress
from bot.service import AskOutcome
from tests.builders import bot_settings
from tests.fakes.openai_server import FakeOpenAI

TEAM = "test:T1"


@dataclass
class Transcript:
    """A Replier that records what the user would see."""

    updates: list[Progress] = field(default_factory=list)
    answers: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, FailureKind]] = field(default_factory=list)
    thread: str | None = None

    async def progress(self, progress: Progress) -> None:
        self.updates.append(progress)

    async def answer(self, text: str, *, footer: str) -> None:
        self.answers.append((text, footer))

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        self.failures.append((text, kind))

    @property
    def said(self) -> str:
        return "\n".join([a for a, _ in self.answers] + [f for f, _ in self.failures])


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Chat:
    rt: Runtime
    fake: FakeOpenAI
    clock: Clock
    n: int = 0

    async def ask(
        self,
        text: str,
        *,
        user: str = "ann",
        thread: str = "th-1",
        key: str | None = None,
        model: str | None = None,
        team: str = TEAM,
    ) -> tuple[AskOutcome, Transcript]:
        self.n += 1
        t = Transcript()
        req = AskRequest(
            platform="test",
            team=team,
            channel="C1",
            thread=thread,
            user=user,
            text=text,
            key=key or f"k{self.n}",
            model=model,
        )
        return await self.rt.service.ask(req, t), t

    async def quota(self, text: str = "", *, user: str = "ann", admin: bool = False) -> str:
        result = await self.rt.service.quota(QuotaCommand("test", TEAM, user, text, admin))
        return result.text


def catalogue(**kw: object) -> Catalogue:
    return Catalogue(
        models=[
            ModelSpec(alias="o1", id="o1", weekly_limit=3, streaming=False),
            ModelSpec(alias="mini", id="o1-mini", weekly_limit=5, instructions_role="user"),
        ],
        progress_every_s=0.05,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    async with FakeOpenAI() as fake:
        settings = bot_settings(
            tmp_path / "bot.db", fake, openai_api_key="sk-test-secret", openai_max_retries=1
        )
        clock = Clock()
        async with build_runtime(settings, catalogue()) as rt:
            rt.service._clock = clock  # deterministic weeks
            yield Chat(rt, fake, clock)


async def test_question_is_answered_with_a_footer(chat: Chat) -> None:
    outcome, t = await chat.ask("What is 2+2?")
    assert outcome is AskOutcome.ANSWERED
    assert len(t.answers) == 1
    text, footer = t.answers[0]
    assert "What is 2+2?" in text  # the fake echoes the question
    assert "o1" in footer and "2 left this week" in footer
    assert t.updates and t.updates[0].elapsed_s == 0.0


async def test_footer_counts_what_is_left_when_the_answer_arrives(chat: Chat) -> None:
    # B is reserved first and still thinking when A is answered: A's footer names the
    # message B holds instead of counting it as gone (B may yet fail and be refunded).
    chat.fake.reply("slow answer", delay=2.0)
    chat.fake.reply("fast answer")
    slow = asyncio.create_task(chat.ask("B", thread="b", key="kb"))
    await chat.fake.wait_for_requests(1)
    _, t = await chat.ask("A", thread="a", key="ka")
    assert "2 left this week (1 held by a question still being answered)" in t.answers[0][1]
    _, tb = await slow
    assert tb.answers[0][1].endswith("1 left this week")


async def test_follow_up_in_the_same_thread_carries_history(chat: Chat) -> None:
    await chat.ask("first question")
    await chat.ask("second question")
    messages = chat.fake.requests[-1].body["messages"]
    contents = [m["content"] for m in messages if m["role"] in ("user", "assistant")]
    assert any("first question" in c for c in contents)
    assert contents[-1].endswith("second question")
    assert [m["role"] for m in messages][-3:] == ["user", "assistant", "user"]


async def test_other_threads_do_not_share_history(chat: Chat) -> None:
    await chat.ask("secret plan", thread="a")
    await chat.ask("hello", thread="b")
    assert "secret plan" not in str(chat.fake.requests[-1].body["messages"])


async def test_model_option_picks_the_model_and_its_quota(chat: Chat) -> None:
    outcome, t = await chat.ask("--model mini hi")
    assert outcome is AskOutcome.ANSWERED
    assert chat.fake.requests[-1].body["model"] == "o1-mini"
    assert "4 left this week" in t.answers[0][1]


async def test_empty_question_gets_usage_and_costs_nothing(chat: Chat) -> None:
    outcome, t = await chat.ask("   ")
    assert outcome is AskOutcome.REJECTED
    assert t.failures[0][1] is FailureKind.REJECTED and "/reason" in t.failures[0][0]
    assert not chat.fake.requests
    assert "3 of 3 left" in await chat.quota()


async def test_over_long_question_is_refused_without_charge(chat: Chat) -> None:
    outcome, t = await chat.ask("x" * 20_001)
    assert outcome is AskOutcome.REJECTED and "20,000" in t.failures[0][0]
    assert not chat.fake.requests


async def test_unknown_model_lists_the_choices(chat: Chat) -> None:
    outcome, t = await chat.ask("--model gpt9 hi")
    assert outcome is AskOutcome.REJECTED
    assert "`o1`" in t.failures[0][0] and "`mini`" in t.failures[0][0]


async def test_exhausted_quota_says_when_it_resets_and_what_is_left(chat: Chat) -> None:
    for _ in range(3):
        assert (await chat.ask("q"))[0] is AskOutcome.ANSWERED
    outcome, t = await chat.ask("one more")
    assert outcome is AskOutcome.DENIED
    text, kind = t.failures[0]
    assert kind is FailureKind.DENIED
    assert "Mon 30 Nov 00:00 UTC" in text and "`mini` (5 left)" in text
    assert len(chat.fake.requests) == 3


async def test_a_new_week_brings_the_quota_back(chat: Chat) -> None:
    for _ in range(3):
        await chat.ask("q")
    chat.clock.now += timedelta(days=7)
    assert (await chat.ask("q"))[0] is AskOutcome.ANSWERED


async def test_provider_failure_is_explained_and_refunded(chat: Chat) -> None:
    chat.fake.fail(500, times=5)
    outcome, t = await chat.ask("q")
    assert outcome is AskOutcome.FAILED
    text, kind = t.failures[0]
    assert kind is FailureKind.ERROR and "not counted" in text
    assert "3 of 3 left" in await chat.quota()


async def test_out_of_credit_is_not_retried_and_says_so(chat: Chat) -> None:
    chat.fake.fail(429, code="insufficient_quota", type="insufficient_quota")
    outcome, t = await chat.ask("q")
    assert outcome is AskOutcome.FAILED and "billing" in t.failures[0][0]
    assert len(chat.fake.requests) == 1


async def test_replayed_key_is_answered_and_charged_once(chat: Chat) -> None:
    first, _ = await chat.ask("q", key="evt-1")
    again, t2 = await chat.ask("q", key="evt-1")
    assert (first, again) == (AskOutcome.ANSWERED, AskOutcome.DUPLICATE)
    assert t2.answers == [] and t2.failures == [] and t2.updates == []
    assert len(chat.fake.requests) == 1
    assert "2 of 3 left" in await chat.quota()


async def test_concurrent_replays_are_answered_once(chat: Chat) -> None:
    results = await asyncio.gather(*(chat.ask("q", key="evt-9") for _ in range(5)))
    outcomes = sorted(o for o, _ in results)
    assert outcomes.count(AskOutcome.ANSWERED) == 1
    assert outcomes.count(AskOutcome.DUPLICATE) == 4


async def test_mass_mentions_in_the_answer_never_ping(chat: Chat) -> None:
    chat.fake.reply("Attention @everyone and <!here>, ping <@U999>")
    _, t = await chat.ask("q")
    text = t.answers[0][0]
    assert "@everyone" not in text and "<!here>" not in text and "<@U999>" not in text


async def test_think_tags_never_reach_the_answer(chat: Chat) -> None:
    chat.fake.reply("<think>secret chain of thought</think>The answer is 4.")
    _, t = await chat.ask("q")
    # The reasoning collapses to one line above the answer; its text stays out.
    assert t.answers[0][0].startswith("💭 Thought for ")
    assert t.answers[0][0].endswith("\n\nThe answer is 4.")
    assert "secret" not in t.answers[0][0]


async def test_streamed_answer_shows_partial_text_as_progress(chat: Chat) -> None:
    chat.fake.reply("alpha beta gamma delta", stream_chunks=4, delay=0.3)
    _, t = await chat.ask("--model mini q")
    assert t.answers[0][0] == "alpha beta gamma delta"
    assert any(p.partial for p in t.updates)


async def test_non_admin_cannot_change_quotas(chat: Chat) -> None:
    text = await chat.quota("set o1 100")
    assert "Only admins" in text
    assert "3 of 3 left" in await chat.quota()


async def test_admin_sets_grants_resets_and_caps(chat: Chat) -> None:
    assert "limit set to 10" in await chat.quota("set o1 10", admin=True)
    assert "10 of 10 left" in await chat.quota()
    assert "Granted 2" in await chat.quota("grant 2 o1", admin=True)
    assert "12 of 12 left" in await chat.quota()
    await chat.ask("q")
    report = await chat.quota(admin=True)
    assert "11 of 12 left" in report and "<@ann>" in report
    await chat.quota("reset o1", admin=True)
    assert "12 of 12 left" in await chat.quota()
    await chat.quota("user <@bob> 1 o1", admin=True)
    assert (await chat.ask("q", user="bob"))[0] is AskOutcome.ANSWERED
    outcome, t = await chat.ask("q", user="bob")
    assert outcome is AskOutcome.DENIED and "You have used all 1" in t.failures[0][0]
    log = await chat.quota("log", admin=True)
    assert "set o1 10" in log and "grant o1 2" in log


async def test_non_admins_see_only_their_own_usage(chat: Chat) -> None:
    await chat.ask("q", user="bob")
    text = await chat.quota(user="ann")
    assert "<@bob>" not in text and "you used 0" in text


async def test_config_admins_may_change_quotas(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        settings = bot_settings(tmp_path / "b.db", fake, openai_api_key=None, openai_max_retries=3)
        async with build_runtime(settings, catalogue(admins=["test:boss"])) as rt:
            result = await rt.service.quota(QuotaCommand("test", TEAM, "boss", "grant 1"))
            assert result.ok and "Granted 1" in result.text


THOUGHT = "First <!here> I weigh @everyone and <@U123>.\nThen I check the sum."


async def test_reasoning_shows_while_thinking_then_collapses_to_one_line(chat: Chat) -> None:
    chat.fake.reply("The answer is 4.", reasoning=THOUGHT, think_s=0.6, delay=0.4, stream_chunks=4)
    _, t = await chat.ask("--model mini what is 2+2?", thread="r")
    thinking = [i for i, p in enumerate(t.updates) if p.reasoning]
    answering = [i for i, p in enumerate(t.updates) if p.partial]
    assert thinking and answering and thinking[0] < answering[0]
    shown = t.updates[thinking[-1]].reasoning
    assert "check the sum" in shown
    assert "<!here>" not in shown and "@everyone" not in shown and "<@U123>" not in shown
    assert all(not t.updates[i].reasoning for i in answering)
    text = t.answers[0][0]
    assert text.startswith("💭 Thought for ") and text.endswith("\n\nThe answer is 4.")
    assert "weigh" not in text
    # Streamed and final answers start alike, so a streamed message can be finished.
    assert all(t.updates[i].partial.startswith(text.split("\n")[0]) for i in answering)


async def test_reasoning_is_never_sent_back_to_the_provider(chat: Chat) -> None:
    chat.fake.reply("The answer is 4.", reasoning=THOUGHT, think_s=0.2)
    await chat.ask("--model mini what is 2+2?", thread="h")
    await chat.ask("--model mini and 3+3?", thread="h")
    sent = chat.fake.requests[-1].body["messages"]
    assert [m["role"] for m in sent][-3:] == ["user", "assistant", "user"]
    assert sent[-2]["content"] == "The answer is 4."  # neither the 💭 line nor the thought
    assert all("reasoning_content" not in m and "reasoning" not in m for m in sent)


async def test_keep_shows_the_end_of_the_reasoning_above_the_answer(chat: Chat) -> None:
    chat.rt.service.catalogue = catalogue(show_reasoning="keep")
    chat.fake.reply("The answer is 4.", reasoning=THOUGHT, think_s=0.3)
    _, t = await chat.ask("--model mini what is 2+2?", thread="k")
    text = t.answers[0][0]
    assert text.startswith("💭 Thought for ") and "\n> Then I check the sum.\n" in text
    assert "<!here>" not in text and "@everyone" not in text and "<@U123>" not in text


async def test_off_never_shows_the_reasoning(chat: Chat) -> None:
    chat.rt.service.catalogue = catalogue(show_reasoning="off")
    chat.fake.reply("The answer is 4.", reasoning=THOUGHT, think_s=0.3)
    _, t = await chat.ask("--model mini what is 2+2?", thread="o")
    assert not any(p.reasoning for p in t.updates)
    assert t.answers[0][0] == "The answer is 4."
