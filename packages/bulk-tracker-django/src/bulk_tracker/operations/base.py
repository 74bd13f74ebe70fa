"""The phases every tracked write goes through, the way Django's ``Collector`` owns a delete.

An operation is built by a thin adapter (a queryset or model method with Django's signature) and run
once. ``run()`` calls the phases in this order; data flows one way through them:

``plan``
    Validate exactly as Django would, before any statement, and say whether anything is to be tracked.
    Nothing to track (no receiver, ``suspended()``, or a call Django refuses with its own error):
    ``untracked()`` runs Django's own method and nothing else happens.
``read_before``
    The locked read of the rows about to change, in the operation's transaction.
``before_write``
    The before-write signals (``pre_update_signal`` ...), with those rows and what is about to be
    written. A receiver that raises is a veto: nothing written, nothing delivered, the caller gets
    the exception, and its own writes are rolled back with it (it runs in a savepoint).
``write``
    The write itself, with one strategy chosen per backend; returns Django's return value.
``changes``
    What to report, per signal: the ``Report``s, built with core's one diff.
``deliver``
    Each report through ``delivery.deliver`` (on commit, on the alias that wrote).

In-transaction receivers belong after ``changes``, still inside the transaction; tasks in ``deliver``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import models, transaction
from django.dispatch import Signal

from bulk_tracker_core import ModifiedObject, TrackingInfo

from ..delivery import Before, deliver, delivered_after, send_before_write

M = TypeVar("M", bound=models.Model)
R = TypeVar("R")


@dataclass(frozen=True)
class Report:
    """One signal call an operation will make: ``signal`` for ``objects`` of ``model``."""

    signal: Signal
    model: type[models.Model]
    objects: Sequence[ModifiedObject[Any]]


class Operation(ABC, Generic[M, R]):
    """One tracked write of ``model`` on the database alias ``alias``; ``run()`` it once."""

    def __init__(self, model: type[M], alias: str, info: TrackingInfo | None) -> None:
        self.model = model
        self.alias = alias
        self.info = info

    @abstractmethod
    def plan(self) -> bool:
        """Validate as Django does, before any statement; False when there is nothing to track."""

    @abstractmethod
    def untracked(self) -> R:
        """Django's own method, unchanged: what runs when ``plan()`` finds nothing to track."""

    def read_before(self) -> None:
        """Read (and lock) the rows about to change. Most operations override it."""

    def before_write(self) -> list[Before]:
        """The before-write signal calls to make, in order; none by default."""
        return []

    @abstractmethod
    def write(self) -> R:
        """Write, and return what Django's own method returns."""

    @abstractmethod
    def changes(self) -> list[Report]:
        """What happened, as the signal calls to make, in the order to make them."""

    def atomic(self) -> AbstractContextManager[Any]:
        """The transaction of ``read_before``, ``write`` and ``changes``: the caller's, or one of our own."""
        return transaction.atomic(using=self.alias, savepoint=False)

    def deliver(self, reports: list[Report]) -> None:
        """Hand each report to ``delivery.deliver``: on commit, on the alias that wrote."""
        for report in reports:
            deliver(report.signal, report.model, report.objects, self.info, self.alias)

    def run(self) -> R:
        """The phases in order; see the module's docstring."""
        if not self.plan():
            return self.untracked()
        with delivered_after(self.alias):  # in autocommit: every report made, then a failure raised
            with self.atomic():
                self.read_before()
                vetoed = send_before_write(self.before_write(), self.info, self.alias)
                if vetoed is None:
                    result = self.write()
                    reports = self.changes()
            if vetoed is not None:
                raise vetoed
            self.deliver(reports)
        return result
