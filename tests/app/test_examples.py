"""The example files people copy (`.env.example`, `reasonbot.example.toml`) document
every setting and field, and copying them changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

from app.doctor_platforms import SLACK_SCOPES
from app.settings import Settings
from bot.config import Catalogue, ModelSpec, WeekPolicy, load_catalogue
from tests.fakes.slack_api import manifest_scopes

ROOT = Path(__file__).resolve().parents[2]
# `NAME=value` or `# NAME=value` (commented: optional, or an alternative).
_ASSIGNMENT = re.compile(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)


def test_env_example_lists_exactly_the_settings() -> None:
    listed = set(_ASSIGNMENT.findall((ROOT / ".env.example").read_text()))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - listed == set(), "document these in .env.example"
    assert listed - settings == set(), "these are not settings (any more)"


def test_toml_example_documents_every_field() -> None:
    text = (ROOT / "reasonbot.example.toml").read_text()
    documented = set(_ASSIGNMENT.findall(text))
    documented |= {"models"} if "[[models]]" in text else set()
    documented |= {"week"} if "[week]" in text else set()
    documented |= {"auto"} if "[auto]" in text else set()
    fields = (
        set(Catalogue.model_fields) | set(ModelSpec.model_fields) | set(WeekPolicy.model_fields)
    )
    assert fields - documented == set(), "document these in reasonbot.example.toml"


def test_toml_example_loads_to_the_built_in_defaults() -> None:
    # Optional fields appear commented out with an example value; everything set is
    # the default, so copying the file never changes what is sent to a provider.
    assert load_catalogue(ROOT / "reasonbot.example.toml") == Catalogue()


def test_doctor_checks_the_scopes_the_slack_manifest_asks_for() -> None:
    assert sorted(manifest_scopes()) == sorted(SLACK_SCOPES)
