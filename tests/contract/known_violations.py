"""Requests today's bot sends that the official specs refuse, each with its reason:
known issues being fixed on other branches (issue 9). A violation listed here is
reported in the run's summary instead of failing its test.

This list is meant to be emptied: when a fix is merged, delete its entry (a whole run
with ``-v`` names, in its summary, the entries no request matched any more).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.contract.validate import Violation


@dataclass(frozen=True, slots=True)
class Known:
    service: str
    endpoint: str
    problem: str  # a part of the violation's text
    reason: str

    def matches(self, violation: Violation) -> bool:
        return (
            violation.service == self.service
            and violation.endpoint == self.endpoint
            and self.problem in violation.problem
        )


KNOWN_VIOLATIONS: tuple[Known, ...] = ()
