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
* A fast delete is ``queryset._raw_delete(using)`` on each queryset of ``collector.fast_deletes``.
  Where ``DELETE ... RETURNING`` exists (PostgreSQL, SQLite 3.35+, MariaDB 10.5+) our bridge does
  not stop a queryset from being fast-deleted (``can_fast_delete()``); that queryset's delete is
  Django's compiled DELETE with RETURNING every column, which reports exactly the rows it removed,
  none of them loaded as instances unless a receiver reads one.

Each ``Collector.delete()`` call is one :class:`_DeleteRun`: it carries the rows re-read under lock
and the deleted rows to report, so nothing is stored on Django's collector or instances. All of it
is applied by :func:`bulk_tracker.registry.install` and undone by ``uninstall()``.

Django's collector reads the rows before its transaction writes, without a lock, and sends
``post_delete`` for every row it collected, whether its DELETE removed the row or not. On backends
with row locks, the wrapper therefore locks and re-reads, in the delete's transaction, the rows it
will report (deleted rows of models with a ``post_delete_signal`` receiver, SET_* rows of models with
a ``post_update_signal`` receiver): a row another transaction deleted first is not reported (that one
reports it), and every reported value is the row as this delete removed or changed it.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connections, models, transaction
from django.db.migrations.serializer import BaseSerializer, serializer_factory
from django.db.migrations.writer import MigrationWriter
from django.db.models import SET_DEFAULT, SET_NULL
from django.db.models.deletion import Collector
from django.db.models.signals import post_delete as django_post_delete
from django.db.models.signals import pre_delete as django_pre_delete

from bulk_tracker_core import ModifiedObject, TrackingInfo, current_tracking_info, is_suspended, values_equal

from . import m2m, rows
from .delivery import Before, Delivery, delivered_after, schedule, send_before_write, wants
from .receivers import live_receivers
from .registry import is_tracked, register_patch
from .rows import pk_order
from .signals import post_delete_signal, post_update_signal, pre_delete_signal

# --- deleted rows: Django's post_delete, grouped per Collector.delete() call ---------------------------


@dataclass(eq=False)
class _DeleteRun:
    """One ``Collector.delete()`` call: the rows it locked and re-read, and those it deleted, per model."""

    using: str
    info: TrackingInfo | None
    # id() of a collected instance -> its row as _read_rows() read it (concrete_fields order), None when
    # already gone. The collector holds every such instance until the call returns: no id is reused meanwhile.
    fresh: dict[int, Sequence[Any] | None] = field(default_factory=dict)
    deleted: dict[type[models.Model], list[ModifiedObject[models.Model]]] = field(default_factory=dict)
    # Rows of fast deletes, as their DELETE ... RETURNING handed them back: by model, by pk, built on access.
    returned: dict[type[models.Model], dict[Any, Callable[[], models.Model]]] = field(default_factory=dict)
    scheduled: bool = False
    # By model: its concrete attnames, and the function copying a collected instance as it was deleted.
    copiers: dict[type[models.Model], tuple[list[str], Callable[[Any], models.Model]]] = field(default_factory=dict)

    def add(self, model: type[models.Model], instance: models.Model, origin: object) -> None:
        """Keep ``instance`` as this delete removed it, to report: Django sets its pk to None once it is done.

        The caller's own instance (``origin``) is copied now. One the collector loaded, which nobody else
        holds, keeps only its values now (as re-read, or as loaded); its copy is made when a receiver
        reads it.
        """
        fresh = self.fresh.get(id(instance), ())
        if fresh is None:
            return  # another transaction deleted it first (and reports it); this DELETE removed nothing
        if model not in self.copiers:
            names = rows.row_attnames(model)
            self.copiers[model] = names, functools.partial(_as_deleted, names)
        names, copier = self.copiers[model]
        values = fresh
        if not values and instance is not origin:
            with suppress(KeyError):  # a deferred field: copied now, as the caller's own
                values = tuple([instance.__dict__[name] for name in names])
        if instance is origin or not values:
            deleted = ModifiedObject(copier((instance, values)))
        else:
            build = rows.Builder(copier, (instance, values))
            deleted = ModifiedObject.built_on_access(build, {}, instance.pk)
        self.deleted.setdefault(model, []).append(deleted)
        self._schedule()

    def add_returned(self, model: type[models.Model], builders: dict[Any, Callable[[], models.Model]]) -> None:
        """The rows a fast delete of ``model`` removed, each with the function building its instance."""
        if builders:
            self.deleted.setdefault(model, [])  # the models in the order their rows were deleted
            self.returned.setdefault(model, {}).update(builders)
            self._schedule()

    def _schedule(self) -> None:
        if not self.scheduled:  # inside Django's atomic block: a rollback drops the delivery
            self.scheduled = True
            schedule(self.deliveries, self.using)

    def deliveries(self) -> list[Delivery]:
        """One post_delete_signal per model, its rows by pk (called at the commit)."""
        made = []
        for model, collected in self.deleted.items():
            objects = list(collected)
            built = self.returned.get(model, {})
            objects += [ModifiedObject.built_on_access(build, {}, pk) for pk, build in built.items()]
            objects.sort(key=lambda changed: pk_order(changed.pk, model._meta.pk))
            made.append(Delivery(post_delete_signal, model, objects, self.info, self.using))
        return made


