"""The three signals. Receivers: ``def r(sender, objects, tracking_info_=None, using=None, **kwargs)``.

``objects`` is a list of :class:`~bulk_tracker.helper_objects.ModifiedObject`; ``using`` is the
database alias that did the write. Each is sent once per operation and model, after commit.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal


class _DeleteSignal(Signal):
    """Deletes are seen through Django's post_delete, listened to only while this has receivers."""

    def connect(self, receiver: Any, sender: Any = None, weak: bool = True, dispatch_uid: Any = None) -> None:
        super().connect(receiver, sender, weak, dispatch_uid)
        _sync_bridges()

    def disconnect(self, receiver: Any = None, sender: Any = None, dispatch_uid: Any = None) -> bool:
        disconnected = super().disconnect(receiver, sender, dispatch_uid)
        _sync_bridges()
        return disconnected


def _sync_bridges() -> None:
    from .deletion import sync_bridges

    sync_bridges()


post_create_signal = Signal()
post_update_signal = Signal()
post_delete_signal = _DeleteSignal()

__all__ = ["post_create_signal", "post_delete_signal", "post_update_signal"]
