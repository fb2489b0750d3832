"""Test-wide set-up: no developer environment (tokens, .env, database URLs) leaks into
a test; each test builds exactly the settings it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings

# Checks every request the fakes recorded against the official API specs.
pytest_plugins = ("tests.contract.plugin",)

# Every setting (so a new one cannot leak in from the shell), and the test-only knobs.
_ENV = (
    *(name.upper() for name in Settings.model_fields),
    "DISCORD_API_URL",
    "DISCORD_GATEWAY_URL",
)
PG_SKIP = "PostgreSQL tests skipped"
DBUTIL = Path(__file__).resolve().parent / "dbutil.py"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Without TEST_DATABASE_URL every PostgreSQL variant skips for the same reason:
    give them all one place, so the summary folds them into one line with a count."""
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and PG_SKIP in str(longrepr[2]):
            report.longrepr = (str(DBUTIL), None, longrepr[2])
