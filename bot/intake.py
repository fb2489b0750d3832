"""Intake, the one path a question takes in from every platform (`AskService.accept`):
parsed and checked once, then written down with what was parsed, so no worker parses it
again. The listeners only translate, acknowledge and render a refusal.

    listener ─ AskRequest + route ─► accept ─ Parsed ─► Intake (the durable queue)
        ▲                              │
        └───── Accepted | Refused ◄────┘
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain import Effort
from bot.ports import FailureKind
from bot.router import Choice, Reason


@dataclass(frozen=True, slots=True)
class Parsed:
    """A question as intake read it: the text without its options, the model it goes
    to (for ``auto``, the provisional choice), and the effort asked for. Carried on its
    job, as JSON, to the worker that answers it."""

    question: str
    model: str
    effort: Effort | None = None
    # Asked for but not taken by the model: answered without it, and the footer says so.
    ignored_effort: Effort | None = None
    # Set when `--model auto` chose `model`: the worker makes the final choice.
    auto: Choice | None = None
    # Named with `--model` (or the platform's model option): never swapped for its
    # fallback when used up, but refused.
    explicit: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"question": self.question, "model": self.model}
        if self.effort is not None:
            data["effort"] = self.effort.value
        if self.ignored_effort is not None:
            data["ignored_effort"] = self.ignored_effort.value
        if self.auto is not None:
            data["auto"] = {"alias": self.auto.alias, "reason": self.auto.reason.value}
            if self.auto.by is not None:
                data["auto"]["by"] = self.auto.by
        if self.explicit:
            data["explicit"] = True
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Parsed:
        auto = data.get("auto")
        return cls(
            question=str(data["question"]),
            model=str(data["model"]),
            effort=Effort(data["effort"]) if data.get("effort") else None,
            ignored_effort=Effort(data["ignored_effort"]) if data.get("ignored_effort") else None,
            auto=Choice(str(auto["alias"]), Reason(auto["reason"]), by=auto.get("by"))
            if auto
            else None,
            explicit=bool(data.get("explicit", False)),
        )


@dataclass(frozen=True, slots=True)
class Accepted:
    """Written down; the platform may be acknowledged. ``new`` is False for a platform
    retry of a question already written down (it is answered once, by the first)."""

    parsed: Parsed
    new: bool = True


@dataclass(frozen=True, slots=True)
class Refused:
    """Not taken, and nothing charged: ``text`` tells the asker why (bad input, or the
    question could not be written down)."""

    text: str
    kind: FailureKind


__all__ = ["Accepted", "Parsed", "Refused"]
