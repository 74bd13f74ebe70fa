"""bulk_create() with ignore_conflicts or update_conflicts: which rows were inserted, which updated.

The rows that can conflict are read (and locked) before the insert, by every unique key the
insert can conflict on, so old values are those really overwritten. A row inserted by another
transaction between that read and the insert is reported as created by both (docs/guarantees.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models import Q

from bulk_tracker_core import ModifiedObject, changed_fields

from . import rows

try:
    from django.db.models.expressions import DatabaseDefault
except ImportError:  # Django 4.2
    DatabaseDefault = None

M = TypeVar("M", bound=models.Model)
Key = tuple[Any, ...]


@dataclass
class UpsertResult(Generic[M]):
    objs: list[M]
    created: list[M] = field(default_factory=list)
    updated: list[ModifiedObject[M]] = field(default_factory=list)


def unique_keys(model: type[models.Model], unique_fields: Sequence[str] | None) -> list[tuple[Any, ...]]:
    """The field tuples an insert of ``model`` can conflict on."""
    opts = model._meta
    if unique_fields:
        return [tuple(opts.pk if name == "pk" else opts.get_field(name) for name in unique_fields)]
    keys: list[tuple[Any, ...]] = [(opts.pk,)]
    keys += [(f,) for f in opts.local_concrete_fields if f.unique and not f.primary_key]
    keys += [tuple(opts.get_field(name) for name in names) for names in opts.unique_together]
    keys += [tuple(opts.get_field(name) for name in c.fields) for c in opts.total_unique_constraints]
    return list(dict.fromkeys(keys))


def key_of(obj: models.Model, key: tuple[Any, ...]) -> Key | None:
    values = tuple(f.to_python(getattr(obj, f.attname)) for f in key)
    return None if any(value is None for value in values) else values


def _matching(keys: list[tuple[Any, ...]], objs: Sequence[models.Model]) -> Q | None:
    conditions = []
    for key in keys:
        values = {k for obj in objs if (k := key_of(obj, key)) is not None}
        if not values:
            continue
        if len(key) == 1:
            conditions.append(Q(**{f"{key[0].attname}__in": [v[0] for v in values]}))
        else:
            conditions += [Q(**{f.attname: v for f, v in zip(key, value, strict=True)}) for value in values]
    return reduce(or_, conditions) if conditions else None


def check_options(queryset: models.QuerySet[M], objs: list[M], options: dict[str, Any]) -> None:
    """Raise Django's own error for a bulk_create() Django would refuse, before any query."""
    opts = queryset.model._meta
    models.QuerySet.bulk_create(queryset, [], batch_size=options["batch_size"])  # batch size, multi-table model
    unique_fields = [opts.get_field(opts.pk.name if name == "pk" else name) for name in options["unique_fields"] or ()]
    update_fields = [opts.get_field(name) for name in options["update_fields"] or ()]
    queryset._check_bulk_create_options(
        options["ignore_conflicts"], options["update_conflicts"], update_fields, unique_fields
    )
    queryset._prepare_for_bulk_create(objs)  # unsaved related objects