_UNSET = object()  # a deferred field's place in a row compared with an instance


def _as_deleted(names: list[str], captured: tuple[models.Model, Sequence[Any]]) -> models.Model:
    """A copy of a collected instance with the values it had when its row was deleted (none: as it is)."""
    instance, values = captured
    deleted = rows.copy_instance(instance)
    if values:  # as from_db() stores them: no descriptor would load
        deleted.__dict__.update(zip(names, values, strict=True))
    return deleted


_current_run: ContextVar[_DeleteRun | None] = ContextVar("bulk_tracker_delete_run", default=None)


def _collect_deleted(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    if is_suspended():
        return
    run = _current_run.get()
    origin = kwargs.get("origin")
    if run is None or run.using != using:
        # post_delete sent outside Collector.delete() (by hand): reported on its own, the instance copied.
        run, origin = _DeleteRun(using, current_tracking_info()), instance
    run.add(sender, instance, origin)


_reads_what_it_deletes: ContextVar[bool] = ContextVar("bulk_tracker_reads_what_it_deletes", default=False)


def _can_fast_delete(collector: Collector, objs: Any, from_field: Any = None) -> bool:
    """Django's answer, except that our bridge does not prevent the fast delete of a queryset of rows
    that ``DELETE ... RETURNING`` reports (``_returning_delete()``): Django's SQL, with nothing loaded.

    Django asks with a queryset, or with a model class for the querysets of related rows it will make;
    a single instance is deleted by pk without any signal, so for it the bridge still counts.
    """
    model: type[models.Model] | None
    if isinstance(objs, type):
        model = objs
    else:
        model = None if hasattr(objs, "_meta") or not hasattr(objs, "_raw_delete") else objs.model
    if model is None or not rows.deletes_returning(collector.using):
        return bool(_patch.django_can_fast_delete(collector, objs, from_field))
    token = _reads_what_it_deletes.set(True)
    try:
        return bool(_patch.django_can_fast_delete(collector, objs, from_field))
    finally:
        _reads_what_it_deletes.reset(token)


def _has_signal_listeners(collector: Collector, model: type[models.Model]) -> bool:
    """Django's answer, except where our bridge need not listen (inside ``suspended()``, or a fast delete
    that reports its rows itself): then it is not a listener, and fast deletes stay fast. A
    ``pre_delete_signal`` receiver is one: its rows must be collected to be shown to it."""
    if _announces(model):
        return True
    ignored = is_suspended() or _reads_what_it_deletes.get()
    if not ignored or not django_post_delete.has_listeners(model):
        return bool(_patch.django_has_signal_listeners(collector, model))
    return django_pre_delete.has_listeners(model) or any(
        receiver is not _collect_deleted for receiver in live_receivers(django_post_delete, model)
    )


def sync_bridges() -> None:
    """Listen to Django's post_delete exactly for the tracked models that have our receivers."""
    if not apps.models_ready:
        return  # BulkTrackerConfig.ready() installs, and syncs then
    for model in apps.get_models():
        _sync_bridge(model)


def _bridge_uid(model: type[models.Model]) -> str:
    return f"bulk_tracker:{model._meta.label}"


def _sync_bridge(model: type[models.Model]) -> None:
    uid = _bridge_uid(model)
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
        if not wants(post_update_signal, model, [field.name]):
            self.original(collector, field, sub_objs, using)
            return
        # Django may have deferred all but the key columns: load the rows whole, once per batch.
        objs = list(sub_objs.defer(None) if isinstance(sub_objs, models.QuerySet) else sub_objs)
        if not objs:
            # Nothing to set; still Django's call (4.2 calls SET(callable) even then, and its error is Django's).
            self.original(collector, field, objs, using)
            return
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


Pending = list[tuple[type[models.Model], Any, list[models.Model], Any]]  # model, fk, rows, new value


@dataclass(eq=False)
class _PendingUpdates:
    """The SET_* updates a collector will make, and the tracking context they were collected in."""

    info: TrackingInfo | None
    updates: Pending = field(default_factory=list)


# A collector's SET_* updates, kept as long as the collector lives: its delete() reports them first.
_pending: weakref.WeakKeyDictionary[Collector, _PendingUpdates] = weakref.WeakKeyDictionary()


def _pending_updates(collector: Collector) -> Pending:
    """The SET_* updates ``collector`` will make (an empty list, registered, the first time)."""
    pending = _pending.get(collector)
    if pending is None:
        pending = _pending[collector] = _PendingUpdates(current_tracking_info())
    return pending.updates


# --- Collector.delete(): lock what will be reported, report the SET_* updates, then Django deletes ------


def _tracked_collector_delete(collector: Collector) -> Any:
    """``Collector.delete()``: lock and re-read what will be reported, report SET_* changes, let Django delete."""
    django_delete = _patch.django_delete
    pending = _pending.get(collector)
    updates = pending.updates if pending is not None else []
    reported = [model for model in collector.data if _reports(model)]
    fast = [qs for qs in collector.fast_deletes if _reports(qs.model)]
    announced = [model for model in collector.data if _announces(model)]
    relations = m2m.cascades_to_relations(collector)
    if not updates and not reported and not fast and not announced and not relations:
        return django_delete(collector)  # nothing of ours: exactly Django's delete
    using = collector.using
    run = _DeleteRun(using, current_tracking_info())
    for queryset in fast:  # Django calls qs._raw_delete(using=...): ours for this call, on this queryset only
        queryset._raw_delete = functools.partial(_returning_delete, queryset, run)
    with delivered_after(using):  # in autocommit, after the delete's own commit has run every callback
        token = _current_run.set(run)
        try:
            return _locked_delete(collector, run, reported, pending, announced, relations)
        finally:
            _current_run.reset(token)


def _locked_delete(
    collector: Collector,
    run: _DeleteRun,
    reported: list[type[models.Model]],
    pending: _PendingUpdates | None,
    announced: list[type[models.Model]],
    relations: bool,
) -> Any:
    """Django's delete, after the locked re-read of what will be reported, the before-write signals of
    the ``announced`` models (a veto: nothing deleted) and the SET_* reports; with ``relations``, the
    many-to-many relations it changes for kept rows are read before and reported after."""
    django_delete = _patch.django_delete
    using = collector.using
    updates = pending.updates if pending is not None else []
    locks = connections[using].features.has_select_for_update
    stale = _rows_to_read(collector, reported, locks)
    if not updates and not stale and not announced and not relations:
        return django_delete(collector)  # Django's own statements; post_delete fills the run
    with transaction.atomic(using=using, savepoint=False):
        gone = _read_rows(using, run, stale, updates if locks else [])
        befores = [Before(pre_delete_signal, m, _by_pk(m, collector.data[m]), None) for m in announced]
        vetoed = send_before_write(befores, run.info, using)
        if vetoed is None:
            if updates:
                # A row this delete also removes is reported deleted (with the values it had), not updated.
                doomed = {_row_of(model, obj) for model, objs in collector.data.items() for obj in objs}
                _report_updates(updates, pending.info if pending else None, using, doomed | gone, run)
            report_relations = m2m.read_cascaded_relations(collector) if relations else None
            result = django_delete(collector)  # on_commit deliveries: dropped if this fails
            if report_relations is not None:
                report_relations()
    if vetoed is not None:
        raise vetoed
    return result


def _reports(model: type[models.Model]) -> bool:
    return wants(post_delete_signal, model) and is_tracked(model)


def _by_pk(model: type[models.Model], instances: Iterable[models.Model]) -> list[models.Model]:
    key = model._meta.pk
    return sorted(instances, key=lambda obj: pk_order(obj.pk, key))


def _announces(model: type[models.Model]) -> bool:
    return wants(pre_delete_signal, model) and is_tracked(model)


def _returning_delete(queryset: models.QuerySet[Any], run: _DeleteRun, using: str) -> int:
    """Django's fast delete of ``queryset`` (its own compiled DELETE), with ``RETURNING`` every column.

    Exactly the rows the DELETE removed are reported, whatever another transaction did meanwhile.
    """
    deleted: tuple[int, dict[Any, Callable[[], models.Model]]] = rows.delete_returning(queryset, using)
    run.add_returned(queryset.model, deleted[1])
    return deleted[0]


def _rows_to_read(
    collector: Collector, reported: list[type[models.Model]], locks: bool
) -> dict[type[models.Model], list[models.Model]]:
    """The instances whose row is re-read before the delete: all of them under row locks, else the stale ones.

    Rows the collector loaded are whole; the instance ``Model.delete()`` was called on may be deferred
    (``only()``) or never fetched (``Book(pk=5)``): its row is read (SQLite: one more SELECT, by pk).
    """
    stale: dict[type[models.Model], list[models.Model]] = {}
    origin = collector.origin
    for model in reported:
        collected = collector.data[model]
        if locks:
            instances = list(collected)
        elif _defers(origin, model):  # queryset.only(...).delete(): the collector loaded its rows deferred
            instances = [obj for obj in collected if _stale(obj)]
        else:
            instances = (
                [obj for obj in collected if obj is origin] if isinstance(origin, model) and _stale(origin) else []
            )
        if instances:
            stale[model] = instances
    return stale


def _defers(origin: Any, model: type[models.Model]) -> bool:
    """True when ``origin`` is a queryset of ``model`` that defers fields (``only()``, ``defer()``)."""
    if not isinstance(origin, models.QuerySet) or origin.model is not model:
        return False
    names, defer = origin.query.deferred_loading
    return bool(names) or not defer


def _stale(instance: models.Model) -> bool:
    return instance._state.adding or bool(instance.get_deferred_fields())


def _read_rows(
    using: str,
    run: _DeleteRun,
    stale: dict[type[models.Model], list[models.Model]],
    pending: Pending,
) -> set[tuple[Any, Any]]:
    """Re-read (locked where the backend can) the rows the delete will report; return the SET_* rows gone.

    One read per model and parameter chunk, never per row.
    """
    for model, instances in stale.items():
        key = model._meta.pk
        current = _current_rows(model, using, [rows.row_key(key, obj.pk) for obj in instances])
        names = rows.row_attnames(model)
        for obj in instances:
            row = current.get(rows.row_key(key, obj.pk))  # Book(pk="5") is row 5
            attributes = obj.__dict__
            if row is not None and tuple([attributes.get(name, _UNSET) for name in names]) == row:
                row = ()  # as loaded: the instance's own values are kept, not a second copy of each
            run.fresh[id(obj)] = row
    set_rows: dict[type[models.Model], list[models.Model]] = {}
    for model, _fk, objs, _value in pending:
        set_rows.setdefault(model, []).extend(objs)  # our own instances (ReportingOnDelete loaded them)
    gone: set[tuple[Any, Any]] = set()
    for model, objs in set_rows.items():
        current = _current_rows(model, using, {obj.pk for obj in objs})
        names = rows.row_attnames(model)
        for obj in objs:
            row = current.get(obj.pk)
            if row is None:
                gone.add(_row_of(model, obj))
                continue
            for name, value in zip(names, row, strict=True):
                setattr(obj, name, value)
    return gone


def _current_rows(model: type[models.Model], using: str, pks: Any) -> dict[Any, Sequence[Any]]:
    """The rows ``pks`` (every concrete column, ``concrete_fields`` order), locked where the backend can."""
    names = rows.row_attnames(model)
    keys = [names.index(f.attname) for f in rows.pk_fields(model)]
    found: dict[Any, Sequence[Any]] = {}
    for part in rows.exactly(model, using, rows.pk_sorted(pks, model._meta.pk)):
        for row in rows.lock(part).values_list(*names):  # no lock on SQLite
            found[rows.pk_from([row[key] for key in keys])] = row
    return found


def _row_of(model: type[models.Model], obj: models.Model) -> tuple[Any, Any]:
    """The table row ``obj`` stands for: its concrete model and its pk as read back (``"5"`` is ``5``)."""
    return model._meta.concrete_model, rows.row_key(model._meta.pk, obj.pk)


def _report_updates(
    pending: Pending, info: TrackingInfo | None, using: str, skipped: set[tuple[Any, Any]], run: _DeleteRun
) -> None:
    """Report, at the commit, the rows the SET_* handlers change, but those ``skipped`` or deleted by this delete."""
    per_model: dict[type[models.Model], dict[Any, ModifiedObject[Any]]] = {}
    for model, fk, objs, value in pending:
        new = getattr(value, fk.target_field.attname) if isinstance(value, models.Model) else value
        changes = per_model.setdefault(model, {})
        for obj in objs:
            old = getattr(obj, fk.attname)  # as _lock_rows() re-read it, on backends with row locks
            if values_equal(old, new) or _row_of(model, obj) in skipped:
                continue
            modified = changes.setdefault(obj.pk, ModifiedObject(obj))
            setattr(modified.instance, fk.attname, new)
            modified.changed_values[fk.attname] = old
    if not any(per_model.values()):
        return

    def deliveries() -> list[Delivery]:
        # A row a fast delete of this same delete removed is reported deleted (DELETE ... RETURNING), not updated.
        gone = {(model._meta.concrete_model, pk) for model, built in run.returned.items() for pk in built}
        made = []
        for model, changes in per_model.items():
            objects = [obj for obj in changes.values() if _row_of(model, obj.instance) not in gone]
            if objects:
                made.append(Delivery(post_update_signal, model, objects, info, using))
        return made

    schedule(deliveries, using)


def _reports_updates(on_delete: Any) -> bool:
    deconstruct = getattr(on_delete, "deconstruct", None)
    return on_delete in (SET_NULL, SET_DEFAULT) or (
        deconstruct is not None and deconstruct()[0] == "django.db.models.SET"
    )


class DeletePatch:
    """What deletes need from Django: ``Collector.delete`` wrapped, SET_* handlers of tracked models wrapped,
    a migration serializer for those wrappers, and ``post_delete`` bridges while our receivers exist."""

    def __init__(self) -> None:
        self.django_delete: Callable[..., Any] = Collector.delete
        self.django_has_signal_listeners: Callable[..., Any] = Collector._has_signal_listeners
        self.django_can_fast_delete: Callable[..., Any] = Collector.can_fast_delete
        self._installed = False
        self._swapped: list[tuple[Any, Any]] = []  # (remote_field, its own on_delete), in wrapping order

    def install(self) -> None:
        """Wrap ``Collector.delete`` and the SET_* handlers of every tracked model; connect the bridges."""
        if self._installed:
            return
        self.django_delete = Collector.__dict__["delete"]
        self.django_has_signal_listeners = Collector.__dict__["_has_signal_listeners"]
        self.django_can_fast_delete = Collector.__dict__["can_fast_delete"]
        Collector.delete = _tracked_collector_delete
        Collector._has_signal_listeners = _has_signal_listeners
        Collector.can_fast_delete = _can_fast_delete
        MigrationWriter.register_serializer(ReportingOnDelete, _ReportingOnDeleteSerializer)
        post_delete_signal.receivers_changed = sync_bridges
        self._installed = True
        for model in apps.get_models():
            self._wrap_on_delete(model)
        sync_bridges()

    def uninstall(self) -> None:
        """Restore ``Collector.delete``, every ``on_delete`` swapped, the serializers and Django's post_delete."""
        if not self._installed:
            return
        post_delete_signal.receivers_changed = None
        for model in apps.get_models():
            django_post_delete.disconnect(sender=model, dispatch_uid=_bridge_uid(model))
        for remote, original in reversed(self._swapped):
            remote.on_delete = original
        self._swapped.clear()
        MigrationWriter.unregister_serializer(ReportingOnDelete)
        Collector.delete = self.django_delete
        Collector._has_signal_listeners = self.django_has_signal_listeners
        Collector.can_fast_delete = self.django_can_fast_delete
        self._installed = False

    def model_prepared(self, model: type[models.Model]) -> None:
        """A model defined after install(): wrap its SET_* handlers, and bridge it if it has receivers."""
        if not self._installed or model._meta.abstract:
            return
        self._wrap_on_delete(model)
        if model._meta.apps is apps and apps.models_ready:  # uninstall() unbridges the project's models
            _sync_bridge(model)

    def _wrap_on_delete(self, model: type[models.Model]) -> None:
        if not is_tracked(model):
            return
        for fk in model._meta.local_fields:
            remote = fk.remote_field
            if remote is None or isinstance(remote.on_delete, ReportingOnDelete):
                continue
            if _reports_updates(getattr(remote, "on_delete", None)):
                self._swapped.append((remote, remote.on_delete))
                remote.on_delete = ReportingOnDelete(remote.on_delete)


_patch = DeletePatch()
register_patch(_patch)
