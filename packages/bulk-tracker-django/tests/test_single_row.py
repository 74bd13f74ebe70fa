"""Single-row writes: create(), save(), get_or_create(), update_or_create() and their async twins."""

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from helpers import sql_of

from bulk_tracker import TrackingInfo, suspended, tracking
from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Author, Book, Note, Untracked

pytestmark = pytest.mark.django_db

INFO = TrackingInfo(user="u", comment="single row")


def run(coroutine_function):
    """Await ``coroutine_function()`` from sync code (a real event loop, Django's thread rules)."""

    async def main():
        return await coroutine_function()

    return async_to_sync(main)()


@pytest.fixture
def ann():
    return Author.objects.create(name="Ann")


@pytest.fixture
def book(ann):
    return Book.objects.create(title="old", price=Decimal("5.00"), stock=1, author=ann)


# create() and save() of a new row


def test_create_sends_post_create_with_the_saved_instance(received):
    with received.committing():
        book = Book.objects.create(title="a")
    call = received.only("create")
    assert (call.sender, call.using, call.tracking_info) == (Book, "default", None)
    assert call.objects == [ModifiedObject(book, {})]
    assert call.objects[0].instance is book
    assert book.pk is not None


def test_create_tracking_info_explicit_wins_over_context(received):
    with received.committing(), tracking(comment="context"):
        Book.objects.create(title="a")
        Book.objects.create(title="b", tracking_info_=INFO)
    assert [c.tracking_info for c in received.of("create")] == [TrackingInfo(comment="context"), INFO]
    assert len(received.calls) == 2


def test_save_of_a_new_instance_sends_post_create(received):
    book = Book(title="a")
    with received.committing():
        book.save()
    assert received.only("create").objects == [ModifiedObject(book, {})]
    assert received.calls[0].objects[0].instance is book


def test_queryset_only_model_create_is_tracked(received):
    with received.committing():
        note = Note.objects.create(text="x", tracking_info_=INFO)
    call = received.only("create")
    assert (call.sender, call.objects, call.tracking_info) == (Note, [ModifiedObject(note, {})], INFO)


# save() of an existing row


def test_save_reports_old_values_of_changed_fields_only(book, received):
    old_author = book.author_id
    book.title, book.author = "new", Author.objects.create(name="Bob")
    book.stock = 1  # same value: not a change
    with received.committing():
        book.save()
    call = received.only("update")
    assert call.objects == [ModifiedObject(book, {"title": "old", "author_id": old_author})]
    assert call.objects[0].instance is book
    assert Book.objects.get(pk=book.pk).title == "new"


def test_save_without_change_sends_nothing(book, received):
    with received.committing():
        book.save()
        Book.objects.get(pk=book.pk).save()
    assert received.calls == []


def test_save_with_update_fields_reports_only_those_fields(book, received):
    book.title, book.stock = "new", 9
    with received.committing():
        book.save(update_fields=["title"])
    assert received.only("update").objects == [ModifiedObject(book, {"title": "old"})]
    assert Book.objects.values_list("title", "stock").get() == ("new", 1)


def test_save_json_mutated_in_place_reports_a_snapshot(book, received):
    book.data["k"] = 1
    with received.committing():
        book.save()
    book.data["k"] = 2
    assert received.only("update").objects[0].changed_values == {"data": {}}


def test_save_tracking_info(book, received):
    book.title = "new"
    with received.committing(), tracking(comment="context"):
        book.save(tracking_info_=INFO)
    assert received.only("update").tracking_info == INFO


def test_new_instance_with_an_existing_pk_is_an_update(book, received):
    again = Book(pk=book.pk, title="new", price=book.price, stock=2, author=book.author)
    with CaptureQueriesContext(connection) as queries, received.committing():
        again.save()
    # old values come from the stored row, locked until the UPDATE where the backend can lock
    assert ("FOR UPDATE" in queries[0]["sql"]) == connection.features.has_select_for_update
    call = received.only("update")
    assert call.objects == [ModifiedObject(again, {"title": "old", "stock": 1})]
    assert call.objects[0].instance is again
    assert Book.objects.count() == 1


def test_new_instance_with_an_unused_pk_is_a_create(book, received):
    fresh = Book(pk=book.pk + 100, title="new")
    with received.committing():
        fresh.save()
    assert received.only("create").objects == [ModifiedObject(fresh, {})]


def test_save_costs_exactly_djangos_statements(book, received):
    book.title = "tracked"
    with CaptureQueriesContext(connection) as tracked, received.committing():
        book.save()
    book.title = "untracked"
    with CaptureQueriesContext(connection) as baseline, suspended():
        book.save()
    assert len(tracked) == len(baseline) > 0
    assert received.only("update").objects == [ModifiedObject(book, {"title": "old"})]


def test_model_without_field_tracker_reports_old_values_from_its_own_record(received):
    row = Untracked.objects.create(value=1)
    row.value = 2
    with received.committing():
        statements = sql_of(row.save)
    assert len(statements) == 1
    assert received.only("update").objects == [ModifiedObject(row, {"value": 1})]
    assert Untracked.objects.get().value == 2


