"""The model-shape matrix (issue 14): every model shape x every write operation, with and without a receiver,
each against the same call on the shape's plain Django twin.

A cell seeds rows 0 and 1 in both tables (the same pks: auto pks are given explicitly above both tables'
counters, and the sequences moved past them), runs the operation on the tracked model and on its twin and
checks that
* both tables hold the same rows afterwards and both calls returned the same value (instances field by
  field, as they hold their fields: a deferred field stays deferred) or raised the same error;
* with a receiver: one signal call per kind (an MTI child's delete: one per model of its chain, as Django's
  ``post_delete``), carrying exactly the rows the twin's table shows created, changed or deleted, each
  instance as the row is stored (a deleted one as it was, a generated field as the database computed it),
  and for an update the old value of every field that changed (a generated field is the database's, never
  among the old values, as for ``update()``);
* with no receiver, and for the ``save()`` of a fetched row with one too: the statements are the twin's own,
  table names aside.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import django
import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.color import no_style
from django.db import connection, models, transaction
from helpers import sql_of

from testapp import models as testapp
from testapp.models import Hashid

pytestmark = pytest.mark.django_db

UTC = datetime.timezone.utc
DEFERRED = "<deferred>"


# --- the shapes -----------------------------------------------------------------------------------


@dataclass
class World:
    """One side of a cell: the shape's model (tracked or plain), the rows its fields point at, the seeded pks."""

    model: type[models.Model]
    related: dict[str, models.Model] = field(default_factory=dict)
    pks: list[Any] = field(default_factory=list)


@dataclass
class Shape:
    name: str
    model: str  # the tracked model's name in testapp.models; the twin is "Plain" + it
    field: str  # the field the operations change
    values: tuple[Any, Any, Any]  # row 0's, row 1's, and the value written
    identity: Callable[[World, int], dict[str, Any]]  # what identifies row i: its pk or a unique field
    others: Callable[[World, int], dict[str, Any]]  # row i's other fields
    upsert_on: list[str]  # unique_fields of an upsert
    related: Callable[[Callable[[str], type[models.Model]]], dict[str, models.Model]] = lambda model: {}
    needs: tuple[int, int] = (4, 2)

    def kwargs(self, world: World, i: int) -> dict[str, Any]:
        return {**self.identity(world, i), **self.others(world, i), self.field: self.values[min(i, 2)]}


def parcel_fields(world: World, i: int) -> dict[str, Any]:
    """Decimal, aware datetime, JSON and a nullable foreign key left NULL; ``doubled`` (5.0+) is qty * 2."""
    return {
        "hub": world.related["hub"],
        "price": Decimal(f"{i}.50"),
        "sent": datetime.datetime(2026, 1, 1 + i, 12, 30, tzinfo=UTC),
        "data": {"k": [i, {"n": None}]},
        "courier": None,
    }


def a_hub(model: Callable[[str], type[models.Model]]) -> dict[str, models.Model]:
    return {"hub": model("Hub")._base_manager.create(id=7, name="home")}


def a_carrier(model: Callable[[str], type[models.Model]]) -> dict[str, models.Model]:
    return {"carrier": model("Carrier")._base_manager.create(id=7, name="c")}


SHAPES = [
    Shape("int-pk", "Hub", "size", (1, 2, 9), lambda w, i: {"name": f"h{i}"}, lambda w, i: {}, ["name"]),
    Shape(
        "str-pk-filtering-manager",
        "Courier",
        "name",
        ("a", "b", "z"),
        lambda w, i: {"code": f"k{i}"},
        lambda w, i: {"active": i != 1, "hub": None},
        ["code"],
    ),
    Shape(
        "uuid-pk",
        "Token",
        "weight",
        (1, 2, 9),
        lambda w, i: {"id": uuid.UUID(int=i + 1)},
        lambda w, i: {"label": f"t{i}"},
        ["id"],
    ),
    Shape(
        "parcel-decimal-datetime-json-generated",
        "Parcel",
        "qty",
        (1, 2, 9),
        lambda w, i: {"code": f"p{i}"},
        parcel_fields,
        ["code"],
        related=a_hub,
    ),
    Shape(
        "mti-child",
        "ExpressParcel",
        "qty",
        (1, 2, 9),
        lambda w, i: {"code": f"p{i}"},
        lambda w, i: {**parcel_fields(w, i), "priority": i},
        ["code"],
        related=a_hub,
    ),
    Shape(
        "proxy",
        "ParcelProxy",
        "qty",
        (1, 2, 9),
        lambda w, i: {"code": f"p{i}"},
        parcel_fields,
        ["code"],
        related=a_hub,
    ),
    Shape(
        "object-pk-hashid",
        "Coupon",
        "uses",
        (1, 2, 9),
        lambda w, i: {"id": Hashid(i + 1)},
        lambda w, i: {"code": f"c{i}"},
        ["id"],
    ),
    Shape(
        "uuid-pk-voucher",
        "Voucher",
        "label",
        ("a", "b", "z"),
        lambda w, i: {"id": uuid.UUID(int=100 + i)},
        lambda w, i: {},
        ["id"],
    ),
    Shape(
        "composite-pk",
        "Consignment",
        "weight",
        (1, 2, 9),
        lambda w, i: {"carrier": w.related["carrier"], "number": i + 1},
        lambda w, i: {"label": f"n{i}"},
        ["carrier", "number"],
        related=a_carrier,
        needs=(5, 2),
    ),
]


