"""Replaying reported events onto a copy of the tables (the oracle of test_oracle.py and test_concurrency.py).

A copy is ``{model: {pk: {attname: value}}}``. ``apply`` changes it by one delivery, checking as it
goes that the delivery is consistent with the copy: created rows did not exist, every reported old
value (and every field of a deleted row) is the copy's value, and an updated field really changed.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from bulk_tracker_core import values_equal

Tables = dict[type[Model], dict[Any, dict[str, Any]]]


def attnames(model: type[Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def row_of(instance: Model) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in attnames(type(instance))}


def database_rows(model: type[Model]) -> dict[Any, dict[str, Any]]:
    """The table as it is, read through the base manager (a default manager must not hide rows)."""
    return {row[model._meta.pk.attname]: row for row in model._base_manager.values(*attnames(model))}


def attname_of(model: type[Model], key: str) -> str:
    """``changed_values`` keys are the names the caller wrote: ``clerk`` or ``clerk_id``."""
    return model._meta.pk.attname if key == "pk" else model._meta.get_field(key).attname


def raw(value: Any) -> Any:
    """``update(clerk=c)`` reports the old Clerk object: compare by its key."""
    return value.pk if isinstance(value, Model) else value


def apply(tables: Tables, kind: str, model: type[Model], objects: list[Any], where: str = "") -> None:
    rows = tables[model]
    for obj in objects:
        instance = obj.instance
        assert type(instance) is model, f"{where}: {kind} {model.__name__} carries a {type(instance).__name__}"
        assert not instance.get_deferred_fields(), f"{where}: {kind} {model.__name__} instance has deferred fields"
        pk = instance.pk
        assert pk is not None, f"{where}: {kind} {model.__name__} reported without a pk"
        at = f"{where}: {kind} {model.__name__} pk={pk}"
        if kind == "create":
            assert obj.changed_values == {}, f"{at}: a created row with changed values"
            assert pk not in rows, f"{at}: reported created, but the row already existed"
            rows[pk] = row_of(instance)
        elif kind == "update":
            assert pk in rows, f"{at}: reported updated, but no such row"
            assert obj.changed_values, f"{at}: reported updated without a changed value"
            for key, old in obj.changed_values.items():
                name = attname_of(model, key)
                expected = rows[pk][name]
                assert values_equal(raw(old), expected), f"{at}: old {key}={old!r}, but it was {expected!r}"
                new = getattr(instance, name)
                assert not values_equal(new, expected), f"{at}: {key} reported changed to the value it had"
                rows[pk][name] = new
        else:
            assert obj.changed_values == {}, f"{at}: a deleted row with changed values"
            assert pk in rows, f"{at}: reported deleted, but no such row (deleted twice?)"
            assert row_of(instance) == rows[pk], f"{at}: reported {row_of(instance)}, the row was {rows[pk]}"
            del rows[pk]


def assert_tables_match(tables: Tables, where: str = "") -> None:
    for model, rows in tables.items():
        real = database_rows(model)
        assert rows == real, f"{where}: {model.__name__} replayed {rows}, the database has {real}"
