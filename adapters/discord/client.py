"""The Discord client: application commands and mentions. Every handler does only what
must happen first — defer the interaction (Discord's 3 seconds), validate, write the
request down — and the dispatcher answers it in a thread."""

from __future__ import annotations

import dataclasses
import io
import logging
from collections import deque
from dataclasses import dataclass

import discord
from discord import app_commands

from adapters.discord import messages as discord_messages
from adapters.discord import translate
from adapters.discord.guard import guard_parsers, quiet_retries
from adapters.discord.picture import picture_embed
from adapters.discord.replier import NO_PINGS, DiscordReplier
from adapters.discord.route import MESSAGE, SLASH, DiscordRoute
from bot import messages
from bot.commands import QuotaVerb, parse_quota
from bot.config import AUTO, Catalogue
from bot.domain import AskRequest, Effort, QuotaCommand
from bot.errors import BotError, UsageError
from bot.intake import Refused
from bot.ports import Asker, DispatcherHooks, Job, Route, SaveRoute
from bot.quota import QuotaResult

log = logging.getLogger(__name__)
EMBED_LIMIT = 4_096  # an embed description
# Discord's refusals of an interaction's acknowledgement.
ALREADY_ACKNOWLEDGED = 40060  # the same interaction delivered twice, the other one won
UNKNOWN_INTERACTION = 10062  # acknowledged too late (its 3 seconds, or 15 minutes, passed)
DECLINED_REMEMBERED = 1_000  # recent direct messages, against replays after a resume


def quota_embed(result: QuotaResult) -> discord.Embed:
    colour = discord.Colour.blurple() if result.ok else discord.Colour.orange()
    embed = discord.Embed(title="Quota", description=result.text[:EMBED_LIMIT], colour=colour)
    if result.usage is not None:
        embed.set_footer(text=f"Week of {result.usage.window.start:%a %d %b} · times in UTC")
    return embed


@dataclass(frozen=True, slots=True)
class DiscordOptions:
    """What the Discord client takes from the deployment's settings."""

    # Commands synced to this server at once (global commands take up to an hour).
    guild_id: int | None = None
    message_content: bool = False  # the privileged intent: mentions read in full
    # Neither set: as many shards as Discord recommends (it refuses a single session
    # for a bot in more than 2,500 servers), all in this process.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # A gateway configured (a proxy): connect there, not where GET /gateway/bot says.
    fixed_gateway: bool = False


def _is_show(text: str) -> bool:
    try:
        return parse_quota(text).verb is QuotaVerb.SHOW
    except UsageError:
        return False


