"""The terminal adapter: the same pipeline as Slack and Discord, in a terminal.

Interactive, a line editor reads questions and the answer streams in as rendered
Markdown. Piped (``reasonbot chat < questions.txt > answers.md``) there is no prompt,
answers go to stdout as plain text and progress to stderr, so the answers stay clean.
"""

from __future__ import annotations

import difflib
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.segment import Segment
from rich.text import Text

from adapters.terminal import messages as terminal_messages
from adapters.terminal import render
from adapters.terminal.lines import LineSource
from adapters.terminal.route import TerminalRoute
from bot import messages
from bot.domain import AskRequest, QuotaCommand, TeamUsage
from bot.intake import Parsed, Refused
from bot.ports import Asker, FailureKind, Progress, Route

PLATFORM = "terminal"
COMMANDS = ("/reason", "/quota", "/new", "/help", "/quit", "/exit")


class TerminalRenderer:
    max_chars = 1_000_000

    def to_platform(self, markdown: str) -> str:
        return render.plain_mentions(markdown)


class _Tail:
    """The streaming view: the newest lines of the answer that fit on the screen,
    then the status line. Lines that scrolled off could not be redrawn, so they are
    never drawn in the first place; the whole answer is printed once it is complete."""

    def __init__(self, body: RenderableType | None, status: Text | None) -> None:
        self.body = body
        self.status = status

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = max((options.height or console.height) - 2, 3)
        if self.body is not None:
            lines = console.render_lines(self.body, options.update(height=None), pad=False)
            for line in lines[-room:]:
                yield from line
                yield Segment.line()
        if self.status is not None:
            yield self.status


