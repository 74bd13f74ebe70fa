"""Drop-in behaviour of the tracked manager and queryset, against plain Django and django-bulk-tracker 0.2.1."""

import datetime
from decimal import Decimal

import django
import pytest
from django.core.management import call_command
from django.db import connection, models, transaction
from django.db.migrations.writer import MigrationWriter
from django.db.models import F
from helpers import sql_of

from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.managers import BulkTrackerManager, BulkTrackerQuerySet
from testapp.models import Article, Author, Book, BookQuerySet, Ledger, Note, PlainLedger

pytestmark = pytest.mark.django_db

LEDGER_FIELDS = ["label", "day", "at", "amount", "qty", "ratio", "data"]


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
    assert not Book.objects.use_in_migrations
    assert not Author.objects.use_in_migrations


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


# --- 3. bulk_update() delivers fresh instances of the rows as stored ---

STARTING = {
    "label": "old",
    "day": datetime.date(2000, 1, 1),
    "at": datetime.datetime(2000, 1, 1, 12, tzinfo=datetime.timezone.utc),
    "amount": Decimal("1.00"),
    "qty": 1,
    "ratio": 0.5,
    "data": {"k": "old"},
}


def twins():
    return Ledger.objects.create(**STARTING), PlainLedger.objects.create(**STARTING)


def assign(objs, **values):
    for obj in objs:
        for name, value in values.items():
            setattr(obj, name, value)


def tracked_and_plain_bulk_update(received, objs, fields, **values):
    """bulk_update() of ``objs`` (tracked, plain) with ``values`` given to both; the statements of each."""
    assign(objs, **values)
    tracked, plain = objs
    with received.committing():
        ours = sql_of(lambda: Ledger.objects.bulk_update([tracked], fields))
    djangos = sql_of(lambda: PlainLedger.objects.bulk_update([plain], fields))
    return ours, djangos


def test_values_given_as_strings_and_ints_are_delivered_as_each_field_stores_them(received):
    objs = twins()
    values = {
        "label": 12,  # a CharField stores "12"
        "day": "1999-12-31",
        "at": "2001-02-03T04:05:06+02:00",
        "amount": Decimal("3"),  # stored with the column's two places
        "qty": "7",
        "ratio": 2,  # a FloatField stores 2.0
        "data": {"k": ("a", 1)},  # JSON has no tuples
    }
    ours, djangos = tracked_and_plain_bulk_update(received, objs, LEDGER_FIELDS, **values)
    [changed] = received.only("update").objects
    stored = Ledger.objects.get(pk=objs[0].pk)
    assert typed(changed.instance) == typed(stored) == typed(PlainLedger.objects.get(pk=objs[1].pk))
    assert field_values(changed.instance) == [
        "12",
        datetime.date(1999, 12, 31),
        datetime.datetime(2001, 2, 3, 2, 5, 6, tzinfo=datetime.timezone.utc),
        Decimal("3.00"),
        7,
        2.0,
        {"k": ["a", 1]},
    ]
    assert changed.changed_values == STARTING
    assert len(ours) == len(djangos) + 1  # the locked read of the old rows, nothing more


def test_the_callers_objects_are_left_as_django_leaves_them(received):
    objs = twins()
    data = {"k": ["new"]}
    tracked_and_plain_bulk_update(received, objs, ["day", "data"], day="1999-12-31", data=data)
    tracked, plain = objs
    assert [tracked.day, tracked.data] == [plain.day, plain.data] == ["1999-12-31", {"k": ["new"]}]
    assert tracked.data is data
    [changed] = received.only("update").objects
    assert changed.instance is not tracked
    data["k"].append("changed after the write")
    assert changed.instance.data == {"k": ["new"]}


@pytest.mark.django_db(transaction=True)
def test_a_change_of_the_callers_object_before_the_commit_is_not_delivered(received):
    ledger = Ledger.objects.create(qty=1)
    with received.committing(), transaction.atomic():
        ledger.qty = 5
        Ledger.objects.bulk_update([ledger], ["qty"])
        ledger.qty = 6  # not saved
    [changed] = received.only("update").objects
    assert (changed.instance.qty, changed.changed_values) == (5, {"qty": 1})


def test_a_value_equal_to_the_stored_one_is_not_a_change(received):
    objs = twins()
    same = {"label": "old", "day": "2000-01-01", "amount": Decimal("1"), "qty": "1", "data": {"k": "old"}}
    ours, djangos = tracked_and_plain_bulk_update(received, objs, list(same), **same)
    assert received.calls == []
    assert len(ours) == len(djangos) + 1


def test_a_string_date_that_changes_reports_the_old_date(received):
    unchanged, changed_row = Ledger.objects.create(**STARTING), Ledger.objects.create(**STARTING)
    unchanged.day, changed_row.day = "2000-01-01", "1999-12-31"
    with received.committing():
        Ledger.objects.bulk_update([unchanged, changed_row], ["day"])
    [changed] = received.only("update").objects
    assert changed == ModifiedObject(changed_row, {"day": datetime.date(2000, 1, 1)})
    assert changed.instance.day == datetime.date(1999, 12, 31)


