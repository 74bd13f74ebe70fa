"""Faults: database errors in the middle of an operation, receivers that fail or write themselves.

Real transactions throughout (``transaction=True``): what is checked is what a commit delivers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from helpers import connected

from bulk_tracker import TrackingInfo
from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal
from testapp.models import Clerk, Crate, Depot, Tag

pytestmark = pytest.mark.django_db(transaction=True)


class BoomError(Exception):
    pass


class Rehearsal(Exception):  # noqa: N818 - rolls the rehearsal back
    pass


def tables() -> dict[str, list[tuple[Any, ...]]]:
    return {
        model.__name__: sorted(model._base_manager.values_list(), key=lambda row: row[0])
        for model in (Tag, Depot, Clerk, Crate)
    }


@pytest.fixture
def shop():
    """Tags a..e; depots d1, d2; a clerk of d1 serving crates of both depots."""
    Tag.objects.bulk_create(Tag(name=name, uses=i) for i, name in enumerate("abcde"))
    d1, d2 = Depot.objects.create(name="d1"), Depot.objects.create(name="d2")
    clerk = Clerk.objects.create(name="ann", depot=d1)
    Crate.objects.bulk_create(
        Crate(code=f"c{i}", depot=(d1, d2)[i % 2], clerk=clerk if i < 3 else None, qty=i) for i in range(6)
    )
    return {"d1": d1, "d2": d2, "clerk": clerk}


# --- a database error in the middle of an operation: nothing written, nothing delivered -------------


def tag_bulk_update() -> None:
    tags = list(Tag.objects.order_by("pk"))
    for tag in tags:
        tag.uses = F("uses") + 10
    Tag.objects.bulk_update(tags, ["uses"], batch_size=2)


def tag_bulk_update_values() -> None:
    tags = list(Tag.objects.order_by("pk"))
    for tag in tags:
        tag.color = f"new {tag.name}"
    Tag.objects.bulk_update(tags, ["color"], batch_size=2)


def tag_bulk_create() -> None:
    Tag.objects.bulk_create([Tag(name=f"n{i}") for i in range(5)], batch_size=2)


def tag_upsert() -> None:
    target = {"unique_fields": ["name"]} if connection.features.supports_update_conflicts_with_target else {}
    objs = [Tag(name=name, color="upserted") for name in ["a", "x", "b", "y", "c"]]
    Tag.objects.bulk_create(objs, batch_size=2, update_conflicts=True, update_fields=["color"], **target)


def crates_update() -> None:
    Crate.objects.filter(qty__gte=1).update(qty=F("qty") + 1, data={"k": 1})


def depot_delete() -> None:
    Depot.objects.filter(name="d1").delete()  # cascades clerks and crates, SET_NULL on the other crates


def clerk_delete() -> None:
    Clerk.objects.all().delete()


def crate_save() -> None:
    crate = Crate.objects.get(code="c1")
    crate.qty = 99
    crate.save()


OPERATIONS = [
    tag_bulk_update,
    tag_bulk_update_values,
    tag_bulk_create,
    tag_upsert,
    crates_update,
    depot_delete,
    clerk_delete,
    crate_save,
]


def write_statements(operation: Callable[[], None]) -> int:
    """How many INSERT/UPDATE/DELETE statements ``operation`` runs, in a rehearsal rolled back."""
    count = 0

    def counting(execute, sql, params, many, context):
        nonlocal count
        count += sql.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
        return execute(sql, params, many, context)

    try:
        with transaction.atomic(), connection.execute_wrapper(counting):
            operation()
            raise Rehearsal
    except Rehearsal:
        return count


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.__name__)
def test_an_error_at_the_last_write_statement_writes_and_delivers_nothing(shop, received, operation):
    writes = write_statements(operation)
    assert writes >= 1
    before = tables()
    seen = 0

    def failing_last(execute, sql, params, many, context):
        nonlocal seen
        if sql.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen += 1
            if seen == writes:
                raise DatabaseError("injected: the last write statement fails")
        return execute(sql, params, many, context)

    with (
        received.committing(),
        pytest.raises(DatabaseError, match="injected"),
        connection.execute_wrapper(failing_last),
    ):
        operation()
    assert tables() == before
    assert received.calls == []
    with received.committing():
        operation()  # the same operation, now allowed through, is reported
    assert received.calls


def test_unique_violation_in_the_last_batch_of_bulk_update_rolls_every_batch_back(shop, received):
    tags = list(Tag.objects.order_by("pk"))
    for tag in tags:
        tag.color = "changed"
    tags[-1].name = "a"  # the first tag keeps "a": the last batch collides
    before = tables()
    with received.committing(), pytest.raises(IntegrityError):
        Tag.objects.bulk_update(tags, ["color", "name"], batch_size=2)
    assert tables() == before
    assert received.calls == []


@pytest.mark.parametrize("with_pks", [False, True], ids=["new rows", "rows with and without pks"])
def test_unique_violation_in_the_last_batch_of_bulk_create_rolls_every_batch_back(shop, received, with_pks):
    objs = [Tag(name=f"n{i}") for i in range(4)] + [Tag(name="a")]  # "a" exists: the last batch collides
    if with_pks:  # Django inserts these in their own batches first
        objs[0].pk, objs[1].pk = 1000, 1001
    before = tables()
    with received.committing(), pytest.raises(IntegrityError):
        Tag.objects.bulk_create(objs, batch_size=2)
    assert tables() == before
    assert received.calls == []


def test_dangling_key_in_the_last_batch_of_an_upsert_rolls_every_batch_back(shop, received):
    """PostgreSQL and SQLite check the key at commit, MariaDB at once: either way nothing stays."""
    target = {"unique_fields": ["code"]} if connection.features.supports_update_conflicts_with_target else {}
    objs = [Crate(code=f"c{i}", depot=shop["d2"], qty=50) for i in range(4)]
    objs.append(Crate(code="orphan", depot_id=shop["d2"].pk + 1000))
    before = tables()
    with received.committing(), pytest.raises(IntegrityError):
        Crate.objects.bulk_create(objs, batch_size=2, update_conflicts=True, update_fields=["qty"], **target)
    assert tables() == before
    assert received.calls == []


def test_failed_operation_in_a_savepoint_leaves_the_rest_of_the_transaction_delivered(shop, received):
    tags = list(Tag.objects.order_by("pk"))
    tags[-1].name = "a"
    with received.committing(), transaction.atomic():
        Tag.objects.filter(name="b").update(uses=50)
        with pytest.raises(IntegrityError), transaction.atomic():
            Tag.objects.bulk_update(tags, ["name"], batch_size=2)
        Tag.objects.filter(name="c").update(uses=60)
    assert [[(o.instance.name, o.changed_values) for o in c.objects] for c in received.calls] == [
        [("b", {"uses": 1})],
        [("c", {"uses": 2})],
    ]


# --- receivers that fail -----------------------------------------------------------------------------


def test_robust_mode_logs_each_failure_with_its_traceback_and_delivers_everything(shop, capture_signals, caplog):
    """A failing receiver connected before the others: they all run, for every signal of the delete."""

    def failing(sender, **kwargs):
        raise BoomError(f"receiver failed for {sender.__name__}")

    with (
        connected(post_create_signal, failing),
        connected(post_update_signal, failing),
        connected(post_delete_signal, failing),
        capture_signals() as captured,
        caplog.at_level(logging.ERROR, logger="bulk_tracker"),
    ):
        result = Depot.objects.filter(name="d1").delete(tracking_info_=TrackingInfo(is_robust=True))
    assert result[0] == 1 + 1 + 3  # the depot, its clerk, its crates
    kinds = [(c.kind, c.sender.__name__) for c in captured.calls]
    assert kinds[0] == ("update", "Crate")  # the crate of d2 that lost its clerk
    assert sorted(kinds[1:]) == [("delete", "Clerk"), ("delete", "Crate"), ("delete", "Depot")]  # Django's order
    records = [r for r in caplog.records if r.name == "bulk_tracker"]
    assert len(records) == len(captured.calls)
    for record, call in zip(records, captured.calls, strict=True):
        assert call.sender._meta.label in record.getMessage()
        traceback = logging.Formatter().formatException(record.exc_info)
        assert "in failing" in traceback
        assert f"BoomError: receiver failed for {call.sender.__name__}" in traceback
    assert not Depot.objects.filter(name="d1").exists()  # the write stands


def test_without_robust_mode_a_failure_at_the_commit_is_logged_and_stops_nothing(shop, capture_signals, caplog):
    """Documented (docs/guarantees.md): in a transaction, the failure is logged at the commit and every
    other delivery of the commit is made (here the Clerk delete and a later update); nothing is raised."""

    def failing(sender, **kwargs):
        raise BoomError

    def two_operations() -> None:
        with transaction.atomic():
            Clerk.objects.all().delete()  # Crate update (SET_NULL) first, then the Clerk delete
            Tag.objects.filter(name="a").update(uses=40)

    with (
        capture_signals() as captured,  # connected first: it sees the failing delivery
        connected(post_update_signal, failing, Crate),
        caplog.at_level(logging.ERROR, logger="bulk_tracker"),
    ):
        two_operations()
    assert [(c.kind, c.sender.__name__) for c in captured.calls] == [
        ("update", "Crate"),
        ("delete", "Clerk"),
        ("update", "Tag"),
    ]
    [record] = [r for r in caplog.records if r.name == "bulk_tracker"]
    assert record.exc_info[0] is BoomError
    assert "testapp.Crate" in record.getMessage()
    assert not Clerk.objects.exists()  # committed
    assert Tag.objects.get(name="a").uses == 40


def test_without_robust_mode_in_autocommit_the_first_failure_reaches_the_caller_after_every_delivery(
    shop, capture_signals, caplog
):
    """A delete in autocommit: the SET_NULL update's receiver fails, the Clerk delete is still
    delivered, then the failure reaches the caller; a second failure is logged, not lost."""

    def failing(sender, **kwargs):
        raise BoomError(sender.__name__)

    with (
        capture_signals() as captured,
        connected(post_update_signal, failing, Crate),
        connected(post_delete_signal, failing, Clerk),
        caplog.at_level(logging.ERROR, logger="bulk_tracker"),
        pytest.raises(BoomError, match="Crate"),
    ):
        Clerk.objects.all().delete()
    assert [(c.kind, c.sender.__name__) for c in captured.calls] == [("update", "Crate"), ("delete", "Clerk")]
    [record] = [r for r in caplog.records if r.name == "bulk_tracker"]
    assert (record.exc_info[0], str(record.exc_info[1])) == (BoomError, "Clerk")
    assert not Clerk.objects.exists()


# --- receivers that write ----------------------------------------------------------------------------


def test_a_receiver_writing_to_another_tracked_model_produces_its_own_events(shop, capture_signals):
    def count_moves(sender, objects, **kwargs):
        moved = [o for o in objects if "qty" in o.changed_values]
        if moved:
            Depot.objects.filter(crates__in=[o.instance.pk for o in moved]).update(size=F("size") + 1)

    with capture_signals() as captured, connected(post_update_signal, count_moves, Crate):
        with transaction.atomic():
            Crate.objects.filter(code__in=["c0", "c1"]).update(qty=F("qty") + 5)  # one crate in each depot
        Crate.objects.filter(code="c2").update(qty=7)  # autocommit: delivered at once
    summary = [(c.kind, c.sender.__name__, sorted(o.instance.pk for o in c.objects)) for c in captured.calls]
    crates = {c.code: c.pk for c in Crate.objects.all()}
    d1, d2 = shop["d1"].pk, shop["d2"].pk
    assert summary == [
        ("update", "Crate", sorted([crates["c0"], crates["c1"]])),
        ("update", "Depot", [d1, d2]),
        ("update", "Crate", [crates["c2"]]),
        ("update", "Depot", [d1]),
    ]
    assert [o.changed_values for o in captured.calls[3].objects] == [{"size": 1}]
    assert dict(Depot.objects.values_list("name", "size")) == {"d1": 2, "d2": 1}


def test_a_receiver_writing_to_its_own_model_is_called_again_for_its_write_only(shop, capture_signals):
    calls = []

    def clamp(sender, objects, **kwargs):
        calls.append(sorted(o.instance.code for o in objects))
        too_many = [o.instance.pk for o in objects if o.instance.qty > 10]
        if too_many:
            Crate.objects.filter(pk__in=too_many).update(qty=10)

    with capture_signals() as captured, connected(post_update_signal, clamp, Crate), transaction.atomic():
        Crate.objects.filter(code__in=["c0", "c1", "c2"]).update(qty=F("qty") * 100)  # c0 stays 0
    assert calls == [["c1", "c2"], ["c1", "c2"]]  # once more for the clamp's own write, which changes nothing more
    assert [[o.changed_values for o in c.objects] for c in captured.calls] == [
        [{"qty": 1}, {"qty": 2}],
        [{"qty": 100}, {"qty": 200}],
    ]
    assert dict(Crate.objects.filter(code__in=["c0", "c1", "c2"]).values_list("code", "qty")) == {
        "c0": 0,
        "c1": 10,
        "c2": 10,
    }


def test_a_receiver_writing_inside_a_rolled_back_block_of_its_own_sends_nothing_more(shop, capture_signals):
    def audit_then_fail(sender, objects, **kwargs):
        try:
            with transaction.atomic():
                Tag.objects.create(name="audit")
                raise BoomError
        except BoomError:
            pass

    with capture_signals() as captured, connected(post_update_signal, audit_then_fail, Crate):
        Crate.objects.filter(code="c1").update(qty=8)
    assert [(c.kind, c.sender.__name__) for c in captured.calls] == [("update", "Crate")]
    assert not Tag.objects.filter(name="audit").exists()
