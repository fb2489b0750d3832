"""What Discord refuses in a request body, for the fake Discord: the documented limits
of every route that takes content (channel messages, interaction callbacks, webhook
follow-ups and ``@original`` edits, threads), encoded here so the fake works without
the OpenAPI spec. Each check returns Discord's nested ``errors`` object (empty: the
body is valid), which the fake sends as ``400 {"code": 50035, "message": "Invalid Form
Body", "errors": ...}``.

The error codes and sentences are Discord's (``BASE_TYPE_MAX_LENGTH``,
``BASE_TYPE_BAD_LENGTH``, ``BASE_TYPE_CHOICES``, ``MAX_EMBED_SIZE_EXCEEDED``, …); the one
for a refused message flag is the fake's own name for it.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from typing import Any

# A bot's message (the spec's 4,000 is for Nitro users' messages).
CONTENT_MAX = 2_000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4_096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1_024
EMBED_FOOTER_MAX = 2_048
EMBED_AUTHOR_NAME_MAX = 256
EMBED_TOTAL_MAX = 6_000  # title + description + fields + footer + author, all embeds
THREAD_NAME_MIN, THREAD_NAME_MAX = 1, 100
RATE_LIMIT_PER_USER_MAX = 21_600
AUTO_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
THREAD_TYPES = (10, 11, 12)  # announcement, public, private thread
CALLBACK_TYPES = (1, 4, 5, 6, 7, 8, 9, 12, 13)
MESSAGE_CALLBACK_TYPES = (4, 5, 7)  # the ones whose ``data`` is a message
ALLOWED_MENTION_TYPES = ("users", "roles", "everyone")

SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_VOICE_MESSAGE = 1 << 13
IS_COMPONENTS_V2 = 1 << 15
# The flags each route lets a bot set (Discord's documentation of each route).
CREATE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_VOICE_MESSAGE | IS_COMPONENTS_V2
EDIT_FLAGS = SUPPRESS_EMBEDS | IS_COMPONENTS_V2
INTERACTION_FLAGS = EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

Errors = dict[str, Any]


def _error(code: str, message: str) -> Errors:
    return {"_errors": [{"code": code, "message": message}]}


def _too_long(limit: int) -> Errors:
    return _error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _choices(values: tuple[Any, ...]) -> Errors:
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    return _error("BASE_TYPE_CHOICES", f"Value must be one of {{{shown}}}.")


def _string(value: Any, limit: int) -> Errors | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return _error("BASE_TYPE_STRING", "Must be a string.")
    return _too_long(limit) if len(value) > limit else None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def embed_errors(embed: Any) -> tuple[Errors, int]:
    """One embed's errors, and how many of the 6,000 characters it uses."""
    if not isinstance(embed, dict):
        return _error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"), 0
    errors: Errors = {}
    size = 0
    for name, limit in (("title", EMBED_TITLE_MAX), ("description", EMBED_DESCRIPTION_MAX)):
        if (err := _string(embed.get(name), limit)) is not None:
            errors[name] = err
        size += len(embed.get(name) or "") if isinstance(embed.get(name), str) else 0
    for part, key, limit in (
        ("footer", "text", EMBED_FOOTER_MAX),
        ("author", "name", EMBED_AUTHOR_NAME_MAX),
    ):
        inner = embed.get(part)
        if isinstance(inner, dict):
            if (err := _string(inner.get(key), limit)) is not None:
                errors[part] = {key: err}
            size += len(inner.get(key) or "") if isinstance(inner.get(key), str) else 0
    fields = embed.get("fields")
    if isinstance(fields, list):
        if len(fields) > EMBED_FIELDS_MAX:
            errors["fields"] = _too_long(EMBED_FIELDS_MAX)
        for i, f in enumerate(fields):
            field_errors: Errors = {}
            for key, limit in (("name", EMBED_FIELD_NAME_MAX), ("value", EMBED_FIELD_VALUE_MAX)):
                value = f.get(key) if isinstance(f, dict) else None
                if value is None:
                    field_errors[key] = _error("BASE_TYPE_REQUIRED", "This field is required")
                elif (err := _string(value, limit)) is not None:
                    field_errors[key] = err
                else:
                    size += len(value)
            if field_errors:
                errors.setdefault("fields", {})[str(i)] = field_errors
    return errors, size