# A row re-read after the write costs one statement where RETURNING did not already give it.
REREAD = 0 if connection.vendor == "postgresql" else 1


def test_a_decimal_the_database_rounds_is_delivered_as_stored(received):
    objs = twins()
    ours, djangos = tracked_and_plain_bulk_update(received, objs, ["amount"], amount=Decimal("2.3456"))
    [changed] = received.only("update").objects
    stored = Ledger.objects.get(pk=objs[0].pk).amount
    assert stored == PlainLedger.objects.get(pk=objs[1].pk).amount == Decimal("2.35")
    assert (repr(changed.instance.amount), changed.changed_values) == (repr(stored), {"amount": Decimal("1.00")})
    assert len(ours) == len(djangos) + 1  # not a tie: every backend rounds it alike, no read after


def test_a_decimal_the_database_rounds_to_the_stored_value_is_not_a_change(received):
    objs = twins()
    ours, djangos = tracked_and_plain_bulk_update(received, objs, ["amount"], amount=Decimal("1.0012"))
    assert PlainLedger.objects.get(pk=objs[1].pk).amount == Decimal("1.00")
    assert received.calls == []
    assert len(ours) == len(djangos) + 1


def test_deferred_objects_cost_no_extra_read(received):
    Ledger.objects.create(**STARTING)
    PlainLedger.objects.create(**STARTING)
    tracked, plain = Ledger.objects.only("qty").get(), PlainLedger.objects.only("qty").get()
    ours, djangos = tracked_and_plain_bulk_update(received, (tracked, plain), ["qty"], qty=2)
    [changed] = received.only("update").objects
    assert field_values(changed.instance) == field_values(Ledger.objects.get())
    assert len(ours) == len(djangos) + 1


def test_the_callers_filters_apply_as_in_djangos_bulk_update(received):
    alive, gone = Article.objects.create(title="a"), Article.objects.create(title="b", is_deleted=True)
    plain = models.QuerySet(Article).filter(is_deleted=False)
    assert plain.bulk_update([Article(pk=gone.pk, title="plain")], ["title"]) == 0
    alive.title, gone.title = "A", "B"
    with received.committing():
        assert Article.objects.bulk_update([alive, gone], ["title"]) == 1  # the default manager hides ``gone``
    assert received.only("update").objects == [ModifiedObject(alive, {"title": "a"})]
    assert list(Article.all_objects.order_by("pk").values_list("title", flat=True)) == ["A", "b"]


def test_objects_whose_rows_the_queryset_does_not_match_count_zero_as_in_django(received):
    gone = Article.objects.create(title="b", is_deleted=True)
    gone.title = "B"
    plain = models.QuerySet(Article).filter(is_deleted=False)
    assert plain.bulk_update([gone], ["title"]) == 0
    with received.committing():
        assert Article.objects.bulk_update([gone], ["title"]) == 0
        assert Article.objects.bulk_update([Article(pk=10**9, title="missing")], ["title"], batch_size=1) == 0
    assert received.calls == []
    assert Article.all_objects.get().title == "b"


@pytest.mark.skipif(django.VERSION < (5, 0), reason="GeneratedField is Django 5.0+")
def test_a_generated_field_is_delivered_as_the_database_computed_it(received):
    from testapp.models import Gauge

    gauges = [Gauge.objects.create(qty=1), Gauge.objects.create(qty=2)]
    gauges[0].qty, gauges[1].qty = 5, 2  # the second row keeps its value
    with received.committing():
        statements = sql_of(lambda: Gauge.objects.bulk_update(gauges, ["qty"]))
    [changed] = received.only("update").objects
    assert (changed.instance.qty, changed.instance.doubled, changed.changed_values) == (5, 10, {"qty": 1})
    assert gauges[0].doubled == 2  # the caller's object, as Django leaves it
    djangos = sql_of(lambda: models.QuerySet(Gauge).bulk_update(gauges, ["qty"]))
    assert len(statements) == len(djangos) + 1 + REREAD


class _CountingDeleteQuerySet(models.QuerySet):
    """A user's queryset mixin whose delete() does its own work, then Django's."""

    deletes: list[int] = []

    def delete(self):
        self.deletes.append(self.count())
        return super().delete()


def test_queryset_delete_runs_a_mixin_after_ours_in_the_mro(received):
    mixed = type("MixedQuerySet", (BulkTrackerQuerySet, _CountingDeleteQuerySet), {})
    author = Author.objects.create(name="a")
    Book.objects.create(title="x", author=author)
    _CountingDeleteQuerySet.deletes = []
    with received.committing():
        result = mixed(model=Author).filter(pk=author.pk).delete()
    assert _CountingDeleteQuerySet.deletes == [1]  # the mixin ran, as with Django's own queryset
    assert result == (2, {"testapp.Book": 1, "testapp.Author": 1})
    assert sorted((c.kind, c.sender._meta.label) for c in received.calls) == [
        ("delete", "testapp.Author"),
        ("delete", "testapp.Book"),
    ]
    assert not Author.objects.filter(pk=author.pk).exists()