# --- the operations -------------------------------------------------------------------------------


def upsert_target(shape: Shape) -> dict[str, Any]:
    """``unique_fields`` where the backend takes them (MariaDB conflicts on every unique key)."""
    return {"unique_fields": shape.upsert_on} if connection.features.supports_update_conflicts_with_target else {}


def fetched(world: World, i: int) -> models.Model:
    return world.model._base_manager.get(pk=world.pks[i])


def changed(obj: models.Model, shape: Shape, value: Any) -> models.Model:
    setattr(obj, shape.field, value)
    return obj


def saved(obj: models.Model) -> models.Model:
    obj.save()
    return obj


def instance(shape: Shape, world: World, i: int, **values: Any) -> models.Model:
    return world.model(**{**shape.kwargs(world, i), **values})


OPERATIONS: dict[str, Callable[[Shape, World], Any]] = {
    "update": lambda s, w: w.model.objects.filter(pk__in=w.pks).update(**{s.field: s.values[2]}),
    # row 0 changes, row 1 is written its own value: not a change
    "bulk_update": lambda s, w: w.model.objects.bulk_update(
        [changed(fetched(w, 0), s, s.values[2]), changed(fetched(w, 1), s, s.values[1])], [s.field]
    ),
    "bulk_create": lambda s, w: w.model.objects.bulk_create([instance(s, w, 2)]),
    # row 0 again (a conflict: updated) and a new row 2 (inserted)
    "upsert": lambda s, w: w.model.objects.bulk_create(
        [instance(s, w, 0, **{s.field: s.values[2]}), instance(s, w, 2)],
        update_conflicts=True,
        update_fields=[s.field],
        **upsert_target(s),
    ),
    "ignore_conflicts": lambda s, w: w.model.objects.bulk_create(
        [instance(s, w, 0, **{s.field: s.values[2]}), instance(s, w, 2)], ignore_conflicts=True
    ),
    "save-insert": lambda s, w: saved(instance(s, w, 2)),
    "save-update": lambda s, w: saved(changed(fetched(w, 0), s, s.values[2])),
    "create": lambda s, w: w.model.objects.create(**s.kwargs(w, 2)),
    "get_or_create-creates": lambda s, w: w.model.objects.get_or_create(
        **s.identity(w, 2), defaults={**s.others(w, 2), s.field: s.values[2]}
    ),
    "get_or_create-gets": lambda s, w: w.model.objects.get_or_create(**s.identity(w, 0)),
    "update_or_create-updates": lambda s, w: w.model.objects.update_or_create(
        **s.identity(w, 0), defaults={s.field: s.values[2]}
    ),
    "update_or_create-creates": lambda s, w: w.model.objects.update_or_create(
        **s.identity(w, 2), defaults={**s.others(w, 2), s.field: s.values[2]}
    ),
    "instance-delete": lambda s, w: fetched(w, 0).delete(),
    "queryset-delete": lambda s, w: w.model.objects.filter(pk__in=w.pks).delete(),
}

# With a receiver too, these cost Django's own statements and nothing more (DESIGN.md section 6): the old values
# come from the instance's FieldTracker.
DJANGOS_OWN_STATEMENTS = {"save-update"}
# These report the caller's own object, updated: before Django 6.0 Django leaves its generated fields as they
# were (the docs say: refresh_from_db() to read them), and so does the report.
CALLERS_OBJECT_UPDATED = {"save-update", "update_or_create-updates"}

# Cells that deviate from plain Django on purpose (docs/guarantees.md, "Not promised"): (shape, operation,
# receiver) -> reason. Marked xfail(strict=True): fixed, they fail, and the entry goes.
ACCEPTED: dict[tuple[str, str, bool], str] = {}


