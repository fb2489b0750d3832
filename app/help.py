"""What ``reasonbot --help`` and each subcommand's ``--help`` say."""

from __future__ import annotations

DESCRIPTION = """\
reasonbot answers questions with reasoning models (any OpenAI-compatible provider) in
Slack, Discord and this terminal, under weekly per-team quotas.

Settings come from the environment or .env (see .env.example); the model catalogue
and quota policy from reasonbot.toml (see reasonbot.example.toml)."""

EPILOG = """\
examples:
  reasonbot doctor                     check configuration, database, models, platforms
  reasonbot chat                       talk to the bot in this terminal
  reasonbot run                        serve Slack and/or Discord
  reasonbot quota teams                list the teams the database knows
  reasonbot quota --team slack:T0123 show

`reasonbot <command> --help` shows each command's options and examples."""

CHAT = """\
Talk to the bot in this terminal: the same pipeline, quotas and conversation history
as Slack and Discord. Interactive, with line editing, history (kept across sessions)
and multi-line input (paste, or Alt-Enter for a new line). Piped, one question per line,
answers on stdout, and the exit status is 1 if any question failed."""

CHAT_EPILOG = """\
examples:
  reasonbot chat
  reasonbot chat --admin               allowed to change quotas with /quota
  reasonbot chat --team acme --user ann
  reasonbot chat < questions.txt > answers.md"""

RUN = "Serve every configured platform (Slack and/or Discord) and answer their questions."
RUN_EPILOG = """\
examples:
  SLACK_BOT_TOKEN=xoxb-… SLACK_APP_TOKEN=xapp-… reasonbot run      Slack Socket Mode
  DISCORD_TOKEN=… reasonbot run"""

WORKER = """\
Answer queued questions only, taking no incoming traffic: extra capacity beside
`reasonbot run` processes sharing one PostgreSQL database."""
WORKER_EPILOG = """\
example:
  DATABASE_URL=postgresql://reasonbot@db/reasonbot reasonbot worker"""

DB = "Database operations: `upgrade` applies the schema migrations (run it on release)."
DB_EPILOG = """\
example:
  reasonbot db upgrade"""

QUOTA = """\
Show or change a team's quotas as an operator (always allowed, recorded as
`operator` in the audit log). Teams are keys with their platform in front:
slack:T0123, discord:123456789, terminal:local; `reasonbot quota teams` lists them."""

QUOTA_EPILOG = """\
examples:
  reasonbot quota teams
  reasonbot quota --team slack:T0123 show
  reasonbot quota --team slack:T0123 set o1 50
  reasonbot quota --team slack:T0123 grant 10 mini
  reasonbot quota --team slack:T0123 reset
  reasonbot quota --team discord:1234 user ann 5 o1
  reasonbot quota --team terminal:local log
  reasonbot quota --team slack:T0123 history 12
  reasonbot quota --team slack:T0123 budget 50
  reasonbot quota --team slack:T0123 digest --week 2026-11-16
  reasonbot quota --team slack:T0123 export --weeks 52 --format csv > usage.csv"""

QUOTA_WORDS = (
    "teams | show | set <model> <n> | grant <n> [model] | reset [model] | "
    "user <who> <n|off> [model] | log | notify <channel>|off | history [weeks] | "
    "digest [--week YYYY-MM-DD] | export [--weeks N] [--format csv|json] | budget <usd>|off"
)

DISCORD = "Discord helpers: `invite-url` prints the URL that adds the bot to a server."
DISCORD_EPILOG = """\
examples:
  reasonbot discord invite-url                      application id read from DISCORD_TOKEN
  reasonbot discord invite-url --client-id 1234567890123456789"""

DOCTOR = """\
Check everything the bot needs, one line per check with ✓ or ✗ and the fix:
configuration, the database (reachable, migrations applied, writable), each model of
the catalogue (provider reachable, key accepted, model id known), Slack and Discord
when configured. Exit status 1 if any check failed."""
DOCTOR_EPILOG = """\
example:
  reasonbot doctor"""
