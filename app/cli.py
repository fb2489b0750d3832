"""``reasonbot``: the command line and the one place where everything is wired."""
# The description `reasonbot --help` shows is DESCRIPTION, not this docstring.

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from app.settings import Settings, load_settings
from bot.commands import DEFAULT_REPORT_WEEKS, MAX_WEEKS
from bot.config import Catalogue, load_catalogue
from bot.domain import QuotaCommand
from bot.errors import BotError, ConfigError, StorageError

if TYPE_CHECKING:
    from app.wiring import Runtime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from storage import SqlRetention

log = logging.getLogger("reasonbot")
# How often each process checks whether a retention pass is due (one of them runs it).
RETENTION_CHECK_S = 300.0
FULL_COLLECTION_EVERY_S = 300.0  # see `_freeze_startup_heap`
_NEVER = 1_000_000_000  # collections of the middle generation before a full one

EXIT_CONFIG = 2
NO_PLATFORM = """\
reasonbot: no chat platform is configured, so there is nothing to run.
  Slack:   set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode on $PORT),
           plus SLACK_APP_TOKEN for Socket Mode (no public URL needed).
  Discord: set DISCORD_TOKEN.
Put them in the environment or in .env (see .env.example).
To try the bot without a platform: reasonbot chat"""


TEAM_PLATFORMS = ("slack", "discord", "terminal")
# A Discord id (snowflake) is a positive 64-bit integer.
SNOWFLAKE_MAX = 2**63 - 1


def _parser() -> argparse.ArgumentParser:
    from app import help as h

    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="reasonbot", description=h.DESCRIPTION, epilog=h.EPILOG, formatter_class=fmt
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, text: str, epilog: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=summary, description=text, epilog=epilog, formatter_class=fmt
        )

    chat = command("chat", "talk to the bot in this terminal", h.CHAT, h.CHAT_EPILOG)
    chat.add_argument("--team", default="local", help="team to charge (default: local)")
    chat.add_argument("--user", default="me", help="who you are (default: me)")
    chat.add_argument("--admin", action="store_true", help="act as a team admin")
    chat.add_argument(
        "-v", "--verbose", action="store_true", help="show log lines here (else: a log file)"
    )

    command("run", "serve every configured platform (Slack and/or Discord)", h.RUN, h.RUN_EPILOG)
    command("worker", "answer queued questions only (extra capacity)", h.WORKER, h.WORKER_EPILOG)

    db = command("db", "database operations", h.DB, h.DB_EPILOG)
    db.add_argument(
        "action",
        choices=["upgrade", "prune"],
        help="upgrade: apply migrations; prune: delete what is past its retention now",
    )

    quota = command(
        "quota", "show or change a team's quotas (as an operator)", h.QUOTA, h.QUOTA_EPILOG
    )
    quota.add_argument("--team", help="team key, e.g. slack:T0123, discord:123456, terminal:local")
    quota.add_argument("words", nargs=argparse.REMAINDER, help=h.QUOTA_WORDS)

    discord = command("discord", "Discord helpers", h.DISCORD, h.DISCORD_EPILOG)
    discord.add_argument("action", choices=["invite-url"])
    discord.add_argument(
        "--client-id",
        type=_snowflake,
        default=None,
        help="application id (default: read from DISCORD_TOKEN)",
    )

    command(
        "doctor", "check configuration, database, models and platforms", h.DOCTOR, h.DOCTOR_EPILOG
    )
    return p


