"""The admin core's pure parts: the new `/quota` verbs, costs, thresholds, the digest
text and the export's exact CSV/JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from bot import messages
from bot.commands import QuotaVerb, parse_quota
from bot.config import Catalogue, ModelSpec, WeekPolicy
from bot.costs import answer_cost
from bot.domain import Usage, Window
from bot.errors import UsageError
from bot.model_wire import WireUsage
from bot.reports import (
    EXPORT_COLUMNS,
    Askers,
    ExportRow,
    ModelWeek,
    UsageRow,
    WeekFigures,
    crossed,
    export_rows,
    last_weeks,
    to_csv,
    to_json,
    week_containing,
)

PRICED = ModelSpec(
    alias="o3",
    id="o3",
    weekly_limit=10,
    price_input=2.0,
    price_cached_input=0.5,
    price_output=8.0,
)


# ---- grammar -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "channel"),
    [
        ("notify <#C0ADMIN1|admins>", "C0ADMIN1"),
        ("notify <#C0ADMIN1>", "C0ADMIN1"),
        ("notify <#123456789012345678>", "123456789012345678"),
        ("NOTIFY C0ADMIN1", "C0ADMIN1"),
        ("notify #C0ADMIN1", "C0ADMIN1"),
        ("notify off", None),
        ("notify OFF", None),
    ],
)
def test_notify_takes_a_channel_mention_or_id_or_off(text: str, channel: str | None) -> None:
    args = parse_quota(text)
    assert args.verb is QuotaVerb.NOTIFY and args.channel == channel


@pytest.mark.parametrize(
    "text",
    [
        "notify",
        "notify general",
        "notify <!channel>",
        "notify <@U123>",
        "notify a b",
        "notify " + "1" * 40,
    ],
)
def test_notify_refuses_what_is_not_one_channel(text: str) -> None:
    with pytest.raises(UsageError):
        parse_quota(text)


def test_history_and_export_take_weeks_from_1_to_52_default_8() -> None:
    assert parse_quota("history").value == 8
    assert parse_quota("history 52").value == 52
    assert parse_quota("export 3").verb is QuotaVerb.EXPORT
    assert parse_quota("export").value == 8
    for bad in ("history 0", "history 53", "export x", "export 1 2"):
        with pytest.raises(UsageError):
            parse_quota(bad)


# ---- costs -------------------------------------------------------------------


def test_cost_bills_cached_input_cheaper_and_reasoning_as_output() -> None:
    usage = Usage(
        prompt_tokens=1_000, completion_tokens=3_000, reasoning_tokens=2_000, cached_tokens=400
    )
    # 600 fresh × $2 + 400 cached × $0.5 + 3,000 output (reasoning inside) × $8, per 1M.
    assert answer_cost(PRICED, usage) == pytest.approx((600 * 2 + 400 * 0.5 + 3_000 * 8) / 1e6)


def test_cost_counts_reasoning_reported_apart_from_completion_once() -> None:
    usage = Usage(prompt_tokens=0, completion_tokens=10, reasoning_tokens=500)
    assert answer_cost(PRICED, usage) == pytest.approx(500 * 8 / 1e6)


def test_cached_input_without_its_own_price_bills_as_input() -> None:
    spec = PRICED.model_copy(update={"price_cached_input": None})
    usage = Usage(prompt_tokens=1_000, cached_tokens=1_000)
    assert answer_cost(spec, usage) == pytest.approx(1_000 * 2 / 1e6)


def test_cached_prompt_tokens_are_read_from_the_providers_usage() -> None:
    wire = WireUsage.model_validate(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    )
    assert wire.to_usage() == Usage(
        prompt_tokens=100, completion_tokens=50, reasoning_tokens=30, cached_tokens=64
    )
    assert WireUsage.model_validate({"prompt_tokens": 1}).to_usage().cached_tokens == 0


def test_a_model_without_prices_has_no_cost() -> None:
    spec = ModelSpec(alias="o1", id="o1", weekly_limit=1)
    assert answer_cost(spec, Usage(prompt_tokens=5, completion_tokens=5)) is None


def test_footer_shows_the_cost_when_given() -> None:
    text = messages.footer(
        model="o3",
        elapsed_s=3,
        usage=Usage(prompt_tokens=10, completion_tokens=20),
        remaining=4,
        truncated=False,
        cost_usd=0.0123,
    )
    assert "$0.01" in text and "4 left" in text
    assert "$" not in messages.footer(
        model="o3", elapsed_s=3, usage=Usage(), remaining=4, truncated=False
    )


def test_prices_and_alert_thresholds_are_validated() -> None:
    with pytest.raises(ValidationError):
        ModelSpec(alias="x", id="x", weekly_limit=1, price_output=-1)
    with pytest.raises(ValidationError):
        Catalogue(alert_at=(0, 80))
    assert Catalogue(alert_at=(100, 80, 80)).alert_at == (80, 100)
    assert Catalogue().alert_at == (80, 100)


# ---- thresholds ----------------------------------------------------------------


def test_each_threshold_is_crossed_by_exactly_one_count() -> None:
    hits = {used: crossed(used, 30, (80, 100)) for used in range(0, 35)}
    assert {u: t for u, t in hits.items() if t} == {24: (80,), 30: (100,)}


def test_small_allowances_round_the_threshold_up() -> None:
    # 80% of 3 is 2.4: the third message is the first at or past it, and also 100%.
    assert [crossed(u, 3, (80, 100)) for u in (1, 2, 3)] == [(), (), (80, 100)]
    assert crossed(1, 0, (80, 100)) == ()


# ---- weeks ---------------------------------------------------------------------


def test_last_weeks_end_with_this_week_oldest_first() -> None:
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    weeks = last_weeks(now, WeekPolicy(), 3)
    assert [w.start.date() for w in weeks] == [
        date(2026, 11, 9),
        date(2026, 11, 16),
        date(2026, 11, 23),
    ]
    assert week_containing(date(2026, 11, 19), WeekPolicy()) == weeks[1]


# ---- export ----------------------------------------------------------------------


def _rows() -> list[ExportRow]:
    usage = [
        UsageRow("2026-11-23T00:00:00Z", "o3", "U2", 2, 1, 100, 300, 200, 0.0031),
        UsageRow("2026-11-16T00:00:00Z", "o3", "U1", 1, 0, 10, 20, 5, None),
    ]
    return list(export_rows(usage, platform="slack", team="slack:T1", policy=WeekPolicy()))


def test_csv_has_exactly_the_agreed_columns_and_values() -> None:
    text = to_csv(_rows())
    assert text.splitlines()[0] == (
        "week_start,platform,team,model,user,questions,denied,"
        "input_tokens,output_tokens,reasoning_tokens,cost_usd"
    )
    assert text == (
        "week_start,platform,team,model,user,questions,denied,input_tokens,output_tokens,"
        "reasoning_tokens,cost_usd\r\n"
        "2026-11-16,slack,slack:T1,o3,U1,1,0,10,20,5,\r\n"
        "2026-11-23,slack,slack:T1,o3,U2,2,1,100,300,200,0.003100\r\n"
    )
    assert list(csv.DictReader(io.StringIO(text)))[1]["cost_usd"] == "0.003100"


def test_week_start_is_the_teams_local_first_day() -> None:
    # A Berlin week starts Sunday 23:00 UTC; its people call it Monday.
    policy = WeekPolicy(timezone="Europe/Berlin")
    row = UsageRow("2026-11-22T23:00:00Z", "o3", "U1", 1, 0, 1, 1, 0, None)
    assert (
        export_rows([row], platform="slack", team="T", policy=policy)[0].week_start == "2026-11-23"
    )


def test_json_has_the_same_columns_and_null_for_unknown_cost() -> None:
    data = json.loads(to_json(_rows()))
    assert [list(d) for d in data] == [list(EXPORT_COLUMNS)] * 2
    assert data[0]["cost_usd"] is None and data[1]["cost_usd"] == 0.0031


# ---- digest ----------------------------------------------------------------------


def test_digest_says_questions_askers_denials_spend_and_change() -> None:
    week = Window(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    this = WeekFigures(
        week,
        (ModelWeek("k", "mini", 4, 0, 0.5), ModelWeek("k", "o3", 6, 2, 1.25)),
        Askers(3, (("U1", 5), ("U2", 3), ("U3", 2))),
    )
    before = WeekFigures(week, (ModelWeek("j", "o3", 7, 0, 1.0),), Askers(1, (("U1", 7),)))
    text = messages.digest(this, before, week_start="2026-11-16")
    assert "week of 2026-11-16" in text
    assert "`mini`: 4 questions, $0.50" in text
    assert "`o3`: 6 questions, 2 denied, $1.25" in text
    assert "Questions: 10 (+3 on the week before)" in text
    assert "Askers: 3 — most active: <@U1> (5), <@U2> (3), <@U3> (2)" in text
    assert "Denied for quota: 2" in text
    assert "Spend: $1.75 (+$0.75 on the week before)" in text


def test_digest_of_an_empty_week_says_so() -> None:
    week = Window(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    text = messages.digest(WeekFigures(week, (), Askers(0, ())), None, week_start="2026-11-16")
    assert "Nobody asked anything" in text and "Spend" not in text


def test_export_rows_carry_the_csv_columns_in_order() -> None:
    # to_csv writes a row's fields as they come: their order is the header's.
    assert ExportRow._fields == EXPORT_COLUMNS
