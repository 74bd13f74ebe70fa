"""The differential oracle: every tracked write against the same write on plain Django, and the events replayed.

Two worlds of the same schema live side by side (``testapp.models._oracle_world``): the tracked models
(``Hub``, ``Courier``, ``Parcel``, ``ExpressParcel``, ``ParcelProxy``, ``Remark``, ``Token``) and their
plain Django twins (``PlainHub`` ...), same tables, fields and managers. The shapes: integer, string
and UUID primary keys, an MTI child, a proxy, a filtering default manager (inactive couriers hidden),
Decimal, datetime (USE_TZ), JSON, nullable and (Django 5.0+) generated fields, a unique code, cascades,
SET_NULL, reverse foreign keys and a GenericRelation.

A hypothesis state machine draws an operation and its arguments once and runs it in both worlds: every
write path of the README table (``update()``, ``bulk_update()``, ``bulk_create()`` and its upserts,
``save()``, ``create()``, ``get_or_create()``, ``update_or_create()``, instance and queryset
``delete()``, reverse-FK and GenericRelation manager writes), in autocommit, joined to an ``atomic()``
block that commits or rolls back, in savepoints that roll back, with receivers that raise, and inside
``suspended()``. After every step:

* both worlds returned the same value (instances compared field by field) or raised the same error
  (the same class; the same message unless it comes from the database, whose messages name tables);
* the two worlds' tables hold the same rows;
* the events, replayed on a copy of the tracked tables (``Replay``), reproduce the tracked tables: every
  reported old value (and every field of a deleted row) is the copy's, nothing of a failed, rolled-back or
  suspended operation is sent, each operation sends at most one call per (kind, model), in order.

``BULK_TRACKER_ORACLE_EXAMPLES`` sets the number of examples (10 by default; CI runs 200 per backend),
``BULK_TRACKER_ORACLE_RANDOM=1`` explores new ones,
``BULK_TRACKER_ORACLE_SHRINK=0`` reports a failure as found, unshrunk (faster while fixing).
The count run is printed in the terminal summary.
"""

from __future__ import annotations

import datetime
import decimal
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import django
import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management.color import no_style
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Model
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from oracle_receivers import BoomError, Rollback, Trace, receivers

from bulk_tracker import TrackingInfo, suspended, tracking
from bulk_tracker_core import values_equal
from testapp import models as testapp

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("BULK_TRACKER_ORACLE_EXAMPLES", "10"))
RANDOM = os.environ.get("BULK_TRACKER_ORACLE_RANDOM", "") not in ("", "0")
SHRINK = os.environ.get("BULK_TRACKER_ORACLE_SHRINK", "1") not in ("", "0")
COMPOSITE = django.VERSION >= (5, 2)  # Carrier -CASCADE-> Consignment, whose pk is (carrier, number)
NAMES = ("Hub", "Courier", "Parcel", "ExpressParcel", "ParcelProxy", "Remark", "Token") + (
    ("Carrier", "Consignment") if COMPOSITE else ()
)
PARCEL_TYPE: Any = object()  # a Remark's content type, each world's own
MISSING = 10**6  # never a row's integer pk

UTC = datetime.timezone.utc
MOMENTS = [
    None,
    datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    datetime.datetime(2026, 1, 1, 13, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),  # 12:00 UTC
    datetime.datetime(2026, 6, 1, 8, 30, 15, 250000, tzinfo=UTC),
]
PRICES = [None, decimal.Decimal("1.00"), decimal.Decimal("2.50"), decimal.Decimal("2.5"), "3.10", 4]
JSONS = [{}, {"k": 1}, {"k": 2}, [1, 2], "s", 0, {"k": [1, {"x": None}]}]
TOKENS = [uuid.UUID(int=n) for n in range(1, 5)]
COURIERS = ["k0", "k1", "k2", "k3"]


class World:
    """One world's models by their tracked names: ``world.Parcel`` is ``Parcel`` or ``PlainParcel``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.models: dict[str, type[Model]] = {name: getattr(testapp, prefix + name) for name in NAMES}

    def __getattr__(self, name: str) -> type[Model]:
        return self.models[name]

    def tables(self) -> list[type[Model]]:
        """The models that own a table, parents first."""
        composite = [self.Carrier, self.Consignment] if COMPOSITE else []
        return [self.Hub, self.Courier, self.Parcel, self.ExpressParcel, self.Remark, self.Token, *composite]


TRACKED, PLAIN = World(""), World("Plain")
TRACKED_MODELS = frozenset(TRACKED.models.values())


def name_of(model: type[Model]) -> str:
    return model.__name__.removeprefix("Plain")


def local_attnames(model: type[Model]) -> list[str]:
    """The columns of ``model``'s own table (an MTI child's parent fields live in the parent's)."""
    return [f.attname for f in model._meta.local_concrete_fields]


