"""Exceptions bulk_tracker raises itself (Django's own errors are raised as Django raises them)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class MissingFieldTrackerError(ImproperlyConfigured, AttributeError):
    """A model's single-row ``save()`` must report old values, and the model has no ``FieldTracker``.

    Both an ``ImproperlyConfigured`` (what it is) and an ``AttributeError`` (what
    django-bulk-tracker 0.2.1 raised), so either ``except`` clause catches it.
    """


__all__ = ["MissingFieldTrackerError"]
