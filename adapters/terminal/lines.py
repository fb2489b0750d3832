"""Where the chat's input comes from: a line editor on a terminal, plain lines from a
pipe or a file.

On a terminal, prompt_toolkit reads keys in raw mode, so there is no canonical-mode
line limit (a 20,000-character paste arrives whole: bracketed paste inserts it, newlines
included, without sending it), arrow keys edit instead of reaching the model, and
history is kept across sessions in a file.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Protocol, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import create_output

PROMPT = "> "


class LineSource(Protocol):
    async def read(self) -> str | None:
        """The next question or command; None at end of input (Ctrl-D, end of file)."""
        ...


def data_dir() -> Path:
    """Where the chat keeps its history and log: $XDG_DATA_HOME/reasonbot, by default
    ~/.local/share/reasonbot."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    path = Path(base) / "reasonbot"
    # Private: the history holds every question asked here.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _bindings() -> KeyBindings:
    keys = KeyBindings()

    # Alt-Enter arrives as Escape then Enter; a terminal has no other way to tell a
    # modified Enter apart.
    @keys.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return keys


class EditorInput:
    """prompt_toolkit's line editor. Ctrl-C at the prompt raises KeyboardInterrupt right
    away (the caller leaves); Ctrl-D on an empty line ends the chat."""

    def __init__(self, history: Path) -> None:
        # With answers redirected (`reasonbot chat > answers.md`) the prompt and the
        # editing stay on the terminal.
        output = None if sys.stdout.isatty() else create_output(stdout=sys.stderr)
        self._session: PromptSession[str] = PromptSession(
            history=FileHistory(str(history)),
            key_bindings=_bindings(),
            enable_history_search=False,
            output=output,
        )

    async def read(self) -> str | None:
        try:
            return await self._session.prompt_async(PROMPT)
        except EOFError:
            return None


class PipedInput:
    """One question per line, no prompt: ``reasonbot chat < questions.txt``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    async def read(self) -> str | None:
        # A blocking readline in a worker thread keeps the event loop running.
        line = await asyncio.to_thread(self._stream.readline)
        return line or None