def cells() -> list[Any]:
    params = []
    for shape in SHAPES:
        for operation in OPERATIONS:
            for receiver in (True, False):
                marks = []
                if shape.needs > django.VERSION:
                    version = ".".join(map(str, shape.needs))
                    marks.append(pytest.mark.skip(reason=f"{shape.model} needs Django {version}+"))
                reason = ACCEPTED.get((shape.name, operation, receiver))
                if reason:
                    marks.append(pytest.mark.xfail(strict=True, reason=reason))
                ids = f"{shape.name}-{operation}-{'receiver' if receiver else 'no-receiver'}"
                params.append(pytest.param(shape, operation, receiver, marks=marks, id=ids))
    return params


# --- the helpers ----------------------------------------------------------------------------------


def model_of(prefix: str) -> Callable[[str], type[models.Model]]:
    return lambda name: getattr(testapp, prefix + name)


def attnames(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def generated(model: type[models.Model]) -> set[str]:
    return {f.attname for f in model._meta.concrete_fields if getattr(f, "generated", False)}


def pk_of(model: type[models.Model], row: dict[str, Any]) -> Any:
    parts = getattr(model._meta, "pk_fields", None) or [model._meta.pk]
    return row[parts[0].attname] if len(parts) == 1 else tuple(row[part.attname] for part in parts)


def table(model: type[models.Model]) -> dict[Any, dict[str, Any]]:
    """Every concrete field of every row, pk-ordered, through the base manager (no manager hides a row)."""
    rows = model._base_manager.order_by("pk").values_list(*attnames(model))
    return {pk_of(model, row): row for row in (dict(zip(attnames(model), values, strict=True)) for values in rows)}


def held(obj: models.Model) -> tuple[Any, ...]:
    """Every concrete field as the instance holds it, without loading a deferred one."""
    return tuple(obj.__dict__.get(name, DEFERRED) for name in attnames(type(obj)))


def loaded(obj: models.Model) -> dict[str, Any]:
    """Every concrete field's value (a deferred one loaded)."""
    return {name: getattr(obj, name) for name in attnames(type(obj))}


def comparable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return ("instance", type(value).__name__.removeprefix("Plain"), held(value))
    if isinstance(value, (list, tuple)):
        return type(value)(comparable(item) for item in value)
    if isinstance(value, dict):
        return {key.replace(".Plain", "."): comparable(item) for key, item in value.items()}
    return value


def captured(run: Callable[[], Any]) -> tuple[tuple[Any, ...], list[str]]:
    """The outcome of ``run()`` and its statements."""
    result: list[tuple[Any, ...]] = []
    statements = sql_of(lambda: result.append(outcome(run)))
    return result[0], statements


def outcome(run: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call returned, or the error it raised (in a savepoint, as Django's own callers would)."""
    try:
        with transaction.atomic():
            return ("returned", comparable(run()))
    except Exception as error:
        return ("raised", type(error), str(error).replace("Plain", "").replace("plain", ""))


def next_free_pk(model: type[models.Model]) -> int:
    """Above every pk the table's counter may hand out (MariaDB's AUTO_INCREMENT survives rollbacks)."""
    highest = model._base_manager.aggregate(top=models.Max("pk"))["top"] or 0
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = %s",
                [model._meta.db_table],
            )
            highest = max(highest, (cursor.fetchone()[0] or 1) - 1)
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [model._meta.db_table])
            found = cursor.fetchone()
            highest = max(highest, found[0] if found else 0)
    return highest + 1


def table_of_pk(model: type[models.Model]) -> type[models.Model] | None:
    """The model whose table hands out ``model``'s auto pks (an MTI chain's root), or None."""
    root = ([model._meta.concrete_model, *model._meta.concrete_model._meta.get_parent_list()])[-1]
    return root if isinstance(root._meta.pk, models.fields.AutoFieldMixin) else None


def seed(shape: Shape, tracked: World, plain: World) -> None:
    """Rows 0 and 1 in both tables, with the same pks; both counters then hand out the same next pk."""
    roots = [table_of_pk(tracked.model), table_of_pk(plain.model)]
    auto = roots[0] is not None
    base = max(next_free_pk(root) for root in roots) if auto else 0
    for world in (tracked, plain):
        for i in (0, 1):
            given = {"pk": base + i} if auto else {}
            world.pks.append(world.model._base_manager.create(**given, **shape.kwargs(world, i)).pk)
    if auto and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), roots):
                cursor.execute(statement)
    assert tracked.pks == plain.pks


