"""How the terminal shows the core's text: no Slack mark-up or mentions, line breaks
as written, tables for `/quota`, dim thinking lines, and streaming that writes only
what is new."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from adapters.terminal import render
from adapters.terminal.chat import TerminalReplier
from bot import messages
from bot.domain import ModelUsage, TeamUsage, UserUsage, Window
from bot.ports import FailureKind, Progress
from tests.adapters.terminal.test_chat_e2e import table_row

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
USAGE = TeamUsage(
    team="terminal:local",
    window=WEEK,
    models=(
        ModelUsage("o1", limit=30, granted=2, used=3, user_limit=None),
        ModelUsage("mini", limit=50, granted=0, used=0, user_limit=0),
    ),
    users=(UserUsage("me", "o1", 3, tokens=1_234),),
)


def terminal(width: int = 100) -> tuple[io.StringIO, render.Console]:
    out = io.StringIO()
    return out, render.Console(file=out, force_terminal=True, width=width, color_system=None)


def piped() -> tuple[io.StringIO, render.Console]:
    out = io.StringIO()
    return out, render.console_for(out)


def test_core_sentences_lose_their_marks_and_keep_their_lines() -> None:
    summary = messages.quota_summary(USAGE, user="me", now=NOW, admin=True)
    for out, console in (terminal(), piped()):
        render.show_markdown(console, summary)
        text = out.getvalue()
        assert "**" not in text and "`" not in text and "<@" not in text and "_" not in text
        assert "@me · o1: 3 (1,234 tokens)" in text
        assert text.count("\n") == summary.count("\n") + 1  # one line each, as written


def test_quota_tables_show_usage_and_a_model_turned_off() -> None:
    out, console = terminal()
    console.print(render.quota_tables(USAGE, user="me", now=NOW, admin=True))
    text = out.getvalue()
    assert "Quota this week · resets Mon 30 Nov 00:00 UTC (in 4 days)" in text
    assert table_row(text, "o1", "29", "32", "2", "3")  # left, allowance, granted, mine
    assert table_row(text, "mini", "50", "50", "", "turned off")
    assert "Usage by person" in text and "1,234" in text


def test_operator_tables_have_no_column_of_their_own() -> None:
    out, console = terminal()
    console.print(render.quota_tables(USAGE, user=None, now=NOW, admin=True))
    assert "Used by" not in out.getvalue()


def test_mentions_never_reach_the_terminal_as_markup() -> None:
    assert render.plain_mentions("hi <@U1|ann>, <@U2> and <!here>") == "hi @ann, @U2 and @here"


async def test_thinking_summary_is_dim_lines_above_the_answer() -> None:
    out = io.StringIO()
    console = render.Console(file=out, force_terminal=True, width=80, color_system="standard")
    replier = TerminalReplier(console, console)
    replier.thinking_summary(["Considering the question", "Checking the laws"])
    await replier.answer("The answer.", footer="o1 · 1 s")
    text = out.getvalue()
    assert "\x1b[2mConsidering the question" in text  # SGR 2: dim
    assert text.index("Checking the laws") < text.index("The answer.")


async def test_piped_streaming_writes_only_what_is_new() -> None:
    out, console = piped()
    err, err_console = piped()
    replier = TerminalReplier(console, err_console)
    await replier.progress(Progress(model="o1", elapsed_s=0.0))
    await replier.progress(Progress(model="o1", elapsed_s=1.0, partial="Hello"))
    assert out.getvalue() == "Hello"
    await replier.progress(Progress(model="o1", elapsed_s=2.0, partial="Hello, world"))
    assert out.getvalue() == "Hello, world"
    await replier.answer("Hello, world.", footer="`o1` · 2 s")
    assert out.getvalue() == "Hello, world.\n\n— o1 · 2 s\n\n"
    assert err.getvalue() == "🤔 Thinking with o1…\n"


async def test_piped_failure_after_partial_text_starts_on_its_own_line() -> None:
    out, console = piped()
    replier = TerminalReplier(console, piped()[1])
    await replier.progress(Progress(model="o1", elapsed_s=1.0, partial="Half an"))
    await replier.fail("⚠️ The stream broke.", kind=FailureKind.ERROR)
    assert out.getvalue() == "Half an\n⚠️ The stream broke.\n" and replier.failed


async def test_live_reasoning_is_dim_and_collapses_above_the_answer() -> None:
    out = io.StringIO()
    console = render.Console(file=out, force_terminal=True, width=80, color_system="standard")
    replier = TerminalReplier(console, console)
    await replier.progress(Progress(model="o1", elapsed_s=1.0, reasoning="Weighing it\nChecking"))
    assert "\x1b[2m💭 Weighing it" in out.getvalue()  # SGR 2: dim
    await replier.answer("💭 Thought for 4 s\n\nThe answer.", footer="o1 · 5 s")
    replier.close()
    shown = out.getvalue()
    assert "\x1b[2m💭 Thought for 4 s" in shown
    assert shown.rindex("Thought for 4 s") < shown.rindex("The answer.")


async def test_piped_thought_goes_to_stderr_and_the_answer_stays_clean() -> None:
    out, console = piped()
    err, err_console = piped()
    replier = TerminalReplier(console, err_console)
    await replier.progress(Progress(model="o1", elapsed_s=1.0, reasoning="Weighing it\nChe"))
    await replier.progress(Progress(model="o1", elapsed_s=2.0, partial="💭 Thought for 2 s\n\nHi"))
    await replier.answer("💭 Thought for 2 s\n\nHi there.", footer="o1 · 2 s")
    assert out.getvalue().startswith("Hi there.") and "💭" not in out.getvalue()
    assert err.getvalue() == "💭 Weighing it\n💭 Thought for 2 s\n"
