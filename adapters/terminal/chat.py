"""The terminal adapter: the same pipeline as Slack and Discord, over stdin/stdout.

Reads lines until end of input, so it works interactively and piped. Answers go to
stdout; progress goes to stderr (one updating line on a terminal, a line per update
otherwise), so ``reasonbot chat < questions.txt > answers.md`` keeps answers clean.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from typing import TextIO

from bot import messages
from bot.domain import AskRequest, QuotaCommand
from bot.ports import FailureKind, Progress
from bot.service import AskService

PLATFORM = "terminal"
HELP = (
    "Type a question, or `/reason [--model NAME] [--effort low|medium|high] <question>`.\n"
    "`/quota …` shows or changes quotas, `/new` starts a new conversation, `/help` shows this,"
    " `/quit` (or end of input) leaves."
)


class TerminalRenderer:
    max_chars = 1_000_000

    def to_platform(self, markdown: str) -> str:
        return markdown


@dataclass(slots=True)
class TerminalReplier:
    out: TextIO
    err: TextIO
    interactive: bool
    _last_status: str = field(default="", init=False)
    thread: str | None = field(default=None, init=False)

    async def progress(self, progress: Progress) -> None:
        status = messages.thinking(progress.model, progress.elapsed_s, progress.queued_position)
        if status == self._last_status:
            return
        self._last_status = status
        if self.interactive:
            self.err.write("\r\x1b[2K" + status)
        else:
            self.err.write(status + "\n")
        self.err.flush()

    def _clear(self) -> None:
        if self.interactive and self._last_status:
            self.err.write("\r\x1b[2K")
            self.err.flush()

    async def answer(self, text: str, *, footer: str) -> None:
        self._clear()
        self.out.write(f"{text}\n\n— {footer}\n")
        self.out.flush()

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        self._clear()
        self.out.write(f"{text}\n")
        self.out.flush()


@dataclass(frozen=True, slots=True)
class TerminalNotifier:
    """Alerts and digests for the terminal's team: printed, with the channel named."""

    out: TextIO = field(default_factory=lambda: sys.stdout)

    async def post(self, team: str, channel: str, text: str) -> None:
        self.out.write(f"[#{channel}] {text}\n")
        self.out.flush()


@dataclass(slots=True)
class TerminalSession:
    service: AskService
    team: str = "local"
    user: str = "me"
    admin: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    thread: str = field(default_factory=lambda: f"terminal:{uuid.uuid4().hex}")

    @property
    def team_key(self) -> str:
        return f"{PLATFORM}:{self.team}"

    async def handle(self, line: str) -> bool:
        """Handle one line; False means the user asked to leave."""
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ")
        match command.lower():
            case "/quit" | "/exit":
                return False
            case "/help":
                self.out.write(HELP + "\n")
            case "/new":
                self.thread = f"terminal:{uuid.uuid4().hex}"
                self.out.write("Started a new conversation.\n")
            case "/quota":
                result = await self.service.quota(
                    QuotaCommand(PLATFORM, self.team_key, self.user, rest, is_admin=self.admin)
                )
                self.out.write(result.text + "\n")
            case _:
                text = rest if command.lower() == "/reason" else line
                await self.ask(text)
        self.out.flush()
        return True

    async def ask(self, text: str) -> None:
        replier = TerminalReplier(self.out, self.err, interactive=self.err.isatty())
        request = AskRequest(
            platform=PLATFORM,
            team=self.team_key,
            channel="terminal",
            thread=self.thread,
            user=self.user,
            text=text,
            key=f"terminal:{uuid.uuid4().hex}",
        )
        await self.service.ask(request, replier)

    async def run(self, stdin: TextIO | None = None) -> None:
        stdin = stdin or sys.stdin
        interactive = stdin.isatty()
        if interactive:
            self.out.write(HELP + "\n")
        while True:
            if interactive:
                self.err.write("> ")
                self.err.flush()
            # A blocking readline in a worker thread keeps the event loop (and the progress
            # ticker) running while we wait for the user; works for ttys, pipes and files.
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not await self.handle(line):
                break
