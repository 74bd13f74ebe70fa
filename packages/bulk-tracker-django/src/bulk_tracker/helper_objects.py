"""Import path kept from django-bulk-tracker 0.2.1; the objects live in bulk_tracker_core."""

from bulk_tracker_core import ModifiedObject, TrackingInfo

__all__ = ["ModifiedObject", "TrackingInfo"]
