"""Single-row saves, tracked: ``Model.save()`` of a BulkTrackerModel, and ``update_or_create()`` that
updates a model tracked only through its queryset.

``Save`` runs Django's own statements and nothing more, with two exceptions: a new instance that carries
the pk of an existing row is saved by Django with an UPDATE, so its old values are read first, with the
row locked, in the transaction of the save; and the fields no FieldTracker of the model knows the saved
value of (an MTI child's own fields under its parent's tracker, fields a tracker leaves out, every field
of a row whose pk is falsy such as ``0``, which model_utils does not record) are read the same way. The
other old values come from the model's FieldTrackers (all of them). After Django's save each old value is
compared with the value written, as the column stores it, so ``auto_now`` fields and values that store
equal (``"10.00"`` into a DecimalField holding ``10.00``) are reported as they happened.
Whether Django inserted is learnt where Django decides it: ``BulkTrackerModel._do_insert`` calls
``inserting()``, which tells the ``Save`` running for that instance (a ContextVar, set around Django's
save).

``UpdateOrCreate`` runs Django's own ``update_or_create()``, whose ``select_for_update().get_or_create()``
reads the row locked: the queryset's ``get_or_create()`` calls ``found()``, which hands that row's values,
as read, to the running operation. After Django's save they are the exact old values. A created row is
reported by the queryset's ``create()``, as for ``get_or_create()``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext, suppress
from contextvars import ContextVar
from typing import Any, TypeVar

import django
from django.core.exceptions import FieldDoesNotExist
from django.db import models, router

from bulk_tracker_core import ModifiedObject, TrackingInfo, changed_fields, snapshot, values_equal

from .. import loading, rows
from ..delivery import wants
from ..loading import field_trackers
from ..signals import post_create_signal, post_update_signal, pre_create_signal, pre_update_signal
from .base import Before, Operation, Report

M = TypeVar("M", bound=models.Model)
# Model.save()'s parameters, positional before Django 6.0 (deprecated from 5.1).
_SAVE_PARAMETERS = ("force_insert", "force_update", "using", "update_fields")

_saving: ContextVar[Save[Any] | None] = ContextVar("bulk_tracker_saving", default=None)
_updating_or_creating: ContextVar[UpdateOrCreate[Any] | None] = ContextVar(
    "bulk_tracker_updating_or_creating", default=None
)


def inserting(instance: models.Model) -> None:
    """Django is inserting ``instance``'s row: tell the ``Save`` running for it, if one is."""
    operation = _saving.get()
    if operation is not None and operation.instance is instance:
        operation.inserted = True


def found(model: type[models.Model], instance: models.Model, created: bool) -> None:
    """``get_or_create()`` of ``model`` returned ``instance``: the first one is the row update_or_create() locked."""
    operation = _updating_or_creating.get()
    if operation is not None and operation.model is model and not operation.looked_up:
        operation.looked_up = True
        if not created:
            keys = rows.pk_fields(model)
            operation.old = {
                field.attname: snapshot(instance.__dict__[field.attname])
                for field in model._meta.concrete_fields
                if field.attname in instance.__dict__ and field not in keys
            }


