"""bulk_tracker_core: the framework-free half of bulk-tracker. Never imports Django."""

from .context import (
    bind_tracking_state,
    current_tracking_info,
    is_suspended,
    resolve_tracking_info,
    suspended,
    tracking,
)
from .diff import changed_fields, diff_rows, snapshot, values_equal
from .objects import ChangeKind, ModifiedObject, TrackingInfo, check_tracking_info

__version__ = "1.0.0"

__all__ = [
    "ChangeKind",
    "ModifiedObject",
    "TrackingInfo",
    "bind_tracking_state",
    "changed_fields",
    "check_tracking_info",
    "current_tracking_info",
    "diff_rows",
    "is_suspended",
    "resolve_tracking_info",
    "snapshot",
    "suspended",
    "tracking",
    "values_equal",
]
