"""The `--model auto` rules, the `[auto]` table of the catalogue, and the footer words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import messages
from bot.config import AutoPolicy, Catalogue, ModelSpec
from bot.domain import Usage
from bot.errors import ConfigError
from bot.router import Choice, Reason, Router, Tier, read_label
from tests.builders import catalogue_from_toml

TWO = Catalogue()  # the built-in catalogue: o1 30 a week, mini 50
THREE = Catalogue(
    default_model="auto",
    models=[
        ModelSpec(alias="big", id="o1", weekly_limit=10),
        ModelSpec(alias="mid", id="o3-mini", weekly_limit=40),
        ModelSpec(alias="small", id="o1-mini", weekly_limit=100),
    ],
)


def route(question: str, catalogue: Catalogue = TWO, **kw: int) -> Choice:
    return Router.for_catalogue(catalogue).choose(question, **kw)


@pytest.mark.parametrize(
    ("question", "alias", "reason"),
    [
        ("What is the capital of Australia?", "mini", Reason.SHORT),
        ("What is 2+2?", "mini", Reason.SHORT),
        ("How do I get rust off my bike chain?", "mini", Reason.SHORT),
        ("Why did the TV series Lost end the way it did?", "mini", Reason.SHORT),
        ("Is ^_^ a smiley or a wink?", "mini", Reason.SHORT),
        ("What is the capital of Gitega province?", "mini", Reason.SHORT),
        ("Prove that there are infinitely many primes.", "o1", Reason.MATHS),
        ("Solve 3x + 5 = 20", "o1", Reason.MATHS),
        ("What is \\int_0^1 x^2 \\, dx?", "o1", Reason.MATHS),
        ("Is ∑ 1/n² finite?", "o1", Reason.MATHS),
        ("Why does this fail?\n```python\nprint(x)\n```", "o1", Reason.CODE),
        ('Traceback (most recent call last):\n  File "a.py", line 3', "o1", Reason.CODE),
        ("What does `df.groupby('a').sum()` return?", "o1", Reason.CODE),
        ("def f(x):\n    return x", "o1", Reason.CODE),
        ("Why does my Kubernetes pod restart?", "o1", Reason.CODE),
        ("Which is faster, a pip wheel or an sdist?", "o1", Reason.CODE),
        ("Think hard: is a hot dog a sandwich?", "o1", Reason.THINK_HARD),
        ("Explain step by step why the sky is blue", "o1", Reason.THINK_HARD),
    ],
)
def test_the_rules_pick_by_what_the_question_is(question: str, alias: str, reason: Reason) -> None:
    assert route(question) == Choice(alias, reason)


def test_a_long_question_gets_the_stronger_model_and_a_medium_one_does_not() -> None:
    assert route("word " * 200) == Choice("o1", Reason.LONG_QUESTION)
    assert route("Tell me about the history of tea. " * 10) == Choice("mini", Reason.EVERYDAY)


def test_a_deep_thread_gets_the_stronger_model() -> None:
    assert route("And then?", history_depth=5) == Choice("mini", Reason.SHORT)
    assert route("And then?", history_depth=6) == Choice("o1", Reason.LONG_CONVERSATION)


def test_asking_to_think_hard_outranks_code_and_maths_outranks_code() -> None:
    assert route("Think carefully: what does `a.b()` do?").reason is Reason.THINK_HARD
    assert route("Prove this loop terminates: `while n.next(): ...`").reason is Reason.MATHS


def test_three_candidates_give_code_the_middle_model() -> None:
    # Largest weekly allowance first when [auto] names no candidates.
    assert THREE.auto_candidates == ("small", "mid", "big")
    assert route("Capital of Peru?", THREE).alias == "small"
    assert route("Why does `x.y()` raise?", THREE).alias == "mid"
    assert route("Prove 1 + 1 = 2 rigorously", THREE).alias == "big"


def test_one_candidate_is_always_chosen() -> None:
    only = Catalogue(
        default_model="r1", models=[ModelSpec(alias="r1", id="deepseek-reasoner", weekly_limit=5)]
    )
    assert {route(q, only).alias for q in ("hi", "Prove it", "```x```")} == {"r1"}


def test_classifier_label_replaces_the_content_rules_but_not_the_askers_wish() -> None:
    router = Router.for_catalogue(TWO)
    assert router.choose("Prove it", classified=Reason.EVERYDAY).alias == "mini"
    assert router.choose("hi", classified=Reason.MATHS) == Choice("o1", Reason.MATHS)
    assert router.choose("think hard: hi", classified=Reason.EVERYDAY).reason is Reason.THINK_HARD
    assert router.choose("hi", history_depth=9, classified=Reason.EVERYDAY).alias == "o1"


def test_every_reason_has_a_tier_and_words() -> None:
    assert {Choice("x", r).tier for r in Reason} == set(Tier)
    assert set(messages.AUTO_REASONS) == set(Reason)


@pytest.mark.parametrize(
    ("reply", "label"),
    [("maths", Reason.MATHS), ("Code.", Reason.CODE), (" light\n", Reason.EVERYDAY)],
)
def test_classifier_replies_are_read_leniently(reply: str, label: Reason) -> None:
    assert read_label(reply) is label


@pytest.mark.parametrize("reply", ["", "I think this is about maths", "poetry"])
def test_classifier_replies_that_are_not_a_label_are_none(reply: str) -> None:
    assert read_label(reply) is None


# ---- [auto] in the catalogue ------------------------------------------------------


def test_auto_works_with_no_auto_table_and_lists_cheapest_first() -> None:
    assert TWO.auto_candidates == ("mini", "o1")
    assert "auto" in TWO.choices
    assert Catalogue(default_model="auto").default_model == "auto"


def test_a_model_nobody_can_ask_is_not_a_default_candidate() -> None:
    c = Catalogue(
        models=[
            ModelSpec(alias="o1", id="o1", weekly_limit=30),
            ModelSpec(alias="clf", id="gpt-4o-mini", weekly_limit=0),
        ],
        auto=AutoPolicy(router_model="clf"),
    )
    assert c.auto_candidates == ("o1",)


def test_auto_table_is_read_from_toml(tmp_path: Path) -> None:
    c = catalogue_from_toml(
        tmp_path,
        'default_model = "auto"\n'
        '[[models]]\nalias = "o1"\nid = "o1"\nweekly_limit = 30\n'
        '[[models]]\nalias = "mini"\nid = "o1-mini"\nweekly_limit = 50\n'
        "[auto]\n"
        'candidates = ["mini", "o1"]\n'
        "long_question_chars = 100\n"
        'code_keywords = ["cobol"]\n'
        'think_hard_phrases = ["ponder"]\n'
        'router_model = "mini"\n',
    )
    assert c.auto.router_model == "mini"
    router = Router.for_catalogue(c)
    assert router.choose("Why is my COBOL job slow?") == Choice("o1", Reason.CODE)
    assert router.choose("Please ponder: why?").reason is Reason.THINK_HARD
    assert router.choose("think hard: why?").alias == "mini"  # the list was replaced
    assert router.choose("x" * 100).reason is Reason.LONG_QUESTION


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ('[[models]]\nalias = "auto"\nid = "o1"\nweekly_limit = 1', "reserved"),
        ('[auto]\ncandidates = ["mini", "gpt-9"]', "gpt-9"),
        ('[auto]\ncandidates = ["mini", "mini"]', "more than once"),
        ("[auto]\ncandidates = []", "candidates"),
        ('[auto]\nrouter_model = "tiny"', "tiny"),
        ("[auto]\nthreshold = 3", "threshold"),
        ("[auto]\nlong_conversation_turns = 0", "long_conversation_turns"),
        ('default_model = "automatic"', "default_model"),
    ],
)
def test_invalid_auto_config_names_what_is_wrong(tmp_path: Path, toml: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        catalogue_from_toml(tmp_path, toml)


# ---- the footer -------------------------------------------------------------------


def test_footer_says_auto_chose_which_model_and_why() -> None:
    footer = messages.footer(
        model="mini",
        elapsed_s=3,
        usage=Usage(),
        remaining=4,
        truncated=False,
        auto=messages.auto_choice(Reason.SHORT),
    )
    assert footer == "auto → mini: short factual question · 3 s · 4 left this week"
    judged = messages.auto_choice(Reason.MATHS, by="clf")
    assert judged == "maths, judged by clf"
