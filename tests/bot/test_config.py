from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Catalogue, load_catalogue, load_settings
from bot.errors import ConfigError


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
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_catalogue(path)
    assert field in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_catalogue(tmp_path / "missing.toml")


def test_bad_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    with pytest.raises(ConfigError, match="port"):
        load_settings()
