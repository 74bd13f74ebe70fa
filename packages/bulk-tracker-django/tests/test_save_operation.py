"""The save operation: save() learns "Django inserted" without state on the instance, and
get_or_create()/update_or_create() of a model tracked only through its queryset (Memo, Django's own
save()) report like a BulkTrackerModel's, against the same calls on the plain twin (PlainMemo)."""

import re
from decimal import Decimal

import django
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import FieldError, ValidationError
from django.db import connection, models, transaction
from django.db.models.signals import pre_save
from helpers import connected, sql_of

from bulk_tracker import TrackingInfo, suspended, tracking
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.operations import save as save_operation
from testapp.models import Author, Book, Memo, PlainMemo

pytestmark = pytest.mark.django_db

INFO = TrackingInfo(user="u", comment="save operation")
FIELDS = ("key", "body", "count", "amount")


def stored(model: type[models.Model]) -> list[tuple]:
    return list(model.objects.order_by("key").values_list(*FIELDS))


def both(**values):
    """The same row in Memo and in its plain twin."""
    return Memo.objects.create(**values), PlainMemo.objects.create(**values)


def as_tuple(obj: models.Model) -> tuple:
    return tuple(getattr(obj, name) for name in FIELDS)


# update_or_create() that updates


def test_update_or_create_reports_the_locked_rows_old_values_once(received):
    with suspended():
        both(key="a", body="old", count=1, amount=Decimal("2.50"))
        both(key="b", body="other", count=5)
    defaults = {"body": "new", "count": 2, "amount": Decimal("2.50")}
    with received.committing():
        obj, created = Memo.objects.update_or_create(key="a", defaults=defaults, tracking_info_=INFO)
    twin, twin_created = PlainMemo.objects.update_or_create(key="a", defaults=defaults)
    call = received.only("update")
    assert (created, twin_created) == (False, False)
    assert as_tuple(obj) == as_tuple(twin) == ("a", "new", 2, Decimal("2.50"))
    assert stored(Memo) == stored(PlainMemo)
    assert (call.sender, call.tracking_info, call.using) == (Memo, INFO, "default")
    assert call.objects == [ModifiedObject(obj, {"body": "old", "count": 1})]
    assert call.objects[0].instance is obj


def test_update_or_create_takes_the_tracking_context(received):
    with suspended():
        Memo.objects.create(key="a", body="old")
    with received.committing(), tracking(comment="context"):
        obj, _ = Memo.objects.update_or_create(key="a", defaults={"body": "new"})
    call = received.only("update")
    assert call.objects == [ModifiedObject(obj, {"body": "old"})]
    assert call.tracking_info == TrackingInfo(comment="context")


def test_update_or_create_of_equal_stored_values_reports_nothing(received):
    with suspended():
        both(key="a", body="same", count=3, amount=Decimal("1.5"))
    defaults = {"body": "same", "count": "3", "amount": "1.50"}  # stored as 3 and Decimal("1.50")
    with received.committing():
        obj, created = Memo.objects.update_or_create(key="a", defaults=defaults)
    twin, twin_created = PlainMemo.objects.update_or_create(key="a", defaults=defaults)
    assert received.calls == []
    assert (created, as_tuple(obj)) == (twin_created, as_tuple(twin)) == (False, ("a", "same", "3", "1.50"))
    assert stored(Memo) == stored(PlainMemo)


def test_update_or_create_runs_djangos_own_statements(received):
    with suspended():
        Memo.objects.create(key="a", body="old")
    with suspended():
        untracked = sql_of(lambda: Memo.objects.update_or_create(key="a", defaults={"body": "new"}))
    with received.committing():
        tracked = sql_of(lambda: Memo.objects.update_or_create(key="a", defaults={"body": "newer"}))

    def shape(statements):  # savepoint names are numbered
        return [re.sub(r"s\d+_x\d+", "sp", sql).replace("newer", "new") for sql in statements]

    assert shape(tracked) == shape(untracked)
    assert len(tracked) >= 2
    assert any("FOR UPDATE" in sql for sql in tracked) == connection.features.has_select_for_update
    assert len(received.only("update").objects) == 1


def test_update_or_create_through_a_property_saves_every_field_and_reports_what_changed(received):
    with suspended():
        both(key="a", body="old", count=1)
    # A default that is not a concrete field: Django saves every field.
    Memo.label = PlainMemo.label = property(lambda self: self.body, lambda self, value: setattr(self, "body", value))
    try:
        with received.committing():
            obj, _ = Memo.objects.update_or_create(key="a", defaults={"label": "new", "count": 1})
        twin, _ = PlainMemo.objects.update_or_create(key="a", defaults={"label": "new", "count": 1})
    finally:
        del Memo.label, PlainMemo.label
    assert as_tuple(obj) == as_tuple(twin)
    assert stored(Memo) == stored(PlainMemo)
    assert received.only("update").objects == [ModifiedObject(obj, {"body": "old"})]


def test_update_or_create_rolled_back_reports_nothing(received):
    with suspended():
        Memo.objects.create(key="a", body="old")

    def rolled_back():
        with transaction.atomic():
            Memo.objects.update_or_create(key="a", defaults={"body": "new"})
            raise RuntimeError

    with received.committing(), pytest.raises(RuntimeError):
        rolled_back()
    assert received.calls == []
    assert stored(Memo) == [("a", "old", 0, Decimal("0.00"))]


