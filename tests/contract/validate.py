"""Each recorded request checked against its service's official spec.

- Discord: the path and method name an operation; path and query parameters match
  theirs; the content type is one the operation takes; the JSON body (or a multipart
  body's ``payload_json``) validates against its requestBody schema.
- OpenAI: the path names an operation; the JSON body validates against its request
  schema (CreateChatCompletionRequest, CreateResponse), and names no argument the
  schema lacks (OpenAI refuses those: "Unrecognized request argument supplied").
- Slack: the method exists; the content type is one it ``consumes`` (read methods take
  form or query arguments only: Slack ignores a JSON body); every argument is one of
  its parameters, its boolean/integer/number ones of their type; the required ones are
  there; a JSON body carries no ``token`` (Slack reads it from the Authorization header
  only).
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from tests.contract import specs
from tests.fakes.recorded import Recorded

DISCORD_PREFIX = "/api/v10"
OPENAI_PREFIX = "/v1"
SLACK_PREFIX = "/api/"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Methods the fakes serve that the 2021 Slack spec predates: they cannot be checked
# against it, so they are counted apart, never silently passed.
SLACK_NOT_IN_SPEC = {
    "chat.startStream": "streaming messages (2025)",
    "chat.appendStream": "streaming messages (2025)",
    "chat.stopStream": "streaming messages (2025)",
    "assistant.threads.setStatus": "AI assistant threads (2024)",
    "apps.connections.open": "Socket Mode's connection URL, absent from this spec file",
    "files.getUploadURLExternal": "files upload v2 (2024)",
    "files.completeUploadExternal": "files upload v2 (2024)",
}
# The fake serves files upload v2's upload URL under /api/ too: raw bytes, no method.
SLACK_UPLOAD_URL = "upload-v1-"

# Arguments Slack takes on every method though the 2021 spec lists them on few:
# slack_sdk sends its client's ``team_id`` with every call (bolt sets it per request),
# and Slack accepts it everywhere for org-wide apps (Enterprise Grid).
SLACK_ARGS_ON_EVERY_METHOD = {"team_id"}


@dataclass(frozen=True, slots=True)
class Violation:
    service: str
    endpoint: str  # e.g. "users.info", "POST /channels/{channel_id}/messages"
    problem: str

    def __str__(self) -> str:
        return f"{self.service} {self.endpoint}: {self.problem}"


@dataclass(frozen=True, slots=True)
class Checked:
    """What one request came to: ``in_spec`` False for a method listed as not in its
    spec (nothing to check it against)."""

    request: Recorded
    endpoint: str
    in_spec: bool
    violations: tuple[Violation, ...]


def check(request: Recorded) -> Checked:
    checker = {"discord": _discord, "openai": _openai, "slack": _slack}[request.service]
    try:
        return checker(request)
    except Exception as exc:  # a request too odd to check is reported, never let pass
        endpoint = f"{request.method} {request.path}"
        problem = f"could not be checked ({type(exc).__name__}: {exc})"
        return Checked(request, endpoint, True, (Violation(request.service, endpoint, problem),))


# ---- shared ---------------------------------------------------------------------------


def _json(request: Recorded) -> tuple[Any, str | None]:
    try:
        return json.loads(request.body or b"null"), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"body is not JSON ({exc})"


def _schema_errors(service: str, pointer: str, instance: Any) -> list[str]:
    errors = sorted(
        specs.validator(service, pointer).iter_errors(instance), key=lambda e: list(e.path)
    )
    return [_describe(e) for e in errors]


def _describe(error: ValidationError) -> str:
    # For a failed oneOf/anyOf the deepest, most relevant branch error says more.
    best = best_match([error]) if error.context else error
    where = "/".join(str(p) for p in best.absolute_path) or "(body)"
    if len(best.message) <= 200:
        return f"{where}: {best.message}"
    # The message quotes the instance (a 2,001-character text): name the rule instead.
    got = (
        f"a string of {len(best.instance)} characters"
        if isinstance(best.instance, str)
        else (f"a {type(best.instance).__name__}")
    )
    return f"{where}: {got} fails {best.validator}={best.validator_value!r}"


# ---- Discord --------------------------------------------------------------------------


@functools.cache
def _discord_routes() -> list[tuple[re.Pattern[str], str, int]]:
    """(regex, template, literal segments) for each path; more literals win a tie, so
    ``.../messages/@original`` is not taken for ``.../messages/{message_id}``."""
    routes = []
    for template in specs.document("discord")["paths"]:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        literals = sum(1 for s in template.split("/") if s and not s.startswith("{"))
        routes.append((re.compile(f"^{pattern}$"), template, literals))
    return routes


def _discord(request: Recorded) -> Checked:
    method = request.method.lower()
    path = request.path.removeprefix(DISCORD_PREFIX)
    if not request.path.startswith(DISCORD_PREFIX + "/"):
        v = Violation("discord", f"{request.method} {request.path}", "not under /api/v10")
        return Checked(request, v.endpoint, True, (v,))
    matches = [(m, t, n) for rx, t, n in _discord_routes() if (m := rx.match(path))]
    if not matches:
        endpoint = f"{request.method} {path}"
        return Checked(request, endpoint, True, (Violation("discord", endpoint, "no such path"),))
    match, template, _ = max(matches, key=lambda x: x[2])
    endpoint = f"{request.method} {template}"
    item = specs.document("discord")["paths"][template]
    if method not in item:
        problem = (
            f"method not allowed (the path takes {', '.join(m for m in item if m in HTTP_METHODS)})"
        )
        return Checked(request, endpoint, True, (Violation("discord", endpoint, problem),))
    op = item[method]
    problems = _discord_parameters(item, op, match.groupdict(), request)
    problems += _discord_body(op, request, template, method)
    return Checked(
        request, endpoint, True, tuple(Violation("discord", endpoint, p) for p in problems)
    )


def _discord_parameters(
    item: dict[str, Any], op: dict[str, Any], path_values: dict[str, str], request: Recorded
) -> list[str]:
    params = {
        (p["in"], p["name"]): p for p in [*item.get("parameters", []), *op.get("parameters", [])]
    }
    problems = []
    for name, value in path_values.items():
        schema = params.get(("path", name), {}).get("schema", {})
        for error in specs.validator_for_inline("discord", schema).iter_errors(value):
            problems.append(f"path parameter {name}={value!r}: {error.message}")
    for name, value in request.query:
        param = params.get(("query", name))
        if param is None:
            problems.append(f"unknown query parameter {name!r}")
            continue
        instance = _coerce_query(value, specs.resolve("discord", param.get("schema", {})))
        for error in specs.validator_for_inline("discord", param.get("schema", {})).iter_errors(
            instance
        ):
            problems.append(f"query parameter {name}={value!r}: {error.message}")
    return problems


def _coerce_query(value: str, schema: dict[str, Any]) -> Any:
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    # Discord's reference ("Boolean Query Strings"): True, true or 1; False, false or 0.
    if "boolean" in kinds and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    if "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _discord_body(op: dict[str, Any], request: Recorded, template: str, method: str) -> list[str]:
    body_spec = op.get("requestBody")
    if body_spec is None:
        # An empty object or null carries nothing: only a body with content is refused.
        if request.body.strip() not in (b"", b"null", b"{}"):
            return ["a body was sent, but the operation takes none"]
        return []
    content = body_spec.get("content", {})
    if not request.body:
        return ["the operation requires a body"] if body_spec.get("required") else []
    if request.content_type not in content:
        return [f"content type {request.content_type!r} not accepted (takes {', '.join(content)})"]
    if request.content_type == "multipart/form-data":
        instance, error = _payload_json(request)
    elif request.content_type == "application/x-www-form-urlencoded":
        instance, error = dict(urllib.parse.parse_qsl(request.body.decode(errors="replace"))), None
    else:
        instance, error = _json(request)
    if error:
        return [error]
    media = _escape(request.content_type)
    pointer = f"/paths/{_escape(template)}/{method}/requestBody/content/{media}/schema"
    return _schema_errors("discord", pointer, instance)


def _payload_json(request: Recorded) -> tuple[Any, str | None]:
    """A multipart body's JSON part (``payload_json``); file parts are not JSON."""
    head = f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "payload_json":
            try:
                return json.loads(part.get_content()), None
            except ValueError as exc:
                return None, f"payload_json is not JSON ({exc})"
    return {}, None


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


