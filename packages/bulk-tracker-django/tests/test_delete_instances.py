"""Deleting an instance that is not the row it names: deferred, never fetched, changed in memory.

The reported row is the row as stored when deleted; the delete itself is plain Django's (the
untracked twin ``PlainLedger`` is the oracle for the rows left and the return value).
"""

from decimal import Decimal

import pytest
from django.db.models.signals import post_delete as django_post_delete
from helpers import connected

from testapp.models import Book, Ledger, PlainLedger, Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def twins():
    tracked = Ledger.objects.create(label="kept", qty=3, amount=Decimal("1.50"), data={"a": 1})
    plain = PlainLedger.objects.create(label="kept", qty=3, amount=Decimal("1.50"), data={"a": 1})
    return tracked.pk, plain.pk


def stored(model):
    return list(model.objects.order_by("pk").values_list("label", "qty", "amount", "data"))


def reported(call):
    return [(o.instance.pk, o.instance.label, o.instance.qty, o.instance.amount, o.instance.data) for o in call.objects]


@pytest.mark.parametrize(
    "load",
    [
        pytest.param(lambda model, pk: model.objects.only("id").get(pk=pk), id="only-id"),
        pytest.param(lambda model, pk: model.objects.defer("label", "data").get(pk=pk), id="deferred"),
        pytest.param(lambda model, pk: model(pk=pk), id="never-fetched"),
        pytest.param(lambda model, pk: model(pk=pk, label="in memory", qty=99), id="changed-in-memory"),
    ],
)
def test_deleting_an_instance_reports_the_row_as_stored(twins, received, load):
    tracked_pk, plain_pk = twins
    expected = load(PlainLedger, plain_pk).delete()
    with received.committing():
        result = load(Ledger, tracked_pk).delete()
    assert result == (expected[0], {"testapp.Ledger": 1})
    assert expected == (1, {"testapp.PlainLedger": 1})
    assert stored(Ledger) == stored(PlainLedger) == []
    call = received.only("delete")
    assert reported(call) == [(tracked_pk, "kept", 3, Decimal("1.50"), {"a": 1})]
    assert call.objects[0].changed_values == {}


def test_an_instance_with_no_row_deletes_nothing_and_reports_nothing(received):
    # The oracle is Django with a post_delete receiver (no fast delete), as our bridge makes it: its
    # slow path leaves a model that deleted nothing out of the counts, where the fast path says 0.
    with connected(django_post_delete, lambda **kwargs: None, sender=PlainLedger):
        expected = PlainLedger(pk=4242).delete()
    with received.committing():
        result = Ledger(pk=4242).delete()
    assert expected == result == (0, {})
    assert received.calls == []


def test_a_deferred_instance_with_a_cascade_reports_every_row_as_stored(received):
    book = Book.objects.create(title="t", stock=7)
    review = Review.objects.create(book=book, text="r")
    with received.committing():
        result = Book.objects.only("id").get(pk=book.pk).delete()
    assert result == (2, {"testapp.Review": 1, "testapp.Book": 1})
    assert [(c.kind, c.sender.__name__) for c in received.calls] == [("delete", "Review"), ("delete", "Book")]
    assert [(o.instance.pk, o.instance.text) for o in received.calls[0].objects] == [(review.pk, "r")]
    assert [(o.instance.pk, o.instance.title, o.instance.stock) for o in received.calls[1].objects] == [
        (book.pk, "t", 7)
    ]
