"""`reasonbot chat` at a terminal: a real process on a pseudo-terminal, typed at and
pasted into as a person would, against the fake model server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.adapters.terminal.pty_chat import LEFT, PtyChat
from tests.adapters.terminal.test_chat_e2e import base_env, table_row
from tests.fakes.openai_server import FakeOpenAI

MARKDOWN = (
    "# Monads\n\nA monad is **a pattern**. Steps:\n\n- wrap\n- bind\n\n"
    "```python\nprint('hi')\n```\n\n| law | holds |\n|---|---|\n| left identity | yes |\n"
)


@contextlib.asynccontextmanager
async def chat_at_terminal(tmp_path: Path, *args: str) -> AsyncIterator[tuple[PtyChat, FakeOpenAI]]:
    async with FakeOpenAI() as fake:
        chat = PtyChat(
            base_env(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-t"), *args
        )
        try:
            await chat.prompt()
            yield chat, fake
        finally:
            chat.close()


async def test_ctrl_c_at_the_prompt_exits_at_once(tmp_path: Path) -> None:
    async with chat_at_terminal(tmp_path) as (chat, _):
        chat.send("\x03")
        status, _ = await chat.exited(within_s=30)
    # No Enter needed: before, Ctrl-C waited for the next line to be typed.
    assert status == 130


async def test_ctrl_d_leaves_with_the_shell_prompt_on_a_new_line(tmp_path: Path) -> None:
    async with chat_at_terminal(tmp_path) as (chat, _):
        chat.send("\x04")
        status, _ = await chat.exited()
    assert status == 0
    assert chat.text.rstrip(" ").endswith("\n")


async def test_a_20000_character_paste_arrives_whole(tmp_path: Path) -> None:
    # Longer than the terminal's 4,095-character canonical line, with newlines that must
    # not send it early: 200 lines of 99 characters and their newlines.
    lines = [f"{n:03d} " + "x" * 95 for n in range(200)]
    pasted = "\n".join(lines)
    assert len(pasted) == 19_999
    async with chat_at_terminal(tmp_path) as (chat, fake):
        fake.reply("Got it.")
        chat.paste(pasted)
        chat.send("\r")
        await chat.wait_for(lambda t: "Got it." in t and "left this week" in t)
    assert fake.requests[0].question == pasted


async def test_arrow_keys_edit_the_line_instead_of_reaching_the_model(tmp_path: Path) -> None:
    async with chat_at_terminal(tmp_path) as (chat, fake):
        chat.send("hllo world" + LEFT * 9 + "e\r")
        await chat.wait_for(lambda t: "left this week" in t)
    assert fake.requests[0].question == "hello world"


async def test_unknown_command_is_not_charged(tmp_path: Path) -> None:
    async with chat_at_terminal(tmp_path) as (chat, fake):
        chat.send("/qouta\r")
        await chat.wait_for(lambda t: "Did you mean /quota?" in t)
        await chat.prompt()
        chat.send("/quota\r")
        await chat.wait_for(lambda t: table_row(t, "o1", "30", "30"))
    assert fake.requests == []


async def test_the_answer_streams_as_markdown_and_quota_is_a_table(tmp_path: Path) -> None:
    async with chat_at_terminal(tmp_path) as (chat, fake):
        # Two pieces, the second a while after the first.
        fake.reply(MARKDOWN, stream_chunks=2, delay=6)
        chat.send("what is a monad?\r")
        await chat.wait_for(lambda t: "a pattern" in t)
        # The first half is on screen while the model is still writing.
        assert "left this week" not in chat.text
        await chat.wait_for(lambda t: "left this week" in t)
        answer = chat.text[chat.text.rindex("Monads") :]
        # Rendered, not raw Markdown: no heading hashes, bold stars, fences or pipes rows.
        assert "# Monads" not in answer and "**" not in answer and "```" not in answer
        assert "• wrap" in answer and "print('hi')" in answer
        assert "|---|" not in answer and "left identity" in answer
        await chat.prompt()
        chat.send("/quota\r")
        await chat.wait_for(lambda t: table_row(t, "o1", "29", "30"))
        assert "Model" in chat.text and "Left" in chat.text
        assert "*Quota this week*" not in chat.text and "<@" not in chat.text


async def test_alt_enter_starts_a_new_line_and_history_survives_a_restart(tmp_path: Path) -> None:
    async with chat_at_terminal(tmp_path) as (chat, fake):
        chat.send("line one\x1b\rline two\r")  # Alt-Enter arrives as Escape, Enter
        await chat.wait_for(lambda t: "left this week" in t)
        await chat.prompt()
        chat.send("\x04")
        await chat.exited()
    assert fake.requests[0].question == "line one\nline two"
    async with chat_at_terminal(tmp_path) as (chat, fake):
        chat.send("\x1b[A\r")  # Up: the question asked in the previous session
        await chat.wait_for(lambda t: "left this week" in t)
    assert fake.requests[0].question == "line one\nline two"
