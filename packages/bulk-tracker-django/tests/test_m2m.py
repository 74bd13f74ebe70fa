"""Many-to-many changes of a field a tracked model opts in (``bulk_tracker_m2m``), from either side."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models.signals import m2m_changed
from helpers import sql_of

from bulk_tracker import TrackingInfo, suspended, tracking
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.signals import post_update_signal
from testapp.models import Label, PlainRecord, Record

pytestmark = pytest.mark.django_db


@pytest.fixture
def labels():
    return [Label.objects.create(name=name) for name in ("a", "b", "c")]


@pytest.fixture
def pair(labels):
    """A tracked record and its plain twin, both labelled a and b."""
    record, plain = Record.objects.create(title="r"), PlainRecord.objects.create(title="r")
    record.labels.add(*labels[:2])
    plain.labels.add(*labels[:2])
    return record, plain


def relation(owner: Any) -> list[int]:
    return sorted(owner.labels.values_list("pk", flat=True))


def pks(*objs: Any) -> frozenset[Any]:
    return frozenset(obj.pk for obj in objs)


@pytest.mark.parametrize(
    "act",
    [
        pytest.param(lambda owner, labels: owner.labels.add(labels[2]), id="add"),
        pytest.param(lambda owner, labels: owner.labels.remove(labels[0]), id="remove"),
        pytest.param(lambda owner, labels: owner.labels.clear(), id="clear"),
        pytest.param(lambda owner, labels: owner.labels.set([labels[1], labels[2]]), id="set"),
        pytest.param(lambda owner, labels: owner.labels.set([labels[2]], clear=True), id="set-clear"),
    ],
)
def test_each_forward_change_is_one_report_with_the_old_set(pair, labels, received, act):
    record, plain = pair
    with received.committing():
        ours = sql_of(lambda: act(record, labels))
    django_sql = sql_of(lambda: act(plain, labels))
    assert relation(record) == relation(plain)
    assert received.only("update").objects == [ModifiedObject(record, {"labels": pks(*labels[:2])})]
    assert received.calls[0].objects[0].instance is record
    assert len(ours) == len(django_sql) + 1  # the old relation, read once


def test_a_change_that_changes_nothing_is_not_reported(pair, labels, received):
    record, _ = pair
    with received.committing():
        record.labels.add(labels[0])
        record.labels.remove(labels[2])
        record.labels.set(labels[:2])
    assert received.calls == []


def test_reverse_changes_report_every_record_whose_set_changed(labels, received):
    one, two, three = (Record.objects.create(title=t) for t in ("1", "2", "3"))
    one.labels.add(labels[0])
    two.labels.add(labels[0], labels[1])
    with received.committing():
        labels[2].records.add(one, two)  # a new label for both
        labels[0].records.remove(two, three)  # three never had it
        labels[1].records.set([one])  # two loses b, one gains it
        labels[0].records.clear()  # one loses a
    calls = received.of("update")
    assert [[(o.pk, o.changed_values) for o in call.objects] for call in calls] == [
        [(one.pk, {"labels": pks(labels[0])}), (two.pk, {"labels": pks(labels[0], labels[1])})],
        [(two.pk, {"labels": pks(*labels)})],
        [(one.pk, {"labels": pks(labels[0], labels[2])}), (two.pk, {"labels": pks(labels[1], labels[2])})],
        [(one.pk, {"labels": pks(*labels)})],
    ]
    assert [o.instance for o in calls[0].objects] == [one, two]
    assert relation(one) == [labels[1].pk, labels[2].pk]
    assert relation(two) == [labels[2].pk]


def test_a_field_not_opted_in_costs_djangos_sql_and_sends_nothing(pair, labels, received):
    record, _ = pair
    with received.committing():
        ours = sql_of(lambda: record.stickers.add(*labels))
    with suspended():
        django_sql = sql_of(lambda: record.stickers.remove(*labels))
    assert received.calls == []
    assert len(ours) == len(sql_of(lambda: record.stickers.add(*labels)))
    assert len(django_sql) == len(sql_of(lambda: record.stickers.remove(*labels)))


def test_no_receiver_that_counts_the_field_reads_nothing(pair, labels, django_capture_on_commit_callbacks):
    record, plain = pair
    calls: list[Any] = []

    def on_title(sender: Any, objects: Any, **kwargs: Any) -> None:
        calls.append(objects)

    post_update_signal.connect(on_title, sender=Record, fields={"title"}, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            ours = sql_of(lambda: record.labels.set([labels[2]]))
        assert len(ours) == len(sql_of(lambda: plain.labels.set([labels[2]])))
        assert callbacks == []
        assert calls == []
    finally:
        post_update_signal.disconnect(on_title, sender=Record)


def test_a_receiver_for_the_field_gets_it(pair, labels, received):
    record, _ = pair
    got: list[Any] = []

    def on_labels(sender: Any, objects: Any, **kwargs: Any) -> None:
        got.append([o.changed_values for o in objects])

    post_update_signal.connect(on_labels, sender=Record, fields={"labels"}, weak=False)
    try:
        with received.committing():
            record.labels.remove(labels[1])
            Record.objects.filter(pk=record.pk).update(title="renamed")
    finally:
        post_update_signal.disconnect(on_labels, sender=Record)
    assert got == [[{"labels": pks(*labels[:2])}]]


def test_a_rolled_back_change_sends_nothing_and_tracking_info_arrives(pair, labels, received):
    record, _ = pair
    info = TrackingInfo(comment="relabel")

    def add_then_fail() -> None:
        with transaction.atomic():
            record.labels.add(labels[2])
            raise ZeroDivisionError

    with received.committing():
        with pytest.raises(ZeroDivisionError):
            add_then_fail()
        with tracking(info):
            record.labels.clear()
    call = received.only("update")
    assert call.tracking_info is info
    assert call.objects == [ModifiedObject(record, {"labels": pks(*labels[:2])})]


def test_inside_suspended_nothing_is_read_or_sent(pair, labels, received):
    record, plain = pair
    with received.committing(), suspended():
        ours = sql_of(lambda: record.labels.set([labels[2]]))
    assert len(ours) == len(sql_of(lambda: plain.labels.set([labels[2]])))
    assert received.calls == []


def test_the_async_methods_report_as_the_sync_ones(pair, labels, received):
    record, _ = pair

    async def run() -> None:
        await record.labels.aadd(labels[2])
        await record.labels.aset([labels[0]])

    with received.committing():
        async_to_sync(run)()
    assert [[o.changed_values for o in call.objects] for call in received.of("update")] == [
        [{"labels": pks(*labels[:2])}],
        [{"labels": pks(*labels)}],
    ]


def test_an_operation_that_failed_between_its_signals_leaves_nothing_for_the_next(
    pair, labels, django_capture_on_commit_callbacks
):
    record, _ = pair
    got: list[Any] = []

    def on_labels(sender: Any, objects: Any, **kwargs: Any) -> None:
        got.append([o.changed_values for o in objects])

    post_update_signal.connect(on_labels, sender=Record, weak=False, dispatch_uid="test_m2m.failed")
    try:
        with pytest.raises(TypeError), transaction.atomic():
            record.labels.add(labels[2], through_defaults={"no_such_field": 1})  # fails after pre_add
    finally:
        post_update_signal.disconnect(sender=Record, dispatch_uid="test_m2m.failed")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record.labels.remove(labels[0])  # no receiver now: its pre_remove reads nothing
    assert callbacks == []
    assert got == []
    assert relation(record) == [labels[1].pk]


@pytest.mark.parametrize("side", ["forward", "reverse"])
def test_a_remove_by_pk_given_as_a_string_is_reported(pair, labels, received, side):
    record, _ = pair
    with received.committing():
        if side == "forward":
            record.labels.remove(str(labels[0].pk))  # Django accepts raw ids as given
        else:
            labels[0].records.remove(str(record.pk))
    assert relation(record) == [labels[1].pk]
    assert received.only("update").objects == [ModifiedObject(record, {"labels": pks(*labels[:2])})]


def test_an_operation_nested_in_a_users_m2m_changed_receiver_keeps_the_outer_one(pair, labels, received):
    record, _ = pair

    def also_drop_a(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
        if action == "pre_add" and isinstance(instance, Record):
            instance.labels.remove(labels[0])

    m2m_changed.connect(also_drop_a, sender=Record.labels.through, dispatch_uid="test_m2m.nested")
    try:
        with received.committing():
            record.labels.add(labels[2])
    finally:
        m2m_changed.disconnect(sender=Record.labels.through, dispatch_uid="test_m2m.nested")
    assert relation(record) == [labels[1].pk, labels[2].pk]
    # The inner remove, then the outer add, each with the set it found when it began.
    assert [[o.changed_values for o in call.objects] for call in received.of("update")] == [
        [{"labels": pks(*labels[:2])}],
        [{"labels": pks(*labels[:2])}],
    ]


def test_a_failed_operation_does_not_keep_the_instance_alive(labels, received):
    with suspended():  # no create delivery waiting for the test's commit with it
        record = Record.objects.create(title="r")

    def refuse(sender: Any, action: str, **kwargs: Any) -> None:
        if action == "pre_add":
            raise RuntimeError("refused")

    m2m_changed.connect(refuse, sender=Record.labels.through, dispatch_uid="test_m2m.refuse")
    try:
        with pytest.raises(RuntimeError):
            record.labels.add(labels[0])
    finally:
        m2m_changed.disconnect(sender=Record.labels.through, dispatch_uid="test_m2m.refuse")
    alive = weakref.ref(record)
    del record
    gc.collect()
    assert alive() is None


def test_deleting_a_related_row_reports_every_row_that_had_it(labels, received):
    one, two, three = (Record.objects.create(title=t) for t in ("1", "2", "3"))
    one.labels.add(labels[0], labels[1])
    two.labels.add(labels[0])
    three.labels.add(labels[2])
    plain = PlainRecord.objects.create(title="p")
    plain.labels.add(labels[0])
    a, b = pks(labels[0]), pks(labels[1])
    with received.committing():
        labels[0].delete()  # Django cascades to both through tables, and sends no m2m_changed
    assert received.only("update").objects == [
        ModifiedObject(one, {"labels": a | b}),
        ModifiedObject(two, {"labels": a}),
    ]
    assert relation(one) == [labels[1].pk]
    assert relation(two) == []
    assert relation(plain) == []


def test_deleting_a_queryset_of_related_rows_and_the_declaring_rows(labels, received):
    one, two = Record.objects.create(title="1"), Record.objects.create(title="2")
    one.labels.add(*labels)
    two.labels.add(labels[0])
    every, first = pks(*labels), pks(labels[0])
    with received.committing():
        Label.objects.filter(pk__in=[labels[0].pk, labels[1].pk]).delete()
        Record.objects.filter(pk=two.pk).delete()  # its own through rows go: reported deleted, not changed
    calls = received.calls
    assert [(c.kind, c.sender) for c in calls] == [("update", Record), ("delete", Record)]
    assert calls[0].objects == [
        ModifiedObject(one, {"labels": every}),
        ModifiedObject(two, {"labels": first}),
    ]
    assert [o.pk for o in calls[1].objects] == [two.pk]


def test_deleting_a_related_row_with_no_receiver_is_djangos_delete(labels):
    record = Record.objects.create(title="r")
    record.labels.add(labels[0], labels[1])
    ours = sql_of(labels[0].delete)
    with suspended():
        django_sql = sql_of(labels[1].delete)
    assert [s.split(" WHERE")[0] for s in ours] == [s.split(" WHERE")[0] for s in django_sql]


def test_a_delete_straight_from_the_through_table_is_reported(pair, labels, received):
    record, plain = pair
    through = Record.labels.through
    with received.committing():
        ours = through.objects.filter(label=labels[0]).delete()
    theirs = PlainRecord.labels.through.objects.filter(label=labels[0]).delete()
    assert ours == (theirs[0], {"testapp.Record_labels": theirs[1]["testapp.PlainRecord_labels"]})
    assert relation(record) == relation(plain) == [labels[1].pk]
    assert received.only("update").objects == [ModifiedObject(record, {"labels": pks(*labels[:2])})]


@pytest.mark.django_db(transaction=True)
def test_deleting_a_related_row_in_autocommit_is_reported_after_its_commit(capture_signals):
    label, other = Label.objects.create(name="a"), Label.objects.create(name="b")
    record = Record.objects.create(title="r")
    record.labels.add(label, other)
    with capture_signals() as captured:
        old = pks(label, other)
        label.delete()  # no atomic block of the caller's
    captured.assert_m2m_changed(record, "labels", old=old, new=[other])
