"""Slack failing while the bot answers: a 5xx on a piece of a long answer is sent again,
and if Slack keeps failing, the pieces delivered stay and a note says what is missing;
an error page that is not Slack's JSON becomes a `PlatformError`, never a crash."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.webapi import PIECE_RETRY_DELAYS_S, call
from bot.dispatch import AskOutcome
from bot.errors import PlatformError
from tests.adapters.slack.conftest import SlackHarness, as_json
from tests.builders import mention
from tests.fakes.slack_api import FakeSlack

ROOT = "1700000800.000100"
PARAGRAPH = "word " * 150 + "\n\n"
LONG = PARAGRAPH * 20 + "THE END"
HTML_503 = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
# Error pages as proxies and load balancers send them: slack_sdk reads each differently
# (an unread body, a string, an undecodable "JSON" body).
ERROR_PAGES = [
    ("text/html", HTML_503),
    ("text/plain", "Service Unavailable"),
    ("application/json", HTML_503),
]


async def ask_long(bot: SlackHarness) -> None:
    """A long answer delivered as ordinary messages (no native streaming): the status
    message becomes piece 1, pieces 2.. are posted with chat.postMessage."""
    bot.slack.no_streaming.add("T0001")
    bot.model.reply(LONG, delay=1.0)
    await bot.event(mention("essay", ts=ROOT), event_id="EvLong")
    # The status message is the only chat.postMessage before the answer's pieces.
    await bot.until(lambda: bool(bot.slack.calls_to("chat.postMessage")))


def words(texts: list[str]) -> int:
    return sum(t.count("word") for t in texts)


async def test_a_5xx_on_piece_two_is_sent_again_and_the_answer_is_whole(
    bot: SlackHarness,
) -> None:
    await ask_long(bot)
    bot.slack.http_error("chat.postMessage", status=500)
    await bot.settled(1)
    pieces = bot.answers_in("C0001", ROOT)
    assert len(pieces) >= 4 and words(pieces) == 150 * 20
    assert "THE END" in "".join(pieces) and "left this week" in pieces[-1]
    assert not any("went wrong" in p for p in pieces)
    assert bot.rt.dispatcher.outcomes == {AskOutcome.ANSWERED: 1}


@pytest.mark.parametrize(("content_type", "page"), ERROR_PAGES)
async def test_an_error_page_on_a_piece_is_sent_again(
    bot: SlackHarness, content_type: str, page: str
) -> None:
    await ask_long(bot)
    bot.slack.http_error("chat.postMessage", status=503, body=page, content_type=content_type)
    await bot.settled(1)
    pieces = bot.answers_in("C0001", ROOT)
    assert words(pieces) == 150 * 20 and "left this week" in pieces[-1]
    assert bot.rt.dispatcher.outcomes == {AskOutcome.ANSWERED: 1}


async def test_slack_failing_for_good_keeps_what_was_delivered_and_says_what_is_missing(
    bot: SlackHarness,
) -> None:
    await ask_long(bot)
    attempts = len(PIECE_RETRY_DELAYS_S) + 1
    bot.slack.http_error("chat.postMessage", status=500, times=attempts)
    await bot.settled(1)
    thread = bot.answers_in("C0001", ROOT)
    # Piece 1 (the former status message) stands untouched, the note comes after it.
    assert len(thread) == 2, thread
    first, note = thread
    assert first.startswith("word word") and words([first]) > 0
    assert "went wrong" not in first and "Slack" not in first
    assert "could not be posted" in note and "Nothing was charged" in note
    assert len(bot.slack.calls_to("chat.postMessage")) == 1 + attempts + 1
    assert bot.rt.dispatcher.outcomes == {AskOutcome.FAILED: 1}
    _, body, _ = await bot.command("/quota", "")
    assert "30 of 30 left" in as_json(body)["text"]


async def test_a_5xx_on_the_status_message_is_sent_again_and_the_question_answered(
    bot: SlackHarness,
) -> None:
    bot.slack.no_streaming.add("T0001")
    bot.slack.http_error("chat.postMessage", status=502, body=HTML_503, content_type="text/html")
    await bot.event(mention("still there?", ts=ROOT), event_id="EvStatus")
    await bot.settled(1)
    assert bot.rt.dispatcher.outcomes == {AskOutcome.ANSWERED: 1}
    (text,) = bot.answers_in("C0001", ROOT)
    assert "You asked: still there?" in text


@pytest.mark.parametrize(("content_type", "page"), ERROR_PAGES)
async def test_quota_answers_when_users_info_returns_an_error_page(
    bot: SlackHarness, content_type: str, page: str
) -> None:
    bot.slack.http_error("users.info", status=503, body=page, content_type=content_type)
    status, body, _ = await bot.command("/quota", "")
    assert status == 200, body
    assert "30 of 30 left" in as_json(body)["text"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


@pytest.mark.parametrize(("content_type", "page"), ERROR_PAGES)
async def test_call_turns_an_error_page_into_a_platform_error(
    fake: FakeSlack, content_type: str, page: str
) -> None:
    fake.http_error("chat.postMessage", status=503, body=page, content_type=content_type)
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake.token, base_url=fake.base_url, session=session)
        with pytest.raises(PlatformError) as caught:
            await call(client, "chat.postMessage", channel="C0001", text="hi")
    assert caught.value.code is None and "503" in str(caught.value)


async def test_call_keeps_slacks_error_code_from_a_5xx(fake: FakeSlack) -> None:
    fake.http_error("chat.postMessage", status=500)
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake.token, base_url=fake.base_url, session=session)
        with pytest.raises(PlatformError) as caught:
            await call(client, "chat.postMessage", channel="C0001", text="hi")
    assert caught.value.code == "internal_error"
