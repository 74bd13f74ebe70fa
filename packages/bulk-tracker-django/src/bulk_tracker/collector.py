"""Deprecated: django-bulk-tracker 0.2.1's deletion collector, kept so old imports still work.

Every delete of a tracked model is reported through Django's own ``Collector`` now (see
``bulk_tracker.deletion``), so no special collector is needed: call ``delete(tracking_info_=...)``
on the instance or queryset. Importing a name from here emits a ``DeprecationWarning``.
"""

from __future__ import annotations

from django.db.models.deletion import Collector

from bulk_tracker_core import TrackingInfo

from ._deprecation import deprecated_names
from .delivery import tracking_scope

_INSTEAD = {
    "BulkTrackerCollector": (
        "bulk_tracker.collector.BulkTrackerCollector is deprecated: Django's own Collector is tracked now. "
        "Use instance.delete(tracking_info_=...) or queryset.delete(tracking_info_=...), or "
        "django.db.models.deletion.Collector inside bulk_tracker.tracking(...)."
    ),
}


class _BulkTrackerCollector(Collector):
    """Django's ``Collector`` whose ``delete()`` takes ``tracking_info_``, as in 0.2.1."""

    def delete(self, *, tracking_info_: TrackingInfo | None = None) -> tuple[int, dict[str, int]]:
        """Django's ``Collector.delete()``, reported with ``tracking_info_`` (or the tracking context)."""
        with tracking_scope(tracking_info_):
            result: tuple[int, dict[str, int]] = super().delete()
            return result


_BulkTrackerCollector.__name__ = _BulkTrackerCollector.__qualname__ = "BulkTrackerCollector"
__getattr__ = deprecated_names(
    __name__, {"BulkTrackerCollector": (_BulkTrackerCollector, _INSTEAD["BulkTrackerCollector"])}
)


__all__ = ["BulkTrackerCollector"]  # noqa: F822 - served, with its warning, by __getattr__
