"""PostgreSQL's bulk_update() fast path writes exactly what Django's own bulk_update() writes.

Django's own method on an untracked twin (or on the same filtering queryset) is the oracle: the
rows it stores and the count it returns. On the other backends both run Django's statements.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from helpers import sql_of

from bulk_tracker import rows
from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Article, Author, Book, Ledger, PlainLedger

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
    with received.committing():
        assert Book.objects.bulk_update(books, ["title"]) == 2
    assert [o.instance.pk for o in received.only("update").objects] == [books[0].pk, books[2].pk]


AT = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
LEDGER_FIELDS = ["label", "day", "at", "amount", "qty", "ratio", "data"]
LEDGER_NEW = [
    {"label": "é 'q'", "day": datetime.date(2026, 2, 3), "amount": Decimal("1.005"), "ratio": 1e300, "data": [None]},
    {"label": "", "day": None, "at": None, "amount": Decimal("-0.50"), "qty": 0, "data": "a JSON string"},
    # equal to what is stored (the label aside): no change
    {"amount": Decimal("4.000"), "at": AT.astimezone(datetime.timezone(datetime.timedelta(hours=5))), "data": {"i": 4}},
]


def make_ledgers(model):
    return [
        model.objects.create(
            label=f"r{i}", day=datetime.date(2026, 1, i), at=AT, amount=i, qty=i, ratio=i, data={"i": i}
        )
        for i in range(1, 5)
    ]


def stored(model):
    return list(model.objects.order_by("pk").values_list(*LEDGER_FIELDS))


def result_and_sql_of(run):
    """What ``run()`` returns, and its statements (``sql_of``)."""
    results = []
    statements = sql_of(lambda: results.append(run()))
    return results[0], statements


def test_filtered_queryset_stores_and_counts_as_djangos_on_a_plain_twin(received):
    ours, theirs = make_ledgers(Ledger), make_ledgers(PlainLedger)
    for objs in (ours, theirs):
        for obj, values in zip(objs[1:], LEDGER_NEW, strict=True):  # objs[0] is outside the filter
            for name, value in values.items():
                setattr(obj, name, value)
            obj.label += "!" if obj.qty == 4 else ""
    with received.committing():
        count, statements = result_and_sql_of(
            lambda: Ledger.objects.filter(qty__gte=2).bulk_update(ours, LEDGER_FIELDS)
        )
    assert count == PlainLedger.objects.filter(qty__gte=2).bulk_update(theirs, LEDGER_FIELDS) == 3
    assert stored(Ledger) == stored(PlainLedger)
    assert stored(Ledger)[0] == ("r1", datetime.date(2026, 1, 1), AT, Decimal("1.00"), 1, 1.0, {"i": 1})
    if connection.vendor == "postgresql":
        [read, update] = statements
        assert read.startswith("SELECT")
        assert read.endswith('FOR UPDATE OF "testapp_ledger"')
        assert update.startswith('UPDATE "testapp_ledger" SET "label" = v."label", "day" = v."day"')
        assert 'WHERE "testapp_ledger"."id" = v."id" AND ("testapp_ledger"."qty" >= 2) RETURNING' in update
    day = datetime.date
    assert [(o.instance.pk, o.changed_values) for o in received.only("update").objects] == [
        (
            ours[1].pk,
            {"label": "r2", "day": day(2026, 1, 2), "amount": Decimal("2.00"), "ratio": 2.0, "data": {"i": 2}},
        ),
        (
            ours[2].pk,
            {"label": "r3", "day": day(2026, 1, 3), "at": AT, "amount": Decimal("3.00"), "qty": 3, "data": {"i": 3}},
        ),
        (ours[3].pk, {"label": "r4"}),
    ]
    assert [rows.attribute_values(o.instance, LEDGER_FIELDS) for o in received.calls[0].objects] == [
        dict(zip(LEDGER_FIELDS, row, strict=True)) for row in stored(Ledger)[1:]
    ]


def test_filtering_default_manager_hides_rows_as_in_djangos_bulk_update(received):
    live, gone = Article.objects.create(title="live"), Article.objects.create(title="gone", is_deleted=True)
    live2, gone2 = Article.objects.create(title="live"), Article.objects.create(title="gone", is_deleted=True)
    for article in (live, gone, live2, gone2):
        article.title = "new"
    with received.committing():
        assert Article.objects.bulk_update([live, gone], ["title"]) == 1
    assert models.QuerySet.bulk_update(Article.objects.all(), [live2, gone2], ["title"]) == 1  # Django's own
    titles = dict(Article.all_objects.values_list("pk", "title"))
    assert [titles[a.pk] for a in (live, gone)] == [titles[a.pk] for a in (live2, gone2)] == ["new", "gone"]
    [changed] = received.only("update").objects
    assert changed == ModifiedObject(live, {"title": "live"})
    assert changed.instance.title == "new"


def test_filter_across_a_join_writes_what_djangos_writes(received):
    ours = make_books("ours")
    theirs = make_books("theirs")
    other = Author.objects.create(name="other")
    for books in (ours, theirs):
        books[2].author = other
        books[2].save()
        for book in books:
            book.stock, book.author = 7, other  # writing the joined column too
    with received.committing():
        count, statements = result_and_sql_of(
            lambda: Book.objects.filter(author__name="shared").bulk_update(ours, ["stock", "author"])
        )
    django = models.QuerySet(Book).filter(author__name="shared").bulk_update(theirs, ["stock", "author"])
    assert count == django == 2
    state = dict(Book.objects.values_list("pk", "stock"))
    assert [state[b.pk] for b in ours] == [state[b.pk] for b in theirs] == [7, 7, 0]
    if connection.vendor == "postgresql":
        where = statements[1].split(" WHERE ", 1)[1]
        assert where.startswith('"testapp_book"."id" = v."id" AND ("testapp_book"."id" IN (SELECT ')
        assert 'INNER JOIN "testapp_author"' in where
    shared = Author.objects.get(name="shared").pk
    assert [o.changed_values for o in received.only("update").objects] == [
        {"stock": 0, "author_id": shared},
        {"stock": 0, "author_id": shared},
    ]


def test_exactly_is_one_array_parameter_on_postgresql():
    books = make_books("x")
    pks = [books[2].pk, books[0].pk]
    [queryset] = rows.exactly(Book, "default", pks)
    sql, params = queryset.query.sql_with_params()
    if connection.vendor == "postgresql":
        assert sql.endswith('WHERE "testapp_book"."id" = ANY(%s)')
        assert params == (pks,)
    assert sorted(book.pk for book in queryset) == sorted(pks)
