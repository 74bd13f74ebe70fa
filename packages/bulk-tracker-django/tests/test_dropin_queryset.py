"""Drop-in behaviour of the tracked manager and queryset, against plain Django and django-bulk-tracker 0.2.1."""

import datetime
from decimal import Decimal

import django
import pytest
from django.core.management import call_command
from django.db import connection, models, transaction
from django.db.models import F
from django.db.migrations.writer import MigrationWriter
from django.test.utils import CaptureQueriesContext

from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.managers import BulkTrackerManager, BulkTrackerQuerySet
from testapp.models import Article, Author, Book, BookQuerySet, Ledger, Note, PlainLedger

pytestmark = pytest.mark.django_db

LEDGER_FIELDS = ["label", "day", "at", "amount", "qty", "ratio", "data"]


def sql_of(run):
    with CaptureQueriesContext(connection) as queries:
        run()
    return [query["sql"] for query in queries]


def field_values(obj, names=LEDGER_FIELDS):
    return [getattr(obj, name) for name in names]


def typed(obj, names=LEDGER_FIELDS):
    """Each value with its exact type and form: Decimal("3") and Decimal("3.00") differ here."""
    return [(type(value), repr(value)) for value in field_values(obj, names)]


# --- 1. BulkTrackerManager is a models.Manager ---


def test_every_way_of_making_the_manager_is_a_django_manager():
    class Ours(BulkTrackerQuerySet):
        pass

    made = {
        "BulkTrackerManager()": Author.objects,
        "BulkTrackerManager.from_queryset(BookQuerySet)()": Book.objects,
        "BulkTrackerQuerySet.as_manager()": Note.objects,
        "a subclass of from_queryset()": Article.objects,
        "from_queryset() of a local queryset": BulkTrackerManager.from_queryset(Ours)(),
    }
    assert {name: isinstance(m, models.Manager) for name, m in made.items()} == dict.fromkeys(made, True)
    assert issubclass(BulkTrackerManager, models.Manager)
    assert type(Book.objects.all()) is BookQuerySet
    assert type(Author.objects.all()) is BulkTrackerQuerySet
    assert type(Note.objects.all()) is BulkTrackerQuerySet
    assert isinstance(Book.objects.cheap(), BookQuerySet)
    assert isinstance(BulkTrackerManager.from_queryset(Ours)().all(), Ours)


def test_each_manager_form_writes_tracked(received):
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="b", price=5, author=author)
    note = Note.objects.create(text="n")
    received.calls.clear()
    with received.committing():
        Author.objects.update(name="A")
        Book.objects.cheap().update(stock=3)
        Note.objects.update(text="N")
    assert [(c.sender, c.objects) for c in received.of("update")] == [
        (Author, [ModifiedObject(author, {"name": "a"})]),
        (Book, [ModifiedObject(book, {"stock": 0})]),
        (Note, [ModifiedObject(note, {"text": "n"})]),
    ]


class InMigrations(BulkTrackerManager):
    use_in_migrations = True


def test_managers_serialise_for_migrations_as_before():
    assert InMigrations().deconstruct() == (False, f"{__name__}.InMigrations", None, (), {})
    assert BulkTrackerManager().deconstruct() == (False, "bulk_tracker.managers.BulkTrackerManager", None, (), {})
    assert BulkTrackerQuerySet.as_manager().deconstruct() == (
        True,
        None,
        "bulk_tracker.managers.BulkTrackerQuerySet",
        None,
        None,
    )
    assert MigrationWriter.serialize(BulkTrackerManager())[0] == "bulk_tracker.managers.BulkTrackerManager()"
    assert not Book.objects.use_in_migrations and not Author.objects.use_in_migrations


def test_makemigrations_finds_nothing_to_do():
    call_command("makemigrations", "testapp", check=True, dry_run=True, verbosity=0)  # SystemExit on changes


# --- 2. a tracked update() clears the result cache, as Django's does ---


def rows_seen_around_update(model, update):
    for qty in (1, 2, 8):
        model.objects.create(qty=qty)
    queryset = model.objects.filter(qty__lt=5).order_by("pk")
    before = [row.qty for row in queryset]  # evaluated: the rows are cached
    count = update(queryset)
    return before, count, [row.qty for row in queryset], len(queryset), bool(queryset)


@pytest.mark.parametrize(
    ("update", "delivered"),
    [
        pytest.param(lambda qs: qs.update(qty=F("qty") + 10), [(11, {"qty": 1}), (12, {"qty": 2})], id="expression"),
        pytest.param(lambda qs: qs.update(qty=4), [(4, {"qty": 1}), (4, {"qty": 2})], id="value"),
        pytest.param(lambda qs: qs.update(qty=1, label=""), [(1, {"qty": 2})], id="one-row-unchanged"),
    ],
)
def test_update_clears_the_result_cache_as_django_does(received, update, delivered):
    plain = rows_seen_around_update(PlainLedger, update)
    with received.committing():
        tracked = rows_seen_around_update(Ledger, update)
    assert tracked == plain
    assert tracked[0] == [1, 2]
    assert tracked[2] != tracked[0]  # the second iteration ran a new query
    assert [(o.instance.qty, o.changed_values) for o in received.of("update")[0].objects] == delivered
    assert [c.kind for c in received.calls] == ["create"] * 3 + ["update"]


def test_update_clears_the_result_cache_of_a_queryset_it_emptied(received):
    Ledger.objects.create(qty=1)
    PlainLedger.objects.create(qty=1)
    seen = {}
    with received.committing():
        for model in (Ledger, PlainLedger):
            queryset = model.objects.filter(qty=1)
            assert len(queryset) == 1
            queryset.update(qty=2)
            seen[model] = (list(queryset), queryset.exists(), queryset.count())
    assert seen[Ledger] == seen[PlainLedger] == ([], False, 0)
    assert len(received.only("update").objects) == 1
