"""``QuerySet.bulk_create()``, tracked: Django's own INSERT, the created rows, and for upserts the updated ones.

Strategies, chosen once per call from its options:

* ``BulkCreate``, a plain insert: Django's own statements, every object reported created.
* ``Upsert`` (``ignore_conflicts`` or ``update_conflicts``): one locked read of the rows that can
  conflict, by every unique key the insert can conflict on, so that old values are the ones really
  overwritten; Django's own INSERT; then the objects are replayed in Django's insert order against
  the rows read, to tell inserted from updated and skipped. Where the backend returned no pk, one
  read by another unique key fills it in. An update is compared as the column stores it; a value
  only the database knows how it stores (a Decimal tie, an expression) is read back, once per chunk,
  as are the generated fields of the updated rows (the database computes them again).
  Where an INSERT that ignores conflicts may skip a row for a constraint the locked read cannot see
  (``may_skip_unseen()``: a partial unique index, a CHECK on SQLite, on MySQL a foreign key or NOT
  NULL too), the rows of the new objects' keys are read back instead: exactly those are reported
  created. A row inserted by another transaction between the read and the insert is reported
  created by both (docs/guarantees.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import reduce
from operator import or_
from typing import Any, TypeVar

import django
from django.db import connections, models
from django.db.models import Q

from bulk_tracker_core import ModifiedObject, TrackingInfo, diff_rows, values_equal

from .. import rows
from ..delivery import wants
from ..signals import post_create_signal, post_update_signal, pre_create_signal
from .base import Before, Operation, Report

try:
    from django.db.models.expressions import DatabaseDefault
except ImportError:  # Django 4.2
    DatabaseDefault = None

M = TypeVar("M", bound=models.Model)
Fields = tuple[Any, ...]  # the fields of one unique key
Key = tuple[Any, ...]  # the values of one unique key
Options = dict[str, Any]  # bulk_create()'s keyword arguments, as Django takes them


def bulk_create_operation(
    queryset: models.QuerySet[M],
    objs: Iterable[M],
    options: Options,
    info: TrackingInfo | None,
    django_bulk_create: Callable[..., list[M]],
) -> BulkCreate[M]:
    """The operation for ``bulk_create(objs, **options)``: an ``Upsert`` when conflicts are handled."""
    upsert = options["ignore_conflicts"] or options["update_conflicts"]
    operation: type[BulkCreate[M]] = Upsert if upsert else BulkCreate
    return operation(queryset, objs, options, info, django_bulk_create)


class BulkCreate(Operation[M, list[M]]):
    """``queryset.bulk_create(objs, **options)``; ``django_bulk_create`` is Django's own method."""

    def __init__(
        self,
        queryset: models.QuerySet[M],
        objs: Iterable[M],
        options: Options,
        info: TrackingInfo | None,
        django_bulk_create: Callable[..., list[M]],
    ) -> None:
        super().__init__(queryset.model, queryset.db, info)
        self.queryset = queryset
        self.given = objs  # for Django, untouched, when nothing is tracked
        self.objs: list[M] = []
        self.options = options
        self.django_bulk_create = django_bulk_create
        self.inserted: list[M] = []  # Django's return value
        self.announced = False  # pre_create_signal has a receiver

    def plan(self) -> bool:
        if not self.wanted():
            return False
        self.objs = list(self.given)
        return True

    def wanted(self) -> bool:
        """Whether a receiver waits for anything this call can report, or for the objects before the insert."""
        self.announced = wants(pre_create_signal, self.model)
        return self.announced or wants(post_create_signal, self.model)

    def untracked(self) -> list[M]:
        return self.django_bulk_create(self.given, **self.options)

    def atomic(self) -> AbstractContextManager[Any]:
        """Django's bulk_create() is a transaction of its own; with pre_create_signal, ours holds both."""
        return super().atomic() if self.announced else nullcontext()

    def before_write(self) -> list[Before]:
        return [Before(pre_create_signal, self.model, self.objs, None)] if self.announced else []

    def write(self) -> list[M]:
        self.inserted = self.django_bulk_create(self.objs, **self.options)
        return self.inserted

    def changes(self) -> list[Report]:
        if not wants(post_create_signal, self.model):
            return []
        return [Report(post_create_signal, self.model, [ModifiedObject(obj) for obj in self.inserted])]


