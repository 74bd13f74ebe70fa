"""Statements a tracked operation issues, against Django's own."""

import pytest
from django.db import connection, models
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from bulk_tracker import suspended
from testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def sql_of(operation) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        operation()
    return [q["sql"] for q in queries]


@pytest.fixture
def make_books():
    def make(n: int) -> None:
        author = Author.objects.create(name="a")
        with suspended():
            Book.objects.bulk_create(Book(title=f"b{i}", stock=i % 3, author=author) for i in range(n))

    return make


@pytest.mark.parametrize("rows", [10, 1000])
def test_tracked_update_costs_three_statements_whatever_the_rows(make_books, received, rows):
    make_books(rows)
    with received.committing():
        statements = sql_of(lambda: Book.objects.filter(stock__lt=2).update(stock=F("stock") + 1))
    assert len(statements) == 3  # read old values (locked), UPDATE, read the changed rows
    assert len(received.only("update").objects) == len([i for i in range(rows) if i % 3 < 2])


def test_untracked_update_is_djangos_own_sql(make_books):
    make_books(20)

    ours = sql_of(lambda: Book.objects.filter(stock=1, author__name="a").update(stock=F("stock") + 1))
    django = sql_of(lambda: models.QuerySet(Book).filter(stock=1, author__name="a").update(stock=F("stock") + 1))
    assert ours == django


def test_suspended_update_is_djangos_own_sql(make_books, received):
    make_books(20)
    with suspended():
        ours = sql_of(lambda: Book.objects.filter(stock=1).update(stock=5))
    django = sql_of(lambda: models.QuerySet(Book).filter(stock=5).update(stock=1))
    assert len(ours) == len(django) == 1
    assert received.calls == []
