"""bulk_tracker's settings: one accessor per setting, read from ``django.conf.settings`` at each call.

``BULK_TRACKER_FAST_LOADING`` (default ``True``): ``BulkTrackerModel.from_db()`` builds a full row
of a model whose loading nothing customises directly (see :mod:`bulk_tracker.loading`). ``False``
makes every load go through Django's own ``from_db()`` and model_utils' ``__init__``.
"""

from __future__ import annotations

from django.conf import settings


def fast_loading() -> bool:
    """``settings.BULK_TRACKER_FAST_LOADING``, ``True`` when unset."""
    return bool(getattr(settings, "BULK_TRACKER_FAST_LOADING", True))
