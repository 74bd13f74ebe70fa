"""Deletes, cascades and SET_* side effects, through Django's own deletion collector.

Nothing here copies Django's ``Collector``. It relies on three documented behaviours, the same
from Django 4.2 to 6.1:

* ``post_delete`` is sent for every row the collector deletes, with ``origin`` (the queryset or
  instance ``delete()`` was called on), and a model with ``post_delete`` receivers is never
  fast-deleted, so its rows are loaded whole. We connect to it only for tracked models that have
  a ``post_delete_signal`` receiver: without one, deletes stay Django's fast path.
* ``on_delete`` is a callable ``(collector, field, sub_objs, using)`` and SET_NULL, SET_DEFAULT
  and SET() schedule their change with ``collector.add_field_update(field, value, objs)``.
* Every delete, whoever starts it (``QuerySet.delete()``, ``Model.delete()``, a cascade from an
  untracked parent, the admin), ends in ``Collector.delete()``, which we wrap (once, class-level).

Django's collector reads the rows before its transaction writes, without a lock, and sends
``post_delete`` for every row it collected, whether its DELETE removed the row or not. On backends
with row locks, the wrapper therefore locks and re-reads, in the delete's transaction, the rows it
will report (deleted rows of models with a ``post_delete_signal`` receiver, SET_* rows of models with
a ``post_update_signal`` receiver): a row another transaction deleted first is not reported (that one
reports it), and every reported value is the row as this delete removed or changed it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connections, models, transaction
from django.db.migrations.serializer import BaseSerializer, serializer_factory
from django.db.migrations.writer import MigrationWriter
from django.db.models import SET_DEFAULT, SET_NULL
from django.db.models.base import ModelState
from django.db.models.deletion import Collector
from django.db.models.signals import post_delete as django_post_delete

from bulk_tracker_core import ModifiedObject, TrackingInfo, current_tracking_info, is_suspended, values_equal

from . import rows
from .delivery import deliver, wants
from .rows import pk_order
from .signals import post_delete_signal, post_update_signal


def is_tracked(model: type[models.Model]) -> bool:
    """True for a BulkTrackerModel or a model whose default manager has a BulkTrackerQuerySet."""
    from .managers import BulkTrackerQuerySet
    from .models import BulkTrackerModel

    manager = getattr(model, "_default_manager", None)
    return issubclass(model, BulkTrackerModel) or issubclass(
        getattr(manager, "_queryset_class", object), BulkTrackerQuerySet
    )


# --- deleted rows: Django's post_delete, grouped per delete() call ---------------------------------


@dataclass
class _Run:
    """The rows one ``delete()`` call removed, per model in the order Django deleted them."""

    info: TrackingInfo | None
    block: Any  # the atomic block of that delete() call (Collector.delete opens one): tells calls apart
    deleted: dict[type[models.Model], list[models.Model]] = field(default_factory=dict)


_runs: dict[tuple[int, str], _Run] = {}


def _collect_deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    if is_suspended():
        return
    fresh = instance.__dict__.pop(_FRESH_ROW, {})  # the row as _lock_rows() read it, where it did
    if fresh is None:
        return  # another transaction deleted it first (and reports it); this DELETE removed nothing
    origin = kwargs.get("origin")
    key = (id(origin), using)
    blocks = connections[using].atomic_blocks
    block = blocks[-1] if blocks else None
    run = _runs.get(key)
    # The same origin (a queryset deleted again, say after a rollback dropped its first run) starts a new run.
    if run is None or run.block is not block:
        if run is None and origin is not None:
            weakref.finalize(origin, _runs.pop, key, None)  # a rolled-back run never reaches _send
        run = _runs[key] = _Run(current_tracking_info(), block)
        transaction.on_commit(lambda: _send(key, run), using=using)
    deleted = _copy(instance)  # Django sets the pk of deleted instances to None once the delete is done
    for name, value in fresh.items():
        setattr(deleted, name, value)
    run.deleted.setdefault(sender, []).append(deleted)


def _copy(instance: models.Model) -> models.Model:
    """``copy.copy(instance)`` as Django's ``__getstate__``/``__setstate__`` make it, without pickling's detour."""
    clone = object.__new__(type(instance))
    clone.__dict__.update(instance.__dict__)
    state = ModelState()
    state.__dict__.update(instance._state.__dict__)
    state.__dict__.pop("peers", None)  # weak references to the other rows of a query (Django 6.1), never copied
    state.fields_cache = dict(instance._state.fields_cache)
    clone._state = state
    return clone


def _send(key: tuple[int, str], run: _Run) -> None:
    if _runs.get(key) is run:
        del _runs[key]
    for model, instances in run.deleted.items():
        instances.sort(key=lambda obj: pk_order(obj.pk))
        deliver(post_delete_signal, model, [ModifiedObject(obj) for obj in instances], run.info, key[1])


def sync_bridges() -> None:
    """Listen to Django's post_delete exactly for the tracked models that have our receivers."""
    if not apps.models_ready:
        return  # BulkTrackerConfig.ready() calls again
    for model in apps.get_models():
        uid = f"bulk_tracker:{model._meta.label}"
        if is_tracked(model) and post_delete_signal.has_listeners(model):
            django_post_delete.connect(_collect_deleted, sender=model, weak=False, dispatch_uid=uid)
        else:
            django_post_delete.disconnect(sender=model, dispatch_uid=uid)