@pytest.mark.parametrize(
    "write",
    [
        lambda book: book.save(tracking_info_={"user": "x"}),
        lambda book: Book.objects.create(title="x", tracking_info_="x"),
        lambda book: Book.objects.get_or_create(title="x", tracking_info_=1),
        lambda book: Book.objects.update_or_create(title="x", tracking_info_=[INFO]),
    ],
    ids=["save", "create", "get_or_create", "update_or_create"],
)
def test_wrong_tracking_info_type_is_refused_before_any_query(book, received, write):
    book.title = "new"
    with (
        received.committing(),
        CaptureQueriesContext(connection) as queries,
        pytest.raises(TypeError, match="TrackingInfo"),
    ):
        write(book)
    assert len(queries) == 0
    assert received.calls == []


# get_or_create() and update_or_create()


def test_get_or_create(book, received):
    with received.committing():
        found, created = Book.objects.get_or_create(title="old", tracking_info_=INFO)
    assert (found, created, received.calls) == (book, False, [])
    with received.committing():
        new, created = Book.objects.get_or_create(title="new", defaults={"stock": 4}, tracking_info_=INFO)
    call = received.only("create")
    assert created is True
    assert (call.objects, call.tracking_info) == ([ModifiedObject(new, {})], INFO)
    assert call.objects[0].instance.stock == 4


def test_update_or_create_created(received):
    with received.committing():
        book, created = Book.objects.update_or_create(title="a", defaults={"stock": 4}, tracking_info_=INFO)
    call = received.only("create")
    assert created is True
    assert (call.objects, call.tracking_info) == ([ModifiedObject(book, {})], INFO)


def test_update_or_create_updated(book, received):
    with received.committing():
        found, created = Book.objects.update_or_create(
            title="old", defaults={"stock": 7, "price": Decimal("5.00")}, tracking_info_=INFO
        )
    call = received.only("update")
    assert (found, created) == (book, False)
    assert (call.objects, call.tracking_info) == ([ModifiedObject(book, {"stock": 1})], INFO)
    assert call.objects[0].instance.stock == 7


def test_update_or_create_without_change_sends_nothing(book, received):
    with received.committing():
        Book.objects.update_or_create(title="old", defaults={"stock": 1})
    assert received.calls == []


# async twins: on_commit runs at the real commit (autocommit here)


@pytest.mark.django_db(transaction=True)
def test_acreate(received):
    with received.committing():
        book = run(lambda: Book.objects.acreate(title="a", tracking_info_=INFO))
    call = received.only("create")
    assert (call.objects, call.tracking_info) == ([ModifiedObject(book, {})], INFO)


@pytest.mark.django_db(transaction=True)
def test_asave(book, received):
    async def rename():
        book.title = "new"
        await book.asave(tracking_info_=INFO)
        await Book(title="fresh").asave()

    with received.committing():
        run(rename)
    assert [c.kind for c in received.calls] == ["update", "create"]
    update, create = received.calls
    assert (update.objects, update.tracking_info) == ([ModifiedObject(book, {"title": "old"})], INFO)
    assert create.objects[0].instance.title == "fresh"
    assert create.tracking_info is None


@pytest.mark.django_db(transaction=True)
def test_aget_or_create(book, received):
    with received.committing():
        found, created = run(lambda: Book.objects.aget_or_create(title="old", tracking_info_=INFO))
    assert (found, created, received.calls) == (book, False, [])
    with received.committing():
        new, created = run(lambda: Book.objects.aget_or_create(title="new", tracking_info_=INFO))
    call = received.only("create")
    assert (created, call.objects, call.tracking_info) == (True, [ModifiedObject(new, {})], INFO)


@pytest.mark.django_db(transaction=True)
def test_aupdate_or_create(book, received):
    def aupdate_or_create(title, stock):
        return run(lambda: Book.objects.aupdate_or_create(title=title, defaults={"stock": stock}, tracking_info_=INFO))

    with received.committing():
        _, created = aupdate_or_create("old", 7)
        new, created_new = aupdate_or_create("new", 3)
    assert (created, created_new) == (False, True)
    assert [c.kind for c in received.calls] == ["update", "create"]
    assert received.calls[0].objects == [ModifiedObject(book, {"stock": 1})]
    assert received.calls[1].objects == [ModifiedObject(new, {})]
    assert [c.tracking_info for c in received.calls] == [INFO, INFO]


# transactions


@pytest.mark.django_db(transaction=True)
def test_delivered_when_the_outer_block_commits(book, received):
    with received.committing(), transaction.atomic():
        book.title = "new"
        book.save()
        with transaction.atomic():
            created = Book.objects.create(title="inner")
        assert received.calls == []
    assert [c.kind for c in received.calls] == ["update", "create"]
    assert received.calls[0].objects == [ModifiedObject(book, {"title": "old"})]
    assert received.calls[1].objects == [ModifiedObject(created, {})]


class RollbackError(Exception):
    pass


def save_create_and_roll_back(book):
    with transaction.atomic():
        book.title = "rolled back"
        book.save()
        Book.objects.create(title="rolled back")
        raise RollbackError


@pytest.mark.django_db(transaction=True)
def test_rolled_back_savepoint_delivers_nothing_of_its_own(book, received):
    with received.committing(), transaction.atomic():
        outer = Book.objects.create(title="outer")
        with pytest.raises(RollbackError):
            save_create_and_roll_back(book)
    assert received.only("create").objects == [ModifiedObject(outer, {})]
    assert sorted(Book.objects.values_list("title", flat=True)) == ["old", "outer"]


@pytest.mark.django_db(transaction=True)
def test_rollback_delivers_nothing(book, received):
    with received.committing(), pytest.raises(RollbackError):
        save_create_and_roll_back(book)
    assert received.calls == []
    assert list(Book.objects.values_list("title", flat=True)) == ["old"]
