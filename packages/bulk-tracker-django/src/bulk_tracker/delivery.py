"""When and how a signal reaches its receivers: after commit, on the alias that wrote.

A delivery is queued with ``transaction.on_commit`` on the alias that wrote, so a rollback (of a
savepoint too) drops it, and it runs in the tracking state of the moment it was queued (the
``tracking()`` info; never suspended by a ``suspended()`` block around the commit).

A receiver that raises without robust mode (``Signal.send``: the receivers after it are not called
for that signal call):

* queued in the caller's transaction, the failure is logged on the ``bulk_tracker`` logger at the
  commit and the commit's other callbacks (the application's, our other deliveries) still run, as
  Django's ``on_commit(robust=True)`` does. The write is committed; nothing reaches the caller.
* in autocommit, every delivery of the write is made and then the first failure reaches the caller
  (the others are logged), including for a write that commits a transaction of its own (a delete):
  see :func:`delivered_after`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from django.db import connections, models, transaction
from django.dispatch import Signal

from bulk_tracker_core import (
    ModifiedObject,
    TrackingInfo,
    bind_tracking_state,
    check_tracking_info,
    is_suspended,
    tracking,
)

from .receivers import wants_fields

logger = logging.getLogger("bulk_tracker")
F = TypeVar("F", bound=Callable[..., Any])


def wants(signal: Signal, model: type[models.Model], written: Iterable[str] | None = None) -> bool:
    """True when tracking is on and ``signal`` has a receiver for ``model``: only then is work done.

    ``written``: the names of the fields the write may change; then only a receiver that counts a
    change of one of them (see ``receivers``) is a reason to track it.
    """
    if is_suspended() or not signal.has_listeners(model):
        return False
    return written is None or wants_fields(signal, model, written)


def tracking_scope(tracking_info_: object) -> AbstractContextManager[Any]:
    """Make an explicit ``tracking_info_`` the context of the writes a method delegates to Django."""
    info = check_tracking_info(tracking_info_)
    return nullcontext() if info is None else tracking(info, replace=True)


def accepting_tracking_info(method: F) -> F:
    """Give one of Django's write methods a ``tracking_info_`` keyword for the writes it makes."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> Any:
        with tracking_scope(tracking_info_):
            return method(self, *args, **kwargs)

    return cast("F", wrapper)


@dataclass(frozen=True)
class Delivery:
    """One signal call: ``signal`` for ``objects`` of ``model``, written on ``using``."""

    signal: Signal
    model: type[models.Model]
    objects: list[ModifiedObject[Any]]
    info: TrackingInfo | None
    using: str

    def send(self) -> None:
        """Call the receivers; robust mode logs each failure, otherwise the first one raises."""
        kwargs = {"sender": self.model, "objects": self.objects, "tracking_info_": self.info, "using": self.using}
        if self.info is None or not self.info.is_robust:
            self.signal.send(**kwargs)
            return
        for receiver, result in self.signal.send_robust(**kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "bulk_tracker receiver %r failed for %s", receiver, self.model._meta.label, exc_info=result
                )


Deliveries = Callable[[], Sequence[Delivery]]
Failures = list[tuple[Delivery, Exception]]


def _send_each(deliveries: Deliveries) -> Failures:
    """Make every delivery, whatever the previous ones did; return the failures, in order."""
    failures: Failures = []
    for delivery in deliveries():
        try:
            delivery.send()
        except Exception as error:  # reported by the caller: logged or raised
            failures.append((delivery, error))
    return failures


def _log(failures: Failures) -> None:
    for delivery, error in failures:
        logger.error(
            "bulk_tracker delivery for %s failed after the commit; the write stands",
            delivery.model._meta.label,
            exc_info=error,
        )


def _raise_first(failures: Failures) -> None:
    """Raise the first failure to the caller; log the others."""
    if failures:
        _log(failures[1:])
        raise failures[0][1]