# --- SET_NULL / SET_DEFAULT / SET(): rows updated by a delete ------------------------------------


class _FieldUpdateSpy:
    """Stands in for the collector to learn the value an on_delete handler sets."""

    def __init__(self, collector: Any) -> None:
        self._collector = collector
        self.values: list[Any] = []

    def add_field_update(self, field: Any, value: Any, objs: Any) -> None:
        self.values.append(value)
        self._collector.add_field_update(field, value, objs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collector, name)


class ReportingOnDelete:
    """Wraps a SET_* ``on_delete`` of a tracked model so the rows it changes are reported.

    It compares equal to, and is serialised in migrations as, the handler it wraps.
    """

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original

    def __call__(self, collector: Any, field: Any, sub_objs: Any, using: str) -> None:
        model = field.model
        if not wants(post_update_signal, model):
            self.original(collector, field, sub_objs, using)
            return
        # Django may have deferred all but the key columns: load the rows whole, once per batch.
        objs = list(sub_objs.defer(None) if isinstance(sub_objs, models.QuerySet) else sub_objs)
        if not objs:
            return  # nothing to set (and SET(callable) need not be called)
        spy = _FieldUpdateSpy(collector)
        self.original(spy, field, objs, using)
        if spy.values:
            _pending_updates(collector).append((model, field, objs, spy.values[-1]))

    def __getattr__(self, name: str) -> Any:
        if name == "original" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.original, name)  # lazy_sub_objs, deconstruct (SET()), __name__ ...

    def __eq__(self, other: object) -> bool:
        return other is self or other == self.original

    def __hash__(self) -> int:
        return hash(self.original)


class _ReportingOnDeleteSerializer(BaseSerializer):
    def serialize(self) -> tuple[str, set[str]]:
        return serializer_factory(self.value.original).serialize()


MigrationWriter.register_serializer(ReportingOnDelete, _ReportingOnDeleteSerializer)

Pending = list[tuple[type[models.Model], Any, list[models.Model], Any]]  # model, fk, rows, new value


def _pending_updates(collector: Any) -> Pending:
    """The SET_* updates a collector will make; its delete() reports them before Django deletes."""
    pending: Pending | None = collector.__dict__.get("_bulk_tracker_updates")
    if pending is None:
        pending = collector._bulk_tracker_updates = []
        collector._bulk_tracker_info = current_tracking_info()
    return pending


# --- Collector.delete(): lock what will be reported, report the SET_* updates, then Django deletes ------

_FRESH_ROW = "_bulk_tracker_row"  # stashed on a collected instance: its locked re-read, None when gone
_django_collector_delete = Collector.delete