@dataclass(slots=True)
class TerminalReplier:
    """One question's status and answer. On a terminal a transient live view shows the
    status and the answer as it streams, then the full answer is printed; otherwise the
    answer's text is written as it arrives and status lines go to stderr."""

    out: Console
    err: Console
    failed: bool = field(default=False, init=False)
    thread: str | None = field(default=None, init=False)
    _live: Live | None = field(default=None, init=False)
    _status: Text | None = field(default=None, init=False)
    _partial: str = field(default="", init=False)
    _written: str = field(default="", init=False)
    _last_status: str = field(default="", init=False)
    _thought_lines: set[str] = field(default_factory=set, init=False)

    async def progress(self, progress: Progress) -> None:
        status = messages.thinking(progress.model, progress.elapsed_s, progress.queued_position)
        if self.out.is_terminal:
            self._status = render.inline(status, style="dim")
            if progress.reasoning and not progress.partial:
                lines = progress.reasoning.splitlines()
                thinking = render.thinking_lines(["💭 " + lines[0], *lines[1:]])
                self._status = Text("\n").join([thinking, self._status])
            self._partial = progress.partial or self._partial
            self._show_live()
            return
        if progress.partial:
            self._stream_plain(_split_thought(progress.partial)[1])
        elif progress.reasoning and not self._written:
            self._reasoning_plain(progress.reasoning)
        elif status != self._last_status and not self._written:
            self._last_status = status
            self.err.file.write(render.plain(status) + "\n")
            self.err.file.flush()

    def thinking_summary(self, lines: list[str]) -> None:
        """Dim lines above the answer: what the model says it is thinking about."""
        if self.out.is_terminal:
            self.out.print(render.thinking_lines(lines))
        else:
            self.err.file.write("\n".join(lines) + "\n")
            self.err.file.flush()

    def _reasoning_plain(self, reasoning: str) -> None:
        """Piped: each whole line of reasoning once, on stderr (the tail slides, so a
        line cut at its start is one still being replaced)."""
        lines = reasoning.splitlines()
        for line in lines[:-1]:
            if line.startswith("…") or line in self._thought_lines:
                continue
            self._thought_lines.add(line)
            self.err.file.write(f"💭 {line}\n")
        self.err.file.flush()

    def _show_live(self) -> None:
        body: RenderableType | None = None
        if self._partial:
            thought, answer = _split_thought(self._partial)
            body = render.answer_markdown(answer)
            if thought:
                body = Group(render.thinking_lines(thought.splitlines()), body)
        view = _Tail(body, self._status)
        if self._live is None:
            self._live = Live(
                view, console=self.out, auto_refresh=False, transient=True, redirect_stdout=False
            )
            self._live.start()
        self._live.update(view, refresh=True)

    def _stop_live(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    def _stream_plain(self, text: str) -> None:
        # Streamed text only ever grows; if it did not (mentions neutralised late),
        # the rest waits for the final answer.
        if text.startswith(self._written) and len(text) > len(self._written):
            self.out.file.write(render.plain_mentions(text[len(self._written) :]))
            self.out.file.flush()
            self._written = text

    async def answer(self, text: str, *, footer: str) -> None:
        thought, text = _split_thought(text)
        if self.out.is_terminal:
            self._stop_live()
            if thought:
                self.out.print(render.thinking_lines(thought.splitlines()))
            self.out.print(render.answer_markdown(text))
            self.out.print(render.inline("— " + footer, style="dim"))
            self.out.print()
            return
        if thought:
            # Piped answers stay answers only: how long the model thought goes to stderr.
            self.err.file.write(render.plain(thought) + "\n")
            self.err.file.flush()
        if self._written and not text.startswith(self._written):
            self.out.file.write("\n\n")
            self._written = ""
        rest = text[len(self._written) :]
        self.out.file.write(render.plain_mentions(rest) + f"\n\n— {render.plain(footer)}\n\n")
        self.out.file.flush()

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        self.failed = True
        self._stop_live()
        if self._written:
            self.out.file.write("\n")
        render.show_markdown(self.out, text)

    def close(self) -> None:
        self._stop_live()


def _split_thought(text: str) -> tuple[str, str]:
    """(the collapsed reasoning the core puts first, "💭 Thought for 42 s"; the answer)."""
    if text.startswith("💭 "):
        thought, sep, answer = text.partition("\n\n")
        if sep:
            return thought, answer
    return "", text


@dataclass(frozen=True, slots=True)
class TerminalNotifier:
    """Alerts and digests for the terminal's team: printed, with the channel named."""

    out: TextIO = field(default_factory=lambda: sys.stdout)

    async def post(self, team: str, channel: str, text: str) -> None:
        self.out.write(f"[#{channel}] {render.plain(text)}\n")
        self.out.flush()


@dataclass(frozen=True, slots=True)
class _AnswerNow:
    """The terminal's intake: no queue between the asker and the answer (nobody else
    could resume a question asked in this terminal), so an accepted one is answered at
    once, with what intake parsed."""

    service: Asker
    replier: TerminalReplier

    async def submit(self, request: AskRequest, route: Route, *, parsed: Parsed) -> bool:
        await self.service.ask(request, self.replier, parsed=parsed)
        return True


@dataclass(slots=True)
class TerminalSession:
    service: Asker
    out: TextIO
    err: TextIO
    team: str = "local"
    user: str = "me"
    admin: bool = False
    thread: str = field(default_factory=lambda: f"terminal:{uuid.uuid4().hex}")
    failures: int = 0
    _out: Console = field(init=False)
    _err: Console = field(init=False)

    def __post_init__(self) -> None:
        self._out = render.console_for(self.out)
        self._err = render.console_for(self.err)

    @property
    def team_key(self) -> str:
        return f"{PLATFORM}:{self.team}"

    def say(self, markdown: str) -> None:
        render.show_markdown(self._out, markdown)

    def warn(self, markdown: str) -> None:
        """On stderr, so piped answers (``> answers.md``) stay only answers."""
        render.show_markdown(self._err, markdown)

    async def handle(self, line: str) -> bool:
        """Handle one question or command; False means the user asked to leave."""
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ")
        command = command.lower()
        match command:
            case "/quit" | "/exit":
                return False
            case "/help":
                self.say(terminal_messages.HELP)
            case "/new":
                self.thread = f"terminal:{uuid.uuid4().hex}"
                self.say(terminal_messages.NEW_CONVERSATION)
            case "/quota":
                await self.quota(rest)
            case "/reason":
                await self.ask(rest)
            case _ if command.startswith("/"):
                close = difflib.get_close_matches(command, COMMANDS, n=1, cutoff=0.6)
                self.say(terminal_messages.unknown_command(command, close[0] if close else None))
                self.failures += 1
            case _:
                await self.ask(line)
        return True

    async def quota(self, words: str) -> None:
        command = QuotaCommand(PLATFORM, self.team_key, self.user, words, is_admin=self.admin)
        result = await self.service.quota(command)
        show_quota(
            self._out,
            result.text,
            result.usage,
            user=self.user,
            admin=self.admin,
            notes=result.notes,
        )
        if not result.ok:
            self.failures += 1

    async def ask(self, text: str) -> None:
        replier = TerminalReplier(self._out, self._err)
        request = AskRequest(
            platform=PLATFORM,
            team=self.team_key,
            channel="terminal",
            thread=self.thread,
            user=self.user,
            text=text,
            key=f"terminal:{uuid.uuid4().hex}",
        )
        try:
            result = await self.service.accept(
                request,
                TerminalRoute(self.thread).to_json(),
                intake=_AnswerNow(self.service, replier),
            )
            if isinstance(result, Refused):
                await replier.fail(result.text, kind=result.kind)
        finally:
            replier.close()
        if replier.failed:
            self.failures += 1

    async def run(self, source: LineSource, *, greeting: bool) -> None:
        if greeting:
            self.say(terminal_messages.HELP)
        while True:
            line = await source.read()
            if line is None or not await self.handle(line):
                break


def show_quota(
    console: Console,
    text: str,
    usage: TeamUsage | None,
    *,
    user: str | None,
    admin: bool,
    now: datetime | None = None,
    notes: Sequence[str] = (),
) -> None:
    """A ``/quota`` reply: the change made (if any) as text, the usage as tables, then
    the ``notes`` the tables do not hold (fallback chains, the team's budget)."""
    if usage is None:
        render.show_markdown(console, text)
        return
    # The core's summary is the last paragraph; what comes before is the change made.
    notice, _, _ = text.rpartition("\n\n")
    if notice:
        render.show_markdown(console, notice)
    console.print(render.quota_tables(usage, user=user, now=now or datetime.now(UTC), admin=admin))
    for note in notes:
        render.show_markdown(console, note)
