"""`/quota` on Discord as an embed: the person's week with bars, the team's totals,
and for admins per-person use and the last weeks, within Discord's embed limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bot import messages
from bot.reports import Picture

EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4_096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1_024
EMBED_TOTAL_MAX = 6_000  # every text of the embed together
PEOPLE_MAX = 10  # rows of per-person use shown; the export has everyone


def _lines(lines: Sequence[str], limit: int = FIELD_VALUE_MAX) -> str:
    """As many whole lines as fit in ``limit``, with an ellipsis line if cut."""
    out: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit - 2:
            out.append("…")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)[:limit]


def picture_embed(picture: Picture, *, now: datetime) -> discord.Embed:
    usage = picture.usage
    # Discord shows a <t:…> timestamp in each reader's own time zone.
    resets = messages.resets_local(usage.window.end, tz=None, now=now)
    description = f"{resets} · <t:{int(usage.window.end.timestamp())}:f> your time"
    embed = discord.Embed(
        title=messages.PICTURE_OWN.strip("*")[:EMBED_TITLE_MAX],
        description=description[:EMBED_DESCRIPTION_MAX],
        colour=discord.Colour.blurple(),
    )
    for m in usage.models[: FIELDS_MAX - 2]:
        value = "\n".join(
            (messages.picture_own(picture, m), messages.picture_team(m, picture.week_of(m.model)))
        )
        embed.add_field(name=m.model[:FIELD_NAME_MAX], value=value[:FIELD_VALUE_MAX], inline=False)
    if picture.admin:
        people = sorted(picture.people, key=lambda r: (-r.questions, -r.denied, r.user, r.model))
        lines = [messages.picture_person(r) for r in people[:PEOPLE_MAX]]
        more = picture.more_people + max(0, len(people) - PEOPLE_MAX)
        if more:
            lines.append(messages.picture_more_people(more))
        embed.add_field(
            name=messages.PICTURE_PEOPLE.strip("*"),
            value=_lines(lines or [messages.PICTURE_NOBODY]),
            inline=False,
        )
        embed.add_field(
            name=messages.PICTURE_WEEKS.strip("*"),
            value=_lines([messages.picture_week(day, rows) for day, rows in picture.weeks]),
            inline=False,
        )
    embed.set_footer(text=f"Week of {usage.window.start:%a %d %b}")
    while len(embed) > EMBED_TOTAL_MAX and embed.fields:
        embed.remove_field(-1)
    return embed