class ReasonBotClient(discord.AutoShardedClient):
    def __init__(
        self,
        *,
        service: Asker,
        dispatcher: DispatcherHooks,
        catalogue: Catalogue,
        options: DiscordOptions,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = options.message_content
        # The bot never joins voice: discord.py's start-up warnings that voice needs
        # PyNaCl and davey only alarm operators.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            intents=intents,
            allowed_mentions=NO_PINGS,
            shard_count=options.shard_count,
            shard_ids=list(options.shard_ids) if options.shard_ids is not None else None,
        )
        guard_parsers(self._connection.parsers)
        quiet_retries()
        self.fixed_gateway = options.fixed_gateway
        # Direct messages already answered: a gateway replay must not answer twice.
        self._declined: deque[int] = deque(maxlen=DECLINED_REMEMBERED)
        self.service = service
        self.dispatcher = dispatcher
        self.sync_guild = discord.Object(id=options.guild_id) if options.guild_id else None
        self.tree = app_commands.CommandTree(self)
        self._add_commands(catalogue)
        dispatcher.register(translate.PLATFORM, self.replier_for)

    def replier_for(self, job: Job, save: SaveRoute) -> DiscordReplier:
        route = DiscordRoute.from_json(job.route)
        return DiscordReplier(self, route, save, parsed=job.parsed)  # type: ignore[arg-type]

    async def launch_shards(self) -> None:
        if self.shard_count is None and self.fixed_gateway:
            # Without a shard count discord.py connects to the gateway GET /gateway/bot
            # names; with DISCORD_GATEWAY_URL (a proxy) take only Discord's recommended
            # count from it, so the configured gateway is used.
            self.shard_count, _, _ = await self.http.get_bot_gateway()
        await super().launch_shards()

    async def setup_hook(self) -> None:
        # Here, not in on_ready (which fires again on every reconnect).
        if self.sync_guild is not None:
            self.tree.copy_global_to(guild=self.sync_guild)
            await self.tree.sync(guild=self.sync_guild)
        else:
            await self.tree.sync()

    # ---- /reason -----------------------------------------------------------------

    def _add_commands(self, catalogue: Catalogue) -> None:
        models = [app_commands.Choice(name=m.name, value=m.alias) for m in catalogue.models]
        # `/reason` may also leave the choice to the router; `/quota` names real models.
        reason_models = [*models, app_commands.Choice(name=messages.AUTO_MODEL_CHOICE, value=AUTO)]
        efforts = [app_commands.Choice(name=e.value, value=e.value) for e in Effort]

        @self.tree.command(
            name="reason", description="Ask the reasoning model; the answer comes in a thread"
        )
        @app_commands.describe(
            question="What to ask",
            model=f"Which model (default: {catalogue.default_model}; auto picks one)",
            effort="How hard to think",
        )
        @app_commands.choices(model=reason_models, effort=efforts)
        @app_commands.guild_only()
        async def reason(
            interaction: discord.Interaction,
            question: str,
            model: app_commands.Choice[str] | None = None,
            effort: app_commands.Choice[str] | None = None,
        ) -> None:
            await self.on_reason(
                interaction,
                question,
                model.value if model else None,
                effort.value if effort else None,
            )

        quota = app_commands.Group(
            name="quota",
            description="Messages left this week; admins steer quotas",
            guild_only=True,
        )

        async def run(interaction: discord.Interaction, text: str) -> None:
            await self.on_quota(interaction, text)

        @quota.command(name="show", description="Remaining messages and when the week resets")
        async def show(interaction: discord.Interaction) -> None:
            await run(interaction, "show")

        @quota.command(name="set", description="Set the server's weekly limit (Manage Server)")
        @app_commands.choices(model=models)
        async def set_(
            interaction: discord.Interaction,
            model: app_commands.Choice[str],
            limit: app_commands.Range[int, 0, 1_000_000],
        ) -> None:
            await run(interaction, translate.quota_text(QuotaVerb.SET, model=model.value, n=limit))

        @quota.command(name="grant", description="Extra messages this week (Manage Server)")
        @app_commands.choices(model=models)
        async def grant(
            interaction: discord.Interaction,
            count: app_commands.Range[int, 1, 1_000_000],
            model: app_commands.Choice[str] | None = None,
        ) -> None:
            await run(
                interaction,
                translate.quota_text(
                    QuotaVerb.GRANT, n=count, model=model.value if model else None
                ),
            )

        @quota.command(name="reset", description="Give back this week's messages (Manage Server)")
        @app_commands.choices(model=models)
        async def reset(
            interaction: discord.Interaction, model: app_commands.Choice[str] | None = None
        ) -> None:
            await run(
                interaction,
                translate.quota_text(QuotaVerb.RESET, model=model.value if model else None),
            )

        @quota.command(
            name="user", description="A member's weekly cap; empty removes it (Manage Server)"
        )
        @app_commands.choices(model=models)
        async def user_cap(
            interaction: discord.Interaction,
            member: discord.Member,
            limit: app_commands.Range[int, 0, 1_000_000] | None = None,
            model: app_commands.Choice[str] | None = None,
        ) -> None:
            await run(
                interaction,
                translate.quota_text(
                    QuotaVerb.USER, who=member.id, n=limit, model=model.value if model else None
                ),
            )

        @quota.command(name="log", description="Recent quota changes (Manage Server)")
        async def audit(interaction: discord.Interaction) -> None:
            await run(interaction, "log")

        @quota.command(
            name="notify",
            description="Channel for alerts and the weekly digest; empty turns them off",
        )
        async def notify(
            interaction: discord.Interaction, channel: discord.TextChannel | None = None
        ) -> None:
            await run(interaction, f"notify {channel.id}" if channel else "notify off")

        @quota.command(name="history", description="Questions and spend per week (Manage Server)")
        async def history(
            interaction: discord.Interaction, weeks: app_commands.Range[int, 1, 52] = 8
        ) -> None:
            await run(interaction, f"history {weeks}")

        @quota.command(name="export", description="Per-person usage as CSV (Manage Server)")
        async def export(
            interaction: discord.Interaction, weeks: app_commands.Range[int, 1, 52] = 8
        ) -> None:
            await run(interaction, f"export {weeks}")

        @quota.command(name="budget", description="Weekly spending limit in USD (Manage Server)")
        @app_commands.describe(usd="US dollars a week, e.g. 50 or 12.50; off removes the limit")
        async def budget(interaction: discord.Interaction, usd: str) -> None:
            await run(interaction, f"budget {usd.strip() or 'off'}")

        self.tree.add_command(quota)

    async def on_reason(
        self, interaction: discord.Interaction, question: str, model: str | None, effort: str | None
    ) -> None:
        if interaction.guild_id is None:
            await interaction.response.send_message(discord_messages.GUILD_ONLY, ephemeral=True)
            return
        # Defer before anything else: the database or a busy loop must never cost us
        # Discord's three seconds ("Unknown interaction").
        if not await self._defer(interaction):
            return
        channel = interaction.channel
        in_thread = isinstance(channel, discord.Thread)
        request = AskRequest(
            platform=translate.PLATFORM,
            team=translate.team_key(interaction.guild_id),
            channel=str(interaction.channel_id),
            thread=translate.thread_key(interaction.guild_id, channel.id)
            if in_thread and channel is not None
            else "",
            user=str(interaction.user.id),
            text=question,
            key=translate.interaction_key(interaction.id),
            model=model,
            effort=Effort(effort) if effort else None,
            user_name=interaction.user.name,
        )
        route = DiscordRoute(
            kind=SLASH,
            guild_id=str(interaction.guild_id),
            channel_id=str(interaction.channel_id),
            user=str(interaction.user.id),
            app_id=str(interaction.application_id),
            token=interaction.token,
            # Asked inside a thread: the answer goes there.
            thread_id=str(channel.id) if in_thread and channel is not None else None,
        )
        result = await self.service.accept(request, route.to_json(), intake=self.dispatcher)
        if isinstance(result, Refused):
            # The deferred reply, still "thinking…", says why.
            await interaction.edit_original_response(content=translate.fit(result.text))

    async def _defer(self, interaction: discord.Interaction, *, ephemeral: bool = False) -> bool:
        """Acknowledge the interaction ("thinking…"); False when Discord refuses because
        it was acknowledged already or too late: then nothing more may be sent for it."""
        try:
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        except discord.HTTPException as exc:
            if exc.code == ALREADY_ACKNOWLEDGED:
                # A gateway replay or a retry: the delivery that was acknowledged answers.
                log.info(
                    "interaction %s already acknowledged: a duplicate, ignored", interaction.id
                )
                return False
            if exc.code == UNKNOWN_INTERACTION:
                # The user saw "The application did not respond"; nothing else to do.
                log.warning("interaction %s expired before it was acknowledged", interaction.id)
                return False
            raise
        return True

    # ---- /quota ------------------------------------------------------------------

    async def on_quota(self, interaction: discord.Interaction, text: str) -> None:
        if interaction.guild_id is None:
            await interaction.response.send_message(discord_messages.GUILD_ONLY, ephemeral=True)
            return
        if not await self._defer(interaction, ephemeral=True):
            return
        # default_permissions only hides commands and admins can change it: check the
        # member's real permission here.
        admin = bool(interaction.permissions.manage_guild)
        command = QuotaCommand(
            translate.PLATFORM,
            translate.team_key(interaction.guild_id),
            str(interaction.user.id),
            text,
            is_admin=admin,
        )
        if _is_show(text):
            try:
                picture = await self.service.picture(command)
            except BotError as exc:
                log.warning("quota picture failed: %r", exc)
            else:
                embed = picture_embed(picture, now=self.service.now())
                await interaction.followup.send(
                    embed=embed, ephemeral=True, allowed_mentions=NO_PINGS
                )
                return
        result = await self.service.quota(command)
        if result.file is not None:
            file = result.file
            await interaction.followup.send(
                messages.export_attached(rows=file.rows, weeks=file.weeks),
                file=discord.File(io.BytesIO(file.content), filename=file.name),
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        await interaction.followup.send(
            embed=quota_embed(result), ephemeral=True, allowed_mentions=NO_PINGS
        )

    # ---- mentions and thread replies -------------------------------------------------

    async def _decline_direct_message(self, message: discord.Message) -> None:
        """Any direct message (in a DM every message is meant for the bot) gets the
        "ask me in a server" reply, once, even when the gateway delivers it again."""
        if message.id in self._declined:
            return
        self._declined.append(message.id)
        try:
            await message.reply(
                discord_messages.GUILD_ONLY, allowed_mentions=NO_PINGS, mention_author=False
            )
        except discord.HTTPException as exc:
            log.info("could not answer a direct message: %s", exc.code)

    def _mentions_me(self, message: discord.Message) -> bool:
        me = self.user
        if me is None:
            return False
        if any(u.id == me.id for u in message.mentions):
            return True
        # Discord's autocomplete often inserts the bot's managed role instead.
        return any(r.tags is not None and r.tags.bot_id == me.id for r in message.role_mentions)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None:
            return
        if message.guild is None:
            await self._decline_direct_message(message)
            return
        mentioned = self._mentions_me(message)
        channel = message.channel
        route = DiscordRoute(
            kind=MESSAGE,
            guild_id=str(message.guild.id),
            channel_id=str(channel.id),
            user=str(message.author.id),
        )
        if isinstance(channel, discord.Thread):
            key = translate.thread_key(message.guild.id, channel.id)
            if not await self.service.knows_thread(key):
                if not mentioned:
                    return
            elif not mentioned and not self.intents.message_content:
                return
            route = dataclasses.replace(route, thread_id=str(channel.id))
            thread = key
        elif mentioned:
            route = dataclasses.replace(route, message_id=str(message.id))
            thread = ""  # the replier starts a thread on this message
        else:
            return
        role_ids = tuple(r.id for r in message.role_mentions)
        text = translate.strip_mentions(message.content, bot_id=self.user.id, role_ids=role_ids)
        request = AskRequest(
            platform=translate.PLATFORM,
            team=translate.team_key(message.guild.id),
            channel=str(channel.id),
            thread=thread,
            user=str(message.author.id),
            text=text,
            key=translate.message_key(message.id),
            user_name=message.author.name,
        )
        result = await self.service.accept(request, route.to_json(), intake=self.dispatcher)
        if isinstance(result, Refused):
            await self._refuse(route, result)

    async def _refuse(self, route: DiscordRoute, refused: Refused) -> None:
        """A refused message hears why where its answer would have gone: a reply to the
        mention (no thread is started for a refusal), or in its thread."""

        async def keep(_: Route) -> None:
            pass  # nothing was written down: the route has nowhere to be kept

        replier = DiscordReplier(self, route, keep)  # type: ignore[arg-type]
        try:
            await replier.fail(refused.text, kind=refused.kind)
        except BotError as exc:
            log.info("could not tell why a message was refused: %r", exc)
