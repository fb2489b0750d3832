"""Admin reports as values, and the pure functions that shape them: which weeks a
report covers, export rows and their CSV/JSON, and whether a threshold was crossed.

Storage aggregates (SQL ``GROUP BY``); nothing here reads a database.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import NamedTuple

from bot.config import WeekPolicy
from bot.domain import ModelUsage, TeamUsage, Window
from bot.weeks import week_window

# A finished week is rolled up (its per-person sums kept, its raw rows no longer read by
# reports) this long after it ends: far past the model's deadline (15 min by default)
# and a queue's wait, so no question reserved in it is still to be answered.
SETTLE = timedelta(days=1)
# A week with a question still in flight waits for it, but not past this: a reservation
# left open so long was abandoned by a crashed worker, and is rolled up as not answered.
OPEN_WAITED = timedelta(days=7)

EXPORT_COLUMNS = (
    "week_start",
    "platform",
    "team",
    "model",
    "user",
    "questions",
    "denied",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
)


class UsageRow(NamedTuple):
    """One person's use of one model in one week (``window`` is the week's key).
    ``questions`` counts answered questions; ``output_tokens`` include reasoning.
    A named tuple, not a dataclass: a year's export of a large team makes hundreds of
    thousands of them, and a tuple is built several times faster."""

    window: str
    model: str
    user: str
    questions: int
    denied: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class ModelWeek:
    """A team's use of one model in one week."""

    window: str
    model: str
    questions: int
    denied: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class Askers:
    """How many people asked, and the most active (user, questions), busiest first."""

    count: int
    top: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """A team's admin channel: the platform that posts there and its channel id."""

    platform: str
    channel: str


class ExportRow(NamedTuple):
    """One CSV row, fields in `EXPORT_COLUMNS` order (a named tuple, as `UsageRow`)."""

    week_start: str
    platform: str
    team: str
    model: str
    user: str
    questions: int
    denied: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """What a digest says about one week."""

    window: Window
    models: tuple[ModelWeek, ...]
    askers: Askers

    @property
    def questions(self) -> int:
        return sum(m.questions for m in self.models)

    @property
    def denied(self) -> int:
        return sum(m.denied for m in self.models)

    @property
    def cost_usd(self) -> float | None:
        costs = [m.cost_usd for m in self.models if m.cost_usd is not None]
        return sum(costs) if costs else None


def window_of(key: str) -> datetime:
    """A week's database key back to its UTC start."""
    return datetime.strptime(key, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def week_start(key: str, policy: WeekPolicy) -> str:
    """The week's first day as the team reads it (its own time zone)."""
    return window_of(key).astimezone(policy.tz).date().isoformat()


def previous_window(window: Window, policy: WeekPolicy) -> Window:
    return week_window(window.start - timedelta(seconds=1), policy)


def last_weeks(now: datetime, policy: WeekPolicy, weeks: int) -> tuple[Window, ...]:
    """This week and the ``weeks - 1`` before it, oldest first."""
    windows = [week_window(now, policy)]
    while len(windows) < weeks:
        windows.append(previous_window(windows[-1], policy))
    return tuple(reversed(windows))


def week_containing(day: date, policy: WeekPolicy) -> Window:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=policy.tz)
    return week_window(noon, policy)


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Build a large report without the cyclic garbage collector: a year of a large
    team is ~170,000 rows, several tuples each, and the collector would walk the
    growing lists again and again (a third of the export's time), though none of them
    can form a cycle. Reference counting still frees what is dropped."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def export_rows(
    rows: Sequence[UsageRow], *, platform: str, team: str, policy: WeekPolicy
) -> tuple[ExportRow, ...]:
    # A year of a large team is ~170,000 rows: one date conversion per week, and the
    # tuples built positionally (keywords cost twice as much). Already in order when
    # they come from storage, which the sort then only checks.
    starts = {w: week_start(w, policy) for w in {r[0] for r in rows}}
    new = tuple.__new__
    return tuple(
        new(ExportRow, (starts[r[0]], platform, team, *r[1:]))
        for r in sorted(rows, key=itemgetter(0, 1, 2))  # window, model, user
    )


def to_csv(rows: Sequence[ExportRow]) -> str:
    """RFC 4180 CSV with a header row; an unknown cost (no prices) is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    # Fields are in column order (ExportRow._fields == EXPORT_COLUMNS): no per-row dict;
    # an unknown cost is None, which csv writes as an empty cell.
    with bulk():
        writer.writerows(r if r[-1] is None else (*r[:-1], f"{r[-1]:.6f}") for r in rows)
    return out.getvalue()


def to_json(rows: Sequence[ExportRow]) -> str:
    """A JSON array of objects with the CSV's columns; an unknown cost is null."""
    return json.dumps(
        [
            {
                c: (round(r.cost_usd, 6) if c == "cost_usd" and r.cost_usd is not None else v)
                for c, v in ((c, getattr(r, c)) for c in EXPORT_COLUMNS)
            }
            for r in rows
        ],
        indent=1,
    )


def crossed(used: int, allowance: int, thresholds: Sequence[int]) -> tuple[int, ...]:
    """The thresholds (percent of ``allowance``) that the message numbered ``used``
    reached: each one is reached by exactly one count, so a counter going up one by
    one crosses each once (a refund that steps back lets the next count cross again,
    and the database's key keeps the alert single)."""
    if allowance <= 0 or used <= 0:
        return ()
    return tuple(t for t in thresholds if used - 1 < math.ceil(allowance * t / 100) <= used)


@dataclass(frozen=True, slots=True)
class ExportFile:
    """An export as a file the platform attaches (Slack's files upload, Discord's
    attachments): its name, bytes and what it covers."""

    name: str
    content: bytes
    rows: int
    weeks: int


def export_file(rows: Sequence[ExportRow], *, weeks: int, day: date) -> ExportFile:
    return ExportFile(
        name=f"reasonbot-usage-{day.isoformat()}-{weeks}w.csv",
        content=to_csv(rows).encode(),
        rows=len(rows),
        weeks=weeks,
    )


@dataclass(frozen=True, slots=True)
class Picture:
    """What one person sees of a team's week (Slack's App Home, Discord's ``/quota``
    embed). ``usage.models`` are the team's counters, with the viewer's own cap;
    ``this_week`` the team's questions, denials and spend per model; ``people`` this
    week's per-person rows (only the viewer's unless ``admin``); ``weeks`` (admins)
    the last weeks per model as (first day, rows), oldest first."""

    usage: TeamUsage
    user: str
    admin: bool
    this_week: tuple[ModelWeek, ...]
    people: tuple[UsageRow, ...]
    weeks: tuple[tuple[str, tuple[ModelWeek, ...]], ...] = ()
    more_people: int = 0  # admins: rows of the week beyond ``people`` (the busiest)

    def own(self, model: str) -> int:
        return sum(r.questions for r in self.people if r.user == self.user and r.model == model)

    def left_for_viewer(self, m: ModelUsage) -> int:
        """What the viewer may still ask of ``m``: the team's remainder, or less under
        a personal cap."""
        if m.user_limit is None:
            return m.remaining
        return max(0, min(m.remaining, m.user_limit - self.own(m.model)))

    def week_of(self, model: str) -> ModelWeek | None:
        return next((w for w in self.this_week if w.model == model), None)


def bar(used: int, total: int, *, width: int = 10) -> str:
    """A text bar (``▓▓▓░░░░░░░``) of ``used`` out of ``total``, full past it."""
    if total <= 0:
        return "░" * width
    filled = min(width, math.ceil(width * used / total)) if used > 0 else 0
    return "▓" * filled + "░" * (width - filled)
