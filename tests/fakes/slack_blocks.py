"""Block Kit as Slack checks a view (``views.publish``, ``views.open``): the surface's
type, at most 100 blocks, each block's required fields and text lengths, from Slack's
Block Kit reference. A view Slack would refuse raises `Refused` with Slack's
``invalid_arguments`` and a message naming the field, as Slack's own answer does."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.slack_methods import Refused

VIEW_BLOCKS_MAX = 100
SECTION_TEXT_MAX = 3_000
FIELD_TEXT_MAX = 2_000
FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
BLOCK_ID_MAX = 255
ACTION_ID_MAX = 255
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2_000
LABEL_MAX = 2_000
MODAL_TITLE_MAX = 24  # title, submit and close of a modal
CALLBACK_ID_MAX = 255
PRIVATE_METADATA_MAX = 3_000
INPUT_MAX_LENGTH = 3_000


def _bad(where: str, why: str) -> Refused:
    return Refused("invalid_arguments", f"[ERROR] {why} [json-pointer:{where}]")


def _text(obj: Any, where: str, *, limit: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict):
        raise _bad(where, "must be a text object")
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        raise _bad(where + "/type", f"must be one of {', '.join(kinds)}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise _bad(where + "/text", "must be more than 0 characters")
    if len(text) > limit:
        raise _bad(where + "/text", f"must be less than {limit + 1} characters")


def _id(value: Any, where: str, limit: int) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise _bad(where, f"must be less than {limit + 1} characters")


def _element(el: Any, where: str) -> None:
    if not isinstance(el, dict):
        raise _bad(where, "must be an element object")
    _id(el.get("action_id"), where + "/action_id", ACTION_ID_MAX)
    kind = el.get("type")
    if kind == "button":
        _text(el.get("text"), where + "/text", limit=BUTTON_TEXT_MAX, plain_only=True)
        _id(el.get("value"), where + "/value", BUTTON_VALUE_MAX)
        if el.get("style") not in (None, "primary", "danger"):
            raise _bad(where + "/style", "must be primary or danger")
    elif kind in ("plain_text_input", "number_input"):
        if kind == "number_input" and "is_decimal_allowed" not in el:
            raise _bad(where + "/is_decimal_allowed", "missing required field")
        initial = el.get("initial_value")
        if initial is not None and (
            not isinstance(initial, str) or len(initial) > INPUT_MAX_LENGTH
        ):
            raise _bad(where + "/initial_value", "must be a string of at most 3000 characters")
    else:
        raise _bad(where + "/type", f"unsupported element type {kind!r}")


def _block(block: Any, where: str, surface: str) -> None:
    if not isinstance(block, dict):
        raise _bad(where, "must be a block object")
    _id(block.get("block_id"), where + "/block_id", BLOCK_ID_MAX)
    kind = block.get("type")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            raise _bad(where, "must provide either text or fields")
        if "text" in block:
            _text(block["text"], where + "/text", limit=SECTION_TEXT_MAX)
        fields = block.get("fields", [])
        if len(fields) > FIELDS_MAX:
            raise _bad(where + "/fields", f"must have at most {FIELDS_MAX} items")
        for i, f in enumerate(fields):
            _text(f, f"{where}/fields/{i}", limit=FIELD_TEXT_MAX)
        if "accessory" in block:
            _element(block["accessory"], where + "/accessory")
    elif kind == "header":
        _text(block.get("text"), where + "/text", limit=HEADER_TEXT_MAX, plain_only=True)
    elif kind == "divider":
        pass
    elif kind == "context":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= CONTEXT_ELEMENTS_MAX:
            raise _bad(where + "/elements", f"must have 1 to {CONTEXT_ELEMENTS_MAX} items")
        for i, e in enumerate(elements):
            _text(e, f"{where}/elements/{i}", limit=SECTION_TEXT_MAX)
    elif kind == "actions":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= ACTIONS_ELEMENTS_MAX:
            raise _bad(where + "/elements", f"must have 1 to {ACTIONS_ELEMENTS_MAX} items")
        for i, e in enumerate(elements):
            _element(e, f"{where}/elements/{i}")
    elif kind == "input":
        if surface == "home":
            raise _bad(where + "/type", "input blocks are not supported in a home view")
        _text(block.get("label"), where + "/label", limit=LABEL_MAX, plain_only=True)
        if "hint" in block:
            _text(block["hint"], where + "/hint", limit=LABEL_MAX, plain_only=True)
        if "element" not in block:
            raise _bad(where + "/element", "missing required field")
        _element(block["element"], where + "/element")
    else:
        raise _bad(where + "/type", f"unsupported block type {kind!r}")


def check_view(view: Any, *, surface: str) -> dict[str, Any]:
    """``view`` (a JSON string or an object) as Slack reads it; raises `Refused` for
    what Slack would refuse on a ``surface`` ("home" or "modal") view."""
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            raise Refused("invalid_arguments", "[ERROR] failed to parse view JSON") from None
    if not isinstance(view, dict):
        raise _bad("/view", "must be an object")
    if view.get("type") != surface:
        raise _bad("/view/type", f"must be {surface}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        raise _bad("/view/blocks", "missing required field")
    if len(blocks) > VIEW_BLOCKS_MAX:
        raise _bad("/view/blocks", f"must have no more than {VIEW_BLOCKS_MAX} items")
    for i, b in enumerate(blocks):
        _block(b, f"/view/blocks/{i}", surface)
    _id(view.get("callback_id"), "/view/callback_id", CALLBACK_ID_MAX)
    _id(view.get("private_metadata"), "/view/private_metadata", PRIVATE_METADATA_MAX)
    if surface == "modal":
        _text(view.get("title"), "/view/title", limit=MODAL_TITLE_MAX, plain_only=True)
        for name in ("submit", "close"):
            if name in view:
                _text(view[name], f"/view/{name}", limit=MODAL_TITLE_MAX, plain_only=True)
        if any(b.get("type") == "input" for b in blocks) and "submit" not in view:
            raise _bad("/view/submit", "a modal with input blocks needs a submit button")
    return view
