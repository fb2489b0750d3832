"""The Responses API (``POST /v1/responses``) half of the fake OpenAI server.

Events follow OpenAI's stream in its real order and shape (checked against the
``ResponseStreamEvent`` schemas of the official OpenAPI spec by
``tests/bot/test_model_responses_fake.py``): ``response.created``,
``response.in_progress``; for a reasoning item ``response.output_item.added``,
``response.reasoning_summary_part.added``, ``response.reasoning_summary_text.delta``…,
``.done``, ``response.reasoning_summary_part.done``, ``response.output_item.done`` (with
``encrypted_content`` when ``include`` asks for it); for the message
``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta``…, ``.done``, ``response.content_part.done``,
``response.output_item.done``; last ``response.completed``, ``response.incomplete`` or
``response.failed``. Each SSE event carries ``event: <type>`` and a
``sequence_number``; there is no ``[DONE]``.

Refusals mirror OpenAI's 400s: ``max_tokens``/``max_completion_tokens`` (moved to
``max_output_tokens``), ``temperature`` other than 1 on reasoning models, ``reasoning``
or encrypted reasoning on a model that does not reason, ``reasoning.effort`` and
``reasoning.summary`` on the first o1 models, ``reasoning.summary`` on models listed in
``without_summaries``. Reasoning items passed back must carry the encrypted content
this fake made for the same model (``store: false`` keeps nothing server-side).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

EARLY_O1 = re.compile(r"^o1-(mini|preview)(-|$)")
REASONS = re.compile(r"^(o\d|gpt-5)")

Refusal = tuple[int, str, str | None, str]  # status, code, param, message


def refusal(body: dict[str, Any], *, without_summaries: frozenset[str]) -> Refusal | None:
    """What OpenAI answers instead of a response for this request, or None."""
    model = str(body.get("model") or "")
    for moved in ("max_tokens", "max_completion_tokens"):
        if moved in body:
            return (
                400,
                "unsupported_parameter",
                moved,
                f"Unsupported parameter: '{moved}'. In the Responses API, this parameter "
                "has moved to 'max_output_tokens'.",
            )
    reasons = bool(REASONS.match(model))
    temperature = body.get("temperature")
    if reasons and temperature is not None and temperature != 1:
        return (
            400,
            "unsupported_parameter",
            "temperature",
            "Unsupported parameter: 'temperature' is not supported with this model.",
        )
    reasoning = body.get("reasoning") or {}
    include = body.get("include") or []
    if not reasons and (reasoning or "reasoning.encrypted_content" in include):
        param = "reasoning.effort" if reasoning else "include"
        return (
            400,
            "unsupported_parameter",
            param,
            f"Unsupported parameter: '{param}' is not supported with this model.",
        )
    for param in ("effort", "summary"):
        if param in reasoning and EARLY_O1.match(model):
            return (
                400,
                "unsupported_parameter",
                f"reasoning.{param}",
                f"Unsupported parameter: 'reasoning.{param}' is not supported with this model.",
            )
    if "summary" in reasoning and model in without_summaries:
        return (
            400,
            "unsupported_value",
            "reasoning.summary",
            "Your organization must be verified to generate reasoning summaries.",
        )
    for item in body.get("input") or ():
        if not isinstance(item, dict) or item.get("type") != "reasoning":
            continue
        content = str(item.get("encrypted_content") or "")
        if not content and body.get("store") is False:
            return (
                404,
                "item_not_found",
                "input",
                f"Item with id '{item.get('id')}' not found. Items are not persisted when "
                "`store` is set to false.",
            )
        if content and not content.startswith(f"enc:{model}:"):
            return (
                400,
                "invalid_encrypted_content",
                "input",
                "The encrypted content could not be verified.",
            )
    return None


def last_question(body: dict[str, Any]) -> str:
    items = body.get("input")
    if isinstance(items, str):
        return items
    users = [
        i.get("content")
        for i in items or ()
        if isinstance(i, dict) and i.get("role") == "user" and isinstance(i.get("content"), str)
    ]
    return users[-1] if users else ""


def usage(body: dict[str, Any], text: str, reasoning: str | None) -> dict[str, Any]:
    items = body.get("input")
    prompt = len(str(items)) // 4 + 1
    thought = 64 if (body.get("reasoning") or reasoning) else 0
    output = len(text) // 4 + (1 if text else 0) + thought
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": thought},
        "total_tokens": prompt + output,
    }


class ResponseBuilder:
    """One response's objects, as the stream and the JSON body show them."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.id = f"resp_{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.reasoning_id = f"rs_{uuid.uuid4().hex}"
        self.message_id = f"msg_{uuid.uuid4().hex}"

    def response(
        self,
        status: str,
        output: list[dict[str, Any]],
        *,
        usage: dict[str, Any] | None = None,
        incomplete: str | None = None,
        error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body = self.body
        out: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body.get("model"),
            "output": output,
            "parallel_tool_calls": True,
            "reasoning": {
                "effort": (body.get("reasoning") or {}).get("effort"),
                "summary": (body.get("reasoning") or {}).get("summary"),
            },
            "store": body.get("store", True),
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "metadata": {},
        }
        if usage is not None:  # the spec's usage is an object: absent until the end
            out["usage"] = usage
        return out

    def reasoning_item(self, summary: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.reasoning_id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": summary}] if summary else [],
        }
        if "reasoning.encrypted_content" in (self.body.get("include") or ()):
            item["encrypted_content"] = f"enc:{self.body.get('model')}:{uuid.uuid4().hex}"
        return item

    def message_item(self, text: str, *, status: str = "completed") -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [self.text_part(text)] if status == "completed" else [],
        }

    @staticmethod
    def text_part(text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def events(
        self,
        text: str,
        *,
        summary: str | None,
        reasons: bool,
        pieces: int,
        finish: str,
        usage: dict[str, Any],
        summary_pieces: int | None = None,
    ) -> list[dict[str, Any]]:
        """The whole stream, in order (``sequence_number`` is set when sent). The summary
        comes in ``summary_pieces`` deltas (default: as many as the answer's)."""
        out: list[dict[str, Any]] = []
        created = self.response("in_progress", [])
        out += [
            {"type": "response.created", "response": created},
            {"type": "response.in_progress", "response": created},
        ]
        output: list[dict[str, Any]] = []
        index = 0
        if reasons:
            rs = self.reasoning_item(None)
            out.append({"type": "response.output_item.added", "output_index": 0, "item": rs})
            if summary:
                at = {"item_id": self.reasoning_id, "output_index": 0, "summary_index": 0}
                empty = {"type": "summary_text", "text": ""}
                out.append({"type": "response.reasoning_summary_part.added", **at, "part": empty})
                for piece in _split(summary, summary_pieces or pieces):
                    out.append(
                        {"type": "response.reasoning_summary_text.delta", **at, "delta": piece}
                    )
                out.append({"type": "response.reasoning_summary_text.done", **at, "text": summary})
                part = {"type": "summary_text", "text": summary}
                out.append({"type": "response.reasoning_summary_part.done", **at, "part": part})
            done = self.reasoning_item(summary)
            out.append({"type": "response.output_item.done", "output_index": 0, "item": done})
            output.append(done)
            index = 1
        if text:
            at = {"item_id": self.message_id, "output_index": index, "content_index": 0}
            added = self.message_item("", status="in_progress")
            out.append({"type": "response.output_item.added", "output_index": index, "item": added})
            out.append({"type": "response.content_part.added", **at, "part": self.text_part("")})
            for piece in _split(text, pieces):
                out.append(
                    {"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}
                )
            out.append({"type": "response.output_text.done", **at, "text": text, "logprobs": []})
            out.append({"type": "response.content_part.done", **at, "part": self.text_part(text)})
            msg = self.message_item(text)
            if finish == "length":
                msg["status"] = "incomplete"
            out.append({"type": "response.output_item.done", "output_index": index, "item": msg})
            output.append(msg)
        if finish == "length":
            final = self.response("incomplete", output, usage=usage, incomplete="max_output_tokens")
            out.append({"type": "response.incomplete", "response": final})
        else:
            final = self.response("completed", output, usage=usage)
            out.append({"type": "response.completed", "response": final})
        return out


def _split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
