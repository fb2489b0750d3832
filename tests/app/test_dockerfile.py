"""The image's promises, read from the Dockerfile (CI without a Docker daemon runs these
too): the bot runs as a non-root user, the default database lives in a directory that
user owns, and the container reports its health."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def env() -> dict[str, str]:
    found: dict[str, str] = {}
    for op, args in instructions():
        if op == "ENV":
            found.update(dict(word.split("=", 1) for word in shlex.split(args)))
    return found


def test_the_default_database_is_in_a_directory_the_bot_user_owns() -> None:
    ops = instructions()
    user = next(args for op, args in ops if op == "USER")
    assert user != "root"
    database = env()["DATABASE_URL"]
    path = Path(re.sub(r"^sqlite\+aiosqlite:///", "", database))
    assert path.is_absolute(), database
    run = " ".join(args for op, args in ops if op == "RUN")
    assert f"mkdir {path.parent}" in run and f"chown {user}:{user} {path.parent}" in run
    assert any(op == "VOLUME" and str(path.parent) in args for op, args in ops)


def test_the_container_has_a_healthcheck_on_healthz() -> None:
    checks = [args for op, args in instructions() if op == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0] and "PORT" in checks[0]
