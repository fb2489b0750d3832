"""Server-sent events and ``<think>`` handling for model streams.

Reasoning models served without a reasoning parser (DeepSeek-R1 on Ollama, vLLM,
llama.cpp) put their chain of thought in the answer between ``<think>`` and
``</think>``; `ThinkSplitter` moves it aside, also when a tag is split across chunks,
so it never reaches the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

OPEN, CLOSE = "<think>", "</think>"


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield the ``data`` of each event: multi-line data joined with newlines; comment
    lines (``: ping``) and other fields ignored; blank lines end an event."""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)


def _held_prefix(text: str, tag: str) -> int:
    """Length of the longest tail of ``text`` that could start ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ThinkSplitter:
    """Feed content pieces in order; ``answer`` and ``reasoning`` grow accordingly."""

    def __init__(self) -> None:
        self.answer = ""
        self.reasoning = ""
        self._pending = ""
        self._thinking = False

    def feed(self, piece: str) -> None:
        text = self._pending + piece
        self._pending = ""
        while text:
            tag = CLOSE if self._thinking else OPEN
            at = text.find(tag)
            if at < 0:
                hold = _held_prefix(text, tag)
                body, self._pending = (text[:-hold], text[-hold:]) if hold else (text, "")
                self._emit(body)
                return
            self._emit(text[:at])
            self._thinking = not self._thinking
            text = text[at + len(tag) :]

    def _emit(self, text: str) -> None:
        if self._thinking:
            self.reasoning += text
        else:
            self.answer += text

    def finish(self) -> tuple[str, str]:
        """The final (answer, reasoning). An unclosed ``<think>`` keeps everything in
        reasoning; a ``</think>`` with no opening tag (templates that open it in the
        prompt) makes everything before it reasoning."""
        self._emit(self._pending)
        self._pending = ""
        answer, reasoning = self.answer, self.reasoning
        if CLOSE in answer:
            before, _, after = answer.partition(CLOSE)
            reasoning, answer = reasoning + before, after
        return answer.strip(), reasoning.strip()
