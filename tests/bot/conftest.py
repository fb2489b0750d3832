"""The fake model and the real model client that the model client's tests talk to.

By default the fake asks for no API key and the client never retries. A module that
needs a key or retries says so once, with
``pytestmark = pytest.mark.openai(api_key="sk-right", max_retries=3)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.model_client import OpenAIClient
from tests.builders import Sleeps
from tests.fakes.openai_server import FakeOpenAI


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "openai(api_key=None, max_retries=0): how `fake` and `client` are set up"
    )


def setup(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("openai")
    return {"api_key": None, "max_retries": 0} | (marker.kwargs if marker else {})


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key=setup(request)["api_key"]) as server:
        yield server


@pytest.fixture
async def client(request: pytest.FixtureRequest, fake: FakeOpenAI) -> AsyncIterator[OpenAIClient]:
    c = OpenAIClient(base_url=fake.base_url, sleep=Sleeps(), **setup(request))
    yield c
    await c.aclose()
