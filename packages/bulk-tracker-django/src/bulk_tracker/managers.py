"""The tracked queryset and manager: Django's bulk writes, plus one signal per operation."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections, models, transaction

from bulk_tracker_core import (
    ModifiedObject,
    TrackingInfo,
    changed_fields,
    resolve_tracking_info,
    suspended,
)

from . import rows, values_update
from .delivery import accepting_tracking_info, deliver, tracking_scope, wants
from .operations.update import Update
from .signals import post_create_signal, post_update_signal
from .upserts import bulk_create_with_conflicts, check_options

M = TypeVar("M", bound=models.Model)


class BulkTrackerQuerySet(models.QuerySet[M]):
    """A QuerySet whose writes send bulk_tracker signals after commit.

    Every write method takes ``tracking_info_``; return values and errors are Django's.
    """

    def update(self, *, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> int:
        """Django's ``update()``; receivers of ``post_update_signal`` get the rows that changed, with old values."""
        info = resolve_tracking_info(tracking_info_)
        self._for_write = True  # as Django's update(): self.db is the alias it writes to
        return Update(self, kwargs, info, lambda: super(BulkTrackerQuerySet, self).update(**kwargs)).run()

    update.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(
        self,
        objs: Iterable[M],
        fields: Sequence[str],
        batch_size: int | None = None,
        *,
        tracking_info_: TrackingInfo | None = None,
    ) -> int:
        info = resolve_tracking_info(tracking_info_)
        objs = tuple(objs)
        if not wants(post_update_signal, self.model) or not objs or not fields:
            return super().bulk_update(objs, fields, batch_size)
        # Django's own checks come first, outside the transaction below: raised inside it, they
        # would mark the caller's enclosing transaction as broken, which Django's bulk_update() does not.
        super().bulk_update((), fields, batch_size)  # fields and batch_size; no query for no objects
        if any(obj.pk is None for obj in objs):
            return super().bulk_update(objs, fields, batch_size)  # Django's ValueError
        opts = self.model._meta
        written = [opts.get_field(name) for name in fields]
        for obj in objs:  # Django's ValueError for an unsaved related object
            obj._prepare_related_fields_for_save(operation_name="bulk_update", fields=written)
        self._for_write = True
        alias = self.db
        attnames = list(dict.fromkeys(field.attname for field in written))
        first: dict[Hashable, M] = {}
        repeated: set[Hashable] = set()
        for obj in objs:
            pk = _row_key(opts.pk, obj.pk)
            if pk in first:
                repeated.add(pk)
            first.setdefault(pk, obj)
        pks = list(first)
        with transaction.atomic(using=alias, savepoint=False):
            returning = values_update.applies(self.model, alias, objs, written)
            # Without RETURNING, the new rows are built from the locked full rows and the values written.
            names = attnames if returning else [field.attname for field in opts.concrete_fields]
            old: dict[Hashable, rows.Row] = {}
            for chunk in rows.chunks(pks, alias):
                old.update(rows.read_values(self.filter(pk__in=chunk), names))
            if returning:
                count, new = values_update.bulk_update(
                    self.model, alias, [first[pk] for pk in pks if pk in old], written, batch_size
                )
                diffs = {
                    pk: changed_fields(old[pk], rows.attribute_values(new[pk], attnames)) for pk in old if pk in new
                }
            else:
                with suspended():  # Django's batches call update(); they are part of this operation
                    count = super().bulk_update(objs, fields, batch_size)
                diffs, new = self._rows_as_written(old, first, repeated, written)
        changes = [ModifiedObject(new[pk], diffs[pk]) for pk in rows.pk_sorted(old) if diffs.get(pk)]
        deliver(post_update_signal, self.model, changes, info, alias)
        return count

    def _rows_as_written(
        self,
        old: dict[Hashable, rows.Row],
        objs: dict[Hashable, M],
        repeated: set[Hashable],
        written: Sequence[Any],
    ) -> tuple[dict[Hashable, rows.Row], dict[Hashable, M]]:
        """The old values that changed and the new rows of a bulk_update() whose full ``old`` rows were read.

        A value is taken as stored only where that is certain (``rows.stored_value()``); the other
        rows, those of a pk given twice (the last batch's first object wins), and those whose changes
        the database computes more from (generated fields) are read again, once per chunk.
        """
        alias = self.db
        opts = self.model._meta
        attnames = [field.attname for field in written]
        computed = any(getattr(field, "generated", False) for field in opts.concrete_fields)
        diffs: dict[Hashable, rows.Row] = {}
        merged: dict[Hashable, rows.Row] = {}
        reread: list[Hashable] = []
        for pk, row in old.items():
            values = {
                field.attname: rows.stored_value(field, getattr(objs[pk], field.attname), alias) for field in written
            }
            if pk in repeated or any(value is rows.UNKNOWN for value in values.values()):
                reread.append(pk)
                continue
            diff = changed_fields({name: row[name] for name in attnames}, values)
            if diff:
                diffs[pk] = diff
                if computed:
                    reread.append(pk)
                else:
                    merged[pk] = {**row, **values}
        new = rows.fetch(self.model, alias, reread) if reread else {}
        for pk in reread:
            if pk not in diffs and pk in new:
                diffs[pk] = changed_fields(old[pk], rows.attribute_values(new[pk], attnames), attnames)
        names = [field.attname for field in opts.concrete_fields]
        for pk, row in merged.items():
            new[pk] = self.model.from_db(alias, names, [row[name] for name in names])
        return diffs, new

    bulk_update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(
        self,
        objs: Iterable[M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Sequence[str] | None = None,
        unique_fields: Sequence[str] | None = None,
        *,
        tracking_info_: TrackingInfo | None = None,
    ) -> list[M]:
        info = resolve_tracking_info(tracking_info_)
        options = {
            "batch_size": batch_size,
            "ignore_conflicts": ignore_conflicts,
            "update_conflicts": update_conflicts,
            "update_fields": update_fields,
            "unique_fields": unique_fields,
        }
        track_updates = update_conflicts and wants(post_update_signal, self.model)
        if not (wants(post_create_signal, self.model) or track_updates):
            return super().bulk_create(objs, **options)
        objs = list(objs)
        self._for_write = True
        alias = self.db
        if not (ignore_conflicts or update_conflicts):
            created = super().bulk_create(objs, **options)
            deliver(post_create_signal, self.model, [ModifiedObject(obj) for obj in created], info, alias)
            return created
        check_options(self, objs, options)  # Django's errors, before the transaction (see bulk_update)
        # The locked read and the insert need one transaction. Inside the caller's, none of our own:
        # a bad value that Django refuses before writing must leave that transaction usable, as Django does.
        in_transaction = connections[alias].in_atomic_block
        with nullcontext() if in_transaction else transaction.atomic(using=alias, savepoint=False):
            result = bulk_create_with_conflicts(self, objs, options, super().bulk_create)
        deliver(post_create_signal, self.model, [ModifiedObject(obj) for obj in result.created], info, alias)
        deliver(post_update_signal, self.model, result.updated, info, alias)
        return result.objs

    bulk_create.alters_data = True  # type: ignore[attr-defined]

    def create(self, *, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> M:
        info = resolve_tracking_info(tracking_info_)
        with tracking_scope(tracking_info_):
            obj = super().create(**kwargs)
        if not getattr(self.model, "_bulk_tracker_tracks_save", False) and wants(post_create_signal, self.model):
            deliver(post_create_signal, self.model, [ModifiedObject(obj)], info, self.db)
        return obj

    create.alters_data = True  # type: ignore[attr-defined]

    # Django's own methods, run with an explicit tracking_info_ as the context of the saves they make.
    get_or_create = accepting_tracking_info(models.QuerySet.get_or_create)
    update_or_create = accepting_tracking_info(models.QuerySet.update_or_create)
    delete = accepting_tracking_info(models.QuerySet.delete)  # reported through the collector: deletion.py

    async def adelete(self, *, tracking_info_: TrackingInfo | None = None) -> tuple[int, dict[str, int]]:
        return await sync_to_async(self.delete)(tracking_info_=tracking_info_)

    adelete.alters_data = True  # type: ignore[attr-defined]

    # Django's async twins name their arguments, so tracking_info_ needs passing through.
    async def abulk_create(
        self, objs: Iterable[M], *args: Any, tracking_info_: TrackingInfo | None = None, **kwargs: Any
    ) -> list[M]:
        return await sync_to_async(self.bulk_create)(objs, *args, tracking_info_=tracking_info_, **kwargs)

    abulk_create.alters_data = True  # type: ignore[attr-defined]

    async def abulk_update(
        self,
        objs: Iterable[M],
        fields: Sequence[str],
        batch_size: int | None = None,
        *,
        tracking_info_: TrackingInfo | None = None,
    ) -> int:
        return await sync_to_async(self.bulk_update)(objs, fields, batch_size, tracking_info_=tracking_info_)

    abulk_update.alters_data = True  # type: ignore[attr-defined]


class BulkTrackerManager(models.Manager.from_queryset(BulkTrackerQuerySet)):  # type: ignore[misc]
    """The default manager of tracked models (a ``models.Manager``); combine with ``from_queryset(MyQuerySet)``."""


def _row_key(pk_field: Any, pk: Any) -> Any:
    """``pk`` as the rows read back carry it (``"3"`` given for an integer key is ``3``)."""
    try:
        return pk_field.to_python(pk)
    except (TypeError, ValueError, ValidationError):
        return pk  # Django's own query refuses it with its own error