# ---- OpenAI ---------------------------------------------------------------------------


def _openai(request: Recorded) -> Checked:
    path = request.path.removeprefix(OPENAI_PREFIX)
    endpoint = f"{request.method} {path}"
    item = specs.document("openai")["paths"].get(path)
    method = request.method.lower()
    if item is None or method not in item:
        return Checked(
            request, endpoint, True, (Violation("openai", endpoint, "no such operation"),)
        )
    body_spec = item[method].get("requestBody")
    problems: list[str] = []
    if body_spec is None:
        if request.body:
            problems.append("a body was sent, but the operation takes none")
    elif request.content_type != "application/json":
        problems.append(f"content type {request.content_type!r}, not application/json")
    else:
        body, error = _json(request)
        pointer = f"/paths/{_escape(path)}/{method}/requestBody/content/application~1json/schema"
        if error:
            problems.append(error)
        else:
            problems += _schema_errors("openai", pointer, body)
            if isinstance(body, dict):
                known = specs.declared_properties(
                    "openai", body_spec["content"]["application/json"]["schema"]
                )
                problems += [
                    f"unrecognized request argument {k!r}" for k in sorted(set(body) - known)
                ]
    return Checked(
        request, endpoint, True, tuple(Violation("openai", endpoint, p) for p in problems)
    )


