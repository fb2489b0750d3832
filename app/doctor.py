"""``reasonbot doctor``: checks everything the bot needs and prints one line per check,
✓ or ✗, with the fix. Exit status 1 if anything failed.

Checks talk to the real services with the deployment's settings: the database, each
provider of the catalogue (``GET /models``, or one tiny completion where a provider has
no model list), Slack (``auth.test`` and its ``x-oauth-scopes`` header,
``apps.connections.open`` for Socket Mode) and Discord (``/users/@me``,
``/applications/@me``). Nothing is charged to a team's quota.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.checks import Check, failed, passed
from app.doctor_platforms import check_discord, check_slack
from app.preflight import Provider, is_local, needs_key, providers, why_unreachable
from app.settings import Settings
from bot.config import DEFAULT_CONFIG_PATH, Catalogue
from bot.errors import ConfigError, StorageError

HTTP_TIMEOUT_S = 15.0


# ---- configuration ------------------------------------------------------------------


def check_config(settings: Settings, catalogue: Catalogue) -> list[Check]:
    source = settings.reasonbot_config or (
        DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    )
    where = str(source) if source else "built-in defaults (no reasonbot.toml)"
    checks = [
        passed(
            "configuration",
            f"{len(catalogue.models)} models ({', '.join(catalogue.aliases)}), default "
            f"{catalogue.default_model}, from {where}",
        )
    ]
    platforms = [
        n
        for n, on in (("Slack", settings.slack_enabled), ("Discord", settings.discord_enabled))
        if on
    ]
    try:
        settings.check_platforms()
    except ConfigError as exc:
        checks.append(failed("platforms", str(exc), "complete the settings in .env"))
    else:
        checks.append(
            passed("platforms", ", ".join(platforms) + " configured")
            if platforms
            else passed(
                "platforms",
                "neither Slack nor Discord is configured, so only `reasonbot chat` works "
                "(see .env.example to add one)",
            )
        )
    return checks


# ---- database -------------------------------------------------------------------------


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or in-memory)."""
    from storage import normalise_url

    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    # A URI filename (``file:/path?mode=ro`` with ``uri=true``) names the same file.
    return Path(url.database.removeprefix("file:")).resolve()


def _head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from storage.engine import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


async def check_database(settings: Settings) -> list[Check]:
    from storage import current_revision, make_engine

    name = "database"
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        if os.access(path.parent, os.W_OK):
            return [passed(name, f"{path} does not exist yet; the bot creates it on start")]
        return [
            failed(
                name,
                f"{path} does not exist and {path.parent} is not writable",
                "point DATABASE_URL at a writable directory",
            )
        ]
    shown = str(path) if path else make_url(settings.database_url).render_as_string()
    engine = make_engine(settings.database_url)
    try:
        try:
            revision = await current_revision(engine)
        except (SQLAlchemyError, OSError, StorageError) as exc:
            return [
                failed(
                    name,
                    f"cannot connect to {shown} ({why_unreachable(exc)})",
                    "check DATABASE_URL",
                )
            ]
        head = _head_revision()
        checks = [passed(name, f"connected to {shown}")]
        if revision != head:
            checks.append(
                failed(
                    "migrations",
                    f"schema at {revision or 'nothing'}, code expects {head}",
                    "run `reasonbot db upgrade`",
                )
            )
            return checks
        checks.append(passed("migrations", f"up to date ({head})"))
        try:
            async with engine.connect() as conn:
                # A write that changes nothing, rolled back: takes the write lock and
                # needs write permission, on SQLite and PostgreSQL alike.
                await conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
                await conn.rollback()
        except (SQLAlchemyError, OSError) as exc:
            checks.append(
                failed(
                    "database writable",
                    f"a test write failed ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                    "give the bot's user write access to the database (file and directory)",
                )
            )
        else:
            checks.append(passed("database writable", "a test write succeeded"))
        return checks
    finally:
        await engine.dispose()


# ---- models ---------------------------------------------------------------------------


