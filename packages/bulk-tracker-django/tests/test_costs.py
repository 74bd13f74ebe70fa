"""Statements a tracked operation issues, against Django's own."""

import django
import pytest
from django.db import connection, models
from django.db.models import F
from helpers import UPDATE_STATEMENTS, sql_of

from bulk_tracker import suspended
from bulk_tracker.backends import deletes_returning
from testapp.models import Author, Book, Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_books():
    def make(n: int) -> None:
        author = Author.objects.create(name="a")
        with suspended():
            Book.objects.bulk_create(Book(title=f"b{i}", stock=i % 3, author=author) for i in range(n))

    return make


@pytest.mark.parametrize("rows", [10, 5000])  # 5,000: RETURNING rows are read in parts of 2,000
def test_tracked_update_costs_the_same_statements_whatever_the_rows(make_books, received, rows):
    make_books(rows)
    before = dict(Book.objects.filter(stock__lt=2).values_list("pk", "stock"))
    with received.committing():
        statements = sql_of(lambda: Book.objects.filter(stock__lt=2).update(stock=F("stock") + 1))
    assert len(statements) == UPDATE_STATEMENTS[connection.vendor]
    objects = received.only("update").objects
    assert len(before) == len([i for i in range(rows) if i % 3 < 2])
    assert [(o.instance.pk, o.instance.stock, o.changed_values) for o in objects] == [
        (pk, stock + 1, {"stock": stock}) for pk, stock in sorted(before.items())
    ]


@pytest.mark.parametrize("rows", [10, 5000])
def test_an_update_to_values_every_row_holds_reads_nothing_back(make_books, received, rows):
    """The locked read, then Django's UPDATE of the rows read: no RETURNING, no read of the new rows, no call."""
    make_books(rows)
    counts = []
    with received.committing():
        statements = sql_of(
            lambda: counts.append(Book.objects.filter(stock=0).update(stock=0, author_id=F("author_id")))
        )
    with received.committing():
        held = sql_of(lambda: counts.append(Book.objects.filter(stock=0).update(stock=0)))
    matched = len([i for i in range(rows) if i % 3 == 0])
    assert counts == [matched, matched]
    assert len(statements) == UPDATE_STATEMENTS[connection.vendor]  # an expression: the rows are read back
    if connection.vendor == "postgresql":  # the one statement reads and writes, whatever the values
        assert len(held) == 1
        assert held[0].startswith("UPDATE")
    else:
        assert held[0].startswith("SELECT")
        assert held[1:]
        assert all(s.startswith("UPDATE") and "RETURNING" not in s for s in held[1:])
    assert received.calls == []
    assert Book.objects.filter(stock=0).count() == matched


def test_untracked_update_is_djangos_own_sql(make_books):
    make_books(20)

    ours = sql_of(lambda: Book.objects.filter(stock=1, author__name="a").update(stock=F("stock") + 1))
    django = sql_of(lambda: models.QuerySet(Book).filter(stock=1, author__name="a").update(stock=F("stock") + 1))
    assert ours == django


def test_suspended_update_is_djangos_own_sql(make_books, received):
    make_books(20)
    with received.committing(), suspended():
        ours = sql_of(lambda: Book.objects.filter(stock=1).update(stock=5))
    django = sql_of(lambda: models.QuerySet(Book).filter(stock=5).update(stock=1))
    assert len(ours) == len(django) == 1
    assert received.calls == []


def make_authors(n: int) -> None:
    with suspended():
        authors = Author.objects.bulk_create(Author(name=f"a{i}") for i in range(n))
        books = Book.objects.bulk_create(Book(title=f"b{i}", author=a) for i, a in enumerate(authors))
        Review.objects.bulk_create(Review(book=b, author=b.author) for b in books)


def test_untracked_delete_is_djangos_own_sql():
    make_authors(6)
    ours = sql_of(lambda: Author.objects.filter(name__in=["a0", "a1", "a2"]).delete())
    django = sql_of(lambda: models.QuerySet(Author).filter(name__in=["a3", "a4", "a5"]).delete())
    assert len(ours) == len(django)
    assert [s.split(" WHERE")[0] for s in ours] == [s.split(" WHERE")[0] for s in django]


def _table_read(sql: str) -> str:
    """A SELECT by the table it reads (a reported table is read whole, Django may read only the pk)."""
    return "SELECT FROM " + sql.split(" FROM ")[1].split(" WHERE")[0]


@pytest.mark.parametrize("rows", [10, 200])
def test_tracked_delete_keeps_djangos_fast_deletes_and_reads_what_it_reports(capture_signals, rows):
    make_authors(2 * rows)
    pks = list(Author.objects.order_by("pk").values_list("pk", flat=True))
    with capture_signals() as captured:
        ours = sql_of(lambda: Author.objects.filter(pk__in=pks[:rows]).delete())
    assert [(c.sender, len(c.objects)) for c in captured.calls] == [(Review, rows), (Author, rows), (Book, rows)]
    django = sql_of(lambda: models.QuerySet(Author).filter(pk__in=pks[rows:]).delete())  # no listener at all
    # Django's own statements, the reviews fast-deleted by two DELETEs as without a listener; each of
    # those hands back what it removed (RETURNING), and where the backend has row locks the collected
    # rows it reports (authors, books) are read again under lock before the writes (test_concurrency.py).
    locked = [q for q in ours if " FOR UPDATE" in q]
    assert len(locked) == (2 if connection.features.has_select_for_update else 0)
    returning = [q for q in ours if q.startswith("DELETE") and " RETURNING " in q]
    assert len(returning) == (2 if deletes_returning(connection.alias) else 0)
    assert all(q.startswith(f"DELETE FROM {connection.ops.quote_name('testapp_review')}") for q in returning)

    def shape(sql: str) -> str:
        return _table_read(sql) if sql.startswith("SELECT") else sql.split(" WHERE")[0]

    assert [shape(q) for q in ours if q not in locked] == [shape(q) for q in django]


def test_set_null_adds_one_read_per_related_batch(received):
    from testapp.models import Critic

    Critic.objects.create(name="anonymous")
    harsh = Critic.objects.create(name="harsh")
    make_authors(50)
    Review.objects.update(critic=harsh)
    with received.committing():
        statements = sql_of(harsh.delete)
    assert [(c.kind, len(c.objects)) for c in received.calls] == [("update", 50), ("delete", 1)]
    # the reviews of each SET_* relation read whole (3), one UPDATE for the rows that point at it, DELETE;
    # where the backend has row locks, the critic and the reviews re-read under a lock, once each
    # Django 4.2 itself calls SET(anonymous_critic) with no fallback review to set: its SELECT of the critic
    djangos_own = 1 if django.VERSION < (5, 0) else 0
    assert len(statements) == (7 if connection.features.has_select_for_update else 5) + djangos_own
