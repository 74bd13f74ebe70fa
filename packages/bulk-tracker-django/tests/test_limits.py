"""What is not promised (docs/guarantees.md), pinned so that a change of behaviour is a decision."""

from __future__ import annotations

import pytest
from django.db import connection, models, transaction
from django.db.models import F

from bulk_tracker import suspended
from testapp.models import Book, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    return Book.objects.create(title="t", stock=1)


def test_save_reports_the_old_values_its_field_tracker_saw(book, received):
    """save() costs Django's statements only: old values are those the instance was loaded with."""
    stale = Book.objects.get(pk=book.pk)
    Book.objects.filter(pk=book.pk).update(stock=7)  # not seen by ``stale``
    with received.committing():
        stale.stock = 9
        stale.save(update_fields=["stock"])
    assert received.only("update").objects[0].changed_values == {"stock": 1}  # the row held 7


def test_save_of_an_expression_reports_the_instance_as_django_leaves_it(book, received):
    """Before Django 6.1 the attribute stays the expression until refresh_from_db(); 6.1 reads it back."""
    plain = Book.objects.create(title="plain", stock=1)
    plain.stock = F("stock") + 1
    models.Model.save(plain)
    with received.committing():
        book.stock = F("stock") + 1
        book.save()
    [changed] = received.only("update").objects
    assert changed.changed_values == {"stock": 1}
    assert repr(changed.instance.stock) == repr(plain.stock)


@pytest.mark.django_db(transaction=True)
def test_save_reports_the_callers_object_as_it_is_at_commit(book, received):
    """save() reports the caller's own object, read by receivers after the commit (bulk_update() does not)."""
    with received.committing(), transaction.atomic():
        book.stock = 5
        book.save()
        book.stock = 6  # not saved, but the same object
    [changed] = received.only("update").objects
    assert changed.changed_values == {"stock": 1}
    assert changed.instance is book
    assert changed.instance.stock == 6


def test_raw_sql_untracked_querysets_and_suspended_blocks_are_not_seen(book, received):
    with received.committing():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Book._meta.db_table} SET stock = 2")
        models.QuerySet(Book).update(stock=3)
        models.QuerySet(Tag).bulk_create([Tag(name="plain")])
        with suspended():
            Book.objects.update(stock=4)
            book.delete()
    assert received.calls == []
