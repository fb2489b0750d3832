"""How the terminal shows things: Markdown rendered by rich on a terminal, plain text
when stdout is a pipe or a file, and ``/quota`` as tables.

The core writes Markdown with the platforms' mention syntax (``<@U123>``); in a terminal
nobody can be pinged, so mentions become plain ``@U123``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from bot import messages
from bot.domain import TeamUsage

_MENTION = re.compile(r"<([@#])!?&?([^>|]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(?:subteam\^)?([^>|]*)(?:\|([^>]*))?>")
_CODE = re.compile(r"`([^`\n]+)`")
# The inline Markdown the core's own sentences use: `code`, **bold**, _italic_.
_INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`|\*\*(?P<bold>[^*\n]+)\*\*|(?<!\w)_(?P<em>[^_\n]+)_(?!\w)"
)
_STYLES = {"code": "bold", "bold": "bold", "em": "italic"}


def plain_mentions(text: str) -> str:
    """``<@U1|ann>`` → ``@ann``, ``<@U1>`` → ``@U1``, ``<!here>`` → ``@here``,
    ``<#C1|ops>`` → ``#ops``."""
    text = _MENTION.sub(lambda m: m.group(1) + (m.group(3) or m.group(2)).lstrip("@#"), text)
    return _SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)).lstrip("@"), text)


def inline(text: str, *, style: str = "") -> Text:
    """A sentence of the core (not a model's answer) as terminal text, line breaks kept
    as written: `code` and **bold** in bold, _this_ in italics, the marks gone."""
    text = plain_mentions(text)
    out = Text(style=style)
    last = 0
    for m in _INLINE.finditer(text):
        out.append(text[last : m.start()])
        kind = m.lastgroup or "code"
        out.append(m.group(kind), style=_STYLES[kind])
        last = m.end()
    out.append(text[last:])
    return out


def plain(text: str) -> str:
    """A sentence of the core as plain text for pipes and files: mentions flattened,
    the inline marks gone."""
    return _INLINE.sub(lambda m: m.group(m.lastgroup or "code"), plain_mentions(text))


def console_for(stream: TextIO, *, color: bool | None = None) -> Console:
    """A console on ``stream``; rich itself decides colour from whether it is a tty
    (and honours NO_COLOR / FORCE_COLOR)."""
    return Console(file=stream, force_terminal=color, highlight=False, soft_wrap=False)


def answer_markdown(text: str) -> Markdown:
    return Markdown(plain_mentions(text), code_theme="monokai", hyperlinks=False)


def thinking_lines(lines: Sequence[str]) -> Text:
    """The model's thinking summary: dim lines shown above the answer."""
    return Text("\n".join(lines), style="dim")


def _cap(used: int | None, cap: int | None) -> str:
    if cap == 0:
        return "turned off"
    if cap is None:
        return str(used or 0)
    return f"{used or 0} of {cap}"


def quota_tables(
    usage: TeamUsage, *, user: str | None, now: datetime, admin: bool
) -> RenderableType:
    """``/quota`` for the terminal: a table of models, and for admins one of people.
    ``user`` None (the operator CLI): nobody's own usage, as the operator asks nothing."""
    own = {u.model: u.used for u in usage.users if u.user == user}
    title = Text(f"Quota this week · resets {messages.when(usage.window.end, now)}", style="bold")
    models = Table()
    models.add_column("Model")
    for name in ("Left", "Allowance", "Granted", *([f"Used by @{user}"] if user else [])):
        models.add_column(name, justify="right")
    for m in usage.models:
        cells = [m.model, str(m.remaining), str(m.allowance), str(m.granted) if m.granted else ""]
        if user:
            cells.append(_cap(own.get(m.model, 0), m.user_limit))
        models.add_row(*cells)
    parts: list[RenderableType] = [title, models]
    if admin:
        people = [u for u in usage.users if u.used]
        if people:
            parts.append(Text("Usage by person", style="bold"))
            table = Table()
            table.add_column("Who")
            table.add_column("Model")
            table.add_column("Messages", justify="right")
            table.add_column("Tokens", justify="right")
            for u in sorted(people, key=lambda u: (-u.used, u.user, u.model)):
                table.add_row(f"@{u.user}", u.model, str(u.used), f"{u.tokens:,}")
            parts.append(table)
        else:
            parts.append(Text("Nobody has asked anything this week.", style="italic"))
    return Group(*parts)


def show_markdown(console: Console, text: str) -> None:
    """A sentence of the core (a quota change, the audit log, an error) on this
    console. Its line breaks are meant as written (as on Slack), so it is not run
    through a Markdown renderer, which would join its lines into one paragraph."""
    if console.is_terminal:
        console.print(inline(text))
    else:
        console.file.write(plain(text) + "\n")
        console.file.flush()
