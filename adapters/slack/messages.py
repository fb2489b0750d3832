"""Sentences only Slack needs (how to invite the bot, ...)."""

NOT_IN_CHANNEL = (
    "I can't post in this channel. Invite me with `/invite @reasonbot` (or ask in a "
    "channel I'm in) and try again — nothing was charged."
)
MISSING_COMMAND_CONFIG = "This workspace has not set up that command."