def generated(model: type[Model], local: bool = False) -> set[str]:
    fields = model._meta.local_concrete_fields if local else model._meta.concrete_fields
    return {f.attname for f in fields if getattr(f, "generated", False)}


def stored(field: Any, value: Any) -> Any:
    """``value`` as ``field``'s column gives it back (``to_python``; a foreign key's as its target's)."""
    target = field.target_field if field.is_relation else field
    return value if value is None else target.to_python(value)


def content_type_name(pk: Any) -> Any:
    """A Remark's content type by model name: the two worlds have their own ContentType rows."""
    return name_of(ContentType.objects.get_for_id(pk).model_class()) if pk is not None else None


def table_rows(model: type[Model], normalise: bool = False) -> dict[Any, dict[str, Any]]:
    """``model``'s own table as it is, read through the base manager (a default manager must not hide rows)."""
    names = local_attnames(model)
    rows = {}
    for row in model._base_manager.order_by().values(*names):
        if normalise and "content_type_id" in row:
            row["content_type_id"] = content_type_name(row["content_type_id"])
        key = pk_of(model, row)
        rows[key] = {name.removeprefix("plain"): value for name, value in row.items()} if normalise else row
    return rows


def pk_of(model: type[Model], row: dict[str, Any]) -> Any:
    """A row's pk: a tuple for a composite key (Django 5.2+)."""
    parts = getattr(model._meta, "pk_fields", None) or [model._meta.pk]
    return row[parts[0].attname] if len(parts) == 1 else tuple(row[part.attname] for part in parts)


def normalised(value: Any) -> Any:
    """A return value, comparable across worlds: instances as (model name, field values)."""
    if isinstance(value, Model):
        # A generated field: model_utils' FieldTracker reads it back after save() where Django leaves it
        # deferred (MariaDB has no RETURNING; docs/guarantees.md), so it is compared in the tables only.
        row = {
            f.attname.removeprefix("plain"): value.__dict__.get(f.attname, "<deferred>")
            for f in value._meta.concrete_fields
            if not getattr(f, "generated", False)
        }
        if "content_type_id" in row:
            row["content_type_id"] = content_type_name(row["content_type_id"])
        return (name_of(type(value)), row)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [normalised(item) for item in value])
    if isinstance(value, dict):
        # delete()'s counts: Django leaves out a model with 0 rows deleted, except on its fast path (taken
        # only with no delete receiver connected), so {"testapp.Remark": 0} and {} say the same.
        return {normalised_label(key): normalised(item) for key, item in value.items() if item != 0}
    return value


def normalised_label(key: Any) -> Any:
    return key.replace(".Plain", ".") if isinstance(key, str) else key


