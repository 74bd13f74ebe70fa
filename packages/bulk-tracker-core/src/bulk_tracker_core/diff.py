"""Which fields of which rows changed, keyed to their old values.

Rules (also in the package README):

* Equality decides. ``1 == 1.0 == Decimal("1")`` and ``True == 1`` are not changes, so values
  a database returns in another type for the same stored value compare equal.
* ``NaN`` that stays ``NaN`` (float or Decimal) is not a change.
* ``None`` and an empty value (``""``, ``[]``, ``{}``) are different: that is a change.
* A naive and an aware datetime are never equal (Python cannot know the zone); the Django
  adapter reads both sides from the database, so this only shows for values set in memory.
* Old values are snapshots: mutable values (JSON lists and dicts) are deep-copied, so a later
  change to the instance cannot alter what a receiver was told.
"""

from __future__ import annotations

import copy
import datetime
import math
import uuid
from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)

_IMMUTABLE: tuple[type, ...] = (str, bytes, int, float, complex, bool, Decimal, type(None), frozenset, tuple)
_IMMUTABLE += (uuid.UUID, datetime.date, datetime.time, datetime.timedelta, datetime.tzinfo)  # date: datetime too


# Types whose values compare by ``==`` alone when both sides have them (no NaN, no float/Decimal mix).
_PLAIN_EQUAL = frozenset({str, int, bool, bytes, uuid.UUID, datetime.date, datetime.datetime, datetime.time})


def _is_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    return False


def values_equal(old: Any, new: Any) -> bool:
    """True when ``new`` is not a change of ``old``."""
    if old is new:
        return True
    kind = type(old)
    if kind is type(new) and kind in _PLAIN_EQUAL:
        return bool(old == new)
    if _is_nan(old) or _is_nan(new):
        return _is_nan(old) and _is_nan(new)
    if (old is None) != (new is None):
        return False
    # A float column read back as Decimal (or the reverse) compares by its shortest decimal form.
    if isinstance(old, float) and isinstance(new, Decimal):
        return Decimal(repr(old)) == new
    if isinstance(old, Decimal) and isinstance(new, float):
        return old == Decimal(repr(new))
    try:
        return bool(old == new)
    except TypeError:
        return False


def snapshot(value: Any) -> Any:
    """Return ``value`` frozen in time: immutable values as they are, others deep-copied."""
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, memoryview):  # cannot be deep-copied; copy its bytes
        return memoryview(value.tobytes())
    return copy.deepcopy(value)


def changed_fields(
    old: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str] | None = None
) -> dict[str, Any]:
    """Map each field whose value differs between ``old`` and ``new`` to a snapshot of its old value.

    ``fields`` limits the comparison; by default every field of ``old`` is compared. A field
    missing from ``new`` is not compared (it was not written).
    """
    names = old.keys() if fields is None else fields
    return {name: snapshot(old[name]) for name in names if name in new and not values_equal(old[name], new[name])}


def diff_rows(
    old_rows: Mapping[K, Mapping[str, Any]],
    new_rows: Mapping[K, Mapping[str, Any]],
    fields: Iterable[str] | None = None,
) -> dict[K, dict[str, Any]]:
    """Per row key present in both mappings, the fields that changed mapped to their old values.

    Rows whose values did not change, and rows present on one side only, are left out.
    """
    names = None if fields is None else tuple(fields)
    result: dict[K, dict[str, Any]] = {}
    for key, old in old_rows.items():
        new = new_rows.get(key)
        if new is None:
            continue
        changes = changed_fields(old, new, names)
        if changes:
            result[key] = changes
    return result
