"""``reasonbot``: the command line and the one place where everything is wired."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import date

from bot.commands import DEFAULT_REPORT_WEEKS, MAX_WEEKS
from bot.config import Catalogue, Settings, load_catalogue, load_settings
from bot.domain import QuotaCommand
from bot.errors import BotError, ConfigError

log = logging.getLogger("reasonbot")

EXIT_CONFIG = 2
NO_PLATFORM = """\
reasonbot: no chat platform is configured, so there is nothing to run.
  Slack:   set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode on $PORT),
           plus SLACK_APP_TOKEN for Socket Mode (no public URL needed).
  Discord: set DISCORD_TOKEN.
Put them in the environment or in .env (see .env.example).
To try the bot without a platform: reasonbot chat"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reasonbot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--team", default="local", help="team to charge (default: local)")
    chat.add_argument("--user", default="me", help="who you are (default: me)")
    chat.add_argument("--admin", action="store_true", help="act as a team admin")

    sub.add_parser("run", help="serve every configured platform (Slack and/or Discord)")
    sub.add_parser(
        "worker",
        help="answer queued questions only (no incoming traffic): "
        "extra capacity beside `run` processes on one PostgreSQL database",
    )

    db = sub.add_parser("db", help="database operations")
    db.add_argument("action", choices=["upgrade"])

    quota = sub.add_parser("quota", help="show or change a team's quotas (as an operator)")
    quota.add_argument(
        "--team", required=True, help="team key, e.g. slack:T0123, discord:123456, terminal:local"
    )
    quota.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        help="show | set <model> <n> | grant <n> [model] | reset [model] | "
        "user <who> <n|off> [model] | log | notify <channel>|off | history [weeks] | "
        "digest [--week YYYY-MM-DD] | export [--weeks N] [--format csv|json]",
    )

    discord = sub.add_parser("discord", help="Discord helpers")
    discord.add_argument("action", choices=["invite-url"])
    discord.add_argument(
        "--client-id",
        type=int,
        default=None,
        help="application id (default: read from DISCORD_TOKEN)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        catalogue = load_catalogue(settings.reasonbot_config)
    except ConfigError as exc:
        print(f"reasonbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from app.logs import setup_logging

    setup_logging(settings, quiet=args.command in ("chat", "quota", "db", "discord"))
    try:
        match args.command:
            case "chat":
                return asyncio.run(_chat(settings, catalogue, args))
            case "run" | "worker":
                if not (settings.slack_enabled or settings.discord_enabled):
                    print(NO_PLATFORM, file=sys.stderr)
                    return EXIT_CONFIG
                return asyncio.run(_run(settings, catalogue, ingress=args.command == "run"))
            case "db":
                return asyncio.run(_db_upgrade(settings))
            case "quota":
                return asyncio.run(_quota(settings, catalogue, args.team, args.words))
            case "discord":
                return _discord_invite(settings, args.client_id)
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
    from app.wiring import build_runtime

    async with build_runtime(settings, catalogue) as rt:
        if rt.service.admin is not None:
            rt.service.admin.register(PLATFORM, TerminalNotifier())
        session = TerminalSession(rt.service, team=args.team, user=args.user, admin=args.admin)
        await session.run()
    return 0


async def _db_upgrade(settings: Settings) -> int:
    from storage import make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("database is up to date")
    return 0


async def _quota(settings: Settings, catalogue: Catalogue, team: str, words: list[str]) -> int:
    from app.wiring import build_runtime

    if words and words[0] in REPORT_COMMANDS:
        return await _quota_report(settings, catalogue, team, words)
    async with build_runtime(settings, catalogue) as rt:
        platform = team.partition(":")[0]
        result = await rt.service.quota(
            QuotaCommand(platform, team, "operator", " ".join(words), is_admin=True)
        )
    print(result.text)
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
    from app.supervise import supervise
    from app.wiring import build_runtime

    settings.check_platforms()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_runtime(settings, catalogue) as rt:
        tasks = []
        # Each platform under its own supervisor: a crash in one (a malformed payload,
        # the platform unreachable) is logged and retried while the other keeps serving.
        if settings.slack_enabled:
            from adapters.slack.runner import run_slack, slack_replies_only

            slack = run_slack if ingress else slack_replies_only
            job = supervise("slack", lambda: slack(rt, stop=stop), stop=stop)
            tasks.append(asyncio.create_task(job, name="slack"))
        if settings.discord_enabled:
            from adapters.discord.runner import discord_replies_only, run_discord

            discord = run_discord if ingress else discord_replies_only
            job = supervise("discord", lambda: discord(rt, stop=stop), stop=stop)
            tasks.append(asyncio.create_task(job, name="discord"))
        if not (settings.slack_enabled and ingress):
            # Slack's server carries /healthz and /metrics; without it, serve them alone.
            from aiohttp import web

            from app.ops import ops_routes, serve

            ops = web.Application()
            ops.add_routes(ops_routes(health=rt.health, metrics=rt.metrics))
            tasks.append(
                asyncio.create_task(
                    serve(ops, host=settings.host, port=settings.port, stop=stop), name="ops"
                )
            )
        # The dispatcher answers what the platforms accepted; on stop it lets calls in
        # flight finish within the grace period and hands the rest back to the queue.
        tasks.append(asyncio.create_task(rt.dispatcher.run(stop), name="dispatcher"))
        if rt.service.admin is not None:
            # Weekly digests, once across processes (claimed in the database).
            digests = rt.service.admin.digest_loop(stop)
            tasks.append(asyncio.create_task(digests, name="digests"))
        tasks.append(asyncio.create_task(rt.metrics.watch_loop_lag(stop), name="loop-lag"))
        tasks.append(
            asyncio.create_task(rt.metrics.watch_queue(rt.queue.depth, stop), name="queue-depth")
        )
        _freeze_startup_heap()
        log.info(
            "reasonbot %s: %s",
            "running" if ingress else "worker running",
            ", ".join(t.get_name() for t in tasks),
        )
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    return 0


def _freeze_startup_heap() -> None:
    """Hide what start-up built (the libraries' modules, classes and functions: about
    250,000 objects, all living as long as the process) from the cyclic garbage
    collector. A full collection walks every tracked object; with them in sight it took
    60–115 ms here while 1,000 questions were in flight, stalling the event loop and
    Slack's acknowledgements for that long. Frozen, a full collection walks only the
    objects of the questions in flight."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
