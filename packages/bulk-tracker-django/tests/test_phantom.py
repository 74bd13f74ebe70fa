"""Changes that did not happen are not reported (issue 14).

A value the column stores equal to what it holds is no change: a Decimal finer than the column's
places, a naive datetime that is the stored aware moment, a string. Every case runs beside the plain
twin (``PlainTally``, ``PlainLedger``, same columns and constraints): the tables must end up the same,
Django's return value must be the same, and what is reported must be what the database holds, as
Django reads it back.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from helpers import sql_of

from bulk_tracker import suspended
from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Ledger, PlainLedger, PlainTally, Tally

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime:RuntimeWarning"),
]

FIELDS = ("code", "slug", "active", "qty", "amount", "at")
AWARE = datetime.datetime(2024, 1, 1, 18, 30, tzinfo=datetime.timezone.utc)
NAIVE = timezone.make_naive(AWARE, timezone.get_default_timezone())  # the same moment, as Django takes it
LATER = NAIVE + datetime.timedelta(hours=1)


def target(*unique_fields):
    """``unique_fields`` of an upsert; MariaDB refuses them (every unique key is a conflict target there)."""
    return {"unique_fields": list(unique_fields)} if connection.features.supports_update_conflicts_with_target else {}


def table(model, *names):
    """Every row of ``model`` (without its pk, which each table numbers itself), in one order."""
    names = names or FIELDS
    return list(model._base_manager.order_by(*names).values_list(*names))


def twins(**values):
    """One Tally and one PlainTally row with ``values``, created untracked; each read back."""
    with suspended():
        return Tally.objects.create(**values), PlainTally.objects.create(**values)


def reread(obj):
    return type(obj)._base_manager.get(pk=obj.pk)


def test_naive_is_the_stored_moment_in_the_default_time_zone():
    assert timezone.is_naive(NAIVE)
    assert NAIVE != AWARE  # Python cannot compare them: only the column can say they are equal
    assert timezone.make_aware(NAIVE, timezone.get_default_timezone()) == AWARE


# --- 1. A Decimal the column rounds to the value it holds ---


def test_bulk_update_of_a_decimal_the_column_rounds_to_its_value_is_no_change(received):
    objs = [twins(code="same", amount=Decimal("10.00")), twins(code="new", amount=Decimal("10.00"))]
    for tracked, plain in objs[:1]:
        tracked.amount = plain.amount = Decimal("10.001")
    for tracked, plain in objs[1:]:
        tracked.amount = plain.amount = Decimal("10.456")
    with received.committing():
        count = Tally.objects.bulk_update([tracked for tracked, _ in objs], ["amount"])
    assert count == PlainTally.objects.bulk_update([plain for _, plain in objs], ["amount"]) == 2
    assert table(Tally) == table(PlainTally)
    [changed] = received.only("update").objects  # the unchanged row is left out
    stored = reread(objs[1][0])
    assert changed == ModifiedObject(stored, {"amount": Decimal("10.00")})
    assert repr(changed.instance.amount) == repr(stored.amount) == repr(Decimal("10.46"))


def test_bulk_update_of_a_tie_reads_the_rows_back_as_each_database_rounds_them(received):
    """Half a cent: PostgreSQL and MariaDB round it away from zero, SQLite to even. Only a read can tell."""
    objs = [twins(code="a", amount=Decimal("10.00")), twins(code="b", amount=Decimal("10.02"))]
    for (tracked, plain), amount in zip(objs, (Decimal("10.005"), Decimal("10.015")), strict=True):
        tracked.amount = plain.amount = amount
    with received.committing():
        ours = sql_of(lambda: Tally.objects.bulk_update([tracked for tracked, _ in objs], ["amount"]))
    djangos = sql_of(lambda: PlainTally.objects.bulk_update([plain for _, plain in objs], ["amount"]))
    assert table(Tally) == table(PlainTally)
    expected = [
        ModifiedObject(stored, {"amount": old})
        for stored, old in ((reread(objs[0][0]), Decimal("10.00")), (reread(objs[1][0]), Decimal("10.02")))
        if stored.amount != old
    ]
    reported = [o for call in received.of("update") for o in call.objects]
    assert reported == expected
    assert [repr(o.instance.amount) for o in reported] == [repr(o.instance.amount) for o in expected]
    assert len(ours) == len(djangos) + 1 + (0 if connection.vendor == "postgresql" else 1)  # RETURNING, or a read


def test_update_to_a_decimal_the_column_rounds_to_its_value_is_no_change(received):
    twins(code="a", amount=Decimal("10.00"))
    with received.committing():
        assert Tally.objects.update(amount=Decimal("10.001")) == 1
    assert PlainTally.objects.update(amount=Decimal("10.001")) == 1
    assert table(Tally) == table(PlainTally)
    assert received.calls == []


@pytest.mark.parametrize("amount", [Decimal("10.001"), "10.001", "10.00", 10.001, Decimal("9.999")])
def test_upsert_of_a_value_the_column_stores_as_it_holds_is_no_change(received, amount):
    twins(code="a", amount=Decimal("10.00"))

    def upsert(model):
        objs = [model(code="a", amount=amount), model(code="b", amount=amount)]
        options = {"update_conflicts": True, "update_fields": ["amount"], **target("code")}
        return objs, model.objects.bulk_create(objs, **options)

    with received.committing():
        objs, result = upsert(Tally)
    plain_objs, plain_result = upsert(PlainTally)
    assert result == objs
    assert plain_result == plain_objs
    assert table(Tally) == table(PlainTally)
    assert Tally.objects.get(code="a").amount == Decimal("10.00")
    [created] = received.only("create").objects  # the existing row: no update
    assert created.instance is objs[1]


def test_upsert_reports_the_decimal_as_the_column_rounded_it(received):
    existing, _ = twins(code="a", amount=Decimal("10.00"))
    twins(code="b", amount=Decimal("10.00"))

    def upsert(model):
        objs = [model(code="a", amount=Decimal("10.456")), model(code="b", amount=Decimal("10.004"))]
        model.objects.bulk_create(objs, update_conflicts=True, update_fields=["amount"], **target("code"))

    with received.committing():
        upsert(Tally)
    upsert(PlainTally)
    assert table(Tally) == table(PlainTally)
    [changed] = received.only("update").objects
    assert changed == ModifiedObject(existing, {"amount": Decimal("10.00")})
    assert repr(changed.instance.amount) == repr(reread(existing).amount) == repr(Decimal("10.46"))


def test_upsert_of_a_tie_reads_the_row_back_as_each_database_rounds_it(received):
    """Half a cent: PostgreSQL and MariaDB round it away from zero, SQLite to even. Only a read can tell."""
    twins(code="a", amount=Decimal("10.00"))
    twins(code="b", amount=Decimal("10.02"))

    def upsert(model):
        objs = [model(code="a", amount=Decimal("10.005")), model(code="b", amount=Decimal("10.015"))]
        return sql_of(
            lambda: model.objects.bulk_create(objs, update_conflicts=True, update_fields=["amount"], **target("code"))
        )

    with received.committing():
        ours = upsert(Tally)
    djangos = upsert(PlainTally)
    assert table(Tally) == table(PlainTally)
    stored = {obj.code: obj for obj in Tally.objects.all()}
    expected = [
        ModifiedObject(stored[code], {"amount": old})
        for code, old in (("a", Decimal("10.00")), ("b", Decimal("10.02")))
        if stored[code].amount != old
    ]
    reported = [o for call in received.of("update") for o in call.objects]
    assert reported == expected
    assert [repr(o.instance.amount) for o in reported] == [repr(o.instance.amount) for o in expected]
    assert len(ours) == len(djangos) + 2  # the locked read, and the read of the rows as stored


# --- 2. A naive datetime that is the stored aware moment ---


def ledger_twins():
    with suspended():
        return Ledger.objects.create(label="a", at=AWARE), PlainLedger.objects.create(label="a", at=AWARE)


def test_bulk_update_of_the_stored_moment_as_a_naive_datetime_is_no_change(received):
    (same, plain_same), (moved, plain_moved) = ledger_twins(), ledger_twins()
    same.at = plain_same.at = NAIVE
    moved.at = plain_moved.at = LATER
    with received.committing():
        Ledger.objects.bulk_update([same, moved], ["at"])
    PlainLedger.objects.bulk_update([plain_same, plain_moved], ["at"])
    assert table(Ledger, "label", "at") == table(PlainLedger, "label", "at")
    [changed] = received.only("update").objects
    assert changed == ModifiedObject(moved, {"at": AWARE})
    assert changed.instance.at == reread(moved).at == AWARE + datetime.timedelta(hours=1)
    assert timezone.is_aware(changed.instance.at)


def test_upsert_of_the_stored_moment_as_a_naive_datetime_is_no_change(received):
    twins(code="a", at=AWARE)
    twins(code="b", at=AWARE)

    def upsert(model):
        objs = [model(code="a", at=NAIVE), model(code="b", at=LATER)]
        model.objects.bulk_create(objs, update_conflicts=True, update_fields=["at"], **target("code"))

    with received.committing():
        upsert(Tally)
    upsert(PlainTally)
    assert table(Tally) == table(PlainTally)
    [changed] = received.only("update").objects
    moved = Tally.objects.get(code="b")
    assert changed == ModifiedObject(moved, {"at": AWARE})
    assert changed.instance.at == moved.at == AWARE + datetime.timedelta(hours=1)
    assert timezone.is_aware(changed.instance.at)


def test_update_to_the_stored_moment_as_a_naive_datetime_is_no_change(received):
    ledger_twins()
    with received.committing():
        assert Ledger.objects.update(at=NAIVE) == 1
    assert PlainLedger.objects.update(at=NAIVE) == 1
    assert received.calls == []
    with received.committing():
        Ledger.objects.update(at=LATER)
    PlainLedger.objects.update(at=LATER)
    assert table(Ledger, "label", "at") == table(PlainLedger, "label", "at")
    [changed] = received.only("update").objects
    assert changed.changed_values == {"at": AWARE}
    assert changed.instance.at == Ledger.objects.get().at == AWARE + datetime.timedelta(hours=1)
    assert timezone.is_aware(changed.instance.at)


def test_save_of_the_stored_moment_as_a_naive_datetime_is_no_change(received):
    ledger, twin = (type(obj)._base_manager.get() for obj in ledger_twins())
    ledger.at = twin.at = NAIVE
    with received.committing():
        ledger.save()
    twin.save()
    assert table(Ledger, "label", "at") == table(PlainLedger, "label", "at")
    assert received.calls == []
    ledger.at = LATER
    with received.committing():
        ledger.save()
    assert received.only("update").objects == [ModifiedObject(ledger, {"at": AWARE})]


# --- 3. save() of a value the column stores as it holds ---


@pytest.mark.parametrize("amount", ["10.00", "10.001", Decimal("10.001"), Decimal("9.9951"), 10.001])
def test_save_of_a_value_the_column_stores_as_it_holds_is_no_change(received, amount):
    with suspended():
        Ledger.objects.create(label="a", amount=Decimal("10.00"))
        PlainLedger.objects.create(label="a", amount=Decimal("10.00"))
    ledger, twin = Ledger.objects.get(), PlainLedger.objects.get()
    ledger.amount = twin.amount = amount
    with received.committing():
        statements = sql_of(ledger.save)
    djangos = sql_of(twin.save)
    assert table(Ledger, "label", "amount") == table(PlainLedger, "label", "amount") == [("a", Decimal("10.00"))]
    assert received.calls == []
    assert len(statements) == len(djangos)


def test_save_of_a_decimal_the_column_rounds_reports_the_old_value(received):
    with suspended():
        Ledger.objects.create(label="a", amount=Decimal("10.00"))
    ledger = Ledger.objects.get()
    ledger.amount = "10.456"
    with received.committing():
        ledger.save()
    assert Ledger.objects.get().amount == Decimal("10.46")
    assert received.only("update").objects == [ModifiedObject(ledger, {"amount": Decimal("10.00")})]
