"""The Slack adapter's pure parts: payloads to core values, Markdown to mrkdwn."""

from __future__ import annotations

import html
import re

import pytest

from adapters.slack import translate
from adapters.slack.render import (
    MESSAGE_LIMIT,
    SlackRenderer,
    inert_links,
    mrkdwn,
    quota_blocks,
    slack_markdown,
)
from bot.domain import Role
from bot.render import render_chunks

PINGS = ("<!channel", "<!here", "<!everyone", "<!subteam", "<@")


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](!here)",
        "[everyone](!everyone)",
        "![img](!channel)",
        "[ops](!subteam^S0123)",
        "[boss](@U0BOSS)",
        "<!channel> and <!here|here>",
        "<@U0BOSS> <!subteam^S1|@ops>",
        "[nested](<!channel>)",
        "[x](javascript:alert(1))",
    ],
)
def test_model_markdown_never_becomes_a_slack_ping(markdown: str) -> None:
    out = "".join(render_chunks(markdown, SlackRenderer()))
    for ping in PINGS:
        assert ping not in out


def test_web_and_mail_links_stay_links() -> None:
    out = mrkdwn("[docs](https://example.com/a?b=1&c=2) or [mail](mailto:ops@example.com)")
    assert "<https://example.com/a?b=1&amp;c=2|docs>" in out
    assert "<mailto:ops@example.com|mail>" in out


def test_other_link_targets_are_shown_as_text() -> None:
    assert inert_links("<!here|click>") == "click (!here)"
    assert inert_links("<@U1>") == "@U1"


def test_markdown_renders_as_mrkdwn() -> None:
    out = mrkdwn(
        "# Title\n\n**bold** and *italic*\n\n- one\n- two\n\n```python\nif a < b:\n    pass\n```"
    )
    assert "*Title*" in out and "*bold*" in out and "_italic_" in out
    assert "• one" in out
    # Slack wants its control characters escaped everywhere, code blocks included.
    assert "```python" in out and "a &lt; b" in out


def test_quotes_survive_escaping() -> None:
    assert mrkdwn("> quoted").startswith(">")


def test_long_answers_split_under_slacks_limit_losing_nothing() -> None:
    text = ("word " * 200 + "\n\n") * 10
    pieces = render_chunks(text, SlackRenderer())
    assert len(pieces) > 1 and all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert sum(p.count("word") for p in pieces) == 2000


def test_slash_command_becomes_a_request_keyed_by_its_invocation() -> None:
    body = {
        "team_id": "T1",
        "channel_id": "C1",
        "user_id": "U1",
        "user_name": "ann",
        "text": "--model mini why?",
        "trigger_id": "123.456.abc",
    }
    request = translate.command_request(body)
    assert request.team == "slack:T1" and request.channel == "C1" and request.user == "U1"
    assert request.text == "--model mini why?" and request.thread == ""
    assert request.key == translate.command_request(dict(body)).key
    assert request.key != translate.command_request({**body, "trigger_id": "other"}).key


def test_mention_and_its_message_event_share_one_key() -> None:
    mention = {"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "1.1"}
    message = {**mention, "type": "message", "channel_type": "channel"}
    for event in (mention, message):
        event["channel"] = "C1"
    a = translate.event_request(mention, team_id="T1", bot_user_id="UBOT")
    b = translate.event_request(message, team_id="T1", bot_user_id="UBOT")
    assert a.key == b.key and a.text == "hi"
    assert a.thread == translate.thread_key("T1", "C1", "1.1")


def test_reply_in_a_thread_is_keyed_to_the_thread_root() -> None:
    event = {"type": "message", "user": "U1", "text": "more", "ts": "2.2", "thread_ts": "1.1"}
    event["channel"] = "C1"
    request = translate.event_request(event, team_id="T1", bot_user_id="UBOT")
    assert request.thread == "slack:T1:C1:1.1"
    assert request.key == translate.message_key("T1", "C1", "2.2")


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "text": "x", "ts": "1"},
        {"type": "message", "user": "U1", "bot_id": "B1", "text": "x", "ts": "1"},
        {"type": "message", "subtype": "message_changed", "user": "U1", "ts": "1"},
        {"type": "message", "subtype": "channel_join", "user": "U1", "ts": "1"},
        {"type": "message", "text": "no user", "ts": "1"},
    ],
)
def test_bots_edits_and_joins_never_trigger(event: dict[str, str]) -> None:
    assert not translate.is_triggering_message(event)


