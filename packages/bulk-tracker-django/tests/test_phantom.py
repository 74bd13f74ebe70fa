"""Changes that did not happen and inserts that did not happen are not reported (issue 14).

A value the column stores equal to what it holds is no change: a Decimal finer than the column's
places, a naive datetime that is the stored aware moment, a string. A row that an INSERT ignoring
conflicts skipped (for a partial unique index, a CHECK constraint, another row of the same call) is
not reported created. Every case runs beside the plain twin (``PlainTally``, ``PlainLedger``, same
columns and constraints): the tables must end up the same, Django's return value and error must be
the same, and what is reported must be what the database holds, as Django reads it back.
"""

import datetime
from decimal import Decimal

import django
import pytest
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from helpers import sql_of

from bulk_tracker import suspended
from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Ledger, Note, PlainLedger, PlainTally, Tag, Tally

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
    # The caller's object, or where Django leaves it no pk (Django 4.2, MariaDB) a copy with the pk read back.
    assert created.instance is objs[1] or (objs[1].pk is None and created.instance.code == "b")
    assert [obj.pk is None for obj in objs] == [obj.pk is None for obj in plain_objs]


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


# --- 4. bulk_create(ignore_conflicts=True): exactly the rows inserted are reported created ---


def ignoring(received, rows, existing=()):
    """``bulk_create(ignore_conflicts=True)`` of ``rows`` (dicts) into Tally (tracked) and PlainTally.

    Both start with ``existing``. Returns the tracked objects, with the codes each table gained; raises
    the error both raised.
    """
    for values in existing:
        twins(**values)
    before = {code for (code,) in table(PlainTally, "code")}
    objs, plain = [Tally(**values) for values in rows], [PlainTally(**values) for values in rows]
    errors = []
    for model, given in ((Tally, objs), (PlainTally, plain)):
        try:
            with transaction.atomic(), received.committing():
                assert model.objects.bulk_create(given, ignore_conflicts=True) == given
        except IntegrityError as error:
            errors.append(type(error))
    assert errors in ([], [IntegrityError, IntegrityError])  # the same error, or none
    assert table(Tally) == table(PlainTally)
    if errors:
        assert received.calls == []
        raise IntegrityError
    return objs, {code for (code,) in table(PlainTally, "code")} - before


def created(received):
    """The objects of the one create call made (none: no call)."""
    calls = [call for call in received.calls if call.sender is Tally]
    assert [call.kind for call in calls] in ([], ["create"])
    return [modified.instance for call in calls for modified in call.objects]


def assert_created_exactly(received, objs, new_codes):
    """Each new row reported once, by the object that inserted it, with its stored pk; nothing else."""
    instances = created(received)
    assert sorted(obj.code for obj in instances) == sorted(new_codes)
    # The caller's objects, or where Django leaves one no pk, a copy of it carrying the pk read back.
    assert all(
        any(obj is given or (given.pk is None and obj.code == given.code) for given in objs) for obj in instances
    )
    stored = {row.code: row for row in Tally.objects.filter(code__in=new_codes)}
    for obj in instances:
        assert obj.pk == stored[obj.code].pk
        assert [getattr(obj, name) for name in ("slug", "active", "qty")] == [
            getattr(stored[obj.code], name) for name in ("slug", "active", "qty")
        ]


PKS = {"without": lambda n: {}, "with": lambda n: {"pk": 900 + n}}


@pytest.mark.parametrize("pks", list(PKS))
def test_rows_skipped_for_a_partial_unique_index_are_not_reported_created(received, pks):
    """MariaDB has no partial index (Django creates none there): every row is inserted."""
    rows = [
        {"code": "b", "slug": "s", "active": True},  # an active "s" exists
        {"code": "c", "slug": "s", "active": False},
        {"code": "d", "slug": "t", "active": True},
        {"code": "e", "slug": "t", "active": True},  # "d" of the same call is an active "t"
    ]
    rows = [{**values, **PKS[pks](n)} for n, values in enumerate(rows)]
    objs, new_codes = ignoring(received, rows, existing=[{"code": "a", "slug": "s", "active": True}])
    expected = {"b", "c", "d", "e"} if not connection.features.supports_partial_indexes else {"c", "d"}
    assert new_codes == expected
    assert_created_exactly(received, objs, new_codes)


@pytest.mark.parametrize("pks", list(PKS))
def test_rows_skipped_for_a_check_constraint_are_not_reported_created(received, pks):
    """SQLite's INSERT OR IGNORE and MariaDB's INSERT IGNORE skip such a row; PostgreSQL refuses the insert."""
    rows = [{"code": "x", "qty": -1}, {"code": "y", "qty": 1}, {"code": "z", "qty": -5}]
    rows = [{**values, **PKS[pks](n)} for n, values in enumerate(rows)]
    try:
        objs, new_codes = ignoring(received, rows)
    except IntegrityError:
        assert connection.vendor == "postgresql"
        assert not Tally.objects.exists()
        return
    assert new_codes == {"y"}
    assert_created_exactly(received, objs, new_codes)