# ---- Slack ----------------------------------------------------------------------------


def _slack(request: Recorded) -> Checked:
    name = request.path.removeprefix(SLACK_PREFIX)
    if name in SLACK_NOT_IN_SPEC:
        return Checked(request, name, False, ())
    if name.startswith(SLACK_UPLOAD_URL):
        return Checked(request, "files upload URL", False, ())
    item = specs.document("slack")["paths"].get("/" + name)
    if item is None:
        return Checked(request, name, True, (Violation("slack", name, "no such method"),))
    # Slack takes any method by GET or POST alike; the spec's verb is not a constraint.
    op = next(iter(v for k, v in item.items() if k in HTTP_METHODS))
    problems = []
    args: dict[str, Any] = dict(request.query)
    consumes = op.get("consumes", ["application/x-www-form-urlencoded"])
    if request.body:
        if request.content_type not in consumes:
            problems.append(
                f"sent as {request.content_type or 'no content type'}, but it takes only "
                f"{' or '.join(consumes)} (Slack ignores the body)"
            )
        if request.content_type == "application/json":
            body, error = _json(request)
            if error or not isinstance(body, dict):
                problems.append(error or "JSON body is not an object")
            else:
                if "token" in body:
                    problems.append("token in a JSON body (Slack reads it from the header only)")
                args.update(body)
        else:
            args.update(
                urllib.parse.parse_qsl(
                    request.body.decode(errors="replace"), keep_blank_values=True
                )
            )
    params = {p["name"]: p for p in op.get("parameters", [])}
    unknown = set(args) - set(params) - SLACK_ARGS_ON_EVERY_METHOD
    problems += [f"unknown argument {k!r}" for k in sorted(unknown)]
    problems += [
        f"argument {k}={v!r} is not of type {params[k]['type']}"
        for k, v in args.items()
        if k in params and not _slack_typed(v, params[k].get("type"))
    ]
    authorization = request.header("Authorization") or ""
    for p in params.values():
        present = p["name"] in args or (
            p["name"] == "token" and authorization.startswith("Bearer ")
        )
        if p.get("required") and not present:
            problems.append(f"required argument {p['name']!r} missing")
    return Checked(request, name, True, tuple(Violation("slack", name, p) for p in problems))


def _slack_typed(value: Any, kind: str | None) -> bool:
    """Form values are text; JSON values may be typed. Strings are not checked: Slack
    takes a JSON array where the spec says "a JSON-based array ... as a string"."""
    if isinstance(value, str):
        text = value.strip().lower()
        if kind == "boolean":
            return text in ("true", "false", "1", "0")
        if kind == "integer":
            return re.fullmatch(r"-?\d+", text) is not None
        if kind == "number":
            return re.fullmatch(r"-?(\d+\.?\d*|\.\d+)", text) is not None
        return True
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def violations(checked: Iterable[Checked]) -> list[Violation]:
    return [v for c in checked for v in c.violations]