def test_a_persons_message_triggers() -> None:
    assert translate.is_triggering_message({"type": "message", "user": "U1", "text": "hi"})


def test_earlier_thread_messages_become_turns_before_the_new_one() -> None:
    messages = [
        {"user": "U1", "text": "<@UBOT> first", "ts": "1.0"},
        {"user": "UBOT", "bot_id": "B1", "text": "an answer", "ts": "2.0"},
        {"user": "U2", "text": "", "ts": "2.5"},
        {"user": "U1", "text": "the new one", "ts": "3.0"},
    ]
    turns = translate.thread_context(messages, bot_user_id="UBOT", before_ts="3.0")
    assert [(t.role, t.content) for t in turns] == [
        (Role.USER, "first"),
        (Role.ASSISTANT, "an answer"),
    ]


def test_quota_command_carries_admin_flag() -> None:
    cmd = translate.quota_command(
        {"team_id": "T1", "user_id": "U1", "text": "set mini 5"}, is_admin=True
    )
    assert cmd.team == "slack:T1" and cmd.user == "U1" and cmd.text == "set mini 5"
    assert cmd.is_admin


def test_status_edits_share_a_per_workspace_budget() -> None:
    from adapters.slack.replier import EditBudget

    now = [0.0]
    budget = EditBudget(per_minute=30, burst=3, clock=lambda: now[0])
    assert [budget.take("T1") for _ in range(4)] == [True, True, True, False]
    assert budget.take("T2")  # another workspace has its own allowance
    now[0] += 2.0  # 30 a minute: one more every 2 s
    assert budget.take("T1") and not budget.take("T1")


def test_quota_replies_show_user_mentions_as_names() -> None:
    text = "*Usage by person*\n• <@U0ANN> · `o1`: 3 (1,000 tokens)\n\n• <@W0ORG1>: set"
    sections = " ".join(b["text"]["text"] for b in quota_blocks(text, None))
    assert "<@U0ANN>" in sections and "<@W0ORG1>" in sections and "&lt;@" not in sections


@pytest.mark.parametrize(
    "typed", ["<@<!channel>>", "<!here>", "<@U0ANN|boss> <!subteam^S1|@ops>", "<@u0ann>"]
)
def test_quota_replies_never_turn_typed_text_into_a_ping(typed: str) -> None:
    sections = " ".join(b["text"]["text"] for b in quota_blocks(f"✅ {typed} may now", None))
    for ping in PINGS:
        assert ping not in sections


HOSTILE_LINKS = [
    "<https://evil.example|https://good.example>",
    "<slack://open?team=T1|open Slack>",
    "<javascript:alert(1)|click>",
    "[https://good.example](https://evil.example)",
    "[x](slack://app?id=1)",
    "<https://evil.example>",
]
_MRKDWN_TARGET = re.compile(r"<([^<>|]+)(?:\|[^<>]*)?>")
_MD_TARGET = re.compile(r"\[[^\]]*\]\(([^)\s]*)\)|<([^<>|\s]+)(?:\|[^<>]*)?>")


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_streamed_and_posted_answers_neutralise_links_alike(link: str) -> None:
    text = f"Read {link} now, or [the docs](https://docs.example/a)."
    posted = mrkdwn(text)
    streamed = slack_markdown(text)
    posted_targets = {m.group(1) for m in _MRKDWN_TARGET.finditer(posted)}
    streamed_targets = {m.group(1) or m.group(2) for m in _MD_TARGET.finditer(streamed)}
    # Both keep the honest link, and only it.
    assert posted_targets == streamed_targets == {"https://docs.example/a"}
    # Both show the same words where the hostile link was.
    assert html.unescape(posted.split(" now")[0]) == streamed.split(" now")[0]


def test_code_keeps_what_looks_like_links() -> None:
    text = "`<https://a|b>` and std::vector<std::string>"
    assert slack_markdown(text) == text
    assert "std::vector&lt;std::string&gt;" in mrkdwn(text)
