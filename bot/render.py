"""Rendering rules shared by every platform: mentions from model output never ping,
and long answers are split under a platform's limit without breaking code fences or
words. Platform specifics come in through a `bot.ports.Renderer`."""

from __future__ import annotations

import re

from bot.ports import Renderer

ZWSP = "\u200b"
# `@everyone`, `@here`, `@channel` as typed; preceded by start or a non-word char so
# e-mail addresses are left alone.
_AT_MASS = re.compile(r"(?<![\w@])@(everyone|here|channel)\b", re.IGNORECASE)
# Slack's special mentions (<!here>, <!channel|channel>, <!subteam^S123|@team>) and
# user/role mentions shared by Slack and Discord (<@U123>, <@!42>, <@&7>).
_ANGLE_SPECIAL = re.compile(r"<!(?:subteam\^)?([^>|]*)(?:\|([^>]*))?>")
_ANGLE_USER = re.compile(r"<@([!&]?)([^>|]*)(?:\|([^>]*))?>")
_FENCE = re.compile(r"^\s*(```+|~~~+)")


def neutralise_mentions(text: str) -> str:
    """Make every mass or personal mention in model output inert, keeping it readable."""

    def special(m: re.Match[str]) -> str:
        label = (m.group(2) or m.group(1) or "mention").lstrip("@").replace("<", "")
        return f"@{ZWSP}{label}"

    def user(m: re.Match[str]) -> str:
        label = (m.group(3) or m.group(2) or "user").lstrip("@").replace("<", "")
        return f"@{ZWSP}{label}"

    # Replacing one mention can bring the pieces of another together ("<!<!here>>"),
    # so repeat until nothing changes.
    while True:
        before = text
        text = _ANGLE_SPECIAL.sub(special, text)
        text = _ANGLE_USER.sub(user, text)
        text = _AT_MASS.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)
        if text == before:
            return text


# Live reasoning is a glimpse, not a transcript: its last few lines, short enough for
# a status message that is edited every second or two.
REASONING_TAIL_CHARS = 300
REASONING_TAIL_LINES = 4


def reasoning_tail(
    text: str, *, chars: int = REASONING_TAIL_CHARS, lines: int = REASONING_TAIL_LINES
) -> str:
    """The end of the reasoning so far: its last non-empty ``lines``, at most ``chars``
    characters (cut at a word, marked with "…"), mentions neutralised."""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    tail = "\n".join(kept)
    if len(tail) > chars:
        tail = tail[-chars:]
        space = tail.find(" ")
        if 0 <= space < chars // 4:
            tail = tail[space + 1 :]
        tail = "…" + tail
    # Cutting may split a mention; neutralising after the cut leaves no half to revive.
    return neutralise_mentions(tail)


def _split_long_line(line: str, limit: int) -> list[str]:
    """Split one over-long line at spaces where possible, never dropping characters."""
    parts: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        else:
            cut += 1  # keep the space on the first part so joining restores the line
        parts.append(line[:cut])
        line = line[cut:]
    parts.append(line)
    return parts


def chunk(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters.

    Breaks between lines where possible, otherwise between words. A code fence open at a
    break is closed at the end of one piece and reopened (with its language) at the
    start of the next, so every piece renders on its own.
    """
    if limit < 16:
        raise ValueError("limit too small to split safely")
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    fence: str | None = None  # the opening line of the fence we are inside
    # ``current`` holds only a fence reopened by ``flush`` (not text of the answer).
    reopened = False

    def closer(fence_line: str | None) -> int:
        return len(_fence_marker(fence_line)) + 1 if fence_line else 0

    def flush() -> None:
        nonlocal current, reopened
        piece = current
        reopened = fence is not None
        if fence:
            body = current.rstrip("\n")
            head, _, last = body.rpartition("\n")
            if last == fence and head:
                # The fence opened on the piece's last line: open it in the next piece
                # instead of leaving an empty block here.
                piece = head
                reopened = False  # the fence's own line moves on: it is text
            else:
                piece = body + "\n" + _fence_marker(fence)
        if piece.strip():
            pieces.append(piece)
        current = (fence + "\n") if fence else ""

    for raw in text.splitlines(keepends=True):
        budget = limit - len(fence or "") - 1 - closer(fence or "```") - 1
        lines = _split_long_line(raw, max(budget, 8)) if len(raw) > budget else [raw]
        for line in lines:
            is_fence = _FENCE.match(line) is not None
            opens = fence is None and is_fence
            closes = (
                fence is not None and is_fence and line.strip().startswith(_fence_marker(fence))
            )
            # Room for the line plus, if a fence is open after it, its closing line.
            after = line.strip() if opens else (None if closes else fence)
            if len(current) + len(line) + closer(after) > limit:
                flush()
            current += line
            reopened = False
            if opens:
                fence = line.strip()
            elif closes:
                fence = None
    if current and not reopened:
        pieces.append(current)
    return pieces


def _fence_marker(fence_line: str | None) -> str:
    if not fence_line:
        return ""
    m = _FENCE.match(fence_line)
    return m.group(1) if m else "```"


def render_chunks(markdown: str, renderer: Renderer) -> list[str]:
    """Model Markdown to platform messages: neutralised, converted, split."""
    return chunk(renderer.to_platform(neutralise_mentions(markdown)), renderer.max_chars)
