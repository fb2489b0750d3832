"""What the fake Slack knows of each Web API method, from Slack's documentation: whether
it reads a JSON body, the arguments it takes and their kinds, and the errors Slack gives
for a request it will not read."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ArgKind = Literal["str", "ts", "int", "bool", "list"]
_STR: ArgKind = "str"
_TS: ArgKind = "ts"
_INT: ArgKind = "int"
_BOOL: ArgKind = "bool"
_LIST: ArgKind = "list"


@dataclass(frozen=True)
class Method:
    """What Slack's documentation says a method takes: whether a JSON body is read
    (``application/json`` among its content types) and its arguments' names and kinds
    (``token`` is accepted everywhere)."""

    json: bool
    args: Mapping[str, ArgKind]


_MESSAGE_ARGS: dict[str, ArgKind] = {
    "channel": _STR,
    "text": _STR,
    "blocks": _LIST,
    "attachments": _LIST,
    "markdown_text": _STR,
    "as_user": _BOOL,
    "link_names": _BOOL,
    "parse": _STR,
    "metadata": _STR,
}
_HISTORY_ARGS: dict[str, ArgKind] = {
    "channel": _STR,
    "cursor": _STR,
    "inclusive": _BOOL,
    "include_all_metadata": _BOOL,
    "latest": _TS,
    "limit": _INT,
    "oldest": _TS,
}
# One entry per method the fakes serve; a method missing here is read leniently.
METHODS: dict[str, Method] = {
    "auth.test": Method(json=True, args={}),
    "apps.connections.open": Method(json=False, args={}),
    "oauth.v2.access": Method(
        json=False,
        args={
            "client_id": _STR,
            "client_secret": _STR,
            "code": _STR,
            "redirect_uri": _STR,
            "grant_type": _STR,
            "refresh_token": _STR,
        },
    ),
    "users.info": Method(json=False, args={"user": _STR, "include_locale": _BOOL}),
    "conversations.info": Method(
        json=False,
        args={"channel": _STR, "include_locale": _BOOL, "include_num_members": _BOOL},
    ),
    "conversations.replies": Method(json=False, args={**_HISTORY_ARGS, "ts": _TS}),
    "conversations.history": Method(json=False, args=_HISTORY_ARGS),
    "conversations.join": Method(json=True, args={"channel": _STR}),
    "chat.postMessage": Method(
        json=True,
        args={
            **_MESSAGE_ARGS,
            "thread_ts": _TS,
            "reply_broadcast": _BOOL,
            "unfurl_links": _BOOL,
            "unfurl_media": _BOOL,
            "mrkdwn": _BOOL,
            "username": _STR,
            "icon_emoji": _STR,
            "icon_url": _STR,
        },
    ),
    "chat.update": Method(
        json=True, args={**_MESSAGE_ARGS, "ts": _TS, "reply_broadcast": _BOOL, "file_ids": _LIST}
    ),
    "chat.postEphemeral": Method(
        json=True,
        args={
            **_MESSAGE_ARGS,
            "user": _STR,
            "thread_ts": _TS,
            "username": _STR,
            "icon_emoji": _STR,
            "icon_url": _STR,
        },
    ),
    "chat.delete": Method(json=True, args={"channel": _STR, "ts": _TS, "as_user": _BOOL}),
    "chat.startStream": Method(
        json=True,
        args={
            "channel": _STR,
            "thread_ts": _TS,
            "markdown_text": _STR,
            "recipient_team_id": _STR,
            "recipient_user_id": _STR,
            "chunks": _LIST,
            "task_display_mode": _STR,
        },
    ),
    "chat.appendStream": Method(
        json=True, args={"channel": _STR, "ts": _TS, "markdown_text": _STR, "chunks": _LIST}
    ),
    "chat.stopStream": Method(
        json=True,
        args={
            "channel": _STR,
            "ts": _TS,
            "markdown_text": _STR,
            "blocks": _LIST,
            "metadata": _STR,
            "chunks": _LIST,
        },
    ),
    "files.getUploadURLExternal": Method(
        json=False,
        args={"filename": _STR, "length": _INT, "alt_txt": _STR, "snippet_type": _STR},
    ),
    "files.completeUploadExternal": Method(
        json=False,
        args={
            "files": _LIST,
            "channel_id": _STR,
            "channels": _STR,
            "initial_comment": _STR,
            "thread_ts": _TS,
            "blocks": _LIST,
        },
    ),
    "conversations.open": Method(
        json=True, args={"users": _STR, "channel": _STR, "return_im": _BOOL}
    ),
    "views.publish": Method(json=True, args={"user_id": _STR, "view": _STR, "hash": _STR}),
    "views.open": Method(json=True, args={"trigger_id": _STR, "view": _STR}),
    "assistant.threads.setStatus": Method(
        json=True,
        args={"channel_id": _STR, "thread_ts": _TS, "status": _STR, "loading_messages": _LIST},
    ),
}
# Slack: "an argument whose name falls outside the bounds of accepted or expected
# values. This includes very long names and names with non-alphanumeric characters
# other than _."
ARG_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_INTEGER = re.compile(r"-?[0-9]+")
_TIMESTAMP = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Taken by every method: the token, and the workspace an org-wide token acts in (which
# slack_sdk adds to every call made for an org install).
EVERY_METHOD = frozenset({"token", "team_id"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Refused(Exception):
    """Slack's answer to a request it will not read: ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.body: dict[str, Any] = {"ok": False, "error": error}
        if messages:
            self.body["response_metadata"] = {"messages": list(messages)}


def check_value(name: str, kind: ArgKind, value: Any) -> None:
    """A value of the wrong kind: Slack's ``invalid_arguments``, naming the field."""
    where = f"[json-pointer:/{name}]"
    if kind == "list":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise Refused(
                    "invalid_arguments", f"[ERROR] must be a JSON array {where}"
                ) from None
        if not isinstance(value, list):
            raise Refused("invalid_arguments", f"[ERROR] must be an array {where}")
        return
    if isinstance(value, (dict, list)):
        raise Refused("invalid_arguments", f"[ERROR] must be a {kind} {where}")
    text = str(value).lower() if not isinstance(value, bool) else ""
    if kind == "int" and not isinstance(value, int) and not _INTEGER.fullmatch(text):
        raise Refused("invalid_arguments", f"[ERROR] must be an integer {where}")
    if kind == "bool" and not isinstance(value, bool) and text not in ("true", "false", "1", "0"):
        raise Refused("invalid_arguments", f"[ERROR] must be a boolean {where}")
    if kind == "ts" and not _TIMESTAMP.fullmatch(text):
        raise Refused("invalid_arguments", f"[ERROR] must be a timestamp {where}")
