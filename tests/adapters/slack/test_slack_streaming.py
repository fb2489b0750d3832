"""Slack's native streaming (chat.startStream / appendStream / stopStream) end to end,
and the fall-backs to an edited status message when a workspace has no streaming, the
stream ends early or cannot carry the answer."""

from __future__ import annotations

import re
from pathlib import Path

from tests.adapters.slack.conftest import SlackHarness, running_bot
from tests.builders import mention

ROOT = "1700000500.000100"
ANSWER = " ".join(f"step{i}" for i in range(60)) + "\n\n**Therefore** the answer is 42."


async def ask_slowly(bot: SlackHarness, text: str = ANSWER, *, delay: float = 3.0) -> None:
    bot.model.reply(text, delay=delay, stream_chunks=12)
    await bot.event(mention("think hard", ts=ROOT), event_id=f"Ev{ROOT}")


async def test_answer_streams_natively_and_ends_with_the_footer(bot: SlackHarness) -> None:
    await ask_slowly(bot)
    await bot.settled(1)
    start = bot.slack.calls_to("chat.startStream")
    assert len(start) == 1
    args = start[0].args
    assert args["thread_ts"] == ROOT and args["channel"] == "C0001"
    assert args["recipient_team_id"] == "T0001" and args["recipient_user_id"] == "U0ANN"
    assert bot.slack.calls_to("chat.appendStream"), "the answer grows while the model writes"
    stop = bot.slack.calls_to("chat.stopStream")
    assert len(stop) == 1 and "left this week" in stop[0].args["markdown_text"]
    # One message in the thread: the streamed answer, whole, in order, footer last.
    thread = bot.slack.thread("C0001", ROOT)
    assert len(thread) == 1, thread
    text = thread[0]["text"]
    assert (
        text.startswith(ANSWER)
        and re.search(r"left this week( \(.*\))?_$", text.rstrip()) is not None
    )
    assert not thread[0]["streaming"]
    # The status message was taken away; the answer was never posted a second time.
    assert not any("You asked" in str(c.args.get("text", "")) for c in bot.slack.calls)


async def test_workspace_without_streaming_gets_status_edits_and_is_remembered(
    bot: SlackHarness,
) -> None:
    bot.slack.no_streaming.add("T0001")
    await ask_slowly(bot)
    await bot.settled(1)
    thread = bot.slack.thread("C0001", ROOT)
    assert len(thread) == 1 and thread[0]["text"].startswith("step0 step1")
    assert any(c.method == "chat.update" for c in bot.slack.calls)
    # A second question in the same workspace does not try again.
    bot.model.reply("second answer", delay=1.0, stream_chunks=5)
    await bot.event(mention("again", ts="1700000501.000100"), event_id="EvAgain")
    await bot.settled(2)
    assert "second answer" in bot.slack.thread("C0001", "1700000501.000100")[0]["text"]
    assert len(bot.slack.calls_to("chat.startStream")) == 1


async def test_stream_that_slack_ended_is_replaced_by_the_whole_answer(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        bot.slack.stream_lifetime_s = 0.5  # Slack ends streams after ~5 min; here sooner
        await ask_slowly(bot)
        await bot.settled(1)
        thread = bot.slack.thread("C0001", ROOT)
        # The cut-off stream is gone; the answer stands whole in one message.
        assert len(thread) == 1, thread
        assert thread[0]["text"].startswith("step0") and "answer is 42" in thread[0]["text"]
        assert not thread[0].get("streaming")
        assert bot.slack.calls_to("chat.delete")


async def test_asker_pressing_stop_ends_the_answer_there(bot: SlackHarness) -> None:
    await ask_slowly(bot, delay=4.0)
    await bot.until(lambda: bool(bot.slack.streams))
    bot.slack.stop_by_user(next(iter(bot.slack.streams)))
    await bot.settled(1)
    thread = bot.slack.thread("C0001", ROOT)
    assert len(thread) == 1, thread  # the stopped stream stays; no status, no repost
    assert thread[0]["text"].startswith("step0") and "answer is 42" not in thread[0]["text"]
    assert not any("answer is 42" in str(c.args) for c in bot.slack.calls)


async def test_failure_mid_stream_takes_the_partial_answer_away(bot: SlackHarness) -> None:
    bot.model.reset_mid_stream(text=ANSWER, after=1.0)
    await bot.event(mention("break", ts=ROOT), event_id="EvBreak")
    await bot.until(lambda: bool(bot.slack.streams))  # part of the answer is showing
    await bot.settled(1)
    thread = bot.slack.thread("C0001", ROOT)
    assert len(thread) == 1 and "not counted" in thread[0]["text"]


async def test_answer_too_long_for_a_stream_is_posted_in_pieces(bot: SlackHarness) -> None:
    long = ("word " * 150 + "\n\n") * 20 + "THE END"
    await ask_slowly(bot, long, delay=2.0)
    await bot.settled(1)
    thread = bot.slack.thread("C0001", ROOT)
    assert not any(m.get("streaming") is not None for m in thread)  # the stream is gone
    assert len(thread) >= 4 and all(len(m["text"]) <= 4000 for m in thread)
    assert sum(m["text"].count("word") for m in thread) == 150 * 20


async def test_streamed_text_never_pings_anyone(bot: SlackHarness) -> None:
    await ask_slowly(bot, "Hey <!channel> and <!here>, @everyone: see [docs](!here) " + ANSWER)
    await bot.settled(1)
    sent = [
        str(c.args.get("markdown_text", "")) for c in bot.slack.calls if c.method.endswith("Stream")
    ]
    assert sent
    for text in sent:
        for ping in ("<!channel>", "<!here>", "@everyone", "](!here)"):
            assert ping not in text


async def test_streamed_links_are_neutralised_as_in_posted_answers(bot: SlackHarness) -> None:
    hostile = "See <https://evil.example|https://good.example> or <slack://open?team=T1|this>. "
    await ask_slowly(bot, hostile + ANSWER)
    await bot.settled(1)
    sent = [
        str(c.args.get("markdown_text", "")) for c in bot.slack.calls if c.method.endswith("Stream")
    ]
    assert sent and "https://good.example (https://evil.example)" in "".join(sent)
    for text in sent:
        assert "<https://evil" not in text and "<slack://" not in text and "|this>" not in text
    # The stream carried the answer to its end (it was never taken away for a repost).
    thread = bot.slack.thread("C0001", ROOT)
    assert len(thread) == 1 and thread[0].get("streaming") is False
    assert thread[0]["text"].startswith("See https://good.example (https://evil.example)")
