from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Model
from django.dispatch import Signal
from helpers import connected

from bulk_tracker_testing import CapturedSignals, SignalCall
from bulk_tracker_testing.capture import KINDS


class Recorder:
    """The bulk_tracker signal calls delivered inside the test's ``with received.committing():`` blocks, in order.

    Writes before and between the blocks (the test's own setup) are not recorded, so a test reads
    arrange, act (in the block), assert, and never clears what its setup sent.
    """

    def __init__(self, capture: Callable[..., AbstractContextManager[CapturedSignals]]):
        self.captured = CapturedSignals()
        self.calls: list[SignalCall] = self.captured.calls
        self._capture = capture
        self._depth = 0

    def record(self, signal: Signal, sender: type[Model], objects: list[Any], **kwargs: Any) -> None:
        """The receiver: every signal call inside the blocks, each time it is made."""
        if self._depth:
            self.calls.append(
                SignalCall(KINDS[signal], sender, objects, kwargs.get("tracking_info_"), kwargs.get("using"))
            )

    def of(self, kind: str) -> list[SignalCall]:
        return self.captured.of(kind)

    def only(self, kind: str) -> SignalCall:
        """The single call of this run, asserting it is the only one."""
        assert [c.kind for c in self.calls] == [kind], self.calls
        return self.calls[0]

    @contextmanager
    def committing(self) -> Iterator[None]:
        """The act: its deliveries are recorded.

        In a test transaction that never commits (``django_db``), the on_commit callbacks registered in
        the block run at its end, as a commit would; under ``django_db(transaction=True)`` the block's
        own commits deliver.
        """
        self._depth += 1
        try:
            with self._capture():
                yield
        finally:
            self._depth -= 1


@pytest.fixture
def received(capture_signals: Callable[..., Any]) -> Iterator[Recorder]:
    recorder = Recorder(capture_signals)
    with ExitStack() as stack:
        for signal in KINDS:
            stack.enter_context(connected(signal, recorder.record))
        yield recorder


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


@pytest.fixture
def books() -> list[Any]:
    """Three books: Ann's a (5.00, stock 1) and b (7.00, stock 0), and c (9.00, stock 3) with no author."""
    from testapp.models import Author, Book

    ann = Author.objects.create(name="Ann")
    return [
        Book.objects.create(title="a", price=Decimal("5.00"), stock=1, author=ann),
        Book.objects.create(title="b", price=Decimal("7.00"), stock=0, author=ann),
        Book.objects.create(title="c", price=Decimal("9.00"), stock=3),
    ]
