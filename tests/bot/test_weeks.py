from __future__ import annotations

from datetime import UTC, datetime

from bot.config import WeekPolicy
from bot.weeks import week_window


def test_default_week_is_monday_midnight_utc() -> None:
    w = week_window(datetime(2026, 11, 26, 15, 0, tzinfo=UTC), WeekPolicy())
    assert w.start == datetime(2026, 11, 23, tzinfo=UTC)
    assert w.end == datetime(2026, 11, 30, tzinfo=UTC)
    assert w.key == "2026-11-23T00:00:00Z"


def test_the_first_instant_of_a_week_belongs_to_it() -> None:
    w = week_window(datetime(2026, 11, 30, tzinfo=UTC), WeekPolicy())
    assert w.start == datetime(2026, 11, 30, tzinfo=UTC)


def test_week_in_a_time_zone_with_a_custom_first_day() -> None:
    policy = WeekPolicy(starts_on="sunday", timezone="America/New_York")
    # Sunday 1 Nov 2026 03:00 UTC is still Saturday evening in New York.
    w = week_window(datetime(2026, 11, 1, 3, 0, tzinfo=UTC), policy)
    assert w.start == datetime(2026, 10, 25, 4, 0, tzinfo=UTC)  # Sun 25 Oct 00:00 EDT
    # That week crosses the end of DST: it ends at Sun 1 Nov 00:00 EDT.
    assert w.end == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    nxt = week_window(w.end, policy)
    assert nxt.end == datetime(2026, 11, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
