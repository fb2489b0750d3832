"""What intake parsed survives its trip through the job's JSON to the worker."""

from __future__ import annotations

import json

from bot.domain import Effort
from bot.intake import Parsed
from bot.router import Choice, Reason


def test_parsed_keeps_every_field_through_json() -> None:
    cases = [
        Parsed("q", "o1"),
        Parsed("q", "o1", explicit=True),
        Parsed("q", "mini", Effort.LOW, auto=Choice("mini", next(iter(Reason)), by="router")),
        Parsed("q", "mini", None, Effort.HIGH),
    ]
    for parsed in cases:
        assert Parsed.from_json(json.loads(json.dumps(parsed.to_json()))) == parsed


def test_a_model_named_explicitly_is_remembered_only_when_it_was() -> None:
    assert "explicit" not in Parsed("q", "o1").to_json()
    assert Parsed.from_json({"question": "q", "model": "o1"}).explicit is False