def bulk_create_with_conflicts(
    queryset: models.QuerySet[M],
    objs: list[M],
    options: dict[str, Any],
    insert: Callable[..., list[M]],
) -> UpsertResult[M]:
    """Run ``insert(objs, **options)`` and sort the objects into created and updated rows."""
    model, alias = queryset.model, queryset.db
    # ignore_conflicts skips a row that conflicts on any unique key: Django ignores unique_fields then.
    keys = unique_keys(model, options["unique_fields"] if options["update_conflicts"] else None)
    base = model._base_manager.db_manager(alias)
    per_obj = max(1, sum(len(key) for key in keys))
    existing: list[M] = []
    for chunk in rows.chunks(objs, alias, per_obj):
        condition = _matching(keys, chunk)
        if condition is not None:
            existing += list(rows.lock(base.filter(condition)))
    index: dict[tuple[int, Key], M] = {}
    for row in existing:
        for number, key in enumerate(keys):
            if (value := key_of(row, key)) is not None:
                index[(number, value)] = row

    # Django inserts the objects whose pk is set first, then the others: later ones win a conflict.
    pk_set_first = [obj for obj in objs if _pk_is_set(obj)] + [obj for obj in objs if not _pk_is_set(obj)]
    caller_order = {id(obj): number for number, obj in enumerate(objs)}

    inserted = insert(objs, **options)

    result: UpsertResult[M] = UpsertResult(inserted)
    update_attnames = [model._meta.get_field(name).attname for name in options["update_fields"] or ()]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    created_by_key: dict[tuple[int, Key], M] = {}
    originals: dict[int, dict[str, Any]] = {}  # by id() of the existing row: its values before the upsert
    updated: dict[int, ModifiedObject[M]] = {}
    for obj in pk_set_first:
        obj_keys = [(number, value) for number, key in enumerate(keys) if (value := key_of(obj, key)) is not None]
        new_values = {name: by_attname[name].to_python(getattr(obj, name)) for name in update_attnames}
        match = next((index[k] for k in obj_keys if k in index), None)
        if match is None:
            earlier = next((created_by_key[k] for k in obj_keys if k in created_by_key), None)
            if earlier is None:
                result.created.append(obj)
                for k in obj_keys:
                    created_by_key.setdefault(k, obj)
            elif options["update_conflicts"]:
                for name, value in new_values.items():
                    setattr(earlier, name, value)  # a later object updated the row this one inserted
            continue
        if not options["update_conflicts"]:
            continue
        # An existing row given several times is written by each in turn: one report, the first old values.
        original = originals.setdefault(id(match), rows.attribute_values(match, update_attnames))
        for name, value in new_values.items():
            setattr(match, name, value)  # the row as the upsert left it
        diff = changed_fields(original, rows.attribute_values(match, update_attnames))
        if diff:
            updated[id(match)] = ModifiedObject(match, diff)
        else:
            updated.pop(id(match), None)
    result.created.sort(key=lambda obj: caller_order[id(obj)])
    result.updated = list(updated.values())
    # MySQL's INSERT IGNORE also skips, silently, a row that breaks a foreign key or NOT NULL.
    silent_skips = bool(options["ignore_conflicts"]) and connections[alias].vendor == "mysql"
    result.created = _confirm_created(result.created, keys, base, check_pks=silent_skips)
    return result


def _pk_is_set(obj: models.Model) -> bool:
    """As Django's bulk_create() partitions: a pk left to the database default is not set."""
    return obj.pk is not None and not (DatabaseDefault is not None and isinstance(obj.pk, DatabaseDefault))


def _confirm_created(created: list[M], keys: list[tuple[Any, ...]], base: Any, *, check_pks: bool) -> list[M]:
    """The created objects really in the table, with the pk the backend did not return filled in.

    One read by another unique key gives the missing pks; an object it does not find was not
    inserted. ``check_pks``: the insert may have skipped rows whose pk is set, so read those too.
    """
    missing = [obj for obj in created if obj.pk is None]
    given = [obj.pk for obj in created if obj.pk is not None] if check_pks else []
    key = next((k for k in keys if all(key_of(obj, k) is not None for obj in missing)), None)
    found: dict[Hashable, Any] = {}
    if missing and key is not None:
        attnames = [f.attname for f in key]
        for chunk in rows.chunks(missing, base.db, len(key)):
            for pk, *values in base.filter(_matching([key], chunk)).values_list("pk", *attnames):
                found[tuple(f.to_python(v) for f, v in zip(key, values, strict=True))] = pk
        for obj in missing:
            obj.pk = found.get(key_of(obj, key))
    present: set[Hashable] = set()
    for chunk in rows.chunks(given, base.db):
        present.update(base.filter(pk__in=chunk).values_list("pk", flat=True))
    unfilled = {id(obj) for obj in missing}
    confirmed = []
    for obj in created:
        if id(obj) in unfilled:
            if key is not None and obj.pk is None:
                continue  # not found by its key: not inserted
        elif check_pks and obj.pk not in present:
            continue
        confirmed.append(obj)
    return confirmed
