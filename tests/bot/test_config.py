from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.settings import load_settings
from bot.config import Catalogue, load_catalogue
from bot.errors import ConfigError
from tests.builders import catalogue_from_toml


def test_defaults_mirror_the_o1_launch() -> None:
    c = Catalogue()
    assert c.default_model == "o1"
    assert [(m.alias, m.weekly_limit) for m in c.models] == [("o1", 30), ("mini", 50)]


def test_example_config_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "reasonbot.example.toml"
    c = load_catalogue(path)
    assert c.get("o1") is not None


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('default_model = "nope"', "default_model"),
        ('[[models]]\nalias = "x"\nid = "x"\nweekly_limit = -1', "weekly_limit"),
        ('[week]\nstarts_on = "funday"', "starts_on"),
        ('[week]\ntimezone = "Mars/Base"', "timezone"),
        ("colour = 1", "colour"),
        ("models = [", "TOML"),
    ],
)
def test_invalid_config_names_the_field(tmp_path: Path, toml: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        catalogue_from_toml(tmp_path, toml)
    assert field in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_catalogue(tmp_path / "missing.toml")


def test_bad_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    with pytest.raises(ConfigError, match="port"):
        load_settings()


def set_shards(monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str | None) -> None:
    """The shard variables as an operator sets them (``None``: left unset)."""
    for name, value in (("DISCORD_SHARD_COUNT", count), ("DISCORD_SHARD_IDS", ids)):
        if value is not None:
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        (None, None, (None, None)),
        ("2", None, (2, None)),  # this process runs all of them
        ("2", "0,1", (2, [0, 1])),
        ("3", " 2 ", (3, [2])),
        ("", "", (None, None)),  # as .env.example lists them
    ],
)
def test_discord_shards_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str | None, expected: object
) -> None:
    set_shards(monkeypatch, count, ids)
    settings = load_settings(_env_file=None)
    assert (settings.discord_shard_count, settings.discord_shard_ids) == expected


BAD_SHARDS = [
    (None, "0", "needs DISCORD_SHARD_COUNT"),
    ("2", "a", "valid integer"),
    ("2", "2", "shard 2 does not exist"),
    ("2", "-1", "shard -1 does not exist"),
    ("2", "0,0", "shard 0 more than once"),
    ("0", None, "greater than or equal to 1"),
]


@pytest.mark.parametrize(("count", "ids", "problem"), BAD_SHARDS)
def test_impossible_discord_shards_are_a_config_error(
    monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str | None, problem: str
) -> None:
    set_shards(monkeypatch, count, ids)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    field = "discord_shard_ids" if ids is not None else "discord_shard_count"
    assert field in str(info.value) and problem in str(info.value)


def test_impossible_discord_shards_stop_the_cli_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DISCORD_TOKEN", "x.y.z")
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "2")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "2")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line, no traceback
    assert "configuration error" in err and "discord_shard_ids" in err
