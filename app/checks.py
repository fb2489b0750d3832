"""One line of ``reasonbot doctor``: ✓ or ✗, what was found, and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        tail = f"\n    fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{mark} {self.name}: {self.detail}{tail}"


def passed(name: str, detail: str) -> Check:
    return Check(True, name, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(False, name, detail, fix)