def _key(settings: Settings, provider: Provider) -> str | None:
    if provider.variable != "OPENAI_API_KEY":
        return os.environ.get(provider.variable)
    return settings.openai_api_key.get_secret_value() if settings.openai_api_key else None


async def check_models(
    settings: Settings, catalogue: Catalogue, http: httpx.AsyncClient
) -> list[Check]:
    checks: list[Check] = []
    for provider in providers(settings, catalogue):
        specs = [s for s in catalogue.models if s.alias in provider.models]
        if needs_key(provider):
            checks += [
                failed(
                    f"model {s.alias}",
                    f"{provider.variable} is not set ({provider.url} needs a key)",
                    f"set {provider.variable} in the environment or .env",
                )
                for s in specs
            ]
            continue
        key = _key(settings, provider)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = provider.url.rstrip("/")
        try:
            response = await http.get(f"{url}/models", headers=headers)
        except httpx.HTTPError as exc:
            reason = why_unreachable(exc)
            checks += [
                failed(
                    f"model {s.alias}",
                    f"cannot reach {provider.url} ({reason})",
                    f"check {provider.url_variable}"
                    + ("" if is_local(provider.url) else " and the network"),
                )
                for s in specs
            ]
            continue
        if response.status_code in (401, 403):
            checks += [
                failed(
                    f"model {s.alias}",
                    f"{provider.url} rejected the key (HTTP {response.status_code})",
                    f"check {provider.variable}",
                )
                for s in specs
            ]
            continue
        known = _model_ids(response)
        for spec in specs:
            checks.append(await _check_model(http, url, headers, spec.alias, spec.id, known))
    return checks


def _model_ids(response: httpx.Response) -> set[str] | None:
    """The provider's model ids, or None when it has no usable model list."""
    if response.status_code != 200:
        return None
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return {str(m.get("id")) for m in data if isinstance(m, dict)}


async def _check_model(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    alias: str,
    model_id: str,
    known: set[str] | None,
) -> Check:
    name = f"model {alias}"
    if known is not None:
        if model_id in known:
            return passed(name, f"{model_id} is offered by {url}, key accepted")
        offered = ", ".join(sorted(known)[:8]) or "none"
        return failed(
            name,
            f"{url} has no model {model_id!r} (it offers {offered})",
            f"fix the id of {alias!r} in reasonbot.toml",
        )
    # No model list (some compatible servers): one tiny request instead.
    body: dict[str, Any] = {
        "model": model_id,
        "messages": [{"role": "user", "content": "Reply with OK."}],
        "max_completion_tokens": 16,
    }
    try:
        response = await http.post(f"{url}/chat/completions", json=body, headers=headers)
    except httpx.HTTPError as exc:
        return failed(name, f"cannot reach {url} ({why_unreachable(exc)})", "check the base URL")
    if response.status_code == 404:
        return failed(name, f"{url} does not know model {model_id!r}", f"fix the id of {alias!r}")
    if response.status_code in (401, 403):
        return failed(name, f"{url} rejected the key", "check the API key")
    if response.status_code >= 500:
        return failed(
            name, f"{url} answered HTTP {response.status_code}", "try again; check the provider"
        )
    return passed(name, f"{model_id} answered a tiny request at {url}")


# ---- all of it --------------------------------------------------------------------------


async def run_checks(settings: Settings, catalogue: Catalogue) -> list[Check]:
    checks = check_config(settings, catalogue)
    checks += await check_database(settings)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
        checks += await check_models(settings, catalogue, http)
        checks += await check_slack(settings, http)
        checks += await check_discord(settings, http)
    return checks


def report(checks: Sequence[Check], out: TextIO) -> int:
    for check in checks:
        out.write(check.line() + "\n")
    bad = sum(not c.ok for c in checks)
    out.write(f"\n{bad} problem{'s' if bad != 1 else ''} found.\n" if bad else "\nAll good.\n")
    out.flush()
    return 1 if bad else 0


async def doctor(settings: Settings, catalogue: Catalogue, *, out: TextIO) -> int:
    return report(await run_checks(settings, catalogue), out)
