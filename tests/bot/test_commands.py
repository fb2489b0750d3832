from __future__ import annotations

import pytest

from bot.commands import QuotaVerb, normalise_user, parse_quota, parse_reason
from bot.domain import Effort
from bot.errors import UsageError


def test_plain_question_has_no_options() -> None:
    args = parse_reason("  Why is the sky blue?  ")
    assert (args.question, args.model, args.effort) == ("Why is the sky blue?", None, None)


@pytest.mark.parametrize(
    "text",
    [
        "--model mini --effort high Why?",
        "--model=mini --effort=HIGH Why?",
        "--model\tmini --effort high Why?",
        "--model mini\n--effort high\nWhy?",
        "--MODEL mini --effort high\tWhy?",
    ],
)
def test_model_and_effort_options_before_the_question(text: str) -> None:
    args = parse_reason(text)
    assert (args.question, args.model, args.effort) == ("Why?", "mini", Effort.HIGH)


def test_options_inside_the_question_are_part_of_it() -> None:
    assert parse_reason("what does --model do?").question == "what does --model do?"


@pytest.mark.parametrize(
    "text", ["-1 times -1?", "-m is not an option", "--- a rule?", "-- -1 times -1?"]
)
def test_text_starting_with_a_dash_is_the_question(text: str) -> None:
    args = parse_reason(text)
    assert args.model is None and args.effort is None
    assert args.question == text.removeprefix("-- ")


def test_the_question_keeps_its_own_lines_after_the_options() -> None:
    args = parse_reason("--model mini\nline one\n  line two")
    assert (args.model, args.question) == ("mini", "line one\n  line two")


def test_double_dash_ends_options() -> None:
    assert parse_reason("--model o1 -- --effort is a flag?").question == "--effort is a flag?"


@pytest.mark.parametrize("text", ["--effort extreme q", "--colour red q", "--model"])
def test_bad_options_give_usage(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_reason(text)
    assert "/reason" in info.value.usage


def test_quota_grammar() -> None:
    assert parse_quota("").verb is QuotaVerb.SHOW
    assert parse_quota("set mini 10") == parse_quota("set 10 mini")
    s = parse_quota("set MINI 10")
    assert (s.verb, s.model, s.value) == (QuotaVerb.SET, "mini", 10)
    g = parse_quota("grant 5")
    assert (g.verb, g.value, g.model) == (QuotaVerb.GRANT, 5, None)
    assert parse_quota("grant 5 o1").model == "o1"
    assert parse_quota("reset").model is None
    u = parse_quota("user <@U123|ann> 3 mini")
    assert (u.who, u.value, u.model) == ("U123", 3, "mini")
    assert parse_quota("user <@!42> off").value is None


@pytest.mark.parametrize(
    "text",
    [
        "frobnicate",
        "set mini",
        "set mini ten",
        "grant -1",
        "user ann",
        "grant 99999999",
        "show extra",
        # Only ASCII digits: "²" passes str.isdigit() and "١٢" passes int().
        "set mini ²",
        "set ² mini",
        "grant ³",
        "grant ³ mini",
        "user U5 ⁵",
        "set mini ١٢",
        # Only real user references get a cap.
        "user <!channel> 3",
        "user @ 3",
        "user @here 3",
        "user <@&123> 3",
        "user <#C123|general> 3",
        f"user {'U' * 5000} 3",
    ],
)
def test_quota_mistakes_give_usage(text: str) -> None:
    with pytest.raises(UsageError):
        parse_quota(text)


@pytest.mark.parametrize(
    ("raw", "bare"),
    [("<@U123>", "U123"), ("<@U123|ann>", "U123"), ("<@!42>", "42"), ("@ann", "ann"), ("U9", "U9")],
)
def test_user_mentions_normalise_to_ids(raw: str, bare: str) -> None:
    assert normalise_user(raw) == bare
