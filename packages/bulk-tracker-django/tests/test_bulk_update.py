from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from helpers import sql_of

from bulk_tracker import TrackingInfo, suspended
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.signals import post_update_signal
from testapp.models import Author, Book

pytestmark = pytest.mark.django_db


@pytest.fixture
def books():
    ann, bob = Author.objects.create(name="Ann"), Author.objects.create(name="Bob")
    return [
        Book.objects.create(title="a", price=Decimal("5.00"), stock=1, author=ann, data={"tags": ["x"]}),
        Book.objects.create(title="b", price=Decimal("7.00"), stock=0, author=ann),
        Book.objects.create(title="c", price=Decimal("9.00"), stock=3, author=bob),
    ]


def stocks():
    return list(Book.objects.order_by("pk").values_list("stock", flat=True))


def test_reports_only_rows_that_changed_as_fresh_instances(books, received):
    books[0].stock, books[1].stock = 5, 0  # books[1] and books[2] keep their stock
    with received.committing():
        count = Book.objects.bulk_update(books, ["stock"])
    assert count == 3
    call = received.only("update")
    assert call.sender is Book
    assert call.using == "default"
    assert call.objects == [ModifiedObject(books[0], {"stock": 1})]
    assert call.objects[0].instance is not books[0]  # the row as stored, not the caller's object
    assert stocks() == [5, 0, 3]


def test_several_batches_are_one_signal(books, received):
    for book in books:
        book.stock += 10
    with received.committing():
        assert Book.objects.bulk_update(books, ["stock"], batch_size=1) == 3
    assert received.only("update").objects == [
        ModifiedObject(books[0], {"stock": 1}),
        ModifiedObject(books[1], {"stock": 0}),
        ModifiedObject(books[2], {"stock": 3}),
    ]


def test_expression_values_are_reported_as_stored(books, received):
    books[0].stock = F("stock") + 10
    books[1].stock = F("stock") + 0  # stays 0: not a change
    with received.committing():
        Book.objects.bulk_update(books[:2], ["stock"])
    call = received.only("update")
    assert call.objects == [ModifiedObject(books[0], {"stock": 1})]
    assert call.objects[0].instance.stock == 11


def test_deferred_objects_are_reported_fully_loaded(books, received):
    objs = list(Book.objects.only("title").order_by("pk"))
    objs[2].title = "C"
    with received.committing():
        Book.objects.bulk_update(objs, ["title"])
    call = received.only("update")
    assert call.objects == [ModifiedObject(books[2], {"title": "c"})]
    instance = call.objects[0].instance
    with CaptureQueriesContext(connection) as queries:
        loaded = (instance.title, instance.price, instance.stock, instance.author_id)
    assert loaded == ("C", Decimal("9.00"), 3, books[2].author_id)
    assert len(queries) == 0


def test_foreign_key_reports_attname_with_old_id(books, received):
    ann_id, bob = books[0].author_id, books[2].author
    books[0].author = bob
    with received.committing():
        Book.objects.bulk_update(books, ["author"])
    call = received.only("update")
    assert call.objects == [ModifiedObject(books[0], {"author_id": ann_id})]
    assert call.objects[0].instance.author_id == bob.pk


def test_json_compares_by_value_and_old_value_is_a_snapshot(books, received):
    Book.objects.filter(pk=books[1].pk).update(data={"a": 1, "b": [2]})
    books[0].data = {"tags": ["x", "y"]}
    books[1].data = {"b": [2], "a": 1}  # the same value
    with received.committing():
        Book.objects.bulk_update(books[:2], ["data"])
    changed = received.only("update").objects[0]
    assert changed == ModifiedObject(books[0], {"data": {"tags": ["x"]}})
    changed.instance.data["tags"].append("z")
    changed.instance.data = {}
    assert changed.changed_values == {"data": {"tags": ["x"]}}


def test_object_given_twice_reports_the_stored_row(books, received):
    again = Book.objects.get(pk=books[0].pk)
    books[0].stock, again.stock = 5, 9
    with received.committing():
        Book.objects.bulk_update([books[0], again], ["stock"], batch_size=1)  # the second batch wins
    call = received.only("update")
    assert call.objects == [ModifiedObject(books[0], {"stock": 1})]
    assert call.objects[0].instance.stock == 9 == stocks()[0]