def _tracked_collector_delete(collector: Any) -> Any:
    """``Collector.delete()``: lock and re-read what will be reported, report SET_* changes, let Django delete."""
    pending: Pending = collector.__dict__.get("_bulk_tracker_updates") or []
    reported = [model for model in collector.data if wants(post_delete_signal, model) and is_tracked(model)]
    locks = connections[collector.using].features.has_select_for_update
    if not pending and not (reported and locks):
        return _django_collector_delete(collector)  # nothing of ours: exactly Django's delete
    with transaction.atomic(using=collector.using, savepoint=False):
        gone = _lock_rows(collector, reported, pending) if locks else set()
        if pending:
            # A row this delete also removes is reported deleted (with the values it had), not updated.
            doomed = {(model._meta.concrete_model, obj.pk) for model, objs in collector.data.items() for obj in objs}
            _report_updates(pending, collector._bulk_tracker_info, collector.using, doomed | gone)
        return _django_collector_delete(collector)  # on_commit deliveries: dropped if this fails


_tracked_collector_delete._bulk_tracker = True  # type: ignore[attr-defined]


def _lock_rows(collector: Any, reported: list[type[models.Model]], pending: Pending) -> set[tuple[Any, Any]]:
    """Lock and re-read the rows the delete will report; return the SET_* rows already gone.

    One locked read per model and parameter chunk, never per row.
    """
    using = collector.using
    for model in reported:
        instances = list(collector.data[model])
        current = _locked_rows(model, using, [obj.pk for obj in instances])
        for obj in instances:
            setattr(obj, _FRESH_ROW, current.get(obj.pk))
    set_rows: dict[type[models.Model], list[models.Model]] = {}
    for model, _fk, objs, _value in pending:
        set_rows.setdefault(model, []).extend(objs)  # our own instances (ReportingOnDelete loaded them)
    gone: set[tuple[Any, Any]] = set()
    for model, objs in set_rows.items():
        current = _locked_rows(model, using, {obj.pk for obj in objs})
        for obj in objs:
            row = current.get(obj.pk)
            if row is None:
                gone.add((model._meta.concrete_model, obj.pk))
                continue
            for name, value in row.items():
                setattr(obj, name, value)
    return gone


def _locked_rows(model: type[models.Model], using: str, pks: Any) -> dict[Any, dict[str, Any]]:
    base = model._base_manager.db_manager(using)
    names = [f.attname for f in model._meta.concrete_fields]
    pk_name = model._meta.pk.attname
    found: dict[Any, dict[str, Any]] = {}
    for chunk in rows.chunks(rows.pk_sorted(pks), using):
        for row in rows.lock(base.filter(pk__in=chunk)).values(*names):
            found[row[pk_name]] = row
    return found


def _report_updates(pending: Pending, info: TrackingInfo | None, using: str, skipped: set[tuple[Any, Any]]) -> None:
    per_model: dict[type[models.Model], dict[Any, ModifiedObject[Any]]] = {}
    for model, fk, objs, value in pending:
        new = getattr(value, fk.target_field.attname) if isinstance(value, models.Model) else value
        changes = per_model.setdefault(model, {})
        concrete = model._meta.concrete_model
        for obj in objs:
            old = getattr(obj, fk.attname)  # as _lock_rows() re-read it, on backends with row locks
            if values_equal(old, new) or (concrete, obj.pk) in skipped:
                continue
            modified = changes.setdefault(obj.pk, ModifiedObject(obj))
            setattr(modified.instance, fk.attname, new)
            modified.changed_values[fk.attname] = old
    for model, changes in per_model.items():
        deliver(post_update_signal, model, list(changes.values()), info, using)


def _reports_updates(on_delete: Any) -> bool:
    deconstruct = getattr(on_delete, "deconstruct", None)
    return on_delete in (SET_NULL, SET_DEFAULT) or (
        deconstruct is not None and deconstruct()[0] == "django.db.models.SET"
    )


def install_on_delete_reporting() -> None:
    """Wrap Collector.delete() and the SET_* handlers of foreign keys on tracked models (from ready())."""
    if not getattr(Collector.delete, "_bulk_tracker", False):
        Collector.delete = _tracked_collector_delete
    for model in apps.get_models():
        if not is_tracked(model):
            continue
        for fk in model._meta.local_fields:
            remote = fk.remote_field
            if remote is None or isinstance(remote.on_delete, ReportingOnDelete):
                continue
            if _reports_updates(getattr(remote, "on_delete", None)):
                remote.on_delete = ReportingOnDelete(remote.on_delete)