class Save(Operation[M, None]):
    """``instance.save(*args, **kwargs)``; ``django_save()`` is Django's own ``save()`` for the same call."""

    def __init__(
        self,
        instance: M,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        info: TrackingInfo | None,
        django_save: Callable[[], None],
    ) -> None:
        super().__init__(type(instance), "default", info)
        self.instance = instance
        self.options = {**dict(zip(_SAVE_PARAMETERS, args, strict=False)), **kwargs}  # however passed
        self.django_save = django_save
        self.creating = instance._state.adding
        self.overwrites = False  # a new instance whose pk may be an existing row's
        self.old: dict[str, Any] = {}  # by attname: the saved value of each field this save writes
        self.unknown: list[str] = []  # attnames whose saved value no tracker knows: read from the row
        self.before: dict[str, Any] = {}  # by attname: the value about to be written, as stored
        self.inserted = False  # set by inserting(), from Django's _do_insert
        self.announced = False  # pre_create_signal (new instance) or pre_update_signal has a receiver

    def plan(self) -> bool:
        model = self.model
        update_fields = self.options.get("update_fields")
        if update_fields is not None and isinstance(update_fields, Collection) and not update_fields:
            return False  # Django's save(update_fields=[]) writes and sends nothing
        updates = wants(post_update_signal, model) or wants(pre_update_signal, model)
        self.overwrites = self.creating and updates and _may_overwrite_a_row(self.instance, self.options)
        written = list(update_fields) if not self.creating and isinstance(update_fields, Collection) else None
        self.announced = wants(pre_create_signal if self.creating else pre_update_signal, model) or (
            self.overwrites and wants(pre_update_signal, model)
        )
        reported = post_update_signal if self.overwrites or not self.creating else post_create_signal
        if not (self.announced or wants(reported, model, written)):
            return False
        self.alias = self.options.get("using") or router.db_for_write(model, instance=self.instance)
        if not self.creating:
            self.old, self.unknown = _tracked_old_values(self.instance, self.options.get("update_fields"))
        return True

    def untracked(self) -> None:
        self.django_save()

    def atomic(self) -> AbstractContextManager[Any]:
        # Only a locked read needs a transaction with the write; otherwise Django's save is alone.
        return super().atomic() if self.overwrites or self.unknown or self.announced else nullcontext()

    def read_before(self) -> None:
        if self.overwrites:
            self.old = _stored_values(self.instance, self.alias, _written_attnames(self.instance, self.options))
        elif self.unknown:
            self.old.update(_stored_values(self.instance, self.alias, self.unknown))
        self.before = self._written()

    def before_write(self) -> list[Before]:
        if not self.announced:
            return []
        if self.creating and not (self.overwrites and self.old):  # a new row (an overwrite finds its row)
            return [Before(pre_create_signal, self.model, [self.instance], None)]
        stored = rows.copy_instance(self.instance)  # the row as saved last, from the recorded old values
        for name, value in self.old.items():
            setattr(stored, name, value)
        return [Before(pre_update_signal, self.model, [stored], {stored.pk: dict(self.before)})]

    def write(self) -> None:
        token = _saving.set(self)
        try:
            self.django_save()
        finally:
            _saving.reset(token)
        self.alias = self.instance._state.db or "default"

    def changes(self) -> list[Report]:
        if self.inserted:
            wanted = wants(post_create_signal, self.model)
            return [Report(post_create_signal, self.model, [ModifiedObject(self.instance)])] if wanted else []
        # What Django wrote (an auto_now field's new value, say); a field it deferred after the save
        # (an expression MariaDB cannot return) as it was about to be written.
        new = {**self.before, **self._written()}
        # Values equal as they are store equal: only the others are compared as their columns store them.
        differ = {name: old for name, old in self.old.items() if name in new and not values_equal(old, new[name])}
        changed = changed_fields(self._as_stored(differ), self._as_stored({name: new[name] for name in differ}))
        if changed and wants(post_update_signal, self.model):
            return [Report(post_update_signal, self.model, [ModifiedObject(self.instance, changed)])]
        return []

    def _written(self) -> dict[str, Any]:
        """``{attname: value}`` of the instance for each name of ``self.old`` (a field Django deferred: none)."""
        attributes = self.instance.__dict__
        concrete = loading.concrete_attnames(self.model)
        return {
            name: attributes[name] if name in concrete else getattr(self.instance, name)
            for name in self.old
            if name in attributes or name not in concrete
        }

    def _as_stored(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` by attname as their columns store them: a tracker keeps them as they were saved."""
        concrete = loading.concrete_attnames(self.model)
        return {
            name: _stored_form(self.model, name, value, self.alias) if name in concrete else value
            for name, value in values.items()
        }


def _may_overwrite_a_row(instance: models.Model, options: dict[str, Any]) -> bool:
    """True when Django will try an UPDATE for this new instance (mirrors Model._save_table).

    A key with a default makes Django insert, unless ``force_update`` from Django 5.1 (ticket 35425).
    """
    pk = instance._meta.pk
    pk_has_default = pk.has_default() or (hasattr(pk, "has_db_default") and pk.has_db_default())
    forced_update = bool(options.get("force_update")) and django.VERSION >= (5, 1)
    return bool(rows.pk_is_set(instance) and not options.get("force_insert") and (forced_update or not pk_has_default))


def _written_attnames(instance: models.Model, options: dict[str, Any]) -> list[str]:
    """The attnames of the concrete non-pk fields ``save(**options)`` writes (a composite key's parts are pk).

    Never a generated field: the database computes it, Django's save() does not write it (nor would a
    locked read of its old value be one of Django's own statements).
    """
    selected = _selected_attnames(instance._meta, options.get("update_fields"))
    keys = rows.pk_fields(type(instance))
    return [
        field.attname
        for field in instance._meta.concrete_fields
        if field not in keys
        and not getattr(field, "generated", False)
        and (selected is None or field.attname in selected)
    ]


def _stored_values(instance: models.Model, alias: str, attnames: list[str]) -> dict[str, Any]:
    """``{attname: value}`` read from the row this save overwrites, locked until the write; {} for no row."""
    manager = type(instance)._base_manager.db_manager(alias)
    old = list(rows.lock(manager.filter(pk=instance.pk)).values(*attnames))
    return old[0] if old else {}


def _tracked_old_values(instance: models.Model, update_fields: Any) -> tuple[dict[str, Any], list[str]]:
    """``{attname: saved value}`` known for the fields this save writes, and the attnames whose value is not.

    Known: what the model's FieldTrackers recorded or, for a model without one, what BulkTrackerModel
    recorded itself (``loading.record()``). A field no tracker tracks, or whose saved value was not
    recorded (model_utils records nothing for a falsy pk such as ``0``; an instance never loaded nor
    saved has no record), is left to a locked read of the row.
    """
    trackers = field_trackers(type(instance))
    selected = _selected_attnames(instance._meta, update_fields)
    deferred = instance.get_deferred_fields()
    written = _written_attnames(instance, {"update_fields": update_fields})
    old: dict[str, Any] = {}
    if not trackers:  # BulkTrackerModel's own record
        saved = loading.saved_values(instance)
        old = {name: saved[name] for name in written if name in saved}
    for tracker in trackers:
        tracked = getattr(instance, tracker.attname)
        for name in tracker.fields:
            attname = tracker.field_map[name]
            skipped = (selected is not None and name not in selected and attname not in selected) or (
                attname in deferred and attname not in instance.__dict__
            )
            if skipped or attname in old or not (instance.pk or name in tracked.saved_data):
                continue
            old[attname] = tracked.previous(name)  # model_utils keeps its own copy, replaced (not changed) by a save
    unknown = [
        attname
        for attname in written
        if attname not in old and not (attname in deferred and attname not in instance.__dict__)
    ]
    return old, unknown


def _selected_attnames(opts: Any, update_fields: Any) -> set[str] | None:
    """The names in ``update_fields`` and their fields' attnames; None when every field is saved."""
    if update_fields is None:
        return None
    selected = set(update_fields)
    for name in update_fields:
        with suppress(FieldDoesNotExist):  # Django's save() refuses it next, with its own ValueError
            selected.add(opts.get_field(name).attname)
    return selected


class UpdateOrCreate(Operation[M, tuple[M, bool]]):
    """``queryset.update_or_create(...)`` of a model that is not a BulkTrackerModel (its save() is Django's).

    ``django_update_or_create()`` is Django's own method for the same call.
    """

    def __init__(
        self,
        queryset: models.QuerySet[M],
        info: TrackingInfo | None,
        django_update_or_create: Callable[[], tuple[M, bool]],
    ) -> None:
        super().__init__(queryset.model, queryset.db, info)
        self.django_update_or_create = django_update_or_create
        self.looked_up = False  # set by found(), from Django's locked get_or_create()
        self.old: dict[str, Any] | None = None  # by attname: the locked row as read, when it existed
        self.result: tuple[M, bool] | None = None

    def plan(self) -> bool:
        return not getattr(self.model, "_bulk_tracker_tracks_save", False) and wants(post_update_signal, self.model)

    def untracked(self) -> tuple[M, bool]:
        return self.django_update_or_create()

    def atomic(self) -> AbstractContextManager[Any]:
        return nullcontext()  # Django's update_or_create() opens its own; one of ours would add savepoints

    def write(self) -> tuple[M, bool]:
        token = _updating_or_creating.set(self)
        try:
            self.result = self.django_update_or_create()
        finally:
            _updating_or_creating.reset(token)
        self.alias = self.result[0]._state.db or self.alias
        return self.result

    def changes(self) -> list[Report]:
        if self.result is None or self.result[1] or self.old is None:
            return []  # created: create() reported it
        instance = self.result[0]
        new = {
            name: _as_stored(instance, name, self.alias) for name in self.old if name in instance.__dict__
        }  # a deferred field (a generated one, after save) was not written
        diff = changed_fields(self.old, new)
        return [Report(post_update_signal, self.model, [ModifiedObject(instance, diff)])] if diff else []


def _as_stored(instance: models.Model, attname: str, alias: str) -> Any:
    """``instance``'s value of ``attname`` as its column stores it, where that is certain; else as it is."""
    return _stored_form(type(instance), attname, instance.__dict__[attname], alias)


def _stored_form(model: type[models.Model], attname: str, value: Any, alias: str) -> Any:
    """``value`` of ``model``'s field ``attname`` as its column stores it, where that is certain; else as it is."""
    stored = rows.stored_value(model._meta.get_field(attname), value, alias)
    return value if stored is rows.UNKNOWN else stored
