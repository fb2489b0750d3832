"""Slack's text format: Markdown from the model to mrkdwn, escaped, under the limits."""

from __future__ import annotations

import re
from typing import Any

from markdown_to_mrkdwn import SlackMarkdownConverter

from bot.domain import TeamUsage

# chat.update fails with msg_too_long near 4,000 characters; keep well under it.
MESSAGE_LIMIT = 3_800
SECTION_LIMIT = 3_000  # a Block Kit section's text
_converter = SlackMarkdownConverter()
_BLOCKQUOTE = re.compile(r"^(\s*)&gt;", re.MULTILINE)
# After escaping, the only raw angle brackets are the converter's own links. A Markdown
# link's target becomes Slack's link target, and `[x](!here)` would come out as
# `<!here|x>`, which pings the channel: only web and mail targets stay links.
_LINK = re.compile(r"<([^<>]*)>")
_SAFE_TARGET = re.compile(r"(?:https?://|mailto:)[^\s|]+$", re.IGNORECASE)


def escape(text: str) -> str:
    """Slack's three control characters. Done before conversion, so the converter's own
    links (``<url|text>``) stay links while anything that looks like one in the model's
    output (``<!here>``, ``<http://x|y>``) shows as text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BLOCKQUOTE.sub(r"\1>", text)  # a leading ">" is Markdown's quote


def inert_links(mrkdwn_text: str) -> str:
    """Slack links whose target is not a web or mail address, shown as text."""

    def keep_or_show(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        if _SAFE_TARGET.match(target):
            return m.group(0)
        return f"{label} ({target})" if label and label != target else target

    return _LINK.sub(keep_or_show, mrkdwn_text)


_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")


def slack_markdown(markdown: str) -> str:
    """Markdown for Slack's own renderer (``markdown_text`` when streaming). Mentions
    were neutralised in the core; links keep only web and mail targets, as in
    `inert_links`."""

    def keep_or_show(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        if _SAFE_TARGET.match(target):
            return m.group(0)
        return f"{label} ({target})" if label and label != target else target

    return _MD_LINK.sub(keep_or_show, markdown)


class SlackRenderer:
    max_chars = MESSAGE_LIMIT

    def to_platform(self, markdown: str) -> str:
        return inert_links(_converter.convert(escape(markdown)))


def mrkdwn(markdown: str) -> str:
    return SlackRenderer().to_platform(markdown)


def quota_blocks(text: str, usage: TeamUsage | None) -> list[dict[str, Any]]:
    """The `/quota` reply as Block Kit: a section per paragraph, within section limits."""
    blocks: list[dict[str, Any]] = []
    for paragraph in mrkdwn(text).split("\n\n"):
        while paragraph:
            piece, paragraph = paragraph[:SECTION_LIMIT], paragraph[SECTION_LIMIT:]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
    if usage is not None:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Week of {usage.window.start:%a %d %b} · times in UTC",
                    }
                ],
            }
        )
    return blocks