class Upsert(BulkCreate[M]):
    """``bulk_create()`` with ``ignore_conflicts`` or ``update_conflicts``: created rows, and updated ones."""

    def __init__(
        self,
        queryset: models.QuerySet[M],
        objs: Iterable[M],
        options: Options,
        info: TrackingInfo | None,
        django_bulk_create: Callable[..., list[M]],
    ) -> None:
        super().__init__(queryset, objs, options, info, django_bulk_create)
        self.updates = bool(options["update_conflicts"])
        self.base = self.model._base_manager.db_manager(self.alias)
        self.keys: list[Fields] = []  # what the insert can conflict on
        self.update_fields: list[Any] = []
        self.insert_order: list[M] = []  # the objects as Django inserts them
        self.position: dict[int, int] = {}  # by id() of an object: its place in insert_order
        self.existing: dict[tuple[int, Key], M] = {}  # by (number of the key, its values): the rows read
        self.created: list[M] = []  # the objects whose insert created a row
        self.first_insert: dict[tuple[int, Key], M] = {}  # by key: the object whose insert created it
        self.before: dict[int, tuple[M, rows.Row]] = {}  # by id() of a row read: it, its update_fields before
        self.high_water: int | None = None  # the highest auto pk before the insert, when objects have no key
        self.copies: dict[int, M] = {}  # by id() of a caller's object: the copy reported in its place
        self.unsure: dict[int, M] = {}  # by id(): rows written a value only a read can tell as stored
        self.generated = [
            field.attname for field in self.model._meta.concrete_fields if getattr(field, "generated", False)
        ]

    def wanted(self) -> bool:
        written = self.options["update_fields"] or ()
        return super().wanted() or bool(self.updates and written and wants(post_update_signal, self.model, written))

    def plan(self) -> bool:
        if not super().plan():
            return False
        check_options(self.queryset, self.objs, self.options)  # Django's errors, before any statement
        # ignore_conflicts skips a row that conflicts on any unique key: Django ignores unique_fields then.
        self.keys = unique_keys(self.model, self.options["unique_fields"] if self.updates else None)
        self.update_fields = [self.model._meta.get_field(name) for name in self.options["update_fields"] or ()]
        # Django inserts the objects whose pk is set first, then the others: later ones win a conflict.
        self.insert_order = [obj for obj in self.objs if _pk_is_set(obj)]
        self.insert_order += [obj for obj in self.objs if not _pk_is_set(obj)]
        self.position = {id(obj): number for number, obj in enumerate(self.insert_order)}
        return True

    def atomic(self) -> AbstractContextManager[Any]:
        """The caller's transaction, or one of our own: the locked read and the insert need one.

        Inside the caller's, none of our own: a bad value Django refuses before writing must leave that
        transaction usable, as Django's own bulk_create() does.
        """
        if connections[self.alias].in_atomic_block:
            return nullcontext()
        return Operation.atomic(self)

    def read_before(self) -> None:
        per_obj = max(1, sum(len(key) for key in self.keys))
        for chunk in rows.chunks(self.objs, self.alias, per_obj):
            condition = matching(self.keys, chunk)
            if condition is not None:
                for row in rows.lock(self.base.filter(condition)):
                    self.existing.update(dict.fromkeys(self.keys_of(row), row))
        if (
            not self.returns_pks()
            and isinstance(self.model._meta.pk, models.AutoField)
            and any(not self.keys_of(obj) for obj in self.objs)
        ):
            # Objects with no key at all can be found after the insert only as rows above the highest pk now.
            self.high_water = self.base.aggregate(top=models.Max("pk"))["top"] or 0

    def returns_pks(self) -> bool:
        """Whether Django's INSERT returns the new rows' pks: for update_conflicts, from Django 5.0, where it can."""
        features = connections[self.alias].features
        return self.updates and django.VERSION >= (5, 0) and bool(features.can_return_rows_from_bulk_insert)

    def keys_of(self, obj: models.Model) -> list[tuple[int, Key]]:
        """``obj``'s values of each unique key it has complete, with the number of the key."""
        return [(number, value) for number, key in enumerate(self.keys) if (value := key_of(obj, key)) is not None]

    def changes(self) -> list[Report]:
        for obj in self.insert_order:
            self.replay(obj)
        caller_order = {id(obj): number for number, obj in enumerate(self.objs)}
        self.created.sort(key=lambda obj: caller_order[id(obj)])
        created = [self.copies.get(id(obj), obj) for obj in self.confirm_created()]
        self.read_unsure()
        return [
            Report(post_create_signal, self.model, [ModifiedObject(obj) for obj in created]),
            Report(post_update_signal, self.model, self.updated()),
        ]

    def replay(self, obj: M) -> None:
        """What the insert of ``obj`` did: insert a row, or conflict with one read or one inserted earlier."""
        keys = self.keys_of(obj)
        row = next((self.existing[key] for key in keys if key in self.existing), None)
        if row is not None:
            if self.updates:
                self.before.setdefault(id(row), (row, self.updated_values(row)))
                self.write_update(obj, row)  # the row as the upsert left it
            return
        earlier = next((self.first_insert[key] for key in keys if key in self.first_insert), None)
        if earlier is None:
            self.created.append(obj)
            for key in keys:
                self.first_insert.setdefault(key, obj)
        elif self.updates:
            self.write_update(obj, self.reported(earlier))  # a later object updated the row an earlier one inserted

    def reported(self, obj: M) -> M:
        """The instance reported for the row ``obj`` created: a copy once it differs from what Django returns."""
        copy = self.copies.get(id(obj))
        if copy is None:
            copy = self.copies[id(obj)] = rows.copy_instance(obj)
        return copy

    def write_update(self, obj: M, row: M) -> None:
        """Set on ``row`` the ``update_fields`` that ``obj``'s conflicting insert wrote to it, as stored."""
        for field in self.update_fields:
            value = getattr(obj, field.attname)
            stored = rows.stored_value(field, value, self.alias)
            if stored is rows.UNKNOWN:
                self.unsure[id(row)] = row  # read_unsure() sets what the column holds
                stored = value
            setattr(row, field.attname, stored)
        if self.generated:  # the database computed them again from what the update wrote: read them back
            self.unsure[id(row)] = row

    def read_unsure(self) -> None:
        """Set on each row in ``unsure`` its ``update_fields`` and generated fields as stored: one read per chunk."""
        pk_field = self.model._meta.pk
        unsure = {rows.row_key(pk_field, row.pk): row for row in self.unsure.values() if rows.pk_is_set(row)}
        attnames = [field.attname for field in self.update_fields]
        attnames += [attname for attname in self.generated if attname not in attnames]
        for chunk in rows.chunks(rows.pk_sorted(unsure), self.alias):
            for pk, *values in self.base.filter(pk__in=chunk).values_list("pk", *attnames):
                for attname, value in zip(attnames, values, strict=True):
                    setattr(unsure[pk], attname, value)

    def updated_values(self, row: M) -> rows.Row:
        """``row``'s values of the ``update_fields``, by attname."""
        return rows.attribute_values(row, [field.attname for field in self.update_fields])

    def updated(self) -> list[ModifiedObject[M]]:
        """The rows read that the upsert changed, with their values before it (a row written twice: once)."""
        old = {number: values for number, (_, values) in self.before.items()}
        new = {number: self.updated_values(row) for number, (row, _) in self.before.items()}
        return [ModifiedObject(self.before[number][0], diff) for number, diff in diff_rows(old, new).items()]

    def confirm_created(self) -> list[M]:
        """The objects the replay found created that really are in the table, their missing pks filled in."""
        if self.options["ignore_conflicts"] and may_skip_unseen(self.model, self.alias, self.objs):
            return self.read_back_created()
        missing = [obj for obj in self.created if not rows.pk_is_set(obj) and self.keys_of(obj)]
        keyless = [obj for obj in self.created if not rows.pk_is_set(obj) and not self.keys_of(obj)]
        not_inserted = self.fill_pks(missing) | self.fill_keyless(keyless)
        return [obj for obj in self.created if id(obj) not in not_inserted]

    def fill_keyless(self, keyless: list[M]) -> set[int]:
        """Find the rows of objects with no key at all among the rows above ``high_water``; ``id()`` of those not found.

        Each goes to the first such row, in pk order, that holds its values; an object without one was
        skipped (SQLite's and MySQL's ignore skip a row that breaks a CHECK or NOT NULL). Without an
        auto-increment pk nothing can be read: they stay, pk unset.
        """
        if not keyless or self.high_water is None:
            return set()
        mine = {id(obj) for obj in keyless}
        reported = {self.copies.get(id(obj), obj).pk for obj in self.created if id(obj) not in mine}
        attnames = [field.attname for field in self.model._meta.concrete_fields]
        fresh = [
            dict(zip(attnames, values, strict=True))
            for values in self.base.filter(pk__gt=self.high_water).order_by("pk").values_list(*attnames)
        ]
        fresh = [row for row in fresh if self.pk_of(row) not in reported]
        not_found = set()
        for obj in sorted(keyless, key=lambda obj: self.position[id(obj)]):
            row = next((row for row in fresh if self.holds(obj, row)), None)
            if row is None:
                not_found.add(id(obj))
            else:
                fresh.remove(row)
                self.reported(obj).pk = self.pk_of(row)  # the caller's object keeps no pk, as Django leaves it
        return not_found

    def fill_pks(self, missing: list[M]) -> set[int]:
        """Read the pks the backend did not return, by another unique key; ``id()`` of the objects not found.

        Without a key that every such object has complete, nothing can be read: they stay, pk unset.
        """
        key = next((k for k in self.keys if all(key_of(obj, k) is not None for obj in missing)), None)
        if not missing or key is None:
            return set()
        attnames = [field.attname for field in key]
        found: dict[Key | None, Hashable] = {}
        for chunk in rows.chunks(missing, self.alias, len(key)):
            for pk, *values in self.base.filter(matching([key], chunk)).values_list("pk", *attnames):
                found[tuple(field.to_python(v) for field, v in zip(key, values, strict=True))] = pk
        not_found = set()
        for obj in missing:
            pk = found.get(key_of(obj, key))
            if pk is None:
                not_found.add(id(obj))
            else:
                self.reported(obj).pk = pk  # the caller's object keeps no pk, as Django leaves it
        return not_found

    def read_back_created(self) -> list[M]:
        """The objects whose insert created a row, in the caller's order, found by reading the rows back.

        The new objects (no conflict with a row read before) that have a complete unique key are
        looked for by their keys, one read per chunk. Each row found that was not there before was
        inserted by one of them: the first in insert order that shares a key with it and holds its
        stored values (a row skipped may leave its key to a later one), else the first that shares
        a key (the database may have adjusted a value). An object with neither a pk nor another
        complete key cannot be looked for: the replay decides it (docs/guarantees.md).
        """
        by_key: dict[tuple[int, Key], list[M]] = {}  # the new objects of each key, in insert order
        for obj in self.insert_order:
            keys = self.keys_of(obj)
            if not any(key in self.existing for key in keys):
                for key in keys:
                    by_key.setdefault(key, []).append(obj)
        keyless = [obj for obj in self.created if not self.keys_of(obj)]
        inserted = {id(obj) for obj in keyless}
        found = list({id(obj): obj for objs in by_key.values() for obj in objs}.values())
        for row in self.rows_of(found):
            chosen = self.inserter(row, by_key, inserted)
            if chosen is not None:
                inserted.add(id(chosen))
                if not rows.pk_is_set(chosen):
                    self.reported(chosen).pk = self.pk_of(row)  # the caller's object keeps no pk
        inserted -= self.fill_keyless(keyless)
        return [obj for obj in self.objs if id(obj) in inserted]

    def rows_of(self, objs: list[M]) -> list[rows.Row]:
        """The rows, in pk order, that share a key with one of ``objs`` and were not read before the insert."""
        before = {row.pk for row in self.existing.values()}
        attnames = [field.attname for field in self.model._meta.concrete_fields]
        found: dict[Hashable, rows.Row] = {}
        for chunk in rows.chunks(objs, self.alias, max(1, sum(len(key) for key in self.keys))):
            condition = matching(self.keys, chunk)
            for values in self.base.filter(condition).values_list(*attnames) if condition is not None else ():
                row = dict(zip(attnames, values, strict=True))
                found[self.pk_of(row)] = row
        return [found[pk] for pk in rows.pk_sorted(found) if pk not in before]

    def inserter(self, row: rows.Row, by_key: dict[tuple[int, Key], list[M]], taken: set[int]) -> M | None:
        """The object of ``by_key`` whose insert created ``row``; none of those in ``taken``."""
        pk_field = self.model._meta.pk
        keys = [(number, value) for number, key in enumerate(self.keys) if (value := key_of_row(row, key)) is not None]
        shared = (by_key.get(key, []) for key in keys)
        candidates = sorted(
            {
                id(obj): obj
                for objs in shared
                for obj in objs
                if id(obj) not in taken
                and (not rows.pk_is_set(obj) or rows.row_key(pk_field, obj.pk) == self.pk_of(row))
            }.values(),
            key=lambda obj: self.position[id(obj)],
        )
        return next((obj for obj in candidates if self.holds(obj, row)), candidates[0] if candidates else None)

    def pk_of(self, row: rows.Row) -> Hashable:
        """The pk of a row read as ``{attname: value}`` (a tuple for a composite key)."""
        return rows.pk_from([row[field.attname] for field in rows.pk_fields(self.model)])

    def holds(self, obj: M, row: rows.Row) -> bool:
        """Whether ``row`` holds each value of ``obj`` whose stored form is certain."""
        attributes = obj.__dict__
        for field in self.model._meta.concrete_fields:
            value = attributes.get(field.attname)
            if (
                (value is None and field.primary_key)
                or field.attname not in attributes
                or getattr(field, "generated", False)
            ):
                continue  # a pk left to the database, a value not set, a value the database computes
            stored = rows.stored_value(field, value, self.alias)
            if stored is not rows.UNKNOWN and not values_equal(stored, row[field.attname]):
                return False
        return True


