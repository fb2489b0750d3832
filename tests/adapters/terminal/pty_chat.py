"""`reasonbot chat` under a pseudo-terminal, as a person at a terminal drives it."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[3]
# CSI sequences (colours, cursor moves), OSC sequences, and other two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # what is left but newlines
BRACKETED_PASTE = ("\x1b[200~", "\x1b[201~")
LEFT = "\x1b[D"


class PtyChat:
    """One chat process on a pty. Output is read in a worker thread so the fakes in the
    test's event loop keep serving; waits poll with generous deadlines."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "app", "chat", *args],
            cwd=str(ROOT),
            # A real terminal answers prompt_toolkit's cursor position request; this
            # one does not, so tell prompt_toolkit not to ask.
            env={**env, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"},
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(40, 100),
        )
        self.raw = ""
        self.eof = False
        self._mark = 0  # where the text stood when we last sent something

    @property
    def text(self) -> str:
        """What was written so far, without escape sequences."""
        return _CONTROL.sub("", _ANSI.sub("", self.raw))

    def _read(self) -> None:
        try:
            self.raw += self.child.read_nonblocking(1 << 16, timeout=0.2)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            self.eof = True

    async def wait_for(self, ready: Callable[[str], bool], *, within_s: float = 60) -> float:
        """Until ``ready(text)``; returns the seconds it took."""
        started = time.monotonic()
        while not ready(self.text):
            if self.eof:
                raise AssertionError(f"chat ended first; it wrote:\n{self.text[-3000:]}")
            if time.monotonic() - started > within_s:
                raise AssertionError(
                    f"timed out; the chat wrote:\n{self.text[-3000:]}\n{self.raw[-300:]!r}"
                )
            await asyncio.to_thread(self._read)
        return time.monotonic() - started

    async def prompt(self) -> None:
        """Until the chat waits at a prompt drawn since we last typed something."""
        await self.wait_for(lambda t: t[self._mark :].rstrip().endswith(">"))

    async def exited(self, *, within_s: float = 60) -> tuple[int | None, float]:
        """Until the process ends: its exit status and how long that took."""
        started = time.monotonic()
        while not self.eof:
            if time.monotonic() - started > within_s:
                raise AssertionError(f"chat did not exit; it wrote:\n{self.text[-3000:]}")
            await asyncio.to_thread(self._read)
        await asyncio.to_thread(self.child.wait)
        return self.child.exitstatus, time.monotonic() - started

    def send(self, text: str) -> None:
        self._mark = len(self.text)
        self.child.send(text)

    def paste(self, text: str) -> None:
        """As a terminal sends a paste: wrapped in bracketed-paste marks."""
        start, end = BRACKETED_PASTE
        self.send(start + text + end)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
