"""Discord: `/reason`, `/quota` and @-mentions, answered in threads (discord.py)."""
