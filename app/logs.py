"""Logging set-up: text or JSON lines, and a filter that masks every configured secret
so a token can never reach a log line, whoever logs it."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from app.settings import Settings

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message",
    "asctime",
}


# Libraries that write request and message bodies (so chat text and answers) into
# their DEBUG lines: they stay at INFO whatever LOG_LEVEL says.
PAYLOAD_LOGGERS = (
    "aiosqlite",
    "asyncio",
    "discord",
    "httpcore",
    "slack_bolt",
    "slack_sdk",
    "websockets",
)


class Masked(logging.Formatter):
    """Wraps a formatter and masks every configured secret in what it produced: the
    message, extra fields and tracebacks alike, whoever logged them."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        found = {s for s in secrets if s and len(s) >= 6}
        # JSON lines carry a secret escaped; mask that spelling too.
        found |= {json.dumps(s)[1:-1] for s in found}
        self._secrets = sorted(found, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged: the chat's live view
    swaps in a proxy that prints above it, so ``-v`` lines never cut through it."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def secrets_of(settings: Settings) -> list[str]:
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            values.append(value.get_secret_value())
    return values


def setup_logging(
    settings: Settings,
    *,
    quiet: bool = False,
    log_file: Path | None = None,
    verbose: bool = False,
) -> None:
    """``quiet`` (operator commands) shows warnings and errors only, unless LOG_LEVEL
    was set explicitly. With ``log_file`` (the terminal chat) logs go to that file, so
    no log line lands in the conversation; ``verbose`` shows them on stderr as well."""
    formatter = (
        JsonFormatter()
        if settings.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = []
    if log_file is None:
        handlers.append(logging.StreamHandler(sys.stderr))
    elif verbose:
        handlers.append(CurrentStderr())
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8", delay=True))
    for handler in handlers:
        handler.setFormatter(Masked(formatter, secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = handlers
    explicit = "log_level" in settings.model_fields_set
    root.setLevel("WARNING" if quiet and not explicit else settings.log_level)
    if root.level < logging.INFO:
        for name in PAYLOAD_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO; keep it at WARNING so logs stay about the bot.
    logging.getLogger("httpx").setLevel(logging.WARNING)
