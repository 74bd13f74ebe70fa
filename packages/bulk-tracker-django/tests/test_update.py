from decimal import Decimal

import pytest
from django.core.exceptions import FieldDoesNotExist, FieldError
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Upper
from django.test.utils import CaptureQueriesContext
from helpers import UPDATE_STATEMENTS

from bulk_tracker import TrackingInfo, tracking
from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Article, Author, Book, Note, Place, Restaurant

pytestmark = pytest.mark.django_db


@pytest.fixture
def books():
    ann, bob = Author.objects.create(name="Ann"), Author.objects.create(name="Bob")
    return [
        Book.objects.create(title="a", price=Decimal("5.00"), stock=1, author=ann),
        Book.objects.create(title="b", price=Decimal("7.00"), stock=0, author=ann),
        Book.objects.create(title="c", price=Decimal("9.00"), stock=3, author=bob),
    ]


def test_plain_value_reports_only_rows_that_changed(books, received):
    with received.committing():
        count = Book.objects.update(stock=3)
    assert count == 3
    call = received.only("update")
    assert call.sender is Book
    assert call.using == "default"
    assert call.objects == [ModifiedObject(books[0], {"stock": 1}), ModifiedObject(books[1], {"stock": 0})]
    assert [o.instance.stock for o in call.objects] == [3, 3]


def test_f_expression_reports_stored_old_values(books, received):
    with received.committing():
        Book.objects.filter(author__name="Ann").update(price=F("price") * 2)
    call = received.only("update")
    assert call.objects == [
        ModifiedObject(books[0], {"price": Decimal("5.00")}),
        ModifiedObject(books[1], {"price": Decimal("7.00")}),
    ]
    assert [o.instance.price for o in call.objects] == [Decimal("10.00"), Decimal("14.00")]


def test_case_when_and_functions(books, received):
    with received.committing():
        Book.objects.update(
            title=Upper("title"),
            stock=Case(When(stock=0, then=Value(10)), default=F("stock")),
            rating=Coalesce("rating", Value(1.5)),
        )
    call = received.only("update")
    assert [o.changed_values for o in call.objects] == [
        {"title": "a", "rating": None},
        {"title": "b", "stock": 0, "rating": None},
        {"title": "c", "rating": None},
    ]
    assert [(o.instance.title, o.instance.stock, o.instance.rating) for o in call.objects] == [
        ("A", 1, 1.5),
        ("B", 10, 1.5),
        ("C", 3, 1.5),
    ]


def test_foreign_key_by_object_reports_old_object_in_one_query(books, received):
    cid = Author.objects.create(name="Cid")
    with received.committing(), CaptureQueriesContext(connection) as queries:
        Book.objects.update(author=cid)
    call = received.only("update")
    assert [o.changed_values for o in call.objects] == [
        {"author": books[0].author},
        {"author": books[1].author},
        {"author": books[2].author},
    ]
    assert [o.changed_values["author"].name for o in call.objects] == ["Ann", "Ann", "Bob"]
    # the old authors cost one query on top of update()'s own statements, whatever the number of rows
    assert len(queries) == UPDATE_STATEMENTS[connection.vendor] + 1


def test_foreign_key_by_id_reports_old_id(books, received):
    cid = Author.objects.create(name="Cid")
    with received.committing():
        Book.objects.filter(pk=books[2].pk).update(author_id=cid.pk)
    assert received.only("update").objects == [ModifiedObject(books[2], {"author_id": books[2].author_id})]


def test_filter_on_the_changed_field(books, received):
    with received.committing():
        Book.objects.filter(stock__lt=2).update(stock=F("stock") + 5)
    assert received.only("update").objects == [
        ModifiedObject(books[0], {"stock": 1}),
        ModifiedObject(books[1], {"stock": 0}),
    ]


def test_update_that_changes_nothing_sends_nothing(books, received):
    with received.committing():
        assert Book.objects.filter(stock=3).update(stock=3) == 1
        assert Book.objects.filter(stock=99).update(stock=1) == 0
    assert received.calls == []


def test_instance_has_every_field_loaded(books, received):
    with received.committing():
        Book.objects.filter(pk=books[0].pk).update(stock=8)
    instance = received.only("update").objects[0].instance
    with CaptureQueriesContext(connection) as queries:
        loaded = (instance.title, instance.price, instance.author_id, instance.data)
    assert loaded == ("a", Decimal("5.00"), books[0].author_id, {})
    assert len(queries) == 0


def test_tracking_info_explicit_and_from_context(books, received):
    explicit = TrackingInfo(comment="explicit", kwargs={"a": 1})
    with received.committing(), tracking(user="ctx-user", comment="context"):
        Book.objects.filter(pk=books[0].pk).update(stock=10)
        Book.objects.filter(pk=books[0].pk).update(stock=11, tracking_info_=explicit)
    assert [c.tracking_info for c in received.calls] == [TrackingInfo(user="ctx-user", comment="context"), explicit]


