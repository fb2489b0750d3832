"""The architecture, checked: the core imports no adapter, storage or platform SDK."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "bot"
FORBIDDEN = (
    "adapters",
    "storage",
    "app",
    "slack_bolt",
    "slack_sdk",
    "discord",
    "sqlalchemy",
    "alembic",
    "aiohttp",
    "asyncpg",
    "aiosqlite",
    # Process settings (environment, .env) are the composition root's: app.settings.
    "pydantic_settings",
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_from_the_edges(path: Path) -> None:
    bad = [n for n in _imports(path) if n.split(".")[0] in FORBIDDEN]
    assert bad == [], f"{path.name} imports {bad}"


def test_boundary_check_sees_the_core() -> None:
    assert len(list(CORE.rglob("*.py"))) >= 8