@pytest.mark.django_db(databases=["default", "other"])
def test_update_or_create_on_another_alias_reads_and_reports_there(received):
    with suspended():
        Memo.objects.using("other").create(key="a", body="old")
        Memo.objects.create(key="a", body="default")
    with received.committing():
        obj, created = Memo.objects.using("other").update_or_create(key="a", defaults={"body": "new"})
    call = received.only("update")
    assert (created, obj._state.db, call.using) == (False, "other", "other")
    assert call.objects == [ModifiedObject(obj, {"body": "old"})]
    assert stored(Memo) == [("a", "default", 0, Decimal("0.00"))]


@pytest.mark.django_db(transaction=True)
def test_aupdate_or_create_reports_after_the_commit(received):
    with suspended():
        Memo.objects.create(key="a", body="old")

    async def main():
        return await Memo.objects.aupdate_or_create(key="a", defaults={"body": "new"}, tracking_info_=INFO)

    with received.committing():
        obj, created = async_to_sync(main)()
    call = received.only("update")
    assert created is False
    assert (call.objects, call.tracking_info) == ([ModifiedObject(obj, {"body": "old"})], INFO)


# get_or_create() and update_or_create() that create


@pytest.mark.parametrize(
    "call",
    [
        lambda model: model.objects.get_or_create(key="a", defaults={"body": "made"}),
        lambda model: model.objects.update_or_create(key="a", defaults={"body": "made"}),
        pytest.param(
            lambda model: model.objects.update_or_create(
                key="a", defaults={"body": "no"}, create_defaults={"body": "made"}
            ),
            marks=pytest.mark.skipif(django.VERSION < (5, 0), reason="create_defaults: Django 5.0+"),
        ),
    ],
    ids=["get_or_create", "update_or_create", "update_or_create with create_defaults"],
)
def test_created_rows_are_reported_once_as_a_create(received, call):
    with received.committing():
        obj, created = call(Memo)
    twin, twin_created = call(PlainMemo)
    signal = received.only("create")
    assert (created, twin_created) == (True, True)
    assert as_tuple(obj) == as_tuple(twin) == ("a", "made", 0, 0)
    assert stored(Memo) == stored(PlainMemo)
    assert (signal.sender, signal.objects) == (Memo, [ModifiedObject(obj, {})])
    assert signal.objects[0].instance is obj


def test_get_or_create_that_finds_reports_nothing(received):
    with suspended():
        existing, _ = both(key="a", body="old")
    with received.committing():
        obj, created = Memo.objects.get_or_create(key="a", defaults={"body": "new"})
    assert (obj, created, obj.body, received.calls) == (existing, False, "old", [])


# errors: Django's own, and nothing reported


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda model: model.objects.update_or_create(nonsense=1), FieldError),
        (lambda model: model.objects.update_or_create(key="a", defaults={"count": "many"}), ValueError),
        (lambda model: model.objects.update_or_create(key="a", defaults={"amount": "x"}), ValidationError),
        (lambda model: model.objects.get_or_create(key="new", defaults={"count": "many"}), ValueError),
    ],
    ids=["unknown lookup", "bad integer default", "bad decimal default", "bad value on create"],
)
def test_errors_are_djangos_and_nothing_is_reported(received, call, error):
    with suspended():
        both(key="a", body="old")
    with received.committing(), pytest.raises(error) as tracked:
        call(Memo)
    with pytest.raises(error) as plain:
        call(PlainMemo)
    assert str(tracked.value) == str(plain.value).replace("plainmemo", "memo").replace("PlainMemo", "Memo")
    assert received.calls == []
    assert stored(Memo) == stored(PlainMemo)


# save(): "Django inserted" is told to the running operation, not stashed on the instance


def test_save_leaves_no_state_on_the_instance(received):
    book = Book(title="a")
    with received.committing():
        book.save()
        book.title = "b"
        book.save()
    assert [c.kind for c in received.calls] == ["create", "update"]
    assert not [name for name in vars(book) if name.startswith("_bulk_tracker")]
    assert save_operation._saving.get() is None


def test_a_save_nested_in_another_is_reported_as_its_own(received):
    """An insert inside an update and an update inside an insert: each save learns only of its own insert."""
    with suspended():
        ann = Author.objects.create(name="Ann")
        book = Book.objects.create(title="old", author=ann)
    fresh = Book(title="fresh")

    def nested(sender, instance, **kwargs):
        if instance is book:
            Author(name="Bob").save()  # an insert while the book's UPDATE is on the way
        elif instance is fresh:
            ann.name = "Ann 2"
            ann.save()  # an update while the fresh book's INSERT is on the way

    with connected(pre_save, nested, sender=Book), received.committing():
        book.title = "new"
        book.save()
        fresh.save()
    bob = Author.objects.get(name="Bob")
    assert [(c.kind, c.sender, c.objects) for c in received.calls] == [
        ("create", Author, [ModifiedObject(bob, {})]),
        ("update", Book, [ModifiedObject(book, {"title": "old"})]),
        ("update", Author, [ModifiedObject(ann, {"name": "Ann"})]),
        ("create", Book, [ModifiedObject(fresh, {})]),
    ]


def test_save_of_a_new_instance_with_an_existing_pk_reads_the_row_locked_then_runs_djangos_statements(received):
    with suspended():
        book = Book.objects.create(title="old", stock=1)
    again = Book(pk=book.pk, title="new", stock=1)
    with received.committing():
        first, *rest = sql_of(again.save)
    assert first.startswith("SELECT")
    assert ("FOR UPDATE" in first) == connection.features.has_select_for_update
    assert [sql.split()[0] for sql in rest] == ["UPDATE"]
    assert received.only("update").objects == [ModifiedObject(again, {"title": "old"})]
