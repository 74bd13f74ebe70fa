"""Capturing bulk_tracker signals in tests: a context manager that works with or without pytest."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Model
from django.dispatch import Signal

from bulk_tracker.delivery import OnCommit
from bulk_tracker.helper_objects import ModifiedObject, TrackingInfo
from bulk_tracker.signals import SIGNALS
from bulk_tracker_core import ChangeKind

from . import assertions

logger = logging.getLogger("django.db.backends.base")
KINDS: dict[Signal, ChangeKind] = {signal: kind for kind, signal in SIGNALS.items()}


@dataclass(frozen=True)
class SignalCall:
    """One call of a bulk_tracker signal, as a receiver saw it."""

    kind: ChangeKind  # equal to "create", "update" or "delete"
    sender: type[Model]
    objects: list[ModifiedObject[Any]]
    tracking_info: TrackingInfo | None
    using: str | None


class CapturedSignals:
    """Every captured signal call, in order, with queries and assertion helpers."""

    def __init__(self) -> None:
        self.calls: list[SignalCall] = []

    def of(self, kind: str | None = None, sender: type[Model] | None = None) -> list[SignalCall]:
        """The calls of one kind (``"create"``, ``"update"``, ``"delete"``) and/or one model."""
        return [c for c in self.calls if (kind is None or c.kind == kind) and (sender is None or c.sender is sender)]

    def created(self, sender: type[Model]) -> list[ModifiedObject[Any]]:
        """Every created object of ``sender``, across calls."""
        return [obj for call in self.of(ChangeKind.CREATE, sender) for obj in call.objects]

    def updated(self, sender: type[Model]) -> list[ModifiedObject[Any]]:
        """Every updated object of ``sender``, across calls."""
        return [obj for call in self.of(ChangeKind.UPDATE, sender) for obj in call.objects]

    def deleted(self, sender: type[Model]) -> list[ModifiedObject[Any]]:
        """Every deleted object of ``sender``, across calls."""
        return [obj for call in self.of(ChangeKind.DELETE, sender) for obj in call.objects]

    def assert_created(self, sender: type[Model], count: int | None = None, **expected: Any) -> None:
        __tracebackhide__ = True
        assertions.assert_created(self, sender, count, **expected)

    def assert_updated(self, sender: type[Model], count: int | None = None, **expected: Any) -> None:
        __tracebackhide__ = True
        assertions.assert_updated(self, sender, count, **expected)

    def assert_deleted(self, sender: type[Model], count: int | None = None, **expected: Any) -> None:
        __tracebackhide__ = True
        assertions.assert_deleted(self, sender, count, **expected)

    def assert_nothing_sent(self) -> None:
        __tracebackhide__ = True
        assertions.assert_nothing_sent(self)

    def assert_changed(self, instance: Model, field: str, old: Any, new: Any) -> None:
        __tracebackhide__ = True
        assertions.assert_changed(self, instance, field, old, new)

    def assert_m2m_changed(self, instance: Model, field: str, old: Iterable[Any], new: Iterable[Any]) -> None:
        __tracebackhide__ = True
        assertions.assert_m2m_changed(self, instance, field, old, new)

    def __len__(self) -> int:
        return len(self.calls)

    def __repr__(self) -> str:
        return f"<CapturedSignals {assertions.describe(self)}>"


def _in_test_transaction(alias: str) -> bool:
    """True inside Django's TestCase transaction (pytest-django's django_db): it never commits."""
    connection = connections[alias]
    blocks = getattr(connection, "atomic_blocks", [])
    return bool(connection.in_atomic_block and blocks and getattr(blocks[0], "_from_testcase", False))


@contextmanager
def capture_signals(
    *signals: Signal, senders: Iterable[type[Model]] | None = None, using: str | Iterable[str] | None = None
) -> Iterator[CapturedSignals]:
    """Record bulk_tracker signals sent during the block (all three unless ``signals`` are given).

    Inside a test transaction that never commits (``django.test.TestCase``, pytest-django's
    ``django_db``), the on_commit callbacks registered in the block are run at its end, as
    ``captureOnCommitCallbacks(execute=True)`` does; elsewhere they run at the real commit, so
    enter the block outside your own ``atomic()``. ``senders`` limits the models, ``using`` (an
    alias or several) the databases whose writes are recorded and whose callbacks are run (all by default).

    Every signal call is recorded, each time it is made: a delivery run twice is seen twice. A
    delivery Django's ``captureOnCommitCallbacks(execute=True)`` already ran inside the block is
    not run again at its end (other callbacks are, as two nested Django captures do).
    """
    captured = CapturedSignals()
    wanted = set(senders) if senders is not None else None
    aliases = [using] if isinstance(using, str) else list(using) if using is not None else list(connections)

    def receiver(signal: Signal, sender: type[Model], objects: list[Any], **kwargs: Any) -> None:
        if (wanted is None or sender in wanted) and (using is None or kwargs.get("using") in aliases):
            kind = KINDS[signal]
            captured.calls.append(SignalCall(kind, sender, objects, kwargs.get("tracking_info_"), kwargs.get("using")))

    chosen = list(signals) or list(KINDS)
    for signal in chosen:
        signal.connect(receiver, weak=False)
    starts = {alias: len(connections[alias].run_on_commit) for alias in aliases if _in_test_transaction(alias)}
    try:
        yield captured
        for alias, start in starts.items():
            _run_on_commit_callbacks(alias, start)
    finally:
        for signal in chosen:
            signal.disconnect(receiver)


def _run_on_commit_callbacks(alias: str, start: int) -> None:
    """Run, once, the callbacks registered since ``start``, including those they register."""
    pending = connections[alias].run_on_commit
    while len(pending) > start:
        callbacks = pending[start:]
        del pending[start:]  # never run twice, even by an enclosing capture
        for _savepoints, callback, robust in callbacks:
            if isinstance(callback, OnCommit) and callback.ran:
                continue  # a delivery already made, by captureOnCommitCallbacks(execute=True) in the block
            if not robust:
                callback()
                continue
            try:
                callback()
            except Exception:
                logger.exception("Error calling %s in on_commit() (robust).", callback)
