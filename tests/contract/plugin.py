"""The spec contract as a pytest plugin: after each test (its fixtures torn down, so its
fakes have stopped), every request its fakes recorded is checked against the official
specs, and a request the real API would refuse fails *that* test, at teardown, naming
the request and the rule it breaks.

- Violations listed in `known_violations.KNOWN_VIOLATIONS` are reported in the summary
  instead (issues being fixed elsewhere).
- A test that sends bad requests on purpose (to prove a fake refuses them as the real
  service does) says so with ``@pytest.mark.spec_violations_expected``.
- Without the specs (a fresh clone outside CI) nothing is checked and the summary says
  why in one line; tests/contract/test_specs.py skips, or fails under CI=true.
- The summary prints once how many requests per service were checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field

import pytest

from tests.contract import specs
from tests.contract.known_violations import KNOWN_VIOLATIONS, Known
from tests.contract.validate import Checked, Violation, check
from tests.fakes.recorded import take

MARK = "spec_violations_expected"


@dataclass
class Tally:
    checked: Counter[str] = field(default_factory=Counter)  # service -> requests
    not_in_spec: Counter[str] = field(default_factory=Counter)  # "slack chat.startStream"
    known: Counter[Known] = field(default_factory=Counter)
    known_tests: dict[Known, list[str]] = field(default_factory=dict)  # tests that sent it
    expected: int = 0  # violations sent on purpose by marked tests
    unreported: list[str] = field(default_factory=list)  # from tests already failing
    stray: list[str] = field(default_factory=list)  # violations from outside any test


_tally = Tally()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARK}: the test sends requests the real API refuses on purpose (to prove a fake "
        "refuses them too); the spec contract does not fail it for them",
    )


def _settle(where: str, *, expected: bool = False) -> list[Violation]:
    """Check what was recorded since the last call; the violations not excused."""
    recorded = take()
    if not recorded or specs.missing():
        return []
    unexcused = []
    for result in map(check, recorded):
        _count(result)
        for violation in result.violations:
            known = next((k for k in KNOWN_VIOLATIONS if k.matches(violation)), None)
            if known is not None:
                _tally.known[known] += 1
                tests = _tally.known_tests.setdefault(known, [])
                if where not in tests:
                    tests.append(where)
            elif expected:
                _tally.expected += 1
            else:
                unexcused.append(violation)
    return unexcused


def _count(result: Checked) -> None:
    if result.in_spec:
        _tally.checked[result.request.service] += 1
    else:
        _tally.not_in_spec[f"{result.request.service} {result.endpoint}"] += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    expected = item.get_closest_marker(MARK) is not None
    try:
        result = yield
    except BaseException:
        # Teardown failed already: one error per phase, so these go to the summary.
        _tally.unreported += [f"{item.nodeid}: {v}" for v in _settle(item.nodeid)]
        raise
    unexcused = _settle(item.nodeid, expected=expected)
    if unexcused:
        lines = "\n".join(f"  {v}" for v in dict.fromkeys(map(str, unexcused)))
        pytest.fail(
            f"{len(unexcused)} request(s) this test sent would be refused by the real API "
            f"(official specs in {specs.specs_dir()}):\n{lines}",
            pytrace=False,
        )
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    stray = _settle("(outside any test)")
    _tally.stray = list(dict.fromkeys(map(str, stray)))
    if stray and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    write = terminalreporter.write_line
    reason = specs.missing()
    if reason:
        write(f"spec contract skipped: {reason}")
        return
    services = ", ".join(f"{s} {_tally.checked[s]}" for s in sorted(specs.FILES))
    apart = sum(_tally.not_in_spec.values())
    write(
        f"spec contract: {sum(_tally.checked.values())} requests checked against the "
        f"official specs ({services}); {apart} to methods not in their spec"
        + (
            f" ({', '.join(f'{k} ×{n}' for k, n in sorted(_tally.not_in_spec.items()))})"
            if apart
            else ""
        )
    )
    if _tally.expected:
        write(f"spec contract: {_tally.expected} violations sent on purpose by tests marked {MARK}")
    for known, n in _tally.known.items():
        tests = _tally.known_tests[known]
        write(
            f"spec contract: KNOWN {known.service} {known.endpoint}: {known.problem} ×{n} "
            f"from {len(tests)} tests (e.g. {tests[0]}) — {known.reason}"
        )
        if config.get_verbosity() > 0:
            for test in tests:
                write(f"    {test}")
    for known in KNOWN_VIOLATIONS:
        # Only on request (-v): a partial run says nothing about a fix being merged.
        if known not in _tally.known and config.get_verbosity() > 0:
            write(
                f"spec contract: allow-list entry not seen in this run: {known.service} "
                f"{known.endpoint}: {known.problem}"
            )
    for line in _tally.stray:
        write(f"spec contract: VIOLATION outside any test: {line}")
    for line in _tally.unreported:
        write(f"spec contract: VIOLATION (its test's teardown had failed): {line}")