def _snowflake(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= SNOWFLAKE_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Discord application id (a positive whole number, e.g. "
            "1234567890123456789: Developer Portal → your app → General Information)"
        )
    return int(text)


def _bad_team(team: str | None, teams: list[str]) -> str | None:
    """Why ``--team`` cannot be used (missing, or no platform in front), listing the
    teams that exist; None when it is a proper team key."""
    listed = ", ".join(teams) if teams else "none yet"
    if team is None:
        return f"reasonbot quota: --team is required. Teams in the database: {listed}"
    platform, colon, rest = team.partition(":")
    if colon and platform in TEAM_PLATFORMS and rest:
        return None
    return (
        f"reasonbot quota: {team!r} is not a team key: put its platform in front "
        f"({', '.join(p + ':' for p in TEAM_PLATFORMS)}). Teams in the database: {listed}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        catalogue = load_catalogue(settings.reasonbot_config)
    except ConfigError as exc:
        print(f"reasonbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from app.logs import setup_logging

    if args.command == "chat":
        from adapters.terminal.lines import data_dir

        setup_logging(settings, log_file=data_dir() / "chat.log", verbose=args.verbose)
    else:
        setup_logging(settings, quiet=args.command in ("quota", "db", "discord", "doctor"))
    try:
        match args.command:
            case "chat":
                return asyncio.run(_chat(settings, catalogue, args))
            case "run" | "worker":
                if not (settings.slack_enabled or settings.discord_enabled):
                    print(NO_PLATFORM, file=sys.stderr)
                    return EXIT_CONFIG
                return asyncio.run(_run(settings, catalogue, ingress=args.command == "run"))
            case "db" if args.action == "prune":
                return asyncio.run(_db_prune(settings))
            case "db":
                return asyncio.run(_db_upgrade(settings))
            case "quota":
                return asyncio.run(_quota(settings, catalogue, args.team, args.words))
            case "discord":
                return _discord_invite(settings, args.client_id)
            case "doctor":
                from app.doctor import doctor

                return asyncio.run(doctor(settings, catalogue, out=sys.stdout))
    except ConfigError as exc:
        print(f"reasonbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BotError as exc:
        print(f"reasonbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


async def _chat(settings: Settings, catalogue: Catalogue, args: argparse.Namespace) -> int:
    from adapters.terminal.chat import PLATFORM, TerminalNotifier, TerminalSession
    from adapters.terminal.lines import EditorInput, PipedInput, data_dir
    from app.preflight import preflight
    from app.wiring import build_runtime

    interactive = sys.stdin.isatty()
    async with build_runtime(settings, catalogue) as rt:
        if rt.service.admin is not None:
            rt.service.admin.register(PLATFORM, TerminalNotifier())
        session = TerminalSession(
            rt.service, sys.stdout, sys.stderr, team=args.team, user=args.user, admin=args.admin
        )
        for warning in await preflight(settings, catalogue):
            session.warn(warning)
        source = EditorInput(data_dir() / "history") if interactive else PipedInput(sys.stdin)
        await session.run(source, greeting=interactive)
    return 1 if session.failures else 0


async def _db_upgrade(settings: Settings) -> int:
    from storage import make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("database is up to date")
    return 0


READS = ("", "show", "log", "help", "teams", "history", "digest", "export")


def _retention(settings: Settings, engine: AsyncEngine) -> SqlRetention:
    from storage import RetentionPolicy, SqlRetention

    return SqlRetention(
        engine,
        RetentionPolicy(
            request_days=settings.request_retention_days,
            conversation_days=settings.conversation_retention_days,
        ),
    )


async def _db_prune(settings: Settings) -> int:
    from bot.weeks import utc_now
    from storage import make_engine

    engine = make_engine(settings.database_url)
    try:
        report = await _retention(settings, engine).prune(now=utc_now(), force=True)
    finally:
        await engine.dispose()
    if not report.ran:
        print("another process is pruning right now; try again later")
        return 1
    print("deleted: " + ", ".join(f"{t} {n}" for t, n in report.deleted.items()))
    return 0


def _missing_database(settings: Settings) -> str | None:
    """Where a SQLite database would be, if it does not exist yet: a read must not
    create an empty one (and then report an empty ledger)."""
    from app.doctor import sqlite_path

    path = sqlite_path(settings.database_url)
    if path is None or path.exists():
        return None
    how = (
        "DATABASE_URL points there"
        if "database_url" in settings.model_fields_set
        else "DATABASE_URL is not set, so reasonbot uses reasonbot.db in the directory it runs in"
    )
    return (
        f"reasonbot: no quota database at {path} ({how}).\n"
        "Run the command where the bot runs, or set DATABASE_URL to the bot's database."
    )


async def _quota(
    settings: Settings, catalogue: Catalogue, team: str | None, words: list[str]
) -> int:
    from adapters.terminal.chat import show_quota
    from adapters.terminal.render import console_for
    from app.wiring import build_runtime
    from storage.teams import known_teams

    verb = words[0].lower() if words else ""
    if verb in READS and (missing := _missing_database(settings)):
        print(missing, file=sys.stderr)
        return 1
    if verb in REPORT_COMMANDS:
        if team is None:
            print("reasonbot: quota " + verb + " needs --team", file=sys.stderr)
            return EXIT_CONFIG
        return await _quota_report(settings, catalogue, team, words)
    async with build_runtime(settings, catalogue) as rt:
        teams = await known_teams(rt.engine)
        if verb == "teams":
            print("\n".join(teams) if teams else "No team has used or changed a quota yet.")
            return 0
        if (refusal := _bad_team(team, teams)) is not None or team is None:
            print(refusal, file=sys.stderr)
            return EXIT_CONFIG
        platform = team.partition(":")[0]
        result = await rt.service.quota(
            QuotaCommand(platform, team, "operator", " ".join(words), is_admin=True)
        )
    show_quota(
        console_for(sys.stdout),
        result.text,
        result.usage,
        user=None,
        admin=True,
        notes=result.notes,
    )
    return 0 if result.ok else 1


REPORT_COMMANDS = ("digest", "export")


def _report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reasonbot quota --team TEAM")
    sub = p.add_subparsers(dest="report", required=True)
    digest = sub.add_parser("digest", help="print a week's digest (default: the last week)")
    digest.add_argument("--week", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    export = sub.add_parser("export", help="write per-person usage to stdout")
    export.add_argument("--weeks", type=int, default=DEFAULT_REPORT_WEEKS)
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    return p


async def _quota_report(
    settings: Settings, catalogue: Catalogue, team: str, words: list[str]
) -> int:
    """``digest`` and ``export``: the operator's copy of what admins see in chat."""
    from app.wiring import build_runtime
    from bot.reports import to_csv, to_json

    args = _report_parser().parse_args(words)
    if args.report == "export" and not 1 <= args.weeks <= MAX_WEEKS:
        raise ConfigError(f"--weeks must be from 1 to {MAX_WEEKS}")
    async with build_runtime(settings, catalogue) as rt:
        admin = rt.service.admin
        assert admin is not None
        if args.report == "digest":
            print(await admin.digest(team, week=args.week))
            return 0
        rows = await admin.export(team, platform=team.partition(":")[0], weeks=args.weeks)
    sys.stdout.write(to_csv(rows) if args.format == "csv" else to_json(rows) + "\n")
    return 0


def _discord_invite(settings: Settings, client_id: int | None) -> int:
    from adapters.discord.invite import client_id_from_token, invite_url

    if client_id is None:
        if settings.discord_token is None:
            raise ConfigError("DISCORD_TOKEN is not set; pass --client-id instead")
        client_id = client_id_from_token(settings.discord_token.get_secret_value())
    print(invite_url(client_id))
    return 0


async def _run(settings: Settings, catalogue: Catalogue, *, ingress: bool = True) -> int:
    """``ingress`` False (``reasonbot worker``): post answers to Slack and Discord but take
    no events, so any number of workers can share the queue behind the web processes."""
    from app.platforms import serve_platforms
    from app.wiring import build_runtime

    settings.check_platforms()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_runtime(settings, catalogue) as rt:
        if (problem := await _database_problem(rt)) is not None:
            print(problem, file=sys.stderr)
            return EXIT_CONFIG
        tasks = [
            asyncio.create_task(serve_platforms(rt, stop=stop, ingress=ingress), name="platforms")
        ]
        # The dispatcher answers what the platforms accepted; on stop it lets calls in
        # flight finish within the grace period and hands the rest back to the queue.
        tasks.append(asyncio.create_task(rt.dispatcher.run(stop), name="dispatcher"))
        if rt.service.admin is not None:
            # Weekly digests, once across processes (claimed in the database).
            digests = rt.service.admin.digest_loop(stop)
            tasks.append(asyncio.create_task(digests, name="digests"))
        tasks.append(asyncio.create_task(rt.metrics.watch_loop_lag(stop), name="loop-lag"))
        from bot.weeks import utc_now
        from storage.retention import run_retention

        pruning = run_retention(
            _retention(settings, rt.engine), stop, clock=utc_now, check_s=RETENTION_CHECK_S
        )
        tasks.append(asyncio.create_task(pruning, name="retention"))
        tasks.append(
            asyncio.create_task(rt.metrics.watch_queue(rt.queue.depth, stop), name="queue-depth")
        )
        thresholds = _freeze_startup_heap()
        tasks.append(asyncio.create_task(collect_fully(stop), name="full-collections"))
        log.info(
            "reasonbot %s: %s",
            "running" if ingress else "worker running",
            ", ".join(t.get_name() for t in tasks),
        )
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            gc.set_threshold(*thresholds)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    return 0


async def _database_problem(rt: Runtime) -> str | None:
    """One line saying why the database cannot be used, checked before "running" (and
    not as a traceback from the first loop that touches it)."""
    from sqlalchemy.engine.url import make_url

    from storage import normalise_url

    try:
        await rt.health()
    except StorageError as exc:
        where = make_url(normalise_url(rt.settings.database_url))
        return (
            f"reasonbot: cannot use the database at "
            f"{where.render_as_string(hide_password=True)}: {exc}"
        )
    return None


def _freeze_startup_heap() -> tuple[int, int, int]:
    """Hide what start-up built (the libraries' modules, classes and functions: about
    250,000 objects, all living as long as the process) from the cyclic garbage
    collector. A full collection walks every tracked object; with them in sight it took
    60–115 ms here while 1,000 questions were in flight, stalling the event loop and
    Slack's acknowledgements for that long. Frozen, a full collection walks only the
    objects of the questions in flight.

    Those are still 100,000–220,000 objects with 1,000 questions in flight, and Python
    collected them in full every few seconds under that load (64–295 ms each, the
    longest stalls of the loop). So full collections no longer come automatically but
    every `FULL_COLLECTION_EVERY_S` (`collect_fully`); young objects are collected as
    before, and nearly all garbage dies young or by reference counting."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    return young, middle, old


async def collect_fully(stop: asyncio.Event, *, every_s: float = FULL_COLLECTION_EVERY_S) -> None:
    """A full collection every ``every_s``: what cycles reached the oldest generation
    is freed at a known rate, one stall each time instead of one every few seconds."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
        if not stop.is_set():
            gc.collect()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
