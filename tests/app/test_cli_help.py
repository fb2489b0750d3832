"""`reasonbot --help` and every subcommand's help say what it does, with examples."""

from __future__ import annotations

import pytest

from app.cli import _parser, main

SUBCOMMANDS = ("chat", "run", "worker", "db", "quota", "discord", "doctor")


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_describes_the_bot_and_lists_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys)
    assert "reasoning models" in text and "examples:" in text
    assert "composition" not in text and "wired" not in text  # not a code comment
    for name in SUBCOMMANDS:
        assert f"    {name} " in text


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_a_description_and_examples(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    text = help_of(capsys, name)
    assert "example" in text and f"reasonbot {name}" in text.split("example", 1)[1]


def test_the_parser_knows_exactly_these_subcommands() -> None:
    actions = [a for a in _parser()._actions if a.dest == "command"]
    assert set(actions[0].choices) == set(SUBCOMMANDS)  # type: ignore[arg-type]