def may_skip_unseen(model: type[models.Model], alias: str, objs: Sequence[models.Model]) -> bool:
    """Whether an INSERT that ignores conflicts may skip a row for a constraint a read by keys cannot see.

    PostgreSQL raises for every constraint but a unique one, and the keys read cover the total unique
    ones. SQLite's INSERT OR IGNORE also skips a row that breaks a CHECK or a NOT NULL; MySQL's
    INSERT IGNORE one that breaks a foreign key too; another backend may do anything.
    """
    vendor = connections[alias].vendor
    if vendor not in ("postgresql", "sqlite"):
        return True
    opts = model._meta
    total = opts.total_unique_constraints
    for constraint in opts.constraints:
        if isinstance(constraint, models.CheckConstraint):
            if vendor == "sqlite":
                return True
        elif constraint not in total or getattr(constraint, "nulls_distinct", None) is False:
            return True  # a partial or expression unique index, NULLs not distinct, an exclusion constraint
    return vendor == "sqlite" and _sqlite_may_skip(model, alias, objs)


def _sqlite_may_skip(model: type[models.Model], alias: str, objs: Sequence[models.Model]) -> bool:
    """Whether SQLite's INSERT OR IGNORE may skip one of ``objs`` for a column's CHECK or a NOT NULL."""
    connection = connections[alias]
    fields = [field for field in model._meta.concrete_fields if not getattr(field, "generated", False)]
    if any(field.db_check(connection) for field in fields):
        return True
    not_null = [field.attname for field in fields if not field.null and not field.primary_key]
    return any(obj.__dict__.get(name) is None for obj in objs for name in not_null)