class Outcome:
    """What one run of an operation did: its return value or its error."""

    def __init__(self, run: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self.value: Any = None
        try:
            self.value = normalised(run())
        except Exception as error:  # compared with the other world's
            self.error = error

    def describe(self) -> Any:
        if self.error is None:
            return ("returned", self.value)
        kind = type(self.error)
        if isinstance(self.error, DatabaseError):
            return ("raised", kind.__name__)  # the database's message names the table
        return ("raised", kind.__name__, str(self.error).replace("Plain", ""))


class Replay:
    """A copy of the tracked tables, changed only by the reported events, one table per model that owns one.

    An event of an MTI child writes the parent's table for the parent's fields; a deleted child's
    parent row is deleted by the parent's own event, as Django sends ``post_delete`` for both.
    Generated fields are the database's: the copy takes them from the table after each step.
    """

    def __init__(self) -> None:
        self.tables = {model: table_rows(model) for model in TRACKED.tables()}
        # Rows deleted in the step, by (table owner, pk): Django sends post_delete for a proxy's rows and
        # again for their concrete parent's when an MTI child's cascade collects its parent rows.
        self.deleted: dict[tuple[type[Model], Any], dict[str, Any]] = {}

    def owners(self, model: type[Model]) -> list[type[Model]]:
        concrete = model._meta.concrete_model
        return [concrete, *concrete._meta.get_parent_list()]

    def owner_of(self, model: type[Model], attname: str) -> type[Model]:
        for owner in self.owners(model):
            if attname in local_attnames(owner):
                return owner
        raise AssertionError(f"{model.__name__} has no column {attname}")

    def row(self, model: type[Model], pk: Any) -> dict[str, Any] | None:
        """The copy's whole row of ``model`` (parents' columns included), or None."""
        parts = [self.tables[owner].get(pk) for owner in self.owners(model)]
        if any(part is None for part in parts):
            return None
        return {name: value for part in parts for name, value in part.items()}

    def apply(self, kind: str, model: type[Model], objects: list[Any], where: str) -> None:
        skip = generated(model)
        for obj in objects:
            instance = obj.instance
            assert type(instance) is model, f"{where}: {kind} {model.__name__} carries a {type(instance).__name__}"
            pk = instance.pk
            at = f"{where}: {kind} {model.__name__} pk={pk}"
            assert pk is not None, f"{at}: reported without a pk"
            deferred = instance.get_deferred_fields() - skip
            if kind == "update":  # save() of a deferred instance reports it as it is: its changed fields are loaded
                names = {
                    model._meta.pk.attname if k == "pk" else model._meta.get_field(k).attname
                    for k in obj.changed_values
                }
                deferred &= names
            assert not deferred, f"{at}: the instance has deferred fields {deferred}"
            # As stored: save() and create() report the caller's object as Django leaves it ("3.10" for a Decimal).
            values = {
                f.attname: stored(f, getattr(instance, f.attname))
                for f in model._meta.concrete_fields
                if f.attname not in skip and f.attname not in instance.get_deferred_fields()
            }
            row = self.row(model, pk)
            if kind == "create":
                assert obj.changed_values == {}, f"{at}: a created row with changed values"
                own = self.tables[model._meta.concrete_model]
                assert pk not in own, f"{at}: reported created, but the row already existed"
                for owner in self.owners(model):
                    names = local_attnames(owner)
                    self.tables[owner].setdefault(pk, {name: values.get(name) for name in names})
            elif kind == "update":
                assert row is not None, f"{at}: reported updated, but no such row"
                assert obj.changed_values, f"{at}: reported updated without a changed value"
                for key, old in obj.changed_values.items():
                    name = model._meta.pk.attname if key == "pk" else model._meta.get_field(key).attname
                    if name in skip:
                        continue
                    expected = row[name]
                    old = old.pk if isinstance(old, Model) else old
                    assert values_equal(old, expected), f"{at}: old {key}={old!r}, but it was {expected!r}"
                    new = values[name]
                    assert not values_equal(new, expected), f"{at}: {key} reported changed to the value it had"
                    self.tables[self.owner_of(model, name)][pk][name] = new
            else:
                assert obj.changed_values == {}, f"{at}: a deleted row with changed values"
                concrete = model._meta.concrete_model
                if row is None and (concrete, pk) in self.deleted:  # the same row, under a proxy and its model
                    row = self.deleted[concrete, pk]
                else:
                    assert row is not None, f"{at}: reported deleted, but no such row (deleted twice?)"
                    self.deleted[concrete, pk] = row
                    del self.tables[concrete][pk]
                reported = {name: value for name, value in values.items() if name in row}
                expected = {name: row[name] for name in reported}
                assert reported == expected, f"{at}: reported {reported}, the row was {expected}"

    def check(self, where: str) -> None:
        self.deleted.clear()
        for model, rows in self.tables.items():
            real = table_rows(model)
            for name in generated(model, local=True):
                for pk, row in rows.items():
                    if pk in real:
                        row[name] = real[pk][name]
            assert rows == real, f"{where}: {model.__name__} replayed {rows}, the database has {real}"


class Oracle(RuleBasedStateMachine):
    trace: Trace  # set by the test
    examples = steps = operations = refused = raised_to_caller = 0

    def __init__(self) -> None:
        super().__init__()
        flush()
        self.replay = Replay()
        self.cursor = len(self.trace.calls)
        self.trace.raising.clear()
        self.trace.logged.clear()
        self.tags = 0
        self.committed: set[str] = set()
        # Operations Django makes of several writes in a transaction of its own (a related manager's set(), and
        # add/remove/clear with bulk=False): each write is reported on its own; a failure is logged, not raised.
        self.compound: set[str] = set()
        self.known_pks: dict[str, set[Any]] = {name: set() for name in NAMES}
        self.outcomes: dict[str, Any] = {}  # by tag: what the plain run did, for the failure messages

    def teardown(self) -> None:
        type(self).examples += 1

    # --- the starting rows ----------------------------------------------------------------------

    @initialize(
        hubs=st.integers(1, 2), couriers=st.integers(0, 3), parcels=st.integers(0, 4), express=st.integers(0, 2)
    )
    def seed(self, hubs: int, couriers: int, parcels: int, express: int) -> None:
        """The same rows in both worlds, written untracked."""
        for world in (TRACKED, PLAIN):
            with suspended():
                made = [world.Hub.objects.create(name=f"h{i}", size=i) for i in range(hubs)]
                staff = [
                    world.Courier.objects.create(code=COURIERS[i], name="ann", active=i != 1, hub=made[i % hubs])
                    for i in range(couriers)
                ]
                for i in range(parcels + express):
                    model = world.Parcel if i < parcels else world.ExpressParcel
                    parcel = model.objects.create(
                        code=f"c{i}",
                        hub=made[i % hubs],
                        courier=staff[i % couriers] if staff else None,
                        qty=i,
                        price=PRICES[i % len(PRICES)],
                        sent=MOMENTS[i % len(MOMENTS)],
                    )
                    if i % 2:
                        world.Remark.objects.create(target=parcel, text="r")
                world.Token.objects.create(id=TOKENS[0], label="t")
                if COMPOSITE:
                    carriers = [world.Carrier.objects.create(name=name) for name in ("ann", "bob")]
                    for number in range(parcels):
                        world.Consignment.objects.create(carrier=carriers[number % 2], number=number, weight=number)
        self.replay = Replay()
        self.compare_worlds("seed")

    # --- checking ---------------------------------------------------------------------------------

    def compare_worlds(self, where: str) -> None:
        for tracked, plain in zip(TRACKED.tables(), PLAIN.tables(), strict=True):
            mine, theirs = table_rows(tracked, normalise=True), table_rows(plain, normalise=True)
            assert mine == theirs, f"{where}: {tracked.__name__} holds {mine}, plain Django's twin {theirs}"
        for name in NAMES:
            self.known_pks[name].update(TRACKED.models[name]._base_manager.values_list("pk", flat=True))

    def settle(self, raised: int = 0, suspended_tags: frozenset[str] = frozenset()) -> None:
        """Replay the deliveries since the last step, then compare the copy and the two worlds."""
        type(self).steps += 1
        calls = self.trace.calls[self.cursor :]
        self.cursor = len(self.trace.calls)
        seen: set[tuple[str, str, type[Model]]] = set()
        last = -1
        for kind, sender, objects, info in calls:
            assert info is not None, "every operation here has a tracking_info_"
            assert info.comment is not None
            tag = info.comment
            assert tag not in suspended_tags, f"operation {tag} ran in suspended(), yet {kind} {sender} was sent"
            assert tag in self.committed, (
                f"operation {tag} failed or was rolled back ({self.outcomes.get(tag)}), yet {kind} {sender} was sent"
            )
            if tag not in self.compound:
                assert (tag, kind, sender) not in seen, f"operation {tag} sent {kind} {sender.__name__} twice"
            seen.add((tag, kind, sender))
            assert int(tag) >= last, f"operation {tag} delivered after operation {last}"
            last = int(tag)
            assert objects, "a signal without rows"
            self.replay.apply(kind, sender, objects, f"operation {tag}")
        failing = [c for c in calls if c[3] is not None and c[3].comment in self.trace.raising]
        failed = [r for r in self.trace.logged if isinstance(r.exc_info and r.exc_info[1], BoomError)]
        assert len(failed) == len(failing) - raised, "every receiver failure is logged once, or raised"
        self.trace.logged.clear()
        if suspended_tags:
            self.replay = Replay()  # suspended writes are not reported: the copy starts again from the tables
        self.replay.check(f"after operation {self.tags}")
        self.compare_worlds(f"after operation {self.tags}")

    # --- running one operation in both worlds ---------------------------------------------------

    def new_tag(self, robust: bool, raising: bool) -> TrackingInfo:
        self.tags += 1
        tag = str(self.tags)
        if raising:
            self.trace.raising.add(tag)
        return TrackingInfo(comment=tag, is_robust=robust)

    def both(
        self, data: st.DataObject, info: TrackingInfo, *, plain_in_savepoint: bool = False
    ) -> tuple[Outcome, Outcome]:
        """Draw an operation, run it on plain Django, then tracked; assert both did the same.

        Returns (plain, tracked). The tracked run's BoomError (a receiver's failure reaching the caller
        in autocommit) counts as the plain run's outcome: the write stands.
        """
        op = data.draw(st.sampled_from(OPERATIONS), label="operation")
        act = getattr(self, f"op_{op}")(data)
        explicit = data.draw(st.booleans(), label="tracking_info_ explicit") and getattr(act, "explicit", True)
        if getattr(act, "compound", False):
            self.compound.add(info.comment or "")
        type(self).operations += 1
        if plain_in_savepoint:
            plain = Outcome(lambda: atomic_run(lambda: act(PLAIN, {})))
        else:
            plain = Outcome(lambda: act(PLAIN, {}))

        def tracked_run() -> Any:
            if explicit:
                return act(TRACKED, {"tracking_info_": info})
            with tracking(info, replace=True):
                return act(TRACKED, {})

        tracked = Outcome(tracked_run)
        self.outcomes[info.comment or ""] = plain.describe()
        if isinstance(tracked.error, BoomError):
            return plain, tracked
        assert tracked.describe() == plain.describe(), (
            f"operation {info.comment} ({op}): tracked {tracked.describe()}, plain Django {plain.describe()}"
        )
        return plain, tracked

    @rule(data=st.data(), robust=st.booleans(), raising=st.booleans())
    def autocommit(self, data: st.DataObject, robust: bool, raising: bool) -> None:
        info = self.new_tag(robust, raising)
        plain, tracked = self.both(data, info)
        raised = 0
        if isinstance(tracked.error, BoomError):
            assert not robust, "robust mode never raises a receiver's failure"
            assert plain.error is None, (
                f"operation {info.comment}: a receiver ran, yet plain Django raised {plain.error!r}"
            )
            raised = 1
            type(self).raised_to_caller += 1
        elif raising and not robust and self.delivered(info) and info.comment not in self.compound:
            raise AssertionError(f"operation {info.comment}: a receiver failed in autocommit, the caller was not told")
        if plain.error is None:
            self.committed.add(info.comment or "")
        else:
            type(self).refused += 1
        self.settle(raised)

    def delivered(self, info: TrackingInfo) -> bool:
        return any(call[3] is info for call in self.trace.calls[self.cursor :])

    @rule(data=st.data(), outer=st.sampled_from(["commit", "rollback"]))
    def block(self, data: st.DataObject, outer: str) -> None:
        """Operations in one transaction: joined to it, in a savepoint, or in a savepoint rolled back."""
        steps = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["joined", "savepoint", "rolled-back savepoint"]), st.booleans(), st.booleans()
                ),
                min_size=1,
                max_size=3,
            ),
            label="steps (how, robust, raising)",
        )
        done: list[str] = []
        try:
            with transaction.atomic():
                for how, robust, raising in steps:
                    info = self.new_tag(robust, raising)  # a failure at the commit is logged, robust or not
                    if how == "joined":
                        _, tracked = self.both(data, info, plain_in_savepoint=True)
                        if tracked.error is not None:
                            type(self).refused += 1
                            raise Rollback  # Django leaves a failed joined operation's block to roll back
                        done.append(info.comment or "")
                        continue
                    try:
                        with transaction.atomic():
                            _, tracked = self.both(data, info, plain_in_savepoint=True)
                            if tracked.error is not None:
                                type(self).refused += 1
                                raise Rollback
                            if how == "rolled-back savepoint":
                                raise Rollback
                        done.append(info.comment or "")
                    except Rollback:
                        pass
                if outer == "rollback":
                    raise Rollback
        except Rollback:
            pass
        except DatabaseError:  # at the commit: a deferred foreign key of a joined operation
            type(self).refused += 1
        else:
            self.committed.update(done)
        self.settle()

    @rule(data=st.data())
    def in_suspended(self, data: st.DataObject) -> None:
        """Inside ``suspended()`` nothing is reported; the write is plain Django's."""
        info = self.new_tag(robust=False, raising=False)
        with suspended():
            plain, _ = self.both(data, info)
        if plain.error is None:
            self.committed.add(info.comment or "")
        self.settle(suspended_tags=frozenset({info.comment or ""}))

    # --- drawing arguments (from the tracked world; the two worlds hold the same rows) ------------

    def pks(self, name: str) -> list[Any]:
        model = TRACKED.models[name]
        return sorted(model._base_manager.values_list("pk", flat=True), key=str)

    def draw_pk(self, data: st.DataObject, name: str, *, missing: bool = False) -> Any:
        choices = self.pks(name)
        if missing or not choices:
            choices = [*choices, self.missing_pk(name)]
        return data.draw(st.sampled_from(choices), label=f"{name} pk")

    def draw_pks(self, data: st.DataObject, name: str, min_size: int = 0) -> list[Any]:
        choices = [*self.pks(name), self.missing_pk(name)]
        return data.draw(st.lists(st.sampled_from(choices), min_size=min_size, max_size=4), label=f"{name} pks")

    def missing_pk(self, name: str) -> Any:
        return {"Courier": "zz", "Token": uuid.UUID(int=99), "Consignment": (MISSING, 0)}.get(name, MISSING)

    def as_given(self, data: st.DataObject, name: str, pk: Any) -> Any:
        """A pk as a caller may hold it: as read, or as a form gives it (a string)."""
        if (
            pk is not None
            and name not in ("Courier", "Consignment")
            and data.draw(st.booleans(), label="pk as a string")
        ):
            return str(pk)
        return pk

    def draw_value(self, data: st.DataObject, name: str, field: str, expressions: bool) -> tuple[str, Any]:
        """A value for ``field`` of model ``name``: (the keyword to write it with, the value)."""
        label = f"{name}.{field}"
        if field in ("qty", "size", "weight", "priority"):
            if expressions and data.draw(st.booleans(), label=f"{label} as F()"):
                return field, F(field) + data.draw(st.integers(-1, 2), label=f"F({field}) +")
            return field, data.draw(st.integers(0, 3), label=label)
        if field == "name":
            return field, data.draw(
                st.sampled_from([f"h{i}" for i in range(4)] if name == "Hub" else ["ann", "bob"]), label=label
            )
        if field == "code":
            return field, data.draw(st.sampled_from([f"c{i}" for i in range(6)]), label=label)
        if field in ("label", "text"):
            return field, data.draw(st.sampled_from(["", "a", "b"]), label=label)
        if field == "active":
            return field, data.draw(st.booleans(), label=label)
        if field == "price":
            return field, data.draw(st.sampled_from(PRICES), label=label)
        if field == "sent":
            return field, data.draw(st.sampled_from(MOMENTS), label=label)
        if field == "data":
            return field, data.draw(st.sampled_from(JSONS), label=label)
        if field == "hub":
            required = name != "Courier"
            choices = self.pks("Hub") + ([] if required else [None])
            pk = data.draw(st.sampled_from(choices or [MISSING]), label=label)
            return "hub_id", pk
        if field == "courier":
            return "courier_id", data.draw(st.sampled_from([None, *self.pks("Courier")]), label=label)
        raise AssertionError(field)

    WRITABLE = {
        "Hub": ["name", "size"],
        "Courier": ["name", "active", "hub"],
        "Parcel": ["code", "qty", "price", "sent", "data", "hub", "courier"],
        "ExpressParcel": ["code", "qty", "price", "priority", "hub", "courier"],
        "ParcelProxy": ["qty", "price", "sent", "courier"],
        "Remark": ["text"],
        "Token": ["label", "weight"],
        "Carrier": ["name"],
        "Consignment": ["label", "weight"],  # Django refuses bulk_update() of a primary key's fields
    }

    def draw_values(self, data: st.DataObject, name: str, expressions: bool, min_size: int = 1) -> dict[str, Any]:
        fields = data.draw(
            st.lists(st.sampled_from(self.WRITABLE[name]), min_size=min_size, max_size=3, unique=True),
            label=f"{name} fields",
        )
        return dict(self.draw_value(data, name, field, expressions) for field in fields)

    def draw_new(self, data: st.DataObject, name: str) -> dict[str, Any]:
        """The field values of a new row of ``name``."""
        values = self.draw_values(data, name, expressions=False, min_size=0)
        if name in ("Parcel", "ExpressParcel", "ParcelProxy"):
            values.setdefault("code", data.draw(st.sampled_from([f"c{i}" for i in range(8)]), label="new code"))
            values.setdefault("hub_id", self.draw_pk(data, "Hub"))
        if name == "Courier":
            values["code"] = data.draw(st.sampled_from(COURIERS), label="new courier code")
        if name == "Consignment":
            values["carrier_id"] = self.draw_pk(data, "Carrier")
            values["number"] = data.draw(st.integers(0, 4), label="number")
        if name == "Token":
            values["id"] = data.draw(st.sampled_from(TOKENS), label="new token")
        if name == "Remark":  # in_world() makes it the world's content type
            values["content_type_id"] = PARCEL_TYPE
            values["object_id"] = self.draw_pk(data, "Parcel")
        if name == "Hub":
            values.setdefault("name", data.draw(st.sampled_from([f"h{i}" for i in range(4)]), label="new hub"))
        return values

    def draw_filter(self, data: st.DataObject, name: str) -> dict[str, Any]:
        how = data.draw(st.sampled_from(["pks", "all", "field", "join"]), label=f"{name} filter")
        if how == "pks":
            return {"pk__in": [self.as_given(data, name, pk) for pk in self.draw_pks(data, name)]}
        if how == "all":
            return {}
        if how == "join" and name in ("Parcel", "ExpressParcel", "ParcelProxy"):
            return {"hub__name": data.draw(st.sampled_from(["h0", "h1"]), label="hub name")}
        if how == "join" and name == "Consignment":
            return {"carrier__name": data.draw(st.sampled_from(["ann", "bob"]), label="carrier name")}
        if how == "join" and name == "Courier":
            return {"parcels__qty__gte": data.draw(st.integers(0, 3), label="a parcel's qty at least")}
        field = {"Hub": "size", "Courier": "active", "Remark": "text", "Token": "weight", "Carrier": "name"}.get(
            name, "weight" if name == "Consignment" else "qty"
        )
        return {field: self.draw_value(data, name, field, expressions=False)[1]}

    # --- the operations: op_<name>(data) draws the arguments, returns act(world, kwargs) -----------

    def draw_model(self, data: st.DataObject, names: tuple[str, ...] = NAMES) -> str:
        return data.draw(st.sampled_from(names), label="model")

    def op_update(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        name = self.draw_model(data)
        where = self.draw_filter(data, name)
        values = self.draw_values(data, name, expressions=True, min_size=0)
        return lambda w, kw: w.models[name].objects.filter(**where).update(**values, **kw)

    def op_bulk_update(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        name = self.draw_model(data)
        fields = data.draw(
            st.lists(st.sampled_from(self.WRITABLE[name]), min_size=1, max_size=3, unique=True), label="fields"
        )
        rows = []
        for pk in self.draw_pks(data, name, min_size=1):
            how = data.draw(st.sampled_from(["loaded", "never fetched"]), label="object")
            values = dict(self.draw_value(data, name, field, expressions=True) for field in fields)
            rows.append((self.as_given(data, name, pk), how, values))
        batch_size = data.draw(st.sampled_from([None, 1, 2]), label="batch_size")

        def act(w: World, kw: dict[str, Any]) -> Any:
            model = w.models[name]
            objs = []
            for pk, how, values in rows:
                obj = model._base_manager.filter(pk=pk).first() if how == "loaded" else None
                obj = obj or model(pk=pk)
                for key, value in values.items():
                    setattr(obj, key, value)
                objs.append(obj)
            return model.objects.bulk_update(objs, fields, batch_size=batch_size, **kw)

        return act

    UNIQUE = {
        "Hub": ["name"],
        "Courier": ["code"],
        "Parcel": ["code"],
        "ParcelProxy": ["code"],
        "Token": ["id"],
        **({"Consignment": ["carrier_id", "number"]} if COMPOSITE else {}),
    }

    def op_bulk_create(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        name = self.draw_model(data)
        rows = [self.draw_new(data, name) for _ in range(data.draw(st.integers(1, 3), label="rows"))]
        modes = ["plain", "ignore_conflicts"] + (["update_conflicts"] if name in self.UNIQUE else [])
        mode = data.draw(st.sampled_from(modes), label="mode")
        options: dict[str, Any] = {"batch_size": data.draw(st.sampled_from([None, 1, 2]), label="batch_size")}
        if mode == "ignore_conflicts":
            options["ignore_conflicts"] = True
        elif mode == "update_conflicts":
            updatable = [f for f in self.WRITABLE[name] if f not in self.UNIQUE[name]]
            options["update_conflicts"] = True
            fields = data.draw(
                st.lists(st.sampled_from(updatable), min_size=1, max_size=3, unique=True), label="update_fields"
            )
            options["update_fields"] = fields
            if connection.features.supports_update_conflicts_with_target:  # not MariaDB
                options["unique_fields"] = self.UNIQUE[name]
        return lambda w, kw: w.models[name].objects.bulk_create(
            [w.models[name](**in_world(w, row)) for row in rows], **options, **kw
        )

    def op_save(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        """``save()`` of a loaded row, of a deferred one, or of a new instance with or without a pk."""
        name = self.draw_model(data)
        how = data.draw(st.sampled_from(["loaded", "deferred", "new", "new with a known pk"]), label="instance")
        values = self.draw_values(data, name, expressions=False, min_size=0)
        update_fields = None
        if how in ("loaded", "deferred") and values and data.draw(st.booleans(), label="update_fields"):
            update_fields = data.draw(st.lists(st.sampled_from(sorted(values)), unique=True), label="update_fields")
        if how.startswith("new"):
            values = {**self.draw_new(data, name), **values}
        known = sorted(self.known_pks[name], key=str)
        pk = self.draw_pk(data, name) if how in ("loaded", "deferred") else None
        if how == "new with a known pk" and known:
            pk = data.draw(st.sampled_from(known), label="known pk")

        def act(w: World, kw: dict[str, Any]) -> Any:
            model = w.models[name]
            if how == "loaded":
                obj = model._base_manager.get(pk=pk)
            elif how == "deferred":
                obj = model._base_manager.only("pk").get(pk=pk)
            else:
                obj = model(**in_world(w, values)) if pk is None else model(pk=pk, **in_world(w, values))
            for key, value in values.items():
                setattr(obj, key, value)
            obj.save(update_fields=update_fields, **kw)
            return obj

        return act

    def op_create(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        name = self.draw_model(data)
        values = self.draw_new(data, name)
        return lambda w, kw: w.models[name].objects.create(**in_world(w, values), **kw)

    def op_get_or_create(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        return self.or_create(data, "get_or_create")

    def op_update_or_create(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        return self.or_create(data, "update_or_create")

    def or_create(self, data: st.DataObject, method: str) -> Callable[[World, dict[str, Any]], Any]:
        name = self.draw_model(data, tuple(self.UNIQUE))
        new = self.draw_new(data, name)
        lookup = {key: new.pop(key) for key in self.UNIQUE[name]}
        defaults = self.draw_values(data, name, expressions=False, min_size=0)
        defaults = {**new, **defaults}
        return lambda w, kw: getattr(w.models[name].objects, method)(**lookup, defaults=defaults, **kw)

    def op_delete(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        """An instance (loaded, deferred or never fetched) or a queryset, with its cascades and SET_NULL."""
        name = self.draw_model(data)
        how = data.draw(st.sampled_from(["loaded", "deferred", "never fetched", "queryset"]), label="delete")
        if how == "queryset":
            where = self.draw_filter(data, name)
            return lambda w, kw: w.models[name].objects.filter(**where).delete(**kw)
        pk = self.as_given(data, name, self.draw_pk(data, name))

        def act(w: World, kw: dict[str, Any]) -> Any:
            model = w.models[name]
            if how == "loaded":
                obj = model.objects.get(pk=pk)
            elif how == "deferred":
                obj = model.objects.only("pk").get(pk=pk)
            else:
                obj = model(pk=pk)
            return obj.delete(**kw)

        return act

    def op_reverse_fk(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        """A reverse foreign key's manager: ``hub.parcels``, ``courier.parcels``, ``hub.couriers``."""
        owner, relation, target = data.draw(
            st.sampled_from(
                [("Hub", "parcels", "Parcel"), ("Courier", "parcels", "Parcel"), ("Hub", "couriers", "Courier")]
            ),
            label="relation",
        )
        owner_pk = self.draw_pk(data, owner)
        nullable = owner == "Courier"  # Parcel.courier: remove() and clear() need a nullable key
        methods = ["create", "update", "delete", "add", "set"] + (["remove", "clear"] if nullable else [])
        method = data.draw(st.sampled_from(methods), label="method")
        bulk = data.draw(st.booleans(), label="bulk")
        values = self.draw_new(data, target) if method == "create" else self.draw_values(data, target, expressions=True)
        values.pop("hub_id" if owner == "Hub" else "courier_id", None)
        members = self.draw_pks(data, target)

        def act(w: World, kw: dict[str, Any]) -> Any:
            manager = getattr(w.models[owner]._base_manager.get(pk=owner_pk), relation)
            objs = list(w.models[target]._base_manager.filter(pk__in=members).order_by("pk"))
            if method == "create":
                return manager.create(**values)
            if method == "update":
                return manager.update(**values)
            if method == "delete":
                return manager.all().delete()
            if method in ("clear",):
                return manager.clear(bulk=bulk)
            if method == "set":
                return manager.set(objs, bulk=bulk)
            return getattr(manager, method)(*objs, bulk=bulk)

        act.explicit = False  # type: ignore[attr-defined]  # the manager's own methods take no tracking_info_
        act.compound = compound(method, bulk)  # type: ignore[attr-defined]
        return act

    def op_generic(self, data: st.DataObject) -> Callable[[World, dict[str, Any]], Any]:
        """A GenericRelation's manager: ``parcel.remarks``."""
        parcel = self.draw_pk(data, "Parcel")
        method = data.draw(st.sampled_from(["create", "update", "add", "remove", "clear", "set"]), label="method")
        bulk = data.draw(st.booleans(), label="bulk")
        text = data.draw(st.sampled_from(["", "a", "b"]), label="text")
        members = self.draw_pks(data, "Remark")

        def act(w: World, kw: dict[str, Any]) -> Any:
            manager = w.Parcel._base_manager.get(pk=parcel).remarks
            objs = list(w.Remark._base_manager.filter(pk__in=members).order_by("pk"))
            if method == "create":
                return manager.create(text=text)
            if method == "update":
                return manager.update(text=text)
            if method == "clear":
                return manager.clear(bulk=bulk)
            if method == "set":
                return manager.set(objs, bulk=bulk)
            return getattr(manager, method)(*objs, bulk=bulk)

        act.explicit = False  # type: ignore[attr-defined]
        act.compound = compound(method, bulk)  # type: ignore[attr-defined]
        return act


OPERATIONS = sorted(name.removeprefix("op_") for name in vars(Oracle) if name.startswith("op_"))


def compound(method: str, bulk: bool) -> bool:
    """Whether a related manager's ``method`` is several writes of Django's in one transaction of its own."""
    return method == "set" or (method in ("add", "remove", "clear") and not bulk)


def in_world(world: World, values: dict[str, Any]) -> dict[str, Any]:
    """Drawn values as ``world`` writes them: PARCEL_TYPE is its Parcel's content type."""
    if values.get("content_type_id") is PARCEL_TYPE:
        return {**values, "content_type_id": ContentType.objects.get_for_model(world.Parcel).pk}
    return values


def atomic_run(run: Callable[[], Any]) -> Any:
    with transaction.atomic():
        return run()


def flush() -> None:
    """Empty both worlds' tables and restart their sequences, so both hand out the same pks."""
    tables = [model._meta.db_table for world in (TRACKED, PLAIN) for model in world.tables()]
    connection.ops.execute_sql_flush(
        connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=False)
    )


def test_tracked_writes_do_what_plain_django_does_and_the_events_replay_them(summary_line):
    trace = Trace(TRACKED_MODELS)
    Oracle.trace = trace
    Oracle.examples = Oracle.steps = Oracle.operations = Oracle.refused = Oracle.raised_to_caller = 0
    started = time.monotonic()
    try:
        with receivers(trace):
            run_state_machine_as_test(
                Oracle,
                settings=settings(
                    max_examples=EXAMPLES,
                    stateful_step_count=20,
                    deadline=None,
                    derandomize=not RANDOM,
                    database=None,
                    report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck),
                    phases=list(Phase) if SHRINK else [p for p in Phase if p is not Phase.shrink],
                ),
            )
    finally:
        summary_line(
            f"differential oracle on {connection.vendor}: {Oracle.examples} examples run (max_examples={EXAMPLES}"
            f"{', random' if RANDOM else ', derandomized'}), {Oracle.steps} steps, "
            f"{Oracle.operations} operations in both worlds ({Oracle.refused} refused alike), "
            f"{len(trace.calls)} deliveries replayed in {time.monotonic() - started:.1f}s; "
            f"{Oracle.raised_to_caller} receiver failures raised to the caller in autocommit, none dropped"
        )
