"""Sentences only the terminal chat says (the core's live in `bot.messages`)."""

from __future__ import annotations

from collections.abc import Sequence

HELP = (
    "Type a question and press Enter (Alt-Enter or Esc Enter for a new line; pasted text"
    " arrives whole).\n"
    "`/reason [--model NAME] [--effort low|medium|high] <question>` picks a model,"
    " `/quota …` shows or changes quotas, `/new` starts a new conversation, `/help` shows"
    " this, `/quit` or Ctrl-D leaves."
)
NEW_CONVERSATION = "Started a new conversation."


def unknown_command(command: str, suggestion: str | None) -> str:
    hint = f" Did you mean `{suggestion}`?" if suggestion else " `/help` lists the commands."
    return (
        f"Unknown command `{command}`; nothing was sent or charged.{hint}"
        " To ask a question that starts with `/`, use `/reason /…`."
    )


def missing_key(variable: str, models: Sequence[str]) -> str:
    names = ", ".join(f"`{m}`" for m in models)
    return (
        f"⚠️ `{variable}` is not set, so {names} cannot answer. Set it in the environment"
        " or in `.env` (see `.env.example`), then start the chat again."
    )


def unreachable(url: str, reason: str, variable: str) -> str:
    return (
        f"⚠️ Cannot reach the model provider at {url} ({reason}). Check `{variable}`;"
        " `reasonbot doctor` checks every model."
    )


def logs_at(path: str) -> str:
    return f"Logs go to {path} (`-v` shows them here)."