@pytest.mark.parametrize("pks", list(PKS))
def test_of_rows_sharing_a_key_in_one_call_the_one_inserted_is_reported(received, pks):
    rows = [
        {"code": "u", "slug": "first"},
        {"code": "u", "slug": "second"},
        {"code": "v", "slug": "skipped", "qty": -1},  # refused by the CHECK: the next "v" is inserted
        {"code": "v", "slug": "inserted", "qty": 2},
    ]
    if connection.vendor == "postgresql":
        rows = [values for values in rows if values.get("qty", 0) >= 0]  # PostgreSQL refuses the whole insert
    rows = [{**values, **PKS[pks](n)} for n, values in enumerate(rows)]
    objs, new_codes = ignoring(received, rows)
    assert new_codes == {"u", "v"}
    assert_created_exactly(received, objs, new_codes)
    assert sorted(obj.slug for obj in created(received)) == ["first", "inserted"]


def test_rows_given_the_same_pk_in_one_call_the_one_inserted_is_reported(received):
    rows = [
        {"pk": 900, "code": "p", "qty": -1},  # refused by the CHECK where it is skipped, not raised
        {"pk": 900, "code": "q"},
        {"pk": 900, "code": "r"},  # the pk is taken by then
    ]
    if connection.vendor == "postgresql":
        rows = rows[1:]
    objs, new_codes = ignoring(received, rows)
    assert new_codes == {"q"}
    assert_created_exactly(received, objs, new_codes)


def test_ignore_conflicts_with_pks_reads_back_only_where_a_row_may_be_skipped_unseen(received):
    """Tag has no constraint a locked read by its keys misses: where the database raises for the
    others (PostgreSQL, SQLite), the objects with a pk cost no read after the insert. MariaDB's
    INSERT IGNORE skips a row silently for a foreign key or a NOT NULL too: one read there."""
    Tag.objects.create(name="red")

    def insert(queryset, offset):
        objs = [Tag(pk=offset + 1, name="red"), Tag(pk=offset + 2, name=f"new{offset}")]
        return sql_of(lambda: queryset.bulk_create(objs, ignore_conflicts=True))

    djangos = insert(models.QuerySet(Tag), 900)
    with received.committing():
        ours = insert(Tag.objects, 950)
    assert [o.instance.name for o in received.only("create").objects] == ["new950"]
    assert len(ours) == len(djangos) + 1 + (1 if connection.vendor == "mysql" else 0)


def test_ignore_conflicts_finds_the_rows_of_objects_without_any_key(received):
    """No pk and no other unique key: the rows above the highest pk read before the insert, one read."""
    with received.committing():
        Note.objects.bulk_create([Note(text="a"), Note(text="b")], ignore_conflicts=True)
    stored = list(Note.objects.order_by("pk").values_list("pk", "text"))
    assert [(o.instance.pk, o.instance.text) for o in received.only("create").objects] == stored


def test_ignore_conflicts_reports_only_the_inserted_one_of_objects_without_any_key(received):
    """The second active "s" breaks the partial unique index (PostgreSQL, SQLite) and is skipped."""
    objs = [Tally(code=None, slug="s", active=True), Tally(code=None, slug="s", active=True)]
    with received.committing():
        result = Tally.objects.bulk_create(objs, ignore_conflicts=True)
    plain = [PlainTally(code=None, slug="s", active=True), PlainTally(code=None, slug="s", active=True)]
    assert PlainTally.objects.bulk_create(plain, ignore_conflicts=True) == plain
    assert result == objs
    assert table(Tally) == table(PlainTally)
    stored = list(Tally.objects.order_by("pk").values_list("pk", "slug"))
    assert len(stored) == (1 if connection.features.supports_partial_indexes else 2)
    assert [(o.instance.pk, o.instance.slug) for o in received.only("create").objects] == stored
    assert [obj.pk for obj in objs] == [None, None]  # as Django leaves them


def test_an_upsert_that_returns_pks_reads_no_highest_pk_for_objects_without_a_key(received):
    """update_conflicts returns the pks (Django 5.0+, PostgreSQL and SQLite): no aggregate is needed."""
    objs = [Tally(code=None, slug="u", active=False)]
    options = {"update_conflicts": True, "update_fields": ["qty"], **target("code")}
    with received.committing():
        statements = sql_of(lambda: Tally.objects.bulk_create(objs, **options))
    PlainTally.objects.bulk_create([PlainTally(code=None, slug="u", active=False)], **options)
    assert table(Tally) == table(PlainTally)
    returns = django.VERSION >= (5, 0) and connection.features.can_return_rows_from_bulk_insert
    assert any("MAX(" in statement.upper() for statement in statements) == (not returns)
    [created] = received.only("create").objects
    assert created.instance.pk == Tally.objects.get(slug="u").pk
