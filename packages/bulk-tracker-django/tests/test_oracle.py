"""The event-replay oracle: the reported events alone must reproduce the database, step after step.

A hypothesis state machine runs every tracked write of a small schema (Depot -CASCADE-> Clerk and
Crate, Clerk -SET_NULL-> Crate, a unique ``code``/``name`` and a JSON ``data``) in autocommit, in
``atomic()`` blocks that commit or roll back, and in savepoints that roll back, with receivers
that raise. The oracle keeps its own copy of the tables, built *only* by applying the reported
events (created rows, old -> new values, deleted rows) to the previous copy, and after every step:

* every reported old value (and every field of a deleted row) equals the copy's value;
* nothing of an operation that failed or was rolled back is reported, and the signals of one
  operation arrive once per (kind, model), in the order the operations ran;
* the copy equals the database, read through the base managers.

``BULK_TRACKER_ORACLE_EXAMPLES`` sets the number of examples (10 by default; 200 is the CI budget per backend);
``BULK_TRACKER_ORACLE_RANDOM=1`` explores new examples instead of the fixed derandomized ones.
The number of examples run is printed and repeated in pytest's terminal summary.

Receivers that raise: the oracle's recorder is connected first, a raising receiver after it. A
failure never drops a delivery (docs/guarantees.md), so every event is replayed, and each failure is
accounted for: in robust mode (``TrackingInfo(is_robust=True)``) and, without it, at the commit of a
transaction, each failure is logged on ``bulk_tracker``; without robust mode in autocommit the first
failure of the operation reaches the caller (the write stands), once all its deliveries are made,
and the others are logged.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from django.db import DatabaseError, NotSupportedError, connection, transaction
from django.db.models import F, Model
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from oracle_receivers import BoomError, Rollback, Trace, receivers
from replay import apply, assert_tables_match, attnames, database_rows

from bulk_tracker import TrackingInfo, suspended, tracking
from testapp.models import Clerk, Crate, Depot

pytestmark = pytest.mark.django_db(transaction=True)

MODELS: tuple[type[Model], ...] = (Depot, Clerk, Crate)
EXAMPLES = int(os.environ.get("BULK_TRACKER_ORACLE_EXAMPLES", "10"))
RANDOM = os.environ.get("BULK_TRACKER_ORACLE_RANDOM", "") not in ("", "0")
MISSING_PK = 10**9  # never a row: operations on it must change and report nothing

QTY = st.integers(0, 3)
JSON = st.sampled_from([{}, {"k": 1}, {"k": 2}, [1, 2], "s", 0, {"k": [1, {"x": None}]}])
CODES = st.sampled_from([f"c{i}" for i in range(6)])  # few, so unique collisions happen
DEPOT_NAMES = st.sampled_from([f"d{i}" for i in range(4)])
CLERK_NAMES = st.sampled_from(["ann", "bob"])
OPERATIONS = [
    "crate_update",
    "crate_bulk_update",
    "crate_bulk_create",
    "crate_save",
    "crate_save_new_with_pk",
    "crate_create",
    "crate_update_or_create",
    "crate_get_or_create",
    "crate_delete",
    "depot_create",
    "depot_update",
    "depot_save",
    "depot_upsert",
    "depot_delete",
    "clerk_create",
    "clerk_update",
    "clerk_delete",
]


class Oracle(RuleBasedStateMachine):
    trace: Trace  # set by the test
    examples = 0
    steps = 0
    operations = 0
    refused = 0  # by the database (unique and foreign keys): nothing may be reported
    raised_to_caller = 0  # non-robust failures in autocommit: the write stands, every event delivered

    def __init__(self) -> None:
        super().__init__()
        with suspended():
            for model in reversed(MODELS):
                model._base_manager.all().delete()
        self.copy: dict[type[Model], dict[Any, dict[str, Any]]] = {model: {} for model in MODELS}
        self.cursor = len(self.trace.calls)
        self.trace.raising.clear()
        self.trace.logged.clear()
        self.tags = 0
        self.committed: set[str] = set()
        self.robust: set[str] = set()
        self.known: dict[type[Model], set[Any]] = {model: set() for model in MODELS}  # every pk ever seen
        self.kept_queryset = Crate.objects.filter(qty__gte=2)

    # --- the oracle ------------------------------------------------------------------------------

    @initialize(depots=st.integers(1, 2), clerks=st.integers(0, 2), crates=st.integers(0, 4))
    def seed(self, depots: int, clerks: int, crates: int) -> None:
        """The starting snapshot: rows written untracked, then read from the database once."""
        with suspended():
            made = [Depot.objects.create(name=f"d{i}") for i in range(depots)]
            staff = [Clerk.objects.create(name="ann", depot=made[i % depots]) for i in range(clerks)]
            for i in range(crates):
                Crate.objects.create(
                    code=f"c{i}", depot=made[i % depots], clerk=staff[i % clerks] if staff else None, qty=i
                )
        self.copy = {model: database_rows(model) for model in MODELS}

    def settle(self, raised: int = 0) -> None:
        """Apply the deliveries since the last step to the copy, checking each, then compare with the tables.

        ``raised``: failures of the raising receiver that reached the caller; every other one is logged.
        """
        type(self).steps += 1
        calls = self.trace.calls[self.cursor :]
        self.cursor = len(self.trace.calls)
        seen: set[tuple[str, str, type[Model]]] = set()
        last = -1
        for kind, sender, objects, info in calls:
            assert info is not None, "every operation here has a tracking_info_"
            assert info.comment is not None
            tag = info.comment
            assert tag in self.committed, f"operation {tag} failed or was rolled back, yet {kind} {sender} was sent"
            assert (tag, kind, sender) not in seen, f"operation {tag} sent {kind} {sender.__name__} twice"
            seen.add((tag, kind, sender))
            assert int(tag) >= last, f"operation {tag} delivered after operation {last}"
            last = int(tag)
            assert objects, "a signal without rows"
            apply(self.copy, kind, sender, objects, f"operation {tag}")
        failing = [c for c in calls if c[3] is not None and c[3].comment in self.trace.raising]
        failed = [r for r in self.trace.logged if isinstance(r.exc_info and r.exc_info[1], BoomError)]
        assert len(failed) == len(failing) - raised, "every receiver failure is logged once, or raised"
        assert all(r.getMessage().startswith("bulk_tracker ") for r in failed)
        self.trace.logged.clear()
        self.check_tables()

    def teardown(self) -> None:
        type(self).examples += 1

    def check_tables(self) -> None:
        for model in MODELS:
            self.known[model].update(database_rows(model))
        assert_tables_match(self.copy, f"after operation {self.tags}")

    # --- running operations ----------------------------------------------------------------------

    def new_tag(self, robust: bool, raising: bool) -> TrackingInfo:
        self.tags += 1
        tag = str(self.tags)
        if robust:
            self.robust.add(tag)
        if raising:
            self.trace.raising.add(tag)
        return TrackingInfo(comment=tag, is_robust=robust)

    def run(self, data: st.DataObject, op: str, info: TrackingInfo) -> None:
        """Run operation ``op``; its tracking_info_ passed explicitly or through ``tracking()``."""
        explicit = data.draw(st.booleans(), label="tracking_info_ explicit")
        type(self).operations += 1
        kwargs = {"tracking_info_": info} if explicit else {}
        if explicit:
            getattr(self, f"op_{op}")(data, kwargs)
        else:
            with tracking(info, replace=True):
                getattr(self, f"op_{op}")(data, kwargs)

    def check_error(self, error: DatabaseError) -> None:
        """Constraint violations are expected (few codes, dangling keys); an unsupported call is the oracle's bug."""
        type(self).refused += 1
        if isinstance(error, NotSupportedError):
            raise error

    @rule(data=st.data(), op=st.sampled_from(OPERATIONS), robust=st.booleans(), raising=st.booleans())
    def autocommit(self, data: st.DataObject, op: str, robust: bool, raising: bool) -> None:
        info = self.new_tag(robust, raising)
        raised = 0
        try:
            self.run(data, op, info)
        except BoomError:
            assert not robust, "robust mode never raises a receiver's failure"
            raised = 1
            type(self).raised_to_caller += 1
            self.committed.add(info.comment)
        except DatabaseError as error:
            self.check_error(error)
        else:
            self.committed.add(info.comment)
        self.settle(raised)

    @rule(data=st.data(), outer=st.sampled_from(["commit", "rollback"]))
    def block(self, data: st.DataObject, outer: str) -> None:
        """Operations in one transaction: joined to it, in a savepoint, or in a savepoint rolled back."""
        steps = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(OPERATIONS),
                    st.sampled_from(["joined", "savepoint", "rolled-back savepoint"]),
                    st.booleans(),
                    st.booleans(),
                ),
                min_size=1,
                max_size=3,
            ),
            label="operations (op, how, robust, raising)",
        )
        done: list[str] = []
        try:
            with transaction.atomic():
                for op, how, robust, raising in steps:
                    info = self.new_tag(robust, raising)  # a failure at the commit is logged, robust or not
                    if how == "joined":
                        self.run(data, op, info)  # an error rolls the whole block back
                        done.append(info.comment)
                        continue
                    try:
                        with transaction.atomic():
                            self.run(data, op, info)
                            if how == "rolled-back savepoint":
                                raise Rollback
                        done.append(info.comment)
                    except Rollback:
                        pass
                    except DatabaseError as error:
                        self.check_error(error)
                if outer == "rollback":
                    raise Rollback
        except Rollback:
            pass
        except DatabaseError as error:  # a joined operation failed, or the commit (deferred foreign keys)
            self.check_error(error)
        else:
            self.committed.update(done)
        self.settle()

    @rule(data=st.data(), op=st.sampled_from(OPERATIONS), in_block=st.booleans())
    def receiver_raises_without_robust_mode(self, data: st.DataObject, op: str, in_block: bool) -> None:
        """In a transaction the failure is logged at the commit; in autocommit it reaches the caller once
        the operation's deliveries are all made. Either way nothing is dropped and the write stands."""
        info = self.new_tag(robust=False, raising=True)
        raised = False
        try:
            if in_block:
                with transaction.atomic():
                    self.run(data, op, info)
            else:
                self.run(data, op, info)
        except BoomError:
            raised = True
            type(self).raised_to_caller += 1
            self.committed.add(info.comment)
        except DatabaseError as error:
            self.check_error(error)
        else:
            self.committed.add(info.comment)
        sent = [
            call for call in self.trace.calls[self.cursor :] if call[3] is not None and call[3].comment == info.comment
        ]
        assert raised == (bool(sent) and not in_block), "raised to the caller exactly in autocommit, if delivered"
        self.settle(raised=int(raised))

    # --- the operations: op_<name>(data, kwargs), kwargs holding tracking_info_ or nothing -------

    def pks(self, model: type[Model]) -> list[Any]:
        return sorted(model._base_manager.values_list("pk", flat=True))

    def draw_pk(self, data: st.DataObject, model: type[Model], label: str, *, missing: bool = False) -> Any:
        choices = self.pks(model) + ([MISSING_PK] if missing else [])
        return data.draw(st.sampled_from(choices), label=label) if choices else None

    def draw_pks(self, data: st.DataObject, model: type[Model], label: str, min_size: int = 0) -> list[Any]:
        choices = [*self.pks(model), MISSING_PK]
        return data.draw(st.lists(st.sampled_from(choices), min_size=min_size, max_size=4), label=label)

    def draw_qty(self, data: st.DataObject, expressions: bool) -> Any:
        if expressions and data.draw(st.booleans(), label="qty as F()"):
            return F("qty") + data.draw(st.integers(-1, 2), label="F('qty') +")
        return data.draw(QTY, label="qty")

    def draw_crate_values(self, data: st.DataObject, expressions: bool, by_object: bool) -> dict[str, Any]:
        """New values for some Crate fields; ``by_object``: foreign keys as objects (``clerk=``) or ids."""
        names = data.draw(
            st.lists(st.sampled_from(["qty", "data", "clerk", "depot", "code"]), min_size=1, max_size=3, unique=True),
            label="fields",
        )
        values: dict[str, Any] = {}
        for name in names:
            if name == "qty":
                values["qty"] = self.draw_qty(data, expressions)
            elif name == "data":
                values["data"] = data.draw(JSON, label="data")
            elif name == "code":
                values["code"] = data.draw(CODES, label="code")
            elif name == "clerk":
                choices = [None, *self.pks(Clerk)]
                pk = data.draw(st.sampled_from(choices), label="clerk")
                if by_object:
                    values["clerk"] = None if pk is None else Clerk.objects.get(pk=pk)
                else:
                    values["clerk_id"] = pk
            else:
                pk = self.draw_pk(data, Depot, "depot", missing=not by_object)  # a dangling id fails at commit
                if pk is not None:
                    if by_object:
                        values["depot"] = Depot.objects.get(pk=pk)
                    else:
                        values["depot_id"] = pk
        return values

    def draw_new_crate(self, data: st.DataObject, *, with_pk: bool = False) -> Crate:
        clerks = [None, *self.pks(Clerk)]
        crate = Crate(
            code=data.draw(CODES, label="code"),
            depot_id=self.draw_pk(data, Depot, "depot") or MISSING_PK,
            clerk_id=data.draw(st.sampled_from(clerks), label="clerk"),
            qty=data.draw(QTY, label="qty"),
            data=data.draw(JSON, label="data"),
        )
        if with_pk and self.pks(Crate) and data.draw(st.booleans(), label="with the pk of an existing crate"):
            crate.pk = self.draw_pk(data, Crate, "pk")
        return crate

    def crates(self, data: st.DataObject) -> Any:
        """A Crate queryset, filtered one of several ways."""
        how = data.draw(st.sampled_from(["pks", "depot", "qty", "join", "all"]), label="filter")
        if how == "pks":
            return Crate.objects.filter(pk__in=self.draw_pks(data, Crate, "pks"))
        if how == "depot":
            return Crate.objects.filter(depot_id=self.draw_pk(data, Depot, "depot", missing=True))
        if how == "qty":
            return Crate.objects.filter(qty__gte=data.draw(QTY, label="qty at least"))
        if how == "join":
            return Crate.objects.filter(clerk__name=data.draw(CLERK_NAMES, label="clerk name"))
        return Crate.objects.all()

    def op_crate_update(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        queryset = self.crates(data)
        values = self.draw_crate_values(data, expressions=True, by_object=data.draw(st.booleans(), label="by object"))
        queryset.update(**values, **kwargs)

    def op_crate_bulk_update(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        names = data.draw(
            st.lists(st.sampled_from(["qty", "data", "clerk", "depot", "code"]), min_size=1, max_size=3, unique=True),
            label="fields",
        )
        objs = []
        for pk in self.draw_pks(data, Crate, "pks", min_size=1):
            obj = Crate._base_manager.filter(pk=pk).first() or Crate(pk=pk, code="gone", depot_id=MISSING_PK)
            values = self.draw_crate_values(data, expressions=True, by_object=False)
            for name in names:
                if name in values or f"{name}_id" in values:
                    key = name if name in values else f"{name}_id"
                    setattr(obj, key, values[key])
            objs.append(obj)
        batch_size = data.draw(st.sampled_from([None, 1, 2]), label="batch_size")
        Crate.objects.bulk_update(objs, names, batch_size=batch_size, **kwargs)

    def op_crate_bulk_create(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        objs = [self.draw_new_crate(data, with_pk=True) for _ in range(data.draw(st.integers(1, 3), label="rows"))]
        mode = data.draw(st.sampled_from(["plain", "ignore_conflicts", "update_conflicts"]), label="mode")
        options: dict[str, Any] = {"batch_size": data.draw(st.sampled_from([None, 1, 2]), label="batch_size")}
        if mode == "ignore_conflicts":
            options["ignore_conflicts"] = True
        elif mode == "update_conflicts":
            options["update_conflicts"] = True
            options["update_fields"] = data.draw(
                st.lists(st.sampled_from(["qty", "data", "clerk"]), min_size=1, max_size=3, unique=True),
                label="update_fields",
            )
            if connection.features.supports_update_conflicts_with_target:  # not MariaDB/MySQL
                options["unique_fields"] = ["code"]
        Crate.objects.bulk_create(objs, **options, **kwargs)

    def op_crate_save(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        pk = self.draw_pk(data, Crate, "pk")
        if pk is None:
            return
        crate = Crate.objects.get(pk=pk)
        values = self.draw_crate_values(data, expressions=False, by_object=data.draw(st.booleans(), label="by object"))
        for key, value in values.items():
            setattr(crate, key, value)
        update_fields = None
        if data.draw(st.booleans(), label="update_fields"):
            update_fields = data.draw(st.lists(st.sampled_from(sorted(values)), unique=True), label="update_fields")
        crate.save(update_fields=update_fields, **kwargs)

    def op_crate_save_new_with_pk(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        """A new instance with the pk of an existing (UPDATE) or a deleted row (INSERT)."""
        known = sorted(self.known[Crate])
        if not known:
            return
        crate = self.draw_new_crate(data)
        crate.pk = data.draw(st.sampled_from(known), label="pk")
        crate.save(**kwargs)

    def op_crate_create(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        crate = self.draw_new_crate(data)
        Crate.objects.create(**{name: getattr(crate, name) for name in attnames(Crate) if name != "id"}, **kwargs)

    def op_crate_update_or_create(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        defaults = {"depot_id": self.draw_pk(data, Depot, "depot") or MISSING_PK}
        if data.draw(st.booleans(), label="qty"):
            defaults["qty"] = data.draw(QTY, label="qty")
        if data.draw(st.booleans(), label="data"):
            defaults["data"] = data.draw(JSON, label="data")
        Crate.objects.update_or_create(code=data.draw(CODES, label="code"), defaults=defaults, **kwargs)

    def op_crate_get_or_create(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        defaults = {"depot_id": self.draw_pk(data, Depot, "depot") or MISSING_PK, "qty": data.draw(QTY, label="qty")}
        Crate.objects.get_or_create(code=data.draw(CODES, label="code"), defaults=defaults, **kwargs)

    def op_crate_delete(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        how = data.draw(st.sampled_from(["instance", "queryset", "the same queryset again"]), label="delete")
        if how == "instance":
            pk = self.draw_pk(data, Crate, "pk")
            if pk is not None:
                Crate.objects.get(pk=pk).delete(**kwargs)
        elif how == "queryset":
            self.crates(data).delete(**kwargs)
        else:  # one queryset object deleted again and again, maybe after a rollback of its last delete
            self.kept_queryset.delete(**kwargs)

    def op_depot_create(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        Depot.objects.create(name=data.draw(DEPOT_NAMES, label="name"), size=data.draw(QTY, label="size"), **kwargs)

    def op_depot_update(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        values: dict[str, Any] = {}
        if data.draw(st.booleans(), label="size"):
            values["size"] = data.draw(st.sampled_from([0, 1, F("size") + 1, F("size") * 2]), label="size")
        if not values or data.draw(st.booleans(), label="name"):
            values["name"] = data.draw(DEPOT_NAMES, label="name")
        Depot.objects.filter(pk__in=self.draw_pks(data, Depot, "pks")).update(**values, **kwargs)

    def op_depot_save(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        pk = self.draw_pk(data, Depot, "pk")
        if pk is None:
            return
        depot = Depot.objects.get(pk=pk)
        depot.size = data.draw(QTY, label="size")
        if data.draw(st.booleans(), label="rename"):
            depot.name = data.draw(DEPOT_NAMES, label="name")
        depot.save(**kwargs)

    def op_depot_upsert(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        names = data.draw(st.lists(DEPOT_NAMES, min_size=1, max_size=3, unique=True), label="names")
        objs = [Depot(name=name, size=data.draw(QTY, label="size")) for name in names]
        unique = {"unique_fields": ["name"]} if connection.features.supports_update_conflicts_with_target else {}
        Depot.objects.bulk_create(objs, update_conflicts=True, update_fields=["size"], **unique, **kwargs)

    def delete_one(self, data: st.DataObject, model: type[Model], kwargs: dict[str, Any]) -> None:
        """``instance.delete()`` of a drawn row of ``model``, when there is one."""
        pk = self.draw_pk(data, model, "pk")
        if pk is not None:
            model.objects.get(pk=pk).delete(**kwargs)

    def op_depot_delete(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        """Cascades to the depot's clerks and crates; crates of its clerks elsewhere get clerk NULL."""
        if data.draw(st.booleans(), label="an instance"):
            self.delete_one(data, Depot, kwargs)
        else:
            Depot.objects.filter(pk__in=self.draw_pks(data, Depot, "pks")).delete(**kwargs)

    def op_clerk_create(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        depot = data.draw(st.sampled_from([None, *self.pks(Depot)]), label="depot")
        Clerk.objects.create(name=data.draw(CLERK_NAMES, label="name"), depot_id=depot, **kwargs)

    def op_clerk_update(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        depot = data.draw(st.sampled_from([None, *self.pks(Depot)]), label="depot")
        values = {"depot": None if depot is None else Depot.objects.get(pk=depot)}
        if data.draw(st.booleans(), label="name"):
            values["name"] = data.draw(CLERK_NAMES, label="name")
        Clerk.objects.filter(pk__in=self.draw_pks(data, Clerk, "pks")).update(**values, **kwargs)

    def op_clerk_delete(self, data: st.DataObject, kwargs: dict[str, Any]) -> None:
        """Sets the clerk of its crates to NULL."""
        if data.draw(st.booleans(), label="an instance"):
            self.delete_one(data, Clerk, kwargs)
        else:
            Clerk.objects.filter(name=data.draw(CLERK_NAMES, label="name")).delete(**kwargs)


def test_replaying_the_events_reproduces_the_database(summary_line):
    trace = Trace(MODELS)
    Oracle.trace = trace
    Oracle.examples = Oracle.steps = Oracle.operations = Oracle.refused = Oracle.raised_to_caller = 0
    started = time.monotonic()
    try:
        with receivers(trace):
            run_state_machine_as_test(
                Oracle,
                settings=settings(
                    max_examples=EXAMPLES,
                    stateful_step_count=25,
                    deadline=None,
                    derandomize=not RANDOM,
                    database=None,
                    report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck),
                ),
            )
    finally:
        summary_line(
            f"oracle on {connection.vendor}: {Oracle.examples} examples run (max_examples={EXAMPLES}"
            f"{', random' if RANDOM else ', derandomized'}), {Oracle.steps} steps, "
            f"{Oracle.operations} operations ({Oracle.refused} refused by the database), "
            f"{len(trace.calls)} deliveries replayed in {time.monotonic() - started:.1f}s; "
            f"{Oracle.raised_to_caller} non-robust receiver failures raised to the caller in autocommit, none dropped"
        )
