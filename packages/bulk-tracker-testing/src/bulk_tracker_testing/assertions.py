"""Assertions on captured bulk_tracker signals, with failure messages that show what was captured.

Plain functions: use them from pytest, ``unittest`` or ``django.test.TestCase`` alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import Model

from bulk_tracker.helper_objects import TrackingInfo
from bulk_tracker_core import ChangeKind

if TYPE_CHECKING:
    from .capture import CapturedSignals

_UNSET: Any = object()
__tracebackhide__ = True  # pytest shows a failure at the test's line, not inside these helpers


def describe(captured: CapturedSignals) -> str:
    """Every captured call on its own line: kind, model, alias, rows with pk and old values, tracking info."""
    if not captured.calls:
        return "nothing was sent"
    lines = [f"{len(captured.calls)} signal call(s):"]
    for number, call in enumerate(captured.calls, 1):
        rows = ", ".join(
            f"pk={obj.instance.pk!r}" + (f" {obj.changed_values!r}" if obj.changed_values else "")
            for obj in call.objects
        )
        info = f" tracking_info={call.tracking_info!r}" if call.tracking_info is not None else ""
        lines.append(
            f"  {number}. {call.kind.value} {call.sender._meta.label} using={call.using!r}: "
            f"{len(call.objects)} row(s) [{rows}]{info}"
        )
    return "\n".join(lines)


def _fail(message: str, captured: CapturedSignals) -> None:
    raise AssertionError(f"{message}\nCaptured: {describe(captured)}")


def _assert_kind(
    kind: ChangeKind,
    captured: CapturedSignals,
    sender: type[Model],
    count: int | None,
    pks: Iterable[Any] | None,
    changed_values: Mapping[Any, Mapping[str, Any]] | None,
    tracking_info: TrackingInfo | None,
    calls: int | None,
) -> None:
    label = f"{kind.value}d {sender._meta.label}"
    matching = captured.of(kind, sender)
    objects = [obj for call in matching for obj in call.objects]
    if not matching and count != 0:
        _fail(f"Expected {label} rows, but no {kind.value} signal was sent for {sender._meta.label}.", captured)
    if calls is not None and len(matching) != calls:
        _fail(f"Expected {calls} {kind.value} signal call(s) for {sender._meta.label}, got {len(matching)}.", captured)
    if count is not None and len(objects) != count:
        _fail(f"Expected {count} {label} row(s), got {len(objects)}.", captured)
    actual_pks = [obj.instance.pk for obj in objects]
    if pks is not None:
        expected = pks if isinstance(pks, (set, frozenset)) else list(pks)
        actual: Any = set(actual_pks) if isinstance(pks, (set, frozenset)) else actual_pks
        if actual != expected:
            _fail(f"Expected {label} pks {expected!r}, got {actual!r}.", captured)
    if changed_values is not None:
        actual_changes = {obj.instance.pk: obj.changed_values for obj in objects}
        if actual_changes != dict(changed_values):
            _fail(f"Expected changed values {dict(changed_values)!r}, got {actual_changes!r}.", captured)
    if tracking_info is not _UNSET:
        infos = [call.tracking_info for call in matching]
        if any(info != tracking_info for info in infos):
            _fail(f"Expected tracking_info {tracking_info!r} on every {kind.value} call, got {infos!r}.", captured)


def assert_created(
    captured: CapturedSignals,
    sender: type[Model],
    count: int | None = None,
    *,
    pks: Iterable[Any] | None = None,
    tracking_info: TrackingInfo | None = _UNSET,
    calls: int | None = None,
) -> None:
    """Assert ``sender`` rows were reported created: how many, which pks, with what info, in how many calls."""
    _assert_kind(ChangeKind.CREATE, captured, sender, count, pks, None, tracking_info, calls)


def assert_updated(
    captured: CapturedSignals,
    sender: type[Model],
    count: int | None = None,
    *,
    pks: Iterable[Any] | None = None,
    changed_values: Mapping[Any, Mapping[str, Any]] | None = None,
    tracking_info: TrackingInfo | None = _UNSET,
    calls: int | None = None,
) -> None:
    """Assert ``sender`` rows were reported updated; ``changed_values`` maps each pk to its old values."""
    _assert_kind(ChangeKind.UPDATE, captured, sender, count, pks, changed_values, tracking_info, calls)


def assert_deleted(
    captured: CapturedSignals,
    sender: type[Model],
    count: int | None = None,
    *,
    pks: Iterable[Any] | None = None,
    tracking_info: TrackingInfo | None = _UNSET,
    calls: int | None = None,
) -> None:
    """Assert ``sender`` rows were reported deleted (pks are those the rows had)."""
    _assert_kind(ChangeKind.DELETE, captured, sender, count, pks, None, tracking_info, calls)


def assert_nothing_sent(captured: CapturedSignals) -> None:
    """Assert no bulk_tracker signal was captured."""
    if captured.calls:
        _fail("Expected no bulk_tracker signal.", captured)


def assert_changed(captured: CapturedSignals, instance: Model, field: str, old: Any, new: Any) -> None:
    """Assert one row was reported with ``field`` changed from ``old`` to ``new`` (the value it has now)."""
    model = type(instance)
    reports = [obj for obj in captured.updated(model) if obj.instance.pk == instance.pk]
    where = f"{model._meta.label} pk={instance.pk!r}"
    if not reports:
        _fail(f"Expected an update of {where}, none was reported.", captured)
    changes = [obj for obj in reports if field in obj.changed_values]
    if not changes:
        _fail(
            f"Expected {where} to report {field!r} changed, it reported {[o.changed_values for o in reports]!r}.",
            captured,
        )
    last = changes[-1]
    actual_old, actual_new = changes[0].changed_values[field], getattr(last.instance, field)
    if _is_many_to_many(model, field):  # related sets, compared as pks
        actual_new = frozenset(actual_new.values_list("pk", flat=True))
        old, new = _pks(old), _pks(new)
    if (actual_old, actual_new) != (old, new):
        _fail(f"Expected {where}.{field}: {old!r} -> {new!r}, got {actual_old!r} -> {actual_new!r}.", captured)


def assert_m2m_changed(
    captured: CapturedSignals, instance: Model, field: str, old: Iterable[Any], new: Iterable[Any]
) -> None:
    """Assert ``instance``'s many-to-many ``field`` was reported changed from the related ``old`` to ``new``.

    ``old`` and ``new`` are related objects or their pks, in any order; ``new`` is compared with the
    relation as it is now.
    """
    if not _is_many_to_many(type(instance), field):
        raise TypeError(f"{type(instance)._meta.label}.{field} is not a many-to-many field.")
    assert_changed(captured, instance, field, old, new)


def _is_many_to_many(model: type[Model], field: str) -> bool:
    return any(f.name == field for f in model._meta.many_to_many)


def _pks(values: Iterable[Any]) -> frozenset[Any]:
    return frozenset(value.pk if isinstance(value, Model) else value for value in values)
