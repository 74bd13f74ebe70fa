"""Deletes, cascades and SET_* side effects, through Django's own deletion collector.

Nothing here copies Django's ``Collector``. It relies on three documented behaviours, the same
from Django 4.2 to 6.1:

* ``post_delete`` is sent for every row the collector deletes, with ``origin`` (the queryset or
  instance ``delete()`` was called on), and a model with ``post_delete`` receivers is never
  fast-deleted, so its rows are loaded whole. We connect to it only for tracked models that have
  a ``post_delete_signal`` receiver: without one, deletes stay Django's fast path.
* ``on_delete`` is a callable ``(collector, field, sub_objs, using)`` and SET_NULL, SET_DEFAULT
  and SET() schedule their change with ``collector.add_field_update(field, value, objs)``.
* ``QuerySet.delete()`` and ``Model.delete()`` call ``collector.delete()`` right after
  ``collector.collect()``.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.migrations.serializer import BaseSerializer, serializer_factory
from django.db.migrations.writer import MigrationWriter
from django.db.models import SET_DEFAULT, SET_NULL
from django.db.models.signals import post_delete as django_post_delete

from bulk_tracker_core import ModifiedObject, TrackingInfo, current_tracking_info, is_suspended, values_equal

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
    deleted: dict[type[models.Model], list[models.Model]] = field(default_factory=dict)


_runs: dict[tuple[int, str], _Run] = {}


def _collect_deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    if is_suspended():
        return
    origin = kwargs.get("origin")
    key = (id(origin), using)
    run = _runs.get(key)
    if run is None:
        run = _runs[key] = _Run(current_tracking_info())
        if origin is not None:
            weakref.finalize(origin, _runs.pop, key, None)  # a rolled-back run never reaches _send
        transaction.on_commit(lambda: _send(key, run), using=using)
    # A copy: Django sets the pk of deleted instances to None once the delete is done.
    run.deleted.setdefault(sender, []).append(copy.copy(instance))


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
            olds = [getattr(obj, field.attname) for obj in objs]
            _pending_updates(collector).append((model, field, objs, olds, spy.values[-1]))

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

Pending = list[tuple[type[models.Model], Any, list[models.Model], list[Any], Any]]


def _pending_updates(collector: Any) -> Pending:
    """The SET_* updates a collector will make; its delete() reports them before Django deletes."""
    pending: Pending | None = collector.__dict__.get("_bulk_tracker_updates")
    if pending is not None:
        return pending
    pending = collector._bulk_tracker_updates = []
    info = current_tracking_info()
    django_delete = collector.delete

    def delete() -> Any:
        with transaction.atomic(using=collector.using, savepoint=False):
            _report_updates(pending, info, collector.using)  # on_commit: dropped if the delete fails
            return django_delete()

    collector.delete = delete
    return pending


def _report_updates(pending: Pending, info: TrackingInfo | None, using: str) -> None:
    per_model: dict[type[models.Model], dict[Any, ModifiedObject[Any]]] = {}
    for model, fk, objs, olds, value in pending:
        new = getattr(value, fk.target_field.attname) if isinstance(value, models.Model) else value
        changes = per_model.setdefault(model, {})
        for obj, old in zip(objs, olds, strict=True):
            if values_equal(old, new):
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
    """Wrap the SET_* handlers of foreign keys on tracked models (called once, from ready())."""
    for model in apps.get_models():
        if not is_tracked(model):
            continue
        for fk in model._meta.local_fields:
            remote = fk.remote_field
            if remote is None or isinstance(remote.on_delete, ReportingOnDelete):
                continue
            if _reports_updates(getattr(remote, "on_delete", None)):
                remote.on_delete = ReportingOnDelete(remote.on_delete)
