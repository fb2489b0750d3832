"""Sentences only Discord needs; everything else users read is in `bot.messages`."""

CANNOT_POST = (
    "I'm missing permissions in this channel (send messages, create public "
    "threads, send messages in threads). Ask an admin to fix them — nothing was "
    "charged."
)
GUILD_ONLY = "I answer in servers, not in direct messages. Ask me in a server channel."
# /reason run inside a thread is answered in that same thread, just under its reply.
ANSWERED_BELOW = "↓ Answered below."
