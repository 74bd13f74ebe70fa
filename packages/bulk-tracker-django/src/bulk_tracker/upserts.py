"""bulk_create() with ignore_conflicts or update_conflicts: which rows were inserted, which updated.

The rows that can conflict are read (and locked) before the insert, by every unique key the
insert can conflict on, so old values are those really overwritten. A row inserted by another
transaction between that read and the insert is reported as created by neither (see README).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models import Q

from bulk_tracker_core import ModifiedObject, changed_fields

from . import rows

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

    inserted = insert(objs, **options)

    result: UpsertResult[M] = UpsertResult(inserted)
    update_attnames = [model._meta.get_field(name).attname for name in options["update_fields"] or ()]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    seen: set[tuple[int, Key]] = set()
    for obj in inserted:
        obj_keys = [(number, value) for number, key in enumerate(keys) if (value := key_of(obj, key)) is not None]
        match = next((index[k] for k in obj_keys if k in index), None)
        if match is None:
            if not any(k in seen for k in obj_keys):
                result.created.append(obj)
            seen.update(obj_keys)
            continue
        if not options["update_conflicts"]:
            continue
        new_values = {name: by_attname[name].to_python(getattr(obj, name)) for name in update_attnames}
        diff = changed_fields(rows.attribute_values(match, update_attnames), new_values)
        if diff:
            for name, value in new_values.items():
                setattr(match, name, value)  # the row as the upsert left it
            result.updated.append(ModifiedObject(match, diff))
    _fill_pks(result.created, keys, base)
    return result


def _fill_pks(created: list[M], keys: list[tuple[Any, ...]], base: Any) -> None:
    """Give created objects the pk the backend did not return, in one read by another unique key."""
    missing = [obj for obj in created if obj.pk is None]
    key = next((k for k in keys if all(key_of(obj, k) is not None for obj in missing)), None)
    if not missing or key is None:
        return
    attnames = [f.attname for f in key]
    found: dict[Hashable, Any] = {}
    for chunk in rows.chunks(missing, base.db, len(key)):
        condition = _matching([key], chunk)
        for pk, *values in base.filter(condition).values_list("pk", *attnames):
            found[tuple(f.to_python(v) for f, v in zip(key, values, strict=True))] = pk
    for obj in missing:
        obj.pk = found.get(key_of(obj, key))
