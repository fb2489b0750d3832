"""Sentences only Slack needs (how to invite the bot, ...)."""

from __future__ import annotations

NOT_IN_CHANNEL = (
    "I can't post in this channel. Invite me with `/invite @reasonbot` (or ask in a "
    "channel I'm in) and try again — nothing was charged."
)
MISSING_COMMAND_CONFIG = "This workspace has not set up that command."
REINSTALL = (
    "Slack no longer accepts my token for this workspace. Ask a workspace admin to "
    "reinstall the app."
)
SLACK_UNREACHABLE = (
    "⚠️ I couldn't reach Slack to confirm this workspace just now; nothing was charged. "
    "Please try again in a minute."
)
# The native stream's plan while the model thinks: its title, and its one task's.
THINKING_PLAN = "Reasoning"
THINKING_TASK = "Thinking it through"
# An assistant thread's status line while the model thinks ("<app> is thinking…").
ASSISTANT_THINKING = "is thinking…"
OTHER_WORKSPACE = "This app isn't installed for your workspace, so I can't answer here."
ADMIN_CHECK_FAILED = (
    "⚠️ I couldn't check with Slack whether you're an admin, so nothing was changed. "
    "Please try again in a minute."
)


def answer_incomplete(delivered: int, total: int) -> str:
    """Under the pieces of an answer that did reach the thread, when Slack kept refusing
    the rest."""
    missing = total - delivered
    rest = "its last part" if missing == 1 else f"its last {missing} parts"
    return (
        f"⚠️ Slack kept failing while I posted this answer: {rest} (of {total}) could not "
        "be posted. Nothing was charged; ask again for the whole answer."
    )
