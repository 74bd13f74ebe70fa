"""The receivers both oracles connect (test_oracle.py, test_differential.py): a recorder and a raiser."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from django.db.models import Model
from helpers import connected

from bulk_tracker import TrackingInfo
from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal

KINDS = {post_create_signal: "create", post_update_signal: "update", post_delete_signal: "delete"}


class BoomError(Exception):
    """Raised by the raising receiver."""


class Rollback(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised to roll a block or savepoint back."""


class Trace:
    """What the receivers saw for ``models``: every delivery, and the failures logged on ``bulk_tracker``."""

    def __init__(self, models: Collection[type[Model]]) -> None:
        self.models = frozenset(models)
        self.calls: list[tuple[str, type[Model], list[Any], TrackingInfo | None]] = []
        self.raising: set[str] = set()  # operation tags (comments) whose deliveries make a receiver raise
        self.logged: list[logging.LogRecord] = []

    def record(self, signal: Any, sender: type[Model], objects: list[Any], **kwargs: Any) -> None:
        if sender in self.models:
            self.calls.append((KINDS[signal], sender, objects, kwargs.get("tracking_info_")))

    def raise_if_asked(self, sender: type[Model], tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> None:
        if sender in self.models and tracking_info_ is not None and tracking_info_.comment in self.raising:
            raise BoomError(tracking_info_.comment)


class LogTo(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def receivers(trace: Trace) -> Iterator[None]:
    """The recorder and the raiser connected to every bulk_tracker signal, and ``bulk_tracker``'s log captured."""
    with ExitStack() as stack:
        for signal in KINDS:  # the recorder first: it sees the delivery the raiser then fails
            stack.enter_context(connected(signal, trace.record))
            stack.enter_context(connected(signal, trace.raise_if_asked))
        handler = LogTo(trace.logged)
        logger = logging.getLogger("bulk_tracker")
        logger.addHandler(handler)
        stack.callback(logger.removeHandler, handler)
        yield