def unique_keys(model: type[models.Model], unique_fields: Sequence[str] | None) -> list[Fields]:
    """The field tuples an insert of ``model`` can conflict on: ``unique_fields``, or every unique key.

    A proxy's keys are its concrete model's (it declares no fields of its own).
    """
    opts = model._meta.concrete_model._meta
    if unique_fields:
        return [tuple(opts.pk if name == "pk" else opts.get_field(name) for name in unique_fields)]
    keys: list[Fields] = [tuple(rows.pk_fields(model))]  # a composite key's columns conflict together
    keys += [(f,) for f in opts.local_concrete_fields if f.unique and not f.primary_key]
    keys += [tuple(opts.get_field(name) for name in names) for names in opts.unique_together]
    keys += [tuple(opts.get_field(name) for name in c.fields) for c in opts.total_unique_constraints]
    return list(dict.fromkeys(keys))


def key_of(obj: models.Model, key: Fields) -> Key | None:
    """``obj``'s values of the fields ``key``, as stored; None when one is unset (NULL never conflicts)."""
    values = tuple(f.to_python(getattr(obj, f.attname)) for f in key)
    return None if any(value is None for value in values) else values


def key_of_row(row: rows.Row, key: Fields) -> Key | None:
    """``key_of()`` for a row read as ``{attname: value}``."""
    values = tuple(f.to_python(row[f.attname]) for f in key)
    return None if any(value is None for value in values) else values