def test_returns_djangos_count_and_skips_missing_rows(books, received):
    models.QuerySet(Book).filter(pk=books[2].pk).delete()
    for book in books:
        book.stock = 20
    with received.committing():
        assert Book.objects.bulk_update(books, ["stock"]) == 2
    assert received.only("update").objects == [
        ModifiedObject(books[0], {"stock": 1}),
        ModifiedObject(books[1], {"stock": 0}),
    ]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ([], ValueError),
        (["id"], ValueError),
        (["nonsense"], FieldDoesNotExist),
    ],
)
def test_bad_fields_are_djangos_error(books, received, fields, error):
    books[0].stock = 8
    with received.committing(), pytest.raises(error):
        Book.objects.bulk_update(books, fields)
    assert received.calls == []
    assert stocks() == [1, 0, 3]


def test_object_without_pk_is_djangos_error(books, received):
    books[0].stock = 8
    with received.committing(), pytest.raises(ValueError, match="primary key set"):
        Book.objects.bulk_update([books[0], Book(title="new", stock=4)], ["stock"])
    assert received.calls == []
    assert stocks() == [1, 0, 3]


def test_reverse_relation_is_djangos_error(books, received):
    with received.committing(), pytest.raises(ValueError, match="concrete fields"):
        Author.objects.bulk_update([books[0].author], ["books"])
    assert received.calls == []


def test_unsaved_related_object_is_djangos_error(books, received):
    books[0].stock, books[1].author = 8, Author(name="unsaved")
    with received.committing(), pytest.raises(ValueError, match="unsaved related object 'author'"):
        Book.objects.bulk_update(books, ["stock", "author"])
    assert received.calls == []
    assert stocks() == [1, 0, 3]


def test_wrong_tracking_info_type_is_refused_before_any_query(books, received):
    books[0].stock = 8
    with (
        received.committing(),
        CaptureQueriesContext(connection) as queries,
        pytest.raises(TypeError, match="TrackingInfo"),
    ):
        Book.objects.bulk_update(books, ["stock"], tracking_info_="me")
    assert len(queries) == 0
    assert received.calls == []


def test_tracking_info_is_delivered(books, received):
    info = TrackingInfo(user="u", comment="restock")
    books[1].stock = 6
    with received.committing():
        Book.objects.bulk_update(books, ["stock"], tracking_info_=info)
    assert received.only("update").tracking_info == info


def test_costs_djangos_statements_plus_one_read(books, received):
    for book in books:
        book.stock += 1
    djangos = sql_of(lambda: models.QuerySet(Book).bulk_update(books, ["stock", "title"]))
    for book in books:
        book.stock += 1
    with received.committing():
        tracked = sql_of(lambda: Book.objects.bulk_update(books, ["stock", "title"]))
    assert len(received.only("update").objects) == 3
    assert len(tracked) == len(djangos) + 1


def test_without_receiver_the_sql_is_djangos():
    book = Book.objects.create(title="a", stock=1)
    assert not post_update_signal.has_listeners(Book)
    book.stock = 2
    djangos = sql_of(lambda: models.QuerySet(Book).bulk_update([book], ["stock"]))
    assert sql_of(lambda: Book.objects.bulk_update([book], ["stock"])) == djangos


def test_suspended_sends_nothing_and_runs_djangos_sql(books, received):
    books[0].stock = 2
    djangos = sql_of(lambda: models.QuerySet(Book).bulk_update(books, ["stock"]))
    with received.committing(), suspended():
        assert sql_of(lambda: Book.objects.bulk_update(books, ["stock"])) == djangos
    assert received.calls == []


def test_abulk_update_with_tracking_info(books, received):
    info = TrackingInfo(comment="async")
    books[2].stock = 30

    async def run():
        return await Book.objects.abulk_update(books, ["stock"], tracking_info_=info)

    with received.committing():
        assert async_to_sync(run)() == 3
    call = received.only("update")
    assert call.tracking_info == info
    assert call.objects == [ModifiedObject(books[2], {"stock": 3})]