def worlds(shape: Shape) -> tuple[World, World]:
    tracked = World(getattr(testapp, shape.model), shape.related(model_of("")))
    plain = World(getattr(testapp, "Plain" + shape.model), shape.related(model_of("Plain")))
    seed(shape, tracked, plain)
    for pair in twins():  # a GenericRelation's delete reads its content type: from the cache on both sides
        for model in pair:
            ContentType.objects.get_for_model(model, for_concrete_model=False)
    return tracked, plain


def same_sql(statements: list[str]) -> list[str]:
    """The plain twins' statements with the tracked tables' names (parent links: ``plainparcel_ptr_id``) and
    content types (a GenericRelation's delete names the twin's own)."""
    types = {
        str(ContentType.objects.get_for_model(plain, for_concrete_model=False).pk): str(
            ContentType.objects.get_for_model(tracked, for_concrete_model=False).pk
        )
        for plain, tracked in twins()
    }

    def named(sql: str) -> str:
        sql = re.sub(r"(?<=testapp_)plain|plain(?=\w*_ptr_id)", "", savepoints_named(sql))
        return re.sub(r'(?<=content_type_id[`"] = )(\d+)', lambda m: types.get(m.group(), m.group()), sql)

    return [named(sql) for sql in statements]


def twins() -> list[tuple[type[models.Model], type[models.Model]]]:
    return [
        (plain, getattr(testapp, plain.__name__.removeprefix("Plain")))
        for plain in apps.get_app_config("testapp").get_models()
        if plain.__name__.startswith("Plain")
    ]


def savepoints_named(sql: str) -> str:
    return re.sub(r'[`"]?s\d+_x\d+[`"]?', '"savepoint"', sql)


def expected_calls(model: type[models.Model], before: dict, after: dict) -> dict[tuple[str, str], list]:
    """What the twin's table shows: {(kind, sender): [(pk, changed values)]}, by pk."""
    skip = generated(model)
    created = [(pk, {}) for pk in after if pk not in before]
    updated = [
        (pk, {name: old for name, old in row.items() if name not in skip and after[pk][name] != old})
        for pk, row in before.items()
        if pk in after
    ]
    deleted = [(pk, {}) for pk in before if pk not in after]
    name = model.__name__.removeprefix("Plain")
    senders = [name]
    if deleted and not model._meta.proxy:  # Django sends post_delete for each model of an MTI chain
        senders += [parent.__name__.removeprefix("Plain") for parent in model._meta.get_parent_list()]
    calls = {("create", name): created, ("update", name): [(pk, old) for pk, old in updated if old]}
    calls.update({("delete", sender): deleted for sender in senders})
    return {key: sorted(rows, key=lambda row: repr(row[0])) for key, rows in calls.items() if rows}


# --- the matrix -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "operation", "receiver"), cells())
def test_shape_matrix(request, shape, operation, receiver):
    tracked, plain = worlds(shape)
    run = OPERATIONS[operation]
    before, plain_before = table(tracked.model), table(plain.model)
    if receiver:
        received = request.getfixturevalue("received")
        with received.committing():
            got, tracked_sql = captured(lambda: run(shape, tracked))
    else:
        got, tracked_sql = captured(lambda: run(shape, tracked))
    expected, plain_sql = captured(lambda: run(shape, plain))

    after, plain_after = table(tracked.model), table(plain.model)
    assert got == expected
    assert list(after.values()) == [
        {name.removeprefix("plain"): value for name, value in row.items()} for row in plain_after.values()
    ]
    if not receiver or operation in DJANGOS_OWN_STATEMENTS:
        assert [savepoints_named(sql) for sql in tracked_sql] == same_sql(plain_sql)
    if not receiver:
        return

    calls = {}
    for call in received.calls:
        key = (call.kind, call.sender.__name__)
        assert key not in calls, f"two {key} calls: {received.calls}"
        calls[key] = call
        stale = generated(tracked.model) if operation in CALLERS_OBJECT_UPDATED and django.VERSION < (6, 0) else set()
        for modified in call.objects:  # the instance as the row is stored (a deleted one: as it was)
            rows = before if call.kind == "delete" else after
            row = rows[modified.instance.pk] if call.sender is tracked.model else None
            if row is not None:
                shown = {name: value for name, value in loaded(modified.instance).items() if name not in stale}
                assert shown == {name: value for name, value in row.items() if name not in stale}, (call.kind, modified)
    reported = {
        key: sorted(((m.instance.pk, m.changed_values) for m in call.objects), key=lambda row: repr(row[0]))
        for key, call in calls.items()
    }
    assert reported == expected_calls(plain.model, plain_before, plain_after)
