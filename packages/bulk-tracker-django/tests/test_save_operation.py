"""The save operation: save() learns "Django inserted" without state on the instance."""

import pytest
from django.db import connection
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext

from bulk_tracker import suspended
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.operations import save as save_operation
from testapp.models import Author, Book

pytestmark = pytest.mark.django_db


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

    pre_save.connect(nested, sender=Book)
    try:
        with received.committing():
            book.title = "new"
            book.save()
            fresh.save()
    finally:
        pre_save.disconnect(nested, sender=Book)
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
    with received.committing(), CaptureQueriesContext(connection) as queries:
        again.save()
    first = queries[0]["sql"]
    assert first.startswith("SELECT")
    assert ("FOR UPDATE" in first) == connection.features.has_select_for_update
    assert [q["sql"].split()[0] for q in queries[1:]] == ["UPDATE"]
    assert received.only("update").objects == [ModifiedObject(again, {"title": "old"})]
