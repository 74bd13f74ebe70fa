"""PostgreSQL's bulk_update() fast path writes exactly what Django's own bulk_update() writes."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Author, Book

pytestmark = pytest.mark.django_db

NEW_VALUES = [
    {"title": "x", "price": Decimal("1.10"), "rating": None, "data": {"a": [1, None]}, "author": None},
    {"title": "", "price": Decimal("0.00"), "rating": 2.5, "data": [], "published": None},
    {"title": "é ü 'quoted'", "price": Decimal("99.99"), "rating": 1e300, "data": "a JSON string"},
]


def make_books(prefix):
    author = Author.objects.get_or_create(name="shared")[0]
    published = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    return [
        Book.objects.create(title=f"{prefix}{i}", price=i, rating=i, data={"i": i}, author=author, published=published)
        for i in range(3)
    ]


def apply(books):
    for book, values in zip(books, NEW_VALUES, strict=True):
        for name, value in values.items():
            setattr(book, name, value)


FIELDS = ["title", "price", "rating", "data", "author", "published"]
COLUMNS = ["title", "price", "rating", "data", "author_id", "published"]


def test_stored_values_match_djangos_bulk_update(received):
    ours, django = make_books("ours"), make_books("django")
    apply(ours)
    apply(django)
    with received.committing(), CaptureQueriesContext(connection) as queries:
        assert Book.objects.bulk_update(ours, FIELDS, batch_size=2) == 3
    assert models.QuerySet(Book).bulk_update(django, FIELDS, batch_size=2) == 3
    stored = {b.pk: b for b in Book.objects.all()}
    for mine, theirs in zip(ours, django, strict=True):
        assert [getattr(stored[mine.pk], c) for c in COLUMNS] == [getattr(stored[theirs.pk], c) for c in COLUMNS]
    if connection.vendor == "postgresql":
        assert [q["sql"].split(" ")[0] for q in queries] == ["SELECT", "UPDATE", "UPDATE"]
        assert "FROM (VALUES" in queries[1]["sql"]
    [call] = received.of("update")
    shared = Author.objects.get(name="shared").pk
    assert call.objects[0] == ModifiedObject(
        ours[0], {"title": "ours0", "price": Decimal("0.00"), "rating": 0.0, "data": {"i": 0}, "author_id": shared}
    )
    assert call.objects[0].instance is not ours[0]  # the row RETURNING gave, not the caller's object
    assert [getattr(call.objects[0].instance, c) for c in COLUMNS] == [getattr(stored[ours[0].pk], c) for c in COLUMNS]


def test_missing_rows_count_as_django_counts_them(received):
    books = make_books("gone")
    Book.objects.filter(pk=books[1].pk).delete()
    for book in books:
        book.title = "new"
    received.calls.clear()
    with received.committing():
        assert Book.objects.bulk_update(books, ["title"]) == 2
    assert [o.instance.pk for o in received.only("update").objects] == [books[0].pk, books[2].pk]