@dataclass(eq=False)
class _Held:
    """The deliveries of a write that commits its own transaction, made when the write is done."""

    using: str
    runs: list[Callable[[], Failures]] = field(default_factory=list)


_held: ContextVar[_Held | None] = ContextVar("bulk_tracker_held", default=None)


class OnCommit:
    """The ``on_commit`` callback of queued deliveries; ``ran`` is True once a commit (or a test
    runner simulating one) has called it."""

    def __init__(self, deliveries: Deliveries, held: _Held | None) -> None:
        self.deliveries = deliveries
        self.held = held
        self.ran = False
        self._send_each = bind_tracking_state(_send_each)  # the state of now, whatever it is at the commit

    def run(self) -> Failures:
        """Make the deliveries; return the failures."""
        return self._send_each(self.deliveries)

    def __call__(self) -> None:
        self.ran = True
        if self.held is not None:
            self.held.runs.append(self.run)  # made (and their failures raised) when the write is done
        else:
            _log(self.run())  # never raises: the commit's other callbacks run

    def __repr__(self) -> str:
        return f"<bulk_tracker delivery {getattr(self.deliveries, '__qualname__', self.deliveries)!r}>"


def schedule(deliveries: Deliveries, using: str) -> None:
    """Make ``deliveries()`` when the transaction on ``using`` commits; now in autocommit.

    ``deliveries`` is called at the commit (a delete's rows are known only then).
    """
    held = _held.get()
    if held is not None and held.using != using:
        held = None
    if held is None and not connections[using].in_atomic_block:
        _raise_first(_send_each(deliveries))  # autocommit: now, in the state of now
        return
    transaction.on_commit(OnCommit(deliveries, held), using=using)


def deliver(
    signal: Signal,
    model: type[models.Model],
    objects: Sequence[ModifiedObject[Any]],
    tracking_info: TrackingInfo | None,
    using: str,
) -> None:
    """Send ``signal`` once for ``objects`` when the current transaction on ``using`` commits.

    Outside a transaction that is now. A rollback (of a savepoint too) drops the delivery.
    """
    if objects:
        delivery = Delivery(signal, model, list(objects), tracking_info, using)
        schedule(lambda: [delivery], using)


@dataclass(frozen=True)
class Before:
    """One before-write signal call: ``signal`` for the rows ``objects`` of ``model``, about to get ``values``."""

    signal: Signal
    model: type[models.Model]
    objects: Sequence[Any]
    values: Any


def send_before_write(befores: Iterable[Before], tracking_info: TrackingInfo | None, using: str) -> Exception | None:
    """Send the before-write signals of one write now, in one savepoint on ``using``; return a veto.

    A receiver that raises vetoes the write: every receiver's writes of the write are rolled back with
    the savepoint, and its exception is returned, for the caller to raise once it has left its own
    transaction unwritten (raised inside, it would break the caller's enclosing ``atomic()``). Always
    ``Signal.send``. A call without objects is not made.
    """
    calls = [before for before in befores if before.objects]
    if not calls:
        return None
    try:
        with transaction.atomic(using=using):
            for before in calls:
                before.signal.send(
                    sender=before.model,
                    objects=list(before.objects),
                    values=before.values,
                    tracking_info_=tracking_info,
                    using=using,
                )
    except Exception as veto:
        return veto
    return None


@contextmanager
def delivered_after(using: str) -> Iterator[None]:
    """Around a write that may commit a transaction of its own on ``using`` (autocommit).

    The deliveries it queues are made when the block is done, in order, after the commit's other
    callbacks; then the first failure reaches the caller. Inside the caller's transaction (or an
    enclosing block of this kind) it changes nothing. If the block raises, nothing is delivered.
    """
    current = _held.get()
    if connections[using].in_atomic_block or (current is not None and current.using == using):
        yield
        return
    held = _Held(using)
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
    failures: Failures = []
    for run in held.runs:
        failures.extend(run())
    _raise_first(failures)
