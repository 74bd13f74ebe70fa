"""Deprecated: django-bulk-tracker 0.2.1's helper module, kept so old imports still work.

Importing a name from here emits a ``DeprecationWarning``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._deprecation import deprecated_names

_INSTEAD = {
    "get_old_values": (
        "bulk_tracker.utils.get_old_values is deprecated: bulk_tracker reads old values itself. Write "
        "{name: getattr(obj, name) for name in names} where you still need it, and report rows changed "
        "behind bulk_tracker's back with bulk_tracker.signals.send_post_update_signal()."
    ),
}


def _get_old_values(obj: object, kwargs: Iterable[str]) -> dict[str, Any]:
    """``{name: current value on obj}`` for each name (each key when given update()'s keyword dict)."""
    return {name: getattr(obj, name) for name in kwargs}


_get_old_values.__name__ = _get_old_values.__qualname__ = "get_old_values"
__getattr__ = deprecated_names(__name__, {"get_old_values": (_get_old_values, _INSTEAD["get_old_values"])})


__all__ = ["get_old_values"]  # noqa: F822 - served, with its warning, by __getattr__
