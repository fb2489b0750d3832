"""`TerminalRoute`: where a terminal question's answer goes. The terminal answers at
once, in the session that asked (nothing for another worker to resume), so the route
only names the session's conversation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TerminalRoute:
    thread: str

    def to_json(self) -> dict[str, Any]:
        return {"thread": self.thread}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TerminalRoute:
        return cls(thread=str(data.get("thread", "")))