def allowed_mentions_errors(value: Any) -> Errors:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return _error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    errors: Errors = {}
    parse = value.get("parse")
    if parse is not None:
        if not isinstance(parse, list):
            return {"parse": _error("BASE_TYPE_LIST", "Must be a list.")}
        bad = {
            str(i): _choices(ALLOWED_MENTION_TYPES)
            for i, p in enumerate(parse)
            if p not in ALLOWED_MENTION_TYPES
        }
        if bad:
            errors["parse"] = bad
        for kind in ("users", "roles"):
            if kind in parse and value.get(kind):
                errors.setdefault("_errors", []).append(
                    {
                        "code": "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                        "message": f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                    }
                )
    return errors


def message_errors(body: Any, *, flags_allowed: int) -> Errors:
    """A message body (channel message, webhook execute or edit, interaction
    response data): content, embeds, allowed mentions and the route's flags."""
    if not isinstance(body, dict):
        return _error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    errors: Errors = {}
    if (err := _string(body.get("content"), CONTENT_MAX)) is not None:
        errors["content"] = err
    embeds = body.get("embeds")
    if isinstance(embeds, list):
        total = 0
        embed_errs: Errors = {}
        if len(embeds) > EMBEDS_MAX:
            embed_errs.update(_too_long(EMBEDS_MAX))
        for i, embed in enumerate(embeds):
            err, size = embed_errors(embed)
            total += size
            if err:
                embed_errs[str(i)] = err
        if total > EMBED_TOTAL_MAX:
            embed_errs.setdefault("_errors", []).append(
                {
                    "code": "MAX_EMBED_SIZE_EXCEEDED",
                    "message": f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
                }
            )
        if embed_errs:
            errors["embeds"] = embed_errs
    if err := allowed_mentions_errors(body.get("allowed_mentions")):
        errors["allowed_mentions"] = err
    flags = body.get("flags")
    if flags is not None and (not _int(flags) or flags & ~flags_allowed):
        errors["flags"] = _error("MESSAGE_FLAGS_INVALID", "Invalid message flags for this route.")
    return errors


def callback_errors(body: Any) -> Errors:
    """``POST /interactions/{id}/{token}/callback``: a known ``type``; for a message
    response, its ``data`` as a message (ephemeral allowed)."""
    if not isinstance(body, dict):
        return _error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    kind = body.get("type")
    if kind is None:
        return {"type": _error("BASE_TYPE_REQUIRED", "This field is required")}
    if kind not in CALLBACK_TYPES or not _int(kind):
        return {"type": _choices(CALLBACK_TYPES)}
    data = body.get("data")
    if kind in MESSAGE_CALLBACK_TYPES and data is not None:
        if err := message_errors(data, flags_allowed=INTERACTION_FLAGS):
            return {"data": err}
    return {}


def thread_name_errors(name: Any) -> Errors | None:
    """A thread's name: 1-100 characters."""
    if name is None:
        return None
    if not isinstance(name, str) or not THREAD_NAME_MIN <= len(name) <= THREAD_NAME_MAX:
        return _error(
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between {THREAD_NAME_MIN} and {THREAD_NAME_MAX} in length.",
        )
    return None


def thread_errors(body: Any, *, from_message: bool) -> Errors:
    """``POST /channels/{id}/messages/{id}/threads`` (``from_message``) or
    ``POST /channels/{id}/threads``: name, archive duration, slow mode, thread type."""
    if not isinstance(body, dict):
        return _error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    errors: Errors = {}
    name = body.get("name")
    if name is None:
        errors["name"] = _error("BASE_TYPE_REQUIRED", "This field is required")
    elif (err := thread_name_errors(name)) is not None:
        errors["name"] = err
    duration = body.get("auto_archive_duration")
    if duration is not None and duration not in AUTO_ARCHIVE_DURATIONS:
        errors["auto_archive_duration"] = _choices(AUTO_ARCHIVE_DURATIONS)
    slow = body.get("rate_limit_per_user")
    if slow is not None and not (_int(slow) and 0 <= slow <= RATE_LIMIT_PER_USER_MAX):
        errors["rate_limit_per_user"] = _error(
            "NUMBER_TYPE_MAX", f"Int value should be between 0 and {RATE_LIMIT_PER_USER_MAX}."
        )
    kind = body.get("type")
    if not from_message and kind is not None and kind not in THREAD_TYPES:
        errors["type"] = _choices(THREAD_TYPES)
    return errors


def invalid_form_body(errors: Errors) -> dict[str, Any]:
    """Discord's 400 body for a refused request."""
    return {"code": 50035, "message": "Invalid Form Body", "errors": errors}


FILE_FIELD = re.compile(r"files\[(\d+)\]")
ATTACHMENT_MAX_BYTES = 8 * 1024 * 1024  # attachment_size_limit for a server without boosts


def multipart_errors_and_body(
    raw: bytes, content_type: str
) -> tuple[Errors, dict[str, Any], dict[str, bytes]]:
    """A multipart/form-data message as Discord reads it: the JSON in ``payload_json``,
    and ``files[n]`` parts, each with a filename, that the payload's ``attachments``
    name by ``id`` n. Returns errors, the payload, and the files by attachment id."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        return _error("CONTENT_TYPE_INVALID", "Invalid multipart body"), {}, {}
    payload: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        if name == "payload_json":
            try:
                payload = json.loads(part.get_content())
            except ValueError:
                return _error("PAYLOAD_JSON_INVALID", "payload_json is not JSON"), {}, {}
            continue
        if m := FILE_FIELD.fullmatch(str(name)):
            filename = part.get_filename()
            if not filename:
                return {str(name): _error("BASE_TYPE_REQUIRED", "This field is required")}, {}, {}
            data = part.get_payload(decode=True) or b""
            if len(data) > ATTACHMENT_MAX_BYTES:
                return _error("FILE_TOO_LARGE", "Request entity too large"), {}, {}
            files[m.group(1)] = data
            names[m.group(1)] = filename
    if not isinstance(payload, dict):
        return _error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"), {}, {}
    attachments = payload.get("attachments")
    errors: Errors = {}
    if attachments is not None:
        if not isinstance(attachments, list):
            return {"attachments": _error("LIST_TYPE_CONVERT", "Must be a list")}, {}, {}
        for i, a in enumerate(attachments):
            aid = str((a or {}).get("id", ""))
            if aid not in files:
                errors.setdefault("attachments", {})[str(i)] = {
                    "id": _error("ATTACHMENT_NOT_FOUND", "Unknown attachment")
                }
            elif not a.get("filename"):
                a["filename"] = names[aid]
    return errors, payload, files
