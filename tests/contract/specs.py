"""The official API specs (``../shared/specs`` beside the repository, or the folder
named by REASONBOT_SPECS_DIR), loaded once per session and made into JSON Schema
validators, one per schema, cached.

Quirks handled here, on purpose and nowhere else:
- OpenAI's document says OpenAPI 3.1 but still marks nulls the 3.0 way
  (``nullable: true``); JSON Schema 2020-12 ignores that keyword, so it is rewritten
  into ``type: [..., "null"]`` (or ``anyOf [..., {type: null}]``) before validating.
- ``discriminator`` (OpenAI) and ``x-discord-union`` (Discord: an ``anyOf`` its authors
  mean as ``oneOf``) are annotations: the ``oneOf``/``anyOf`` branches are validated as
  written, each branch carrying its own ``type``/``role`` enum, so no branch is skipped.
- Other ``x-`` extensions are documentation and are ignored by the validator.
- Discord's MessageCreateRequest and MessageEditRequestPartial allow 4,000 characters
  of ``content`` (what a Nitro user may send); for a bot, Discord's documentation and
  its API say 2,000 (50035 BASE_TYPE_MAX_LENGTH), so those two are tightened to 2,000.
- Discord's SnowflakeType is a string; Discord also takes an integer snowflake in a
  request body, and discord.py sends ``message_reference`` ids as integers, so an
  integer is accepted too (a string must still be digits).
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR_ENV = "REASONBOT_SPECS_DIR"
FILES = {
    "discord": "discord_openapi.json",
    "openai": "openai_openapi.json",
    "slack": "slack_web_openapi_v2.json",
}
DISCORD_BOT_CONTENT_MAX = 2_000  # Discord: a bot's message content, in characters


def specs_dir() -> Path:
    override = os.environ.get(SPECS_DIR_ENV)
    return Path(override) if override else ROOT.parent / "shared" / "specs"


def missing() -> str | None:
    """Why the specs cannot be used (one line), or None when all three are there."""
    where = specs_dir()
    absent = [name for name in FILES.values() if not (where / name).is_file()]
    if not absent:
        return None
    return (
        f"{', '.join(absent)} not found in {where} "
        f"(a fresh clone outside CI; set {SPECS_DIR_ENV} to the specs folder)"
    )


@functools.cache
def document(service: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((specs_dir() / FILES[service]).read_text())
    if service == "openai":
        doc = _nullable_to_2020_12(doc)
    if service == "discord":
        doc = copy.deepcopy(doc)
        schemas = doc["components"]["schemas"]
        for name in ("MessageCreateRequest", "MessageEditRequestPartial"):
            schemas[name]["properties"]["content"]["maxLength"] = DISCORD_BOT_CONTENT_MAX
        snowflake = schemas["SnowflakeType"]
        snowflake["type"] = [snowflake["type"], "integer"]  # the pattern binds strings only
        snowflake["minimum"] = 0
    return doc


def _nullable_to_2020_12(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_2020_12(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_to_2020_12(value) for key, value in node.items()}
    if out.pop("nullable", False) is not True:
        return out
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(kind, list):
        out["type"] = [*kind, "null"] if "null" not in kind else kind
        return out
    return {"anyOf": [out, {"type": "null"}]}


@functools.cache
def _registry(service: str) -> Registry[Any]:
    resource: Resource[Any] = Resource(contents=document(service), specification=DRAFT202012)
    return Registry().with_resource(f"urn:{service}", resource)


@functools.cache
def validator(service: str, pointer: str) -> Validator:
    """A validator for the schema at ``pointer`` (a JSON pointer such as
    ``/components/schemas/CreateChatCompletionRequest``) in ``service``'s document."""
    return Draft202012Validator({"$ref": f"urn:{service}#{pointer}"}, registry=_registry(service))


def validator_for_inline(service: str, schema: dict[str, Any]) -> Validator:
    """A validator for a schema written inline (a parameter's), its refs into the
    document."""
    return _inline(service, json.dumps(schema, sort_keys=True))


@functools.cache
def _inline(service: str, schema: str) -> Validator:
    rooted = schema.replace('"$ref": "#/', f'"$ref": "urn:{service}#/')
    return Draft202012Validator(json.loads(rooted), registry=_registry(service))


def resolve(service: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a top-level ``$ref`` followed (refs are document-local)."""
    while "$ref" in schema:
        ref = schema["$ref"]
        schema = _registry(service).resolver(f"urn:{service}").lookup(ref).contents
    return schema


def declared_properties(service: str, schema: dict[str, Any]) -> set[str]:
    """Every property name ``schema`` declares, through ``$ref``/``allOf``/``anyOf``/
    ``oneOf``: a request argument outside them is one the API does not know."""
    schema = resolve(service, schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            names |= declared_properties(service, branch)
    return names
