from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from bulk_tracker_testing import CapturedSignals, SignalCall


class Recorder:
    """Every bulk_tracker signal call of a test, in order (a capture open for the whole test)."""

    def __init__(self, captured: CapturedSignals, capture: Callable[..., AbstractContextManager[CapturedSignals]]):
        self.captured = captured
        self.calls: list[SignalCall] = captured.calls
        self._capture = capture

    def of(self, kind: str) -> list[SignalCall]:
        return self.captured.of(kind)

    def only(self, kind: str) -> SignalCall:
        """The single call of this run, asserting it is the only one."""
        assert [c.kind for c in self.calls] == [kind], self.calls
        return self.calls[0]

    def committing(self) -> AbstractContextManager[CapturedSignals]:
        """Run on_commit callbacks at the end of the block, as a commit would (for django_db tests)."""
        return self._capture()


@pytest.fixture
def received(capture_signals: Callable[..., Any]) -> Iterator[Recorder]:
    with capture_signals() as captured:
        yield Recorder(captured, capture_signals)


# Lines a test wants in the terminal summary, shown even without -s (the oracle reports its examples there).
_SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture
def summary_line(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``summary_line(text)``: print ``text`` and repeat it in pytest's terminal summary."""
    lines = request.config.stash.setdefault(_SUMMARY, [])

    def add(text: str) -> None:
        print(text)
        lines.append(text)

    return add


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.section("bulk_tracker")
        for line in lines:
            terminalreporter.write_line(line)
