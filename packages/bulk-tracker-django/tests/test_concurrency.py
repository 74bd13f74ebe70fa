"""Two transactions update the same rows at once: every reported old value is the one overwritten."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections, models, transaction
from django.db.models import F

from testapp.models import Author, Book

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not connection.features.has_select_for_update, reason="SQLite serialises writers; no row locks to test"
    ),
]

ROUNDS = 25


def hammer(errors: list[BaseException], start: threading.Barrier, update) -> None:
    try:
        start.wait()
        for _ in range(ROUNDS):
            with transaction.atomic():
                update()
    except BaseException as error:  # reported to the test thread
        errors.append(error)
    finally:
        connections.close_all()


@pytest.mark.parametrize("how", ["update", "bulk_update"])
def test_concurrent_increments_report_each_old_value_exactly_once(received, how):
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=f"b{i}", stock=0, author=author) for i in range(5))
    received.calls.clear()

    def increment() -> None:
        if how == "update":
            Book.objects.filter(author=author).update(stock=F("stock") + 1)
        else:
            books = list(Book.objects.order_by("pk"))
            for book in books:
                book.stock = F("stock") + 1
            Book.objects.bulk_update(books, ["stock"], batch_size=2)

    errors: list[BaseException] = []
    start = threading.Barrier(2)
    threads = [threading.Thread(target=hammer, args=(errors, start, increment)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    calls = received.of("update")
    assert len(calls) == 2 * ROUNDS
    olds_per_row = Counter()
    for call in calls:
        for changed in call.objects:
            olds_per_row[(changed.instance.pk, changed.changed_values["stock"])] += 1
    books = list(Book.objects.order_by("pk"))
    assert [b.stock for b in books] == [2 * ROUNDS] * 5
    # every row went 0 -> 1 -> ... -> 2*ROUNDS, and each step was reported once with its true old value
    assert olds_per_row == Counter({(b.pk, old): 1 for b in books for old in range(2 * ROUNDS)})


def test_a_row_that_starts_to_match_meanwhile_is_not_changed_unreported(received):
    matching = Book.objects.create(title="matching", stock=0)
    late = Book.objects.create(title="late", stock=5)
    received.calls.clear()

    def make_late_match() -> None:
        models.QuerySet(Book).filter(pk=late.pk).update(stock=0)
        connections.close_all()

    def between_read_and_write(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE"):
            other = threading.Thread(target=make_late_match)
            other.start()
            other.join(timeout=30)
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(between_read_and_write):
        count = Book.objects.filter(stock=0).update(stock=9)

    assert count == 1
    assert [o.instance.pk for o in received.only("update").objects] == [matching.pk]
    assert Book.objects.get(pk=late.pk).stock == 0  # untouched, as reported
