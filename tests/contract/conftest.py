from __future__ import annotations

import os

import pytest

from tests.contract import specs


@pytest.fixture
def official_specs() -> None:
    """The specs must be there: skipped with the reason outside CI, mandatory in CI."""
    reason = specs.missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the official specs are missing: {reason}")
    pytest.skip(f"spec contract skipped: {reason}")
