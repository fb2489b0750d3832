"""Quota weeks: a week starts on a configured weekday at 00:00 in a configured time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import WeekPolicy
from bot.domain import Window


def week_window(now: datetime, policy: WeekPolicy) -> Window:
    """The quota week containing ``now`` (an aware datetime), as a UTC window."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(policy.tz)
    days_back = (local.weekday() - policy.weekday) % 7
    start_date = (local - timedelta(days=days_back)).date()
    # Build local midnights from dates, not by adding 7 days of seconds, so weeks that
    # cross a DST change still start at 00:00 local time.
    start = datetime(start_date.year, start_date.month, start_date.day, tzinfo=policy.tz)
    end_date = start_date + timedelta(days=7)
    end = datetime(end_date.year, end_date.month, end_date.day, tzinfo=policy.tz)
    return Window(start=start.astimezone(UTC), end=end.astimezone(UTC))


def utc_now() -> datetime:
    return datetime.now(UTC)
