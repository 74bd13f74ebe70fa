"""``QuerySet.bulk_update()``, tracked: Django's checks, one locked read per chunk, one write strategy, the diff.

Strategies, chosen once per operation in ``plan()``:

* PostgreSQL, plain values, each pk once (``backends.values_join_applies``): one ``UPDATE ... FROM
  (VALUES ...) ... RETURNING`` per batch, with the queryset's own WHERE; the diff compares the rows
  it returns with the written columns read before. Statements: one read per chunk, one per batch.
* Elsewhere: Django's own bulk_update() under ``suspended()`` (its batches call ``update()``). The
  full rows are read before; the new rows are the old ones with the values written, where
  ``rows.stored_value()`` knows what the column keeps, and read again (once per chunk) otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from django.db import models

from bulk_tracker_core import ModifiedObject, TrackingInfo, changed_fields, suspended

from .. import backends, rows
from ..delivery import wants
from ..signals import post_update_signal, pre_update_signal
from .base import Before, Operation, Report

M = TypeVar("M", bound=models.Model)


class BulkUpdate(Operation[M, int]):
    """``queryset.bulk_update(objs, fields, batch_size)``; ``django_bulk_update(objs)`` is Django's own."""

    def __init__(
        self,
        queryset: models.QuerySet[M],
        objs: Iterable[M],
        fields: Sequence[str],
        batch_size: int | None,
        info: TrackingInfo | None,
        django_bulk_update: Callable[[Sequence[M]], int],
    ) -> None:
        super().__init__(queryset.model, queryset.db, info)
        self.queryset = queryset
        self.objs = tuple(objs)
        self.fields = fields
        self.batch_size = batch_size
        self.django_bulk_update = django_bulk_update
        self.written: list[Any] = []  # the fields written, in the caller's order
        self.first: dict[Hashable, M] = {}  # by pk: the first object given for it
        self.repeated: set[Hashable] = set()  # pks given more than once
        self.joined = False  # the strategy: the VALUES join, else Django's own bulk_update()
        self.old: dict[Hashable, rows.Row] = {}  # by pk: the rows read, as they were
        self.new: dict[Hashable, Callable[[], M]] = {}  # by pk: the rows as stored after the write, built on call
        self.diffs: dict[Hashable, rows.Row] = {}  # by pk: the old values of what changed
        self.announced = False  # pre_update_signal has a receiver
        self.reported = False  # post_update_signal has a receiver that counts what is written

    def plan(self) -> bool:
        self.announced = wants(pre_update_signal, self.model)
        if not (self.announced or wants(post_update_signal, self.model)) or not self.objs or not self.fields:
            return False
        # Django's own checks first, outside the operation's transaction: raised inside it, they would
        # mark the caller's enclosing transaction as broken, which Django's bulk_update() does not.
        self.django_bulk_update(())  # fields and batch_size; no query for no objects
        if not all(rows.pk_is_set(obj) for obj in self.objs):
            return False  # Django's ValueError
        opts = self.model._meta
        self.written = [opts.get_field(name) for name in self.fields]
        self.reported = wants(post_update_signal, self.model, [field.name for field in self.written])
        if not (self.reported or self.announced):
            return False
        for obj in self.objs:  # Django's ValueError for an unsaved related object
            obj._prepare_related_fields_for_save(operation_name="bulk_update", fields=self.written)
        pk_field = opts.pk
        for obj in self.objs:  # keyed as the rows read back are: pk="2" is row 2
            pk = rows.row_key(pk_field, obj.pk)
            if pk in self.first:
                self.repeated.add(pk)
            self.first.setdefault(pk, obj)
        # The VALUES join writes each row once: a row given twice (2 and "2") is left to Django.
        self.joined = not self.repeated and backends.values_join_applies(self.queryset, self.objs, self.written)
        return True

    def untracked(self) -> int:
        return self.django_bulk_update(self.objs)

    def read_before(self) -> None:
        # Without RETURNING, the new rows are built from the locked full rows and the values written.
        fields = self.written if self.joined and not self.announced else self.model._meta.concrete_fields
        names = list(dict.fromkeys(field.attname for field in fields))
        for chunk in backends.chunks(list(self.first), self.alias, per_item=len(rows.pk_fields(self.model))):
            self.old.update(rows.read_values(self.queryset.filter(pk__in=chunk), names))

    def before_write(self) -> list[Before]:
        if not self.announced:
            return []
        current = rows.instances(self.model, self.alias, self.old)
        about = {obj.pk: {f.attname: getattr(self.first[obj.pk], f.attname) for f in self.written} for obj in current}
        return [Before(pre_update_signal, self.model, current, about)]

    def write(self) -> int:
        if self.joined:
            return self._write_joined()
        with suspended():  # Django's batches call update(); they are part of this operation
            return self.django_bulk_update(self.objs)

    def _write_joined(self) -> int:
        """The VALUES join, of only the objects whose rows the locked read found."""
        objs = [obj for pk, obj in self.first.items() if pk in self.old]
        attnames = self._attnames()

        def changed(pk: Hashable, values: rows.Row, _: rows.Row) -> bool:
            diff = changed_fields(self.old[pk], values)
            if diff:
                self.diffs[pk] = diff
            return bool(diff)

        count = 0
        for returned in backends.values_join_update(self.queryset, objs, self.written, self.batch_size):
            count += len(returned)
            self.new.update(rows.builders_from_rows(self.model, self.alias, returned, attnames, changed))
        return count

    def changes(self) -> list[Report]:
        if not self.reported:
            return []
        diffs = self.diffs if self.joined else self._written_diffs()
        order = rows.pk_sorted(self.old, self.model._meta.pk)
        changed = [ModifiedObject.built_on_access(self.new[pk], diffs[pk], pk) for pk in order if diffs.get(pk)]
        return [Report(post_update_signal, self.model, changed)]

    def _attnames(self) -> list[str]:
        return [field.attname for field in self.written]

    def _written_diffs(self) -> dict[Hashable, rows.Row]:
        """The old values that changed, and ``self.new``, after Django's bulk_update() of the full ``old`` rows.

        A value is taken as stored only where that is certain (``rows.stored_value()``); the other
        rows, those of a pk given twice (the last batch's first object wins), and those whose changes
        the database computes more from (generated fields) are read again, once per chunk.
        """
        attnames = self._attnames()
        computed = any(getattr(field, "generated", False) for field in self.model._meta.concrete_fields)
        diffs: dict[Hashable, rows.Row] = {}
        merged: dict[Hashable, rows.Row] = {}
        reread: list[Hashable] = []
        for pk, row in self.old.items():
            values = self._stored_values(pk)
            if values is None:
                reread.append(pk)
                continue
            diff = changed_fields({name: row[name] for name in attnames}, values)
            if diff:
                diffs[pk] = diff
                if computed:
                    reread.append(pk)
                else:
                    merged[pk] = {**row, **values}
        self._read_again(reread, diffs)
        self._build(merged)
        return diffs

    def _stored_values(self, pk: Hashable) -> rows.Row | None:
        """``{attname: value as the column stores it}`` of the object written to ``pk``; None if uncertain."""
        if pk in self.repeated:
            return None
        obj = self.first[pk]
        values = {
            field.attname: rows.stored_value(field, getattr(obj, field.attname), self.alias) for field in self.written
        }
        return None if any(value is rows.UNKNOWN for value in values.values()) else values

    def _read_again(self, pks: list[Hashable], diffs: dict[Hashable, rows.Row]) -> None:
        """Read ``pks`` as stored into ``self.new``; the diff of those not in ``diffs`` yet."""
        if not pks:
            return
        attnames = self._attnames()
        fetched = rows.fetch(self.model, self.alias, pks)
        pick = rows.picker(self.model, attnames)
        for pk in pks:
            if pk not in diffs and pk in fetched:
                diffs[pk] = changed_fields(self.old[pk], pick(fetched[pk]), attnames)
        load = rows.loader(self.model, self.alias)
        self.new.update((pk, rows.Builder(load, values)) for pk, values in fetched.items())

    def _build(self, merged: dict[Hashable, rows.Row]) -> None:
        """Builders of the ``merged`` rows (old row and values written) into ``self.new``, with no query."""
        load = rows.loader(self.model, self.alias)
        names = rows.row_attnames(self.model)
        for pk, row in merged.items():
            self.new[pk] = rows.Builder(load, [row[name] for name in names])
