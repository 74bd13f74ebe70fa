"""bulk_tracker: one signal per write operation of a tracked Django model, bulk operations included."""

from bulk_tracker_core import (
    ModifiedObject,
    TrackingInfo,
    current_tracking_info,
    is_suspended,
    suspended,
    tracking,
)

from .exceptions import MissingFieldTrackerError

__version__ = "1.0.0"

__all__ = [
    "MissingFieldTrackerError",
    "ModifiedObject",
    "TrackingInfo",
    "current_tracking_info",
    "is_suspended",
    "suspended",
    "tracking",
]
