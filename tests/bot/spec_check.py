"""The official OpenAI OpenAPI spec, read from ``../shared/specs`` to check what our
client sends and what our fake answers (skipped with a reason when absent)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
# Beside the clone (../shared/specs), or beside the worktrees' directory (/work/wt/x).
CANDIDATES = [ROOT / ".." / "shared" / "specs", ROOT / ".." / ".." / "shared" / "specs"]
SPEC = next(
    (c / "openai_openapi.json" for c in CANDIDATES if (c / "openai_openapi.json").exists()),
    CANDIDATES[0] / "openai_openapi.json",
)


@cache
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"the OpenAI spec is not at {SPEC} (a clone without ../shared/specs)")
    return json.loads(SPEC.read_text(encoding="utf-8"))


def schemas() -> dict[str, Any]:
    return spec()["components"]["schemas"]


def errors(name: str, value: Any) -> list[str]:
    """Every way ``value`` breaks the named schema (empty: it conforms)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec()["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)
    ]


def declared(name: str) -> set[str]:
    """The properties a schema declares, through its ``allOf`` parts: the spec's objects
    do not forbid unknown keys, but OpenAI answers 400 to them."""
    out: set[str] = set()

    def walk(schema: dict[str, Any]) -> None:
        if "$ref" in schema:
            walk(schemas()[schema["$ref"].rsplit("/", 1)[1]])
        out.update(schema.get("properties", {}))
        for part in schema.get("allOf", ()):
            walk(part)

    walk(schemas()[name])
    return out


def event_schemas() -> dict[str, str]:
    """Each stream event ``type`` -> the name of its schema."""
    out: dict[str, str] = {}
    for ref in schemas()["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        kind = schemas()[name].get("properties", {}).get("type", {}).get("enum", [None])[0]
        if kind:
            out[kind] = name
    return out
