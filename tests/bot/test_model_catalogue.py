"""What the catalogue says each model takes: efforts and the instructions role."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ALL_EFFORTS, Catalogue, ModelSpec, load_catalogue
from bot.domain import Effort
from bot.errors import ConfigError
from tests.builders import catalogue_from_toml
from tests.fakes.openai_server import refusal


def test_default_catalogue_sends_each_model_only_what_it_takes() -> None:
    models = {m.alias: m for m in Catalogue().models}
    assert models["o1"].efforts == ALL_EFFORTS and models["o1"].instructions_role == "developer"
    assert models["mini"].efforts == () and models["mini"].instructions_role == "user"


@pytest.mark.parametrize("model_id", ["o1-mini", "o1-mini-2024-09-12", "o1-preview"])
def test_first_o1_models_are_known_to_take_no_effort_and_no_roles(model_id: str) -> None:
    spec = ModelSpec(alias="m", id=model_id, weekly_limit=1)
    assert spec.efforts == () and spec.instructions_role == "user"


@pytest.mark.parametrize("model_id", ["o1", "o3-mini", "o1-minimal", "deepseek-r1"])
def test_other_models_take_every_effort_unless_told(model_id: str) -> None:
    spec = ModelSpec(alias="m", id=model_id, weekly_limit=1)
    assert spec.efforts == ALL_EFFORTS and spec.instructions_role == "developer"
    told = ModelSpec(alias="m", id=model_id, weekly_limit=1, efforts=[Effort.LOW])
    assert told.efforts == (Effort.LOW,)


def test_what_the_catalogue_says_can_still_be_overridden() -> None:
    spec = ModelSpec(
        alias="m", id="o1-mini", weekly_limit=1, efforts=["low"], instructions_role="system"
    )
    assert spec.efforts == (Effort.LOW,) and spec.instructions_role == "system"


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        pytest.param(
            'default_model = "mini"\n[[models]]\nalias = "mini"\nid = "o1-mini"\n'
            'weekly_limit = 5\nreasoning_effort = "high"\n',
            "reasoning_effort 'high'",
            id="a-default-effort-the-model-does-not-take",
        ),
        pytest.param(
            'default_model = "r1"\n[[models]]\nalias = "r1"\nid = "deepseek-r1"\n'
            'weekly_limit = 1\nreasoning_summary = "auto"\n',
            "reasoning_summary",
            id="a-summary-on-chat",
        ),
    ],
)
def test_a_setting_the_model_does_not_take_is_a_config_error(
    tmp_path: Path, toml: str, error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        catalogue_from_toml(tmp_path, toml)


def test_example_catalogue_sends_nothing_its_provider_refuses() -> None:
    path = Path(__file__).resolve().parents[2] / "reasonbot.example.toml"
    for spec in load_catalogue(path).models:
        body: dict[str, object] = {"model": spec.id, "messages": [{"role": "user"}]}
        if spec.efforts:
            body["reasoning_effort"] = spec.efforts[-1].value
        if spec.instructions_role != "user":
            body["messages"] = [{"role": spec.instructions_role}, {"role": "user"}]
        assert refusal(body) is None, spec.alias