def test_wrong_tracking_info_type_is_refused_before_any_query(books, received):
    with (
        received.committing(),
        CaptureQueriesContext(connection) as queries,
        pytest.raises(TypeError, match="TrackingInfo"),
    ):
        Book.objects.update(stock=1, tracking_info_={"user": "x"})
    assert len(queries) == 0
    assert received.calls == []


def test_unknown_field_is_djangos_error_and_nothing_is_written(books, received):
    with received.committing(), pytest.raises(FieldDoesNotExist):
        Book.objects.update(nonsense=1)
    with received.committing(), pytest.raises(FieldError):
        Book.objects.update(stock=F("nonsense"))
    assert received.calls == []


def test_sliced_queryset_is_refused_like_django(books, received):
    with received.committing(), pytest.raises(TypeError, match=r"Cannot update a query once a slice has been taken\."):
        Book.objects.all()[:1].update(stock=5)
    assert received.calls == []
    assert sorted(Book.objects.values_list("stock", flat=True)) == [0, 1, 3]


def test_soft_deleting_default_manager_still_reports_the_row(received):
    article = Article.objects.create(title="t")
    with received.committing():
        assert Article.objects.filter(pk=article.pk).update(is_deleted=True) == 1
    call = received.only("update")
    assert call.objects == [ModifiedObject(article, {"is_deleted": False})]
    assert call.objects[0].instance.is_deleted is True


def test_multi_table_child_reports_own_and_parent_fields(received):
    r = Restaurant.objects.create(name="Luigi", serves=10)
    Place.objects.create(name="Park")
    with received.committing():
        assert Restaurant.objects.update(name="Mario", serves=20) == 1
    call = received.only("update")
    assert call.sender is Restaurant
    assert call.objects == [ModifiedObject(r, {"name": "Luigi", "serves": 10})]
    assert (call.objects[0].instance.name, call.objects[0].instance.serves) == ("Mario", 20)


def test_queryset_only_model_is_tracked(received):
    note = Note.objects.create(text="x")
    with received.committing():
        Note.objects.update(text="y")
    assert received.only("update").objects == [ModifiedObject(note, {"text": "x"})]


def test_custom_queryset_method_chains(books, received):
    with received.committing():
        Book.objects.cheap().filter(price__gt=6).update(stock=0)
    assert received.only("update").objects == [ModifiedObject(books[2], {"stock": 3})]


@pytest.mark.django_db(databases=["default", "other"])
def test_other_database(received):
    author = Author.objects.using("other").create(name="Far")
    with received.committing():
        assert Author.objects.using("other").update(name="Near") == 1
    call = received.only("update")
    assert call.using == "other"
    assert call.objects == [ModifiedObject(author, {"name": "Far"})]
    assert call.objects[0].instance._state.db == "other"


@pytest.fixture
def built(monkeypatch):
    """The Book instances built from rows (``Book.from_db``), in order."""
    made = []
    original = Book.from_db.__func__

    def from_db(cls, *args, **kwargs):
        made.append(original(cls, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(Book, "from_db", classmethod(from_db))
    return made


@pytest.mark.parametrize("operation", ["update", "bulk_update"])
def test_a_reported_instance_is_built_when_a_receiver_first_reads_it(books, received, built, operation):
    """A receiver that reads only ``pk`` and ``changed_values`` costs no instance per row."""
    with received.committing():
        if operation == "update":
            Book.objects.update(stock=F("stock") + 1)
        else:
            Book.objects.bulk_update([Book(pk=b.pk, stock=b.stock + 1) for b in books], ["stock"])
    objects = received.only("update").objects
    assert [(o.pk, o.changed_values) for o in objects] == [(b.pk, {"stock": b.stock}) for b in books]
    assert built == []
    first = objects[0].instance
    assert built == [first]
    assert objects[0].instance is first
    assert (type(first), first.pk, first.stock, first._state.adding, first._state.db) == (
        Book,
        books[0].pk,
        2,
        False,
        "default",
    )


@pytest.mark.parametrize("operation", ["update", "bulk_update"])
def test_an_instance_built_late_shows_the_row_as_its_operation_wrote_it(books, received, operation):
    """Built after the transaction's later writes, a report's instance still holds the row its write returned."""
    with received.committing(), transaction.atomic():
        for title in ("x", "y"):
            if operation == "update":
                Book.objects.update(title=title)
            else:
                Book.objects.bulk_update([Book(pk=b.pk, title=title) for b in books], ["title"])
        Book.objects.update(stock=99)
    first, second, third = (call.objects for call in received.of("update"))
    assert [(o.instance.title, o.instance.stock, o.changed_values) for o in first] == [
        ("x", b.stock, {"title": b.title}) for b in books
    ]
    assert [(o.instance.title, o.instance.stock) for o in second] == [("y", b.stock) for b in books]
    assert [(o.instance.title, o.instance.stock) for o in third] == [("y", 99) for b in books]
    assert first[0].instance.tracker.changed() == {}  # the tracker's saved state is that row too
