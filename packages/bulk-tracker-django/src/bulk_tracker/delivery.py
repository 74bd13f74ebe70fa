"""When and how a signal reaches its receivers: after commit, on the alias that wrote."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar, cast

from django.db import models, transaction
from django.dispatch import Signal

from bulk_tracker_core import ModifiedObject, TrackingInfo, check_tracking_info, is_suspended, tracking

logger = logging.getLogger("bulk_tracker")
F = TypeVar("F", bound=Callable[..., Any])


def wants(signal: Signal, model: type[models.Model]) -> bool:
    """True when tracking is on and ``signal`` has a receiver for ``model``: only then is work done."""
    return not is_suspended() and signal.has_listeners(model)


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
    if not objects:
        return
    objects = list(objects)
    robust = tracking_info is not None and tracking_info.is_robust

    def send() -> None:
        kwargs = {"sender": model, "objects": objects, "tracking_info_": tracking_info, "using": using}
        if not robust:
            signal.send(**kwargs)
            return
        for receiver, result in signal.send_robust(**kwargs):
            if isinstance(result, Exception):
                logger.error("bulk_tracker receiver %r failed for %s", receiver, model._meta.label, exc_info=result)

    transaction.on_commit(send, using=using)
