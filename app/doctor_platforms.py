"""``reasonbot doctor``'s checks of the chat platforms: Slack (``auth.test`` and the
scopes in its ``x-oauth-scopes`` header, ``apps.connections.open`` for Socket Mode) and
Discord (``/users/@me``, ``/applications/@me``: application id, intents, invite URL)."""

from __future__ import annotations

import httpx

from app.checks import Check, failed, passed
from app.preflight import why_unreachable
from app.settings import Settings
from app.slack_runner import BOT_SCOPES
from bot.errors import ConfigError

# What the bot asks for in slack/manifest.yml (a test keeps the two the same).
SLACK_SCOPES = BOT_SCOPES
# Discord application flags: the Message Content intent, enabled in the Developer Portal
# (the "limited" flag is the same for bots in fewer than 100 servers).
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)


async def check_slack(settings: Settings, http: httpx.AsyncClient) -> list[Check]:
    if settings.slack_bot_token is None:
        return []
    api = settings.slack_api_url.rstrip("/") + "/"
    token = settings.slack_bot_token.get_secret_value()
    try:
        response = await http.post(api + "auth.test", headers={"Authorization": f"Bearer {token}"})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return [
            failed(
                "Slack",
                f"cannot reach {api} ({why_unreachable(exc)})",
                "check SLACK_API_URL and the network",
            )
        ]
    if not body.get("ok"):
        return [
            failed(
                "Slack token",
                f"auth.test refused SLACK_BOT_TOKEN ({body.get('error')})",
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
            )
        ]
    checks = [
        passed(
            "Slack token",
            f"bot {body.get('user')} in workspace {body.get('team')} ({body.get('team_id')})",
        )
    ]
    granted = {
        s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",") if s.strip()
    }
    missing = [s for s in SLACK_SCOPES if s not in granted]
    checks.append(
        failed(
            "Slack scopes",
            "missing " + ", ".join(missing),
            "add them under OAuth & Permissions (or re-create the app from slack/manifest.yml) "
            "and reinstall the app",
        )
        if missing
        else passed("Slack scopes", "every scope of slack/manifest.yml is granted")
    )
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
        try:
            opened = (
                await http.post(
                    api + "apps.connections.open", headers={"Authorization": f"Bearer {app_token}"}
                )
            ).json()
        except (httpx.HTTPError, ValueError) as exc:
            opened = {"ok": False, "error": why_unreachable(exc)}
        checks.append(
            passed("Slack Socket Mode", "apps.connections.open gave a connection URL")
            if opened.get("ok")
            else failed(
                "Slack Socket Mode",
                f"apps.connections.open refused SLACK_APP_TOKEN ({opened.get('error')})",
                "create an app-level token (xapp-…) with connections:write under Basic "
                "Information, and turn Socket Mode on",
            )
        )
    return checks


async def check_discord(settings: Settings, http: httpx.AsyncClient) -> list[Check]:
    if settings.discord_token is None:
        return []
    from adapters.discord.invite import client_id_from_token, invite_url

    api = (settings.discord_api_url or "https://discord.com/api/v10").rstrip("/")
    headers = {"Authorization": f"Bot {settings.discord_token.get_secret_value()}"}
    try:
        me = await http.get(f"{api}/users/@me", headers=headers)
    except httpx.HTTPError as exc:
        return [
            failed(
                "Discord",
                f"cannot reach {api} ({why_unreachable(exc)})",
                "check the network (and DISCORD_API_URL)",
            )
        ]
    if me.status_code == 401:
        return [
            failed(
                "Discord token",
                "Discord refused DISCORD_TOKEN (401)",
                "reset the token under Developer Portal → your app → Bot and copy it",
            )
        ]
    user = me.json()
    checks = [passed("Discord token", f"bot {user.get('username')} ({user.get('id')})")]
    app = await http.get(f"{api}/applications/@me", headers=headers)
    if app.status_code != 200:
        return [
            *checks,
            failed("Discord application", f"HTTP {app.status_code}", "check the token"),
        ]
    data = app.json()
    app_id = int(data["id"])
    try:
        from_token = client_id_from_token(settings.discord_token.get_secret_value())
    except ConfigError:
        from_token = None
    detail = f"application id {app_id}"
    if from_token is not None and from_token != app_id:
        detail += f" (the token's id is {from_token}: invite with --client-id {app_id})"
    checks.append(passed("Discord application", detail))
    flags = int(data.get("flags") or 0)
    if settings.discord_message_content and not flags & MESSAGE_CONTENT_FLAGS:
        checks.append(
            failed(
                "Discord intents",
                "DISCORD_MESSAGE_CONTENT=true but the Message Content intent is off",
                "turn on Message Content Intent under Developer Portal → your app → Bot, "
                "or set DISCORD_MESSAGE_CONTENT=false",
            )
        )
    else:
        content = "on" if flags & MESSAGE_CONTENT_FLAGS else "not needed"
        checks.append(passed("Discord intents", f"guilds and messages; message content {content}"))
    checks.append(passed("Discord invite", invite_url(app_id)))
    return checks
