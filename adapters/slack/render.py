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
_SAFE_TARGET = re.compile(r"(?:https?://|mailto:)[^\s|<>]+$", re.IGNORECASE)
# Slack's own link syntax written into Markdown (``<https://evil|https://good>``,
# ``<slack://open|x>``, ``<!here>``): a scheme (not C++'s ``std::``) or a special
# mention sign, then an optional label.
_SLACK_LINK = re.compile(
    r"<((?:[a-z][a-z0-9+.-]*:(?!:)|[!@#])[^<>|\s]*)(?:\|([^<>]*))?>", re.IGNORECASE
)
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)
# A user mention Slack renders as the person's name: a real user id only, so nothing
# typed into a command (``<!channel>``) can become a ping.
_ESCAPED_USER = re.compile(r"&lt;@([UW][A-Z0-9]{2,20})&gt;")
# A channel reference (``/quota notify``'s confirmation): shown as #name, pings nobody.
_ESCAPED_CHANNEL = re.compile(r"&lt;#([CG][A-Z0-9]{2,20})&gt;")


def escape(text: str) -> str:
    """Slack's three control characters. Done before conversion, so the converter's own
    links (``<url|text>``) stay links while anything that looks like one in the model's
    output (``<!here>``, ``<http://x|y>``) shows as text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BLOCKQUOTE.sub(r"\1>", text)  # a leading ">" is Markdown's quote


def link_text(target: str, label: str) -> str | None:
    """The one rule for a link in model output, whichever way it reaches Slack: None
    keeps it a link (a web or mail target under a label that does not pose as another
    address); otherwise the text that shows label and target instead."""
    poses = "://" in label and label.rstrip("/") != target.rstrip("/")
    if _SAFE_TARGET.match(target) and not poses:
        return None
    return f"{label} ({target})" if label and label != target else target


def inert_links(mrkdwn_text: str) -> str:
    """Slack links in mrkdwn (the converter's output) that `link_text` does not keep,
    shown as text."""

    def keep_or_show(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        shown = link_text(target, label)
        return m.group(0) if shown is None else shown

    return _LINK.sub(keep_or_show, mrkdwn_text)


def neutralise_links(markdown: str) -> str:
    """Model Markdown with its links made safe for Slack, before it is rendered either
    way (mrkdwn messages or ``markdown_text`` streaming), so both show the same thing:
    Slack's ``<target|label>`` syntax is never a link (as escaped mrkdwn shows it), and
    Markdown links keep only what `link_text` keeps. Code is left as written."""

    def angle(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2) or ""
        if label and label != target:
            return f"{label} ({target})"
        return target

    def markdown_link(m: re.Match[str]) -> str:
        shown = link_text(m.group(2), m.group(1))
        return m.group(0) if shown is None else shown

    parts = _CODE.split(markdown)
    for i in range(0, len(parts), 2):  # odd parts are code
        parts[i] = _MD_LINK.sub(markdown_link, _SLACK_LINK.sub(angle, parts[i]))
    return "".join(parts)


# The end of a partial answer that may be the start of a link (``<https://x|y`` or
# ``[y](https://x``): held back while streaming until the link is complete, so the
# neutralised form is what Slack shows, never the raw one a later piece would finish.
_UNFINISHED_LINK = re.compile(
    r"(?:<(?:[a-z][a-z0-9+.-]*:?|[!@#])[^<>\s|]*(?:\|[^<>]*)?|!?\[[^\]\n]*(?:\]\(?[^)\s]*)?)$",
    re.IGNORECASE,
)


def streamable_markdown(partial: str) -> str:
    """`slack_markdown` of a partial answer, without a link still being written."""
    unfinished = _UNFINISHED_LINK.search(partial)
    return slack_markdown(partial[: unfinished.start()] if unfinished else partial)


def slack_markdown(markdown: str) -> str:
    """Markdown for Slack's own renderer (``markdown_text`` when streaming). Mentions
    were neutralised in the core; links as in `neutralise_links`."""
    return neutralise_links(markdown)


class SlackRenderer:
    max_chars = MESSAGE_LIMIT

    def to_platform(self, markdown: str) -> str:
        return inert_links(_converter.convert(escape(neutralise_links(markdown))))


def mrkdwn(markdown: str) -> str:
    return SlackRenderer().to_platform(markdown)


def quota_mrkdwn(text: str) -> str:
    """The bot's own `/quota` words as mrkdwn: escaped like everything else, except the
    user mentions the core wrote (``<@U123>``), which Slack shows as the person's name.
    These replies are ephemeral, seen by the asker alone, so a mention notifies nobody.
    """
    text = _ESCAPED_USER.sub(r"<@\1>", inert_links(_converter.convert(escape(text))))
    return _ESCAPED_CHANNEL.sub(r"<#\1>", text)


def quota_blocks(text: str, usage: TeamUsage | None) -> list[dict[str, Any]]:
    """The `/quota` reply as Block Kit: a section per paragraph, within section limits."""
    blocks: list[dict[str, Any]] = []
    for paragraph in quota_mrkdwn(text).split("\n\n"):
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