def matching(keys: list[Fields], objs: Sequence[models.Model]) -> Q | None:
    """The rows that share a value of one of ``keys`` with one of ``objs``; None when none can."""
    conditions = []
    for key in keys:
        values = list(dict.fromkeys(k for obj in objs if (k := key_of(obj, key)) is not None))  # in objs' order
        if not values:
            continue
        if len(key) == 1:
            conditions.append(Q(**{f"{key[0].attname}__in": [v[0] for v in values]}))
        else:
            conditions += [Q(**{f.attname: v for f, v in zip(key, value, strict=True)}) for value in values]
    return reduce(or_, conditions) if conditions else None


def check_options(queryset: models.QuerySet[M], objs: list[M], options: Options) -> None:
    """Raise Django's own error for a bulk_create() Django would refuse, before any query."""
    opts = queryset.model._meta
    models.QuerySet.bulk_create(queryset, [], batch_size=options["batch_size"])  # batch size, multi-table model
    unique_fields = [opts.get_field(opts.pk.name if name == "pk" else name) for name in options["unique_fields"] or ()]
    update_fields = [opts.get_field(name) for name in options["update_fields"] or ()]
    queryset._check_bulk_create_options(
        options["ignore_conflicts"], options["update_conflicts"], update_fields, unique_fields
    )
    queryset._prepare_for_bulk_create(objs)  # unsaved related objects


def _pk_is_set(obj: models.Model) -> bool:
    """As Django's bulk_create() partitions: a pk left to the database default is not set."""
    if hasattr(obj, "_is_pk_set"):  # Django 5.2+: every part of a composite key too
        return rows.pk_is_set(obj)
    return obj.pk is not None and not (DatabaseDefault is not None and isinstance(obj.pk, DatabaseDefault))
