"""The three signals, and helpers that send them for writes bulk_tracker cannot see.

Receivers: ``def r(sender, objects, tracking_info_=None, using=None, **kwargs)``. ``objects`` is a
list of :class:`~bulk_tracker.helper_objects.ModifiedObject`; ``using`` is the database alias that
did the write. Each is sent once per operation and model, after commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import models, router
from django.dispatch import Signal

from bulk_tracker_core import ChangeKind, ModifiedObject, TrackingInfo, changed_fields, resolve_tracking_info

from .delivery import deliver, wants
from .receivers import connect_filtered, releasing_filtered


class _DeleteSignal(Signal):
    """Deletes are seen through Django's post_delete, listened to only while this has receivers.

    ``receivers_changed`` is set by the installed delete patch (``bulk_tracker.deletion``), which
    connects or disconnects those bridges.
    """

    receivers_changed: Callable[[], None] | None = None

    def connect(self, receiver: Any, sender: Any = None, weak: bool = True, dispatch_uid: Any = None) -> None:
        super().connect(receiver, sender, weak, dispatch_uid)
        if self.receivers_changed is not None:
            self.receivers_changed()

    def disconnect(self, receiver: Any = None, sender: Any = None, dispatch_uid: Any = None) -> bool:
        disconnected = super().disconnect(receiver, sender, dispatch_uid)
        if self.receivers_changed is not None:
            self.receivers_changed()
        return disconnected


class _UpdateSignal(Signal):
    """An update signal: ``connect()`` also takes ``fields=`` and ``ignore=`` (field names).

    ``connect(receiver, sender=Book, fields={"price", "stock"})`` calls the receiver with only the rows
    where ``price`` or ``stock`` changed, and not at all when no row's did; ``ignore={"updated_at"}``
    leaves out the rows whose only changes are to the ignored fields. Each ModifiedObject is the one
    every receiver gets (its ``changed_values`` whole). A write none of whose receivers counts a field
    it writes reads nothing and is Django's own. ``disconnect(receiver, sender)`` works as usual.
    """

    def connect(
        self,
        receiver: Any,
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: Any = None,
        *,
        fields: Iterable[str] | None = None,
        ignore: Iterable[str] | None = None,
    ) -> None:
        if fields is None and ignore is None:
            super().connect(receiver, sender, weak, dispatch_uid)
        else:
            connect_filtered(self, receiver, sender, weak, dispatch_uid, fields, ignore)

    def disconnect(self, receiver: Any = None, sender: Any = None, dispatch_uid: Any = None) -> bool:
        with releasing_filtered(self, receiver, sender, dispatch_uid):
            return super().disconnect(receiver, sender, dispatch_uid)


post_create_signal = Signal()
post_update_signal = _UpdateSignal()

# Before the write, inside its transaction: ``def r(sender, objects, values, tracking_info_, using, **kwargs)``.
pre_create_signal = Signal()
pre_update_signal = Signal()
pre_delete_signal = Signal()

post_delete_signal = _DeleteSignal()
SIGNALS: dict[ChangeKind, Signal] = {
    ChangeKind.CREATE: post_create_signal,
    ChangeKind.UPDATE: post_update_signal,
    ChangeKind.DELETE: post_delete_signal,
}


# --- sending them yourself --------------------------------------------------------------------------
#
# For rows changed by code bulk_tracker cannot see (raw SQL, another library's plain queryset, a
# stored procedure): the same delivery as every tracked write, through delivery.deliver().


def send_post_create_signal(
    objs: Iterable[models.Model | ModifiedObject[Any]],
    model: type[models.Model],
    tracking_info_: TrackingInfo | None = None,
    *,
    using: str | None = None,
) -> list[ModifiedObject[Any]]:
    """Report ``objs`` (instances or ModifiedObjects of ``model``) as created, as a tracked write would.

    ``post_create_signal`` is sent once, with sender ``model``, when the transaction on ``using``
    commits (at once outside a transaction; never if it rolls back). ``using`` defaults to the
    alias the router picks for writing the first object. ``tracking_info_`` defaults to the
    current ``tracking()`` context, and ``TrackingInfo(is_robust=True)`` means ``send_robust``.
    Inside ``suspended()``, or with no receiver for ``model``, nothing is sent. Returns the
    ModifiedObjects that will be delivered (an empty list when nothing is sent).
    """
    return _send(post_create_signal, model, [_as_modified(obj) for obj in objs], tracking_info_, using)


def send_post_update_signal(
    queryset: Iterable[models.Model | ModifiedObject[Any]],
    model: type[models.Model],
    old_values: Mapping[Any, Mapping[str, Any]] | None = None,
    tracking_info_: TrackingInfo | None = None,
    *,
    using: str | None = None,
) -> list[ModifiedObject[Any]]:
    """Report the rows of ``queryset`` (instances, in their new state) as updated.

    ``old_values`` maps each instance's pk to ``{field: value before the write}``; only fields
    whose value really differs from the instance's are reported, and an instance with none is
    left out. A ModifiedObject is reported as given (left out when its ``changed_values`` is
    empty) and needs no entry. Delivery as for :func:`send_post_create_signal`.
    """
    objects: list[ModifiedObject[Any]] = []
    for obj in queryset:
        if isinstance(obj, ModifiedObject):
            modified = obj
        else:
            if old_values is None:
                raise TypeError("send_post_update_signal() needs old_values={pk: {field: old value}} for instances.")
            if obj.pk not in old_values:
                raise KeyError(
                    f"send_post_update_signal(): old_values has no entry for {model.__name__} pk={obj.pk!r}."
                )
            old = old_values[obj.pk]
            modified = ModifiedObject(obj, changed_fields(old, {name: getattr(obj, name) for name in old}))
        if modified.changed_values:
            objects.append(modified)
    return _send(post_update_signal, model, objects, tracking_info_, using)


def send_post_delete_signal(
    objs: Iterable[models.Model | ModifiedObject[Any]],
    model: type[models.Model],
    tracking_info_: TrackingInfo | None = None,
    *,
    using: str | None = None,
) -> list[ModifiedObject[Any]]:
    """Report ``objs`` as deleted; they should still carry their pk and the values they had.

    Delivery as for :func:`send_post_create_signal`.
    """
    return _send(post_delete_signal, model, [_as_modified(obj) for obj in objs], tracking_info_, using)


def _as_modified(obj: models.Model | ModifiedObject[Any]) -> ModifiedObject[Any]:
    return obj if isinstance(obj, ModifiedObject) else ModifiedObject(obj)


def _send(
    signal: Signal,
    model: type[models.Model],
    objects: list[ModifiedObject[Any]],
    tracking_info_: object,
    using: str | None,
) -> list[ModifiedObject[Any]]:
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise TypeError(f"model must be a Django model class, got {model!r}.")
    info = resolve_tracking_info(tracking_info_)  # a wrong type is a TypeError, even when nothing is sent
    if not objects or not wants(signal, model):
        return []
    alias = using or router.db_for_write(model, instance=objects[0].instance)
    deliver(signal, model, objects, info, alias)
    return objects


__all__ = [
    "SIGNALS",
    "post_create_signal",
    "post_delete_signal",
    "post_update_signal",
    "pre_create_signal",
    "pre_delete_signal",
    "pre_update_signal",
    "send_post_create_signal",
    "send_post_delete_signal",
    "send_post_update_signal",
]
