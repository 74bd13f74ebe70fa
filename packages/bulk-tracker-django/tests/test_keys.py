"""Primary keys of every kind (issue 14), each write path against the same call on a plain twin.

A composite primary key (Django 5.2+, one of its columns a foreign key), a key whose Python value is
an object (a hashid-style field: ``Hashid`` objects that are equal and hashable, not ordered), a UUID
key, and keys given as strings from a form (``pk="2"`` for row 2). Each test runs the call on the
tracked model and on its plain twin: the same rows written, the same return value or the same error;
and one signal call with the exact objects (the rows as stored) and old values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import django
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, F
from django.db.models.signals import post_delete
from django.test.utils import CaptureQueriesContext
from helpers import connected, sql_of

from bulk_tracker import suspended
from testapp.models import (
    Coupon,
    Hashid,
    Ledger,
    PlainCoupon,
    PlainLedger,
    PlainRedemption,
    PlainVoucher,
    Redemption,
    Voucher,
)

pytestmark = pytest.mark.django_db

composite = pytest.mark.skipif(django.VERSION < (5, 2), reason="CompositePrimaryKey is Django 5.2+")
if django.VERSION >= (5, 2):
    from testapp.models import Carrier, Consignment, PlainCarrier, PlainConsignment


def state(obj: models.Model) -> tuple[Any, ...]:
    """Every concrete field's value, as the instance holds it."""
    return tuple(getattr(obj, field.attname) for field in obj._meta.concrete_fields)


def table(model: type[models.Model]) -> list[tuple[Any, ...]]:
    """The table's rows, in pk order, through the base manager."""
    return [state(obj) for obj in model._base_manager.order_by("pk")]


def stored(model: type[models.Model], pk: Any) -> tuple[Any, ...]:
    return state(model._base_manager.get(pk=pk))


def reported(call: Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The objects of a signal call as (instance state, changed values): exact, not only equal by pk."""
    return [(state(modified.instance), modified.changed_values) for modified in call.objects]


def outcome(run: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call returned, comparable between twins, or the error it raised (in a savepoint)."""
    try:
        with transaction.atomic():
            return ("returned", comparable(run()))
    except Exception as error:
        return ("raised", type(error), str(error).replace("Plain", "").replace("plain", ""))


def comparable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return ("instance", value.pk, state(value))
    if isinstance(value, (list, tuple)):
        return type(value)(comparable(item) for item in value)
    if isinstance(value, dict):
        return {key.replace("Plain", ""): comparable(item) for key, item in value.items()}
    return value


def twins(tracked: Callable[[], Any], plain: Callable[[], Any], received: Any) -> tuple[Any, ...]:
    """Run the tracked call (recorded) and the plain one; both outcomes must be the same."""
    with received.committing():
        got = outcome(tracked)
    expected = outcome(plain)
    assert got == expected
    return got


def upsert_target(*names: str) -> dict[str, Any]:
    """``unique_fields`` where the backend takes them (MariaDB refuses them: it conflicts on every key)."""
    return {"unique_fields": list(names)} if connection.features.supports_update_conflicts_with_target else {}


# --- composite primary keys (Django 5.2+) --------------------------------------------------------


@pytest.fixture
def parcels():
    """Carrier 10 with parcels 1 and 2, and the same rows in the plain twins' tables."""
    with suspended():
        for carrier, parcel in ((Carrier, Consignment), (PlainCarrier, PlainConsignment)):
            carrier.objects.create(id=10, name="c")
            carrier.objects.create(id=20, name="d")
            parcel.objects.create(carrier_id=10, number=1, label="a", weight=1)
            parcel.objects.create(carrier_id=10, number=2, label="b", weight=2)


@composite
@pytest.mark.parametrize("fast_loading", [True, False], ids=["fast-loading", "django-loading"])
def test_composite_key_rows_load_as_django_loads_them(parcels, fast_loading, settings):
    settings.BULK_TRACKER_FAST_LOADING = fast_loading
    loaded = list(Consignment.objects.order_by("pk"))
    assert [(obj.pk, state(obj)) for obj in loaded] == [
        ((10, 1), (10, 1, "a", 1)),
        ((10, 2), (10, 2, "b", 2)),
    ]
    assert [(obj.pk, state(obj)) for obj in PlainConsignment.objects.order_by("pk")] == [
        (obj.pk, state(obj)) for obj in loaded
    ]
    assert [obj.tracker.changed() for obj in loaded] == [{}, {}]
    loaded[0].label = "x"
    assert loaded[0].tracker.changed() == {"label": "a"}


@composite
def test_composite_key_writes_without_a_receiver_are_djangos_own_statements(parcels):
    def calls(parcel, carrier):
        return [
            lambda: list(parcel.objects.all()),
            lambda: parcel.objects.filter(number=1).update(label="x"),
            lambda: parcel.objects.bulk_update([parcel(carrier_id=10, number=2, label="y")], ["label"]),
            lambda: parcel.objects.bulk_create([parcel(carrier_id=20, number=1)]),
            lambda: parcel.objects.update_or_create(carrier_id=10, number=1, defaults={"label": "w"}),
            lambda: parcel.objects.filter(number=2).delete(),
            lambda: carrier.objects.filter(id=20).delete(),
        ]

    def same(sql: str) -> str:
        return re.sub(r'[`"]s\d+_x\d+[`"]', '"savepoint"', sql).replace("plain", "")

    for tracked, plain in zip(calls(Consignment, Carrier), calls(PlainConsignment, PlainCarrier), strict=True):
        assert [same(sql) for sql in sql_of(tracked)] == [same(sql) for sql in sql_of(plain)]
    assert table(Consignment) == table(PlainConsignment)


@composite
def test_composite_key_update_reports_the_rows_with_their_old_values(parcels, received):
    twins(
        lambda: Consignment.objects.filter(weight__gte=1).update(label="x"),
        lambda: PlainConsignment.objects.filter(weight__gte=1).update(label="x"),
        received,
    )
    assert table(Consignment) == table(PlainConsignment) == [(10, 1, "x", 1), (10, 2, "x", 2)]
    assert reported(received.only("update")) == [((10, 1, "x", 1), {"label": "a"}), ((10, 2, "x", 2), {"label": "b"})]


@composite
@pytest.mark.parametrize(
    "shape",
    [
        lambda parcels: parcels.annotate(n=Count("carrier__parcels")).filter(n__gte=1).update(label="g"),
        lambda parcels: parcels.filter(carrier__name="c").update(label="g"),
        lambda parcels: parcels.distinct().update(label="g"),
        lambda parcels: parcels.order_by("-number").update(number=F("number") + 1),  # MariaDB: UPDATE ... ORDER BY
    ],
    ids=["grouped", "joined-filter", "distinct", "ordered-key-update"],
)
def test_composite_key_update_shapes_django_accepts(parcels, received, shape):
    result = twins(lambda: shape(Consignment.objects.all()), lambda: shape(PlainConsignment.objects.all()), received)
    assert table(Consignment) == table(PlainConsignment)
    if result[0] == "returned":  # every row changed: each reported once, as stored
        assert [row for row, _ in reported(received.only("update"))] == table(Consignment)
    else:  # the ordered key update where the database checks the key row by row
        assert received.calls == []


@composite
@pytest.mark.parametrize(
    "values",
    [{"number": F("number") + 10}, {"carrier_id": 20}, {"carrier": "other", "number": 7}],
    ids=["an-expression", "a-plain-value", "a-related-object"],
)
def test_composite_key_update_of_part_of_the_key_reports_the_rows_under_their_new_key(parcels, received, values):
    def call(parcel, carrier):
        given = {key: carrier.objects.get(id=20) if value == "other" else value for key, value in values.items()}
        return parcel.objects.filter(number=1).update(**given)

    twins(lambda: call(Consignment, Carrier), lambda: call(PlainConsignment, PlainCarrier), received)
    assert table(Consignment) == table(PlainConsignment)
    (new_row,) = [row for row in table(Consignment) if row[1] != 2]
    old = {"number": 1} if "number" in values else {}
    old.update({"carrier_id": 10} if "carrier_id" in values else {})
    old.update({"carrier": Carrier.objects.get(id=10)} if "carrier" in values else {})
    assert reported(received.only("update")) == [(new_row, old)]


@composite
def test_composite_key_bulk_update_matches_objects_given_with_string_parts(parcels, received):
    def call(parcel):
        objs = [parcel(carrier_id="10", number="2", label="y", weight=5), parcel(pk=(10, 1), label="z", weight=1)]
        return parcel.objects.bulk_update(objs, ["label", "weight"])

    assert twins(lambda: call(Consignment), lambda: call(PlainConsignment), received) == ("returned", 2)
    assert table(Consignment) == table(PlainConsignment) == [(10, 1, "z", 1), (10, 2, "y", 5)]
    assert reported(received.only("update")) == [
        ((10, 1, "z", 1), {"label": "a"}),
        ((10, 2, "y", 5), {"label": "b", "weight": 2}),
    ]


@composite
@pytest.mark.parametrize("fields", [["number"], ["carrier"]])
def test_composite_key_bulk_update_of_a_key_part_is_djangos_error(parcels, received, fields):
    result = twins(
        lambda: Consignment.objects.bulk_update([Consignment(carrier_id=10, number=1)], fields),
        lambda: PlainConsignment.objects.bulk_update([PlainConsignment(carrier_id=10, number=1)], fields),
        received,
    )
    assert result[:2] == ("raised", ValueError)
    assert received.calls == []


@composite
def test_composite_key_bulk_update_without_a_full_key_is_djangos_error(parcels, received):
    result = twins(
        lambda: Consignment.objects.bulk_update([Consignment(carrier_id=10, label="q")], ["label"]),
        lambda: PlainConsignment.objects.bulk_update([PlainConsignment(carrier_id=10, label="q")], ["label"]),
        received,
    )
    assert result[:2] == ("raised", ValueError)
    assert received.calls == []


@composite
def test_composite_key_save_of_a_fetched_row_reports_its_old_values(parcels, received):
    parcel, twin = Consignment.objects.get(pk=(10, 2)), PlainConsignment.objects.get(pk=(10, 2))
    parcel.label = twin.label = "s"
    twins(parcel.save, twin.save, received)
    assert table(Consignment) == table(PlainConsignment)
    assert reported(received.only("update")) == [((10, 2, "s", 2), {"label": "b"})]


@composite
def test_composite_key_save_of_a_new_instance_with_an_existing_key_reports_the_overwritten_row(parcels, received):
    twins(
        lambda: Consignment(carrier_id=10, number=1, label="n", weight=9).save(),
        lambda: PlainConsignment(carrier_id=10, number=1, label="n", weight=9).save(),
        received,
    )
    assert table(Consignment) == table(PlainConsignment)
    assert reported(received.only("update")) == [((10, 1, "n", 9), {"label": "a", "weight": 1})]


@composite
def test_composite_key_create_and_bulk_create_report_the_created_rows(parcels, received):
    def call(parcel):
        return [
            parcel.objects.create(carrier_id=20, number=1),
            *parcel.objects.bulk_create([parcel(carrier_id=20, number=2)]),
        ]

    twins(lambda: call(Consignment), lambda: call(PlainConsignment), received)
    assert table(Consignment) == table(PlainConsignment)
    assert [[state(o.instance) for o in call.objects] for call in received.calls] == [
        [(20, 1, "", 0)],
        [(20, 2, "", 0)],
    ]


@composite
def test_composite_key_upsert_reports_created_and_updated_rows(parcels, received):
    def call(parcel):
        objs = [parcel(carrier_id=10, number=1, label="u"), parcel(carrier_id=20, number=3, label="v")]
        return parcel.objects.bulk_create(
            objs, update_conflicts=True, update_fields=["label"], **upsert_target("carrier", "number")
        )

    twins(lambda: call(Consignment), lambda: call(PlainConsignment), received)
    assert table(Consignment) == table(PlainConsignment)
    created, updated = received.of("create"), received.of("update")
    assert [reported(c) for c in created] == [[((20, 3, "v", 0), {})]]
    assert [reported(c) for c in updated] == [[((10, 1, "u", 1), {"label": "a"})]]


@composite
def test_composite_key_ignore_conflicts_reports_only_the_inserted_rows(parcels, received):
    def call(parcel):
        objs = [parcel(carrier_id=10, number=1, label="u"), parcel(carrier_id=20, number=3, label="v")]
        return parcel.objects.bulk_create(objs, ignore_conflicts=True)

    twins(lambda: call(Consignment), lambda: call(PlainConsignment), received)
    assert table(Consignment) == table(PlainConsignment)
    assert reported(received.only("create")) == [((20, 3, "v", 0), {})]


@composite
def test_composite_key_upsert_on_pk_is_djangos_error(parcels, received):
    result = twins(
        lambda: Consignment.objects.bulk_create(
            [Consignment(carrier_id=10, number=1)], update_conflicts=True, unique_fields=["pk"], update_fields=["label"]
        ),
        lambda: PlainConsignment.objects.bulk_create(
            [PlainConsignment(carrier_id=10, number=1)],
            update_conflicts=True,
            unique_fields=["pk"],
            update_fields=["label"],
        ),
        received,
    )
    assert result[0] == "raised"
    assert received.calls == []


@composite
@pytest.mark.parametrize("key", [{"carrier_id": 10, "number": 1}, {"pk": ("10", "1")}], ids=["parts", "pk-strings"])
def test_composite_key_update_or_create_and_get_or_create(parcels, received, key):
    def call(parcel):
        return [
            parcel.objects.update_or_create(**key, defaults={"label": "w"}),
            parcel.objects.get_or_create(**key),
            parcel.objects.update_or_create(carrier_id=20, number=5, defaults={"label": "new"}),
        ]

    twins(lambda: call(Consignment), lambda: call(PlainConsignment), received)
    assert table(Consignment) == table(PlainConsignment)
    assert [(c.kind, reported(c)) for c in received.calls] == [
        ("update", [((10, 1, "w", 1), {"label": "a"})]),
        ("create", [((20, 5, "new", 0), {})]),
    ]


@composite
@pytest.mark.parametrize(
    "delete",
    [
        lambda parcel: parcel.objects.filter(number=2).delete(),
        lambda parcel: parcel.objects.get(pk=(10, 2)).delete(),
        lambda parcel: parcel(carrier_id=10, number=2).delete(),  # never fetched
        lambda parcel: parcel(pk=("10", "2")).delete(),  # from a form
    ],
    ids=["queryset", "fetched", "never-fetched", "from-strings"],
)
def test_composite_key_delete_reports_the_row_as_it_was(parcels, received, delete):
    twins(lambda: delete(Consignment), lambda: delete(PlainConsignment), received)
    assert table(Consignment) == table(PlainConsignment) == [(10, 1, "a", 1)]
    assert reported(received.only("delete")) == [((10, 2, "b", 2), {})]


@composite
def test_composite_key_rows_removed_by_a_cascade_are_reported(parcels, received):
    twins(
        lambda: Carrier.objects.get(id=10).delete(),
        lambda: PlainCarrier.objects.get(id=10).delete(),
        received,
    )
    assert table(Consignment) == table(PlainConsignment) == []
    assert [(c.kind, c.sender, reported(c)) for c in received.calls] == [
        ("delete", Consignment, [((10, 1, "a", 1), {}), ((10, 2, "b", 2), {})]),
        ("delete", Carrier, [((10, "c"), {})]),
    ]


@composite
def test_composite_key_async_batched_and_related_manager_writes(parcels, received):
    async def run(parcel, carrier):
        updated = await parcel.objects.filter(number=1).aupdate(weight=F("weight") + 5)
        objs = [parcel(carrier_id=10, number=2, label="q"), parcel(carrier_id=10, number=1, label="p", weight=6)]
        batched = await parcel.objects.abulk_update(objs, ["label"], batch_size=1)
        related = await sync_to_async(lambda: carrier.objects.get(id=10).parcels.filter(number=2).update(weight=0))()
        return updated, batched, related, await parcel.objects.filter(number=1).adelete()

    twins(
        lambda: async_to_sync(run)(Consignment, Carrier),
        lambda: async_to_sync(run)(PlainConsignment, PlainCarrier),
        received,
    )
    assert table(Consignment) == table(PlainConsignment) == [(10, 2, "q", 0)]
    assert [(c.kind, reported(c)) for c in received.calls] == [
        ("update", [((10, 1, "a", 6), {"weight": 1})]),
        ("update", [((10, 1, "p", 6), {"label": "a"}), ((10, 2, "q", 2), {"label": "b"})]),
        ("update", [((10, 2, "q", 0), {"weight": 2})]),
        ("delete", [((10, 1, "p", 6), {})]),
    ]


# --- a primary key whose Python value is an object (hashid-style) --------------------------------


@pytest.fixture
def coupons():
    """Coupons 1, 2, 3 (Hashid keys); redemptions 1 and 2 of coupon 1, spare coupon 2; the plain twins alike."""
    with suspended():
        for coupon, redemption in ((Coupon, Redemption), (PlainCoupon, PlainRedemption)):
            for number in (1, 2, 3):
                coupon.objects.create(id=Hashid(number), code=f"c{number}", uses=number)
            redemption.objects.create(id=1, coupon_id=Hashid(1), spare_id=Hashid(2), note="r1")
            redemption.objects.create(id=2, coupon_id=Hashid(1), spare_id=Hashid(2), note="r2")


def test_hashid_keys_update_every_row_and_report_each(coupons, received):
    with received.committing():
        tracked = sql_of(lambda: Coupon.objects.update(uses=F("uses") + 1))
    assert PlainCoupon.objects.update(uses=F("uses") + 1) == 3
    assert table(Coupon) == table(PlainCoupon)
    if connection.vendor == "postgresql":  # the locked read joined in the UPDATE: keys never leave the database
        assert len(tracked) == 1
        assert tracked[0].startswith("UPDATE")
    assert reported(received.only("update")) == [
        ((Hashid(1), "c1", 2), {"uses": 1}),
        ((Hashid(2), "c2", 3), {"uses": 2}),
        ((Hashid(3), "c3", 4), {"uses": 3}),
    ]


@pytest.mark.parametrize("new_key", [Hashid(30), F("id") + 27], ids=["a-value", "an-expression"])
def test_hashid_key_update_of_the_key_reports_the_row_under_its_new_key(coupons, received, new_key):
    tracked: list[str] = []

    def update() -> int:
        with CaptureQueriesContext(connection) as queries:
            count = Coupon.objects.filter(id=Hashid(3)).update(id=new_key)
        tracked.extend(query["sql"] for query in queries)
        return count

    twins(
        update,
        lambda: PlainCoupon.objects.filter(id=Hashid(3)).update(id=new_key),
        received,
    )
    assert table(Coupon) == table(PlainCoupon)
    if connection.vendor == "postgresql":  # the rows read, written by one array parameter of prepared keys
        assert sum("= ANY(" in sql for sql in tracked) == 1
    assert reported(received.only("update")) == [((Hashid(30), "c3", 3), {"id": Hashid(3)})]


def test_hashid_foreign_key_update_reports_the_old_related_objects(coupons, received):
    def call(coupon, redemption):
        return redemption.objects.update(
            spare=coupon.objects.get(id=Hashid(3)), coupon=coupon.objects.get(id=Hashid(2))
        )

    twins(lambda: call(Coupon, Redemption), lambda: call(PlainCoupon, PlainRedemption), received)
    assert table(Redemption) == table(PlainRedemption)
    old = {"spare": Coupon.objects.get(id=Hashid(2)), "coupon": Coupon.objects.get(id=Hashid(1))}
    assert reported(received.only("update")) == [
        ((1, Hashid(2), Hashid(3), "r1"), old),
        ((2, Hashid(2), Hashid(3), "r2"), old),
    ]


@pytest.mark.parametrize("uses", [7, F("uses") + 7], ids=["plain-values", "expressions"])
def test_hashid_keys_bulk_update_reports_each_row(coupons, received, uses):
    def call(coupon):
        objs = [coupon(id=Hashid(3), code="z", uses=uses), coupon(id=Hashid(1), code="y", uses=uses)]
        return coupon.objects.bulk_update(objs, ["code", "uses"])

    with received.committing():
        tracked = sql_of(lambda: call(Coupon))
    assert call(PlainCoupon) == 2
    assert table(Coupon) == table(PlainCoupon)
    if connection.vendor == "postgresql" and not hasattr(uses, "resolve_expression"):  # the VALUES join, keys prepared
        assert sum("FROM (VALUES" in sql for sql in tracked) == 1
    (one, three) = (stored(Coupon, Hashid(1)), stored(Coupon, Hashid(3)))
    assert reported(received.only("update")) == [(one, {"code": "c1", "uses": 1}), (three, {"code": "c3", "uses": 3})]


def test_hashid_foreign_keys_bulk_update_reports_the_old_keys(coupons, received):
    def call(redemption):
        objs = [redemption(id=1, coupon_id=Hashid(3), spare_id=Hashid(1)), redemption(id=2, coupon_id=Hashid(1))]
        return redemption.objects.bulk_update(objs, ["coupon", "spare"])

    assert twins(lambda: call(Redemption), lambda: call(PlainRedemption), received) == ("returned", 2)
    assert table(Redemption) == table(PlainRedemption)
    assert reported(received.only("update")) == [
        ((1, Hashid(3), Hashid(1), "r1"), {"coupon_id": Hashid(1), "spare_id": Hashid(2)}),
        ((2, Hashid(1), None, "r2"), {"spare_id": Hashid(2)}),
    ]


def test_hashid_keys_bulk_create_and_upsert(coupons, received):
    def call(coupon):
        created = coupon.objects.bulk_create([coupon(id=Hashid(4), code="c4")])
        upserted = coupon.objects.bulk_create(
            [coupon(id=Hashid(2), code="u"), coupon(id=Hashid(5), code="v")],
            update_conflicts=True,
            update_fields=["code"],
            **upsert_target("id"),
        )
        ignored = coupon.objects.bulk_create(
            [coupon(id=Hashid(3), code="i"), coupon(id=Hashid(6))], ignore_conflicts=True
        )
        return created, upserted, ignored

    twins(lambda: call(Coupon), lambda: call(PlainCoupon), received)
    assert table(Coupon) == table(PlainCoupon)
    assert [(c.kind, reported(c)) for c in received.calls] == [
        ("create", [((Hashid(4), "c4", 0), {})]),
        ("create", [((Hashid(5), "v", 0), {})]),
        ("update", [((Hashid(2), "u", 2), {"code": "c2"})]),
        ("create", [((Hashid(6), "", 0), {})]),
    ]


def test_hashid_key_save_update_or_create_and_get_or_create(coupons, received):
    def call(coupon):
        fetched = coupon.objects.get(id=Hashid(1))
        fetched.uses = 10
        fetched.save()
        return [
            coupon.objects.update_or_create(id=Hashid(2), defaults={"code": "w"}),
            coupon.objects.get_or_create(id=Hashid(3)),
            coupon.objects.get_or_create(id=Hashid(7), defaults={"code": "g"}),
        ]

    twins(lambda: call(Coupon), lambda: call(PlainCoupon), received)
    assert table(Coupon) == table(PlainCoupon)
    assert [(c.kind, reported(c)) for c in received.calls] == [
        ("update", [((Hashid(1), "c1", 10), {"uses": 1})]),
        ("update", [((Hashid(2), "w", 2), {"code": "c2"})]),
        ("create", [((Hashid(7), "g", 0), {})]),
    ]


@pytest.mark.parametrize(
    "delete",
    [
        lambda coupon: coupon.objects.filter(id=Hashid(3)).delete(),
        lambda coupon: coupon.objects.get(id=Hashid(3)).delete(),
        lambda coupon: coupon(id=Hashid(3)).delete(),
        lambda coupon: coupon(id="3").delete(),
    ],
    ids=["queryset", "fetched", "never-fetched", "from-a-string"],
)
def test_hashid_key_delete_reports_the_row(coupons, received, delete):
    twins(lambda: delete(Coupon), lambda: delete(PlainCoupon), received)
    assert table(Coupon) == table(PlainCoupon)
    assert reported(received.only("delete")) == [((Hashid(3), "c3", 3), {})]


def test_hashid_key_delete_reports_its_cascade_and_set_null(coupons, received):
    twins(
        lambda: Coupon.objects.filter(id=Hashid(1)).delete(),
        lambda: PlainCoupon.objects.filter(id=Hashid(1)).delete(),
        received,
    )
    twins(
        lambda: Coupon.objects.filter(id=Hashid(2)).delete(),
        lambda: PlainCoupon.objects.filter(id=Hashid(2)).delete(),
        received,
    )
    assert table(Coupon) == table(PlainCoupon)
    assert table(Redemption) == table(PlainRedemption) == []
    deleted = [(c.sender, reported(c)) for c in received.of("delete")]
    assert deleted == [
        (Redemption, [((1, Hashid(1), Hashid(2), "r1"), {}), ((2, Hashid(1), Hashid(2), "r2"), {})]),
        (Coupon, [((Hashid(1), "c1", 1), {})]),
        (Coupon, [((Hashid(2), "c2", 2), {})]),
    ]
    assert received.of("update") == []  # the spare coupon's rows went with coupon 1 first


def test_hashid_key_set_null_reports_the_old_key(coupons, received):
    with suspended():
        Redemption.objects.filter(id=2).update(coupon_id=Hashid(3))
        PlainRedemption.objects.filter(id=2).update(coupon_id=Hashid(3))
    twins(
        lambda: Coupon.objects.get(id=Hashid(2)).delete(),
        lambda: PlainCoupon.objects.get(id=Hashid(2)).delete(),
        received,
    )
    assert table(Redemption) == table(PlainRedemption)
    assert [(c.kind, reported(c)) for c in received.calls] == [
        (
            "update",
            [
                ((1, Hashid(1), None, "r1"), {"spare_id": Hashid(2)}),
                ((2, Hashid(3), None, "r2"), {"spare_id": Hashid(2)}),
            ],
        ),
        ("delete", [((Hashid(2), "c2", 2), {})]),
    ]


def test_hashid_keys_that_do_not_order_fail_a_collected_delete_as_django_does(coupons, received):
    # Django's Collector.delete() sorts the rows it collected by pk: Hashid objects do not order. A
    # tracked model with a delete receiver is always collected, as is a plain one with a post_delete
    # receiver; both raise Django's TypeError, before any statement, and nothing is reported.
    def receiver(**kwargs: Any) -> None:
        pass

    with connected(post_delete, receiver, sender=PlainCoupon):
        result = twins(
            lambda: Coupon.objects.filter(id__in=[Hashid(1), Hashid(3)]).delete(),
            lambda: PlainCoupon.objects.filter(id__in=[Hashid(1), Hashid(3)]).delete(),
            received,
        )
    assert result[:2] == ("raised", TypeError)
    assert table(Coupon) == table(PlainCoupon)
    assert received.calls == []


# --- keys given as strings (a form, a URL) ---------------------------------------------------------


@pytest.fixture
def ledgers():
    """Rows 1, 2, 3 of Ledger and of its plain twin, with the same keys."""
    with suspended():
        for model in (Ledger, PlainLedger):
            for number in (1, 2, 3):
                model.objects.create(id=number, label=f"l{number}", qty=number)


def ledger_row(pk: int) -> tuple[Any, ...]:
    return stored(Ledger, pk)


def test_string_keys_bulk_update_writes_and_reports_the_rows(ledgers, received):
    def call(model):
        return model.objects.bulk_update([model(pk="2", label="y", qty=5), model(pk="3", label="l3", qty=3)], ["label"])

    assert twins(lambda: call(Ledger), lambda: call(PlainLedger), received) == ("returned", 2)
    assert table(Ledger) == table(PlainLedger)
    update = received.only("update")
    assert reported(update) == [(ledger_row(2), {"label": "l2"})]
    assert update.objects[0].instance.pk == 2  # the row as stored, its key as Django reads it


@pytest.mark.parametrize("batch_size", [None, 1])
def test_string_keys_bulk_update_of_a_row_given_twice_reports_it_once_as_stored(ledgers, received, batch_size):
    def call(model):
        objs = [model(pk=2, label="first"), model(pk="2", label="second")]
        return model.objects.bulk_update(objs, ["label"], batch_size=batch_size)

    twins(lambda: call(Ledger), lambda: call(PlainLedger), received)
    assert table(Ledger) == table(PlainLedger)
    assert reported(received.only("update")) == [(ledger_row(2), {"label": "l2"})]


def test_string_keys_update_or_create_and_get_or_create(ledgers, received):
    def call(model):
        return [
            model.objects.update_or_create(pk="2", defaults={"label": "w"}),
            model.objects.get_or_create(pk="3"),
            model.objects.update_or_create(pk="9", defaults={"label": "n"}),
            model.objects.get_or_create(pk="8", defaults={"label": "g"}),
        ]

    _, returned = twins(lambda: call(Ledger), lambda: call(PlainLedger), received)
    assert table(Ledger) == table(PlainLedger)
    # The instances Django returns: the updated row read back (pk 2), the created ones as Django left them.
    (updated, _), _, (made, _), (got, _) = returned
    assert [
        (c.kind, [(("instance", o.instance.pk, state(o.instance)), o.changed_values) for o in c.objects])
        for c in received.calls
    ] == [
        ("update", [(updated, {"label": "l2"})]),
        ("create", [(made, {})]),
        ("create", [(got, {})]),
    ]
    assert updated[1] == 2


def test_string_keys_upsert_and_ignore_conflicts_report_what_was_inserted_and_updated(ledgers, received):
    def call(model):
        upserted = model.objects.bulk_create(
            [model(pk="2", label="u"), model(pk="7", label="n")],
            update_conflicts=True,
            update_fields=["label"],
            **upsert_target("id"),
        )
        ignored = model.objects.bulk_create([model(pk="3", label="i"), model(pk="8", label="m")], ignore_conflicts=True)
        return upserted, ignored

    _, ((_, made), (_, inserted)) = twins(lambda: call(Ledger), lambda: call(PlainLedger), received)
    assert table(Ledger) == table(PlainLedger)
    # The created objects are those Django returns (their pk as Django left it); MariaDB's INSERT IGNORE
    # check matches "8" to row 8.
    assert [(c.kind, [(comparable(o.instance), o.changed_values) for o in c.objects]) for c in received.calls] == [
        ("create", [(made, {})]),
        ("update", [(("instance", 2, ledger_row(2)), {"label": "l2"})]),
        ("create", [(inserted, {})]),
    ]


def test_string_key_save_of_a_new_instance_reports_the_overwritten_row(ledgers, received):
    twins(lambda: Ledger(pk="2", label="s").save(), lambda: PlainLedger(pk="2", label="s").save(), received)
    assert table(Ledger) == table(PlainLedger)
    (modified,) = received.only("update").objects
    assert (modified.instance.pk, modified.changed_values) == ("2", {"label": "l2", "qty": 2})


@pytest.mark.parametrize(
    "delete",
    [lambda model: model(pk="2").delete(), lambda model: model.objects.filter(pk="2").delete()],
    ids=["instance", "queryset"],
)
def test_string_key_delete_reports_the_row_as_it_was(ledgers, received, delete):
    before = ledger_row(2)
    twins(lambda: delete(Ledger), lambda: delete(PlainLedger), received)
    assert table(Ledger) == table(PlainLedger)
    assert reported(received.only("delete")) == [(before, {})]


@pytest.fixture
def tokens():
    keys = [uuid.UUID(int=1), uuid.UUID(int=2)]
    with suspended():
        for model in (Voucher, PlainVoucher):
            for number, key in enumerate(keys, 1):
                model.objects.create(id=key, label=f"t{number}")
    return keys


def test_uuid_keys_given_as_strings_bulk_update(tokens, received):
    def call(model):
        return model.objects.bulk_update([model(pk=str(tokens[1]), label="y")], ["label"])

    assert twins(lambda: call(Voucher), lambda: call(PlainVoucher), received) == ("returned", 1)
    assert table(Voucher) == table(PlainVoucher)
    assert reported(received.only("update")) == [((tokens[1], "y"), {"label": "t2"})]


def test_uuid_key_given_as_a_string_save(tokens, received):
    token, twin = Voucher.objects.get(pk=tokens[0]), PlainVoucher.objects.get(pk=tokens[0])
    token.pk, twin.pk = str(tokens[0]), str(tokens[0])
    token.label = twin.label = "s"
    twins(token.save, twin.save, received)
    assert table(Voucher) == table(PlainVoucher) == [(tokens[0], "s"), (tokens[1], "t2")]
    # The caller's instance, as Django's post_save sends it.
    assert [(o.instance.pk, o.changed_values) for o in received.only("update").objects] == [
        (str(tokens[0]), {"label": "t1"})
    ]


def test_uuid_key_given_as_a_string_save_with_force_update(tokens, received):
    result = twins(
        lambda: Voucher(pk=str(tokens[1]), label="f").save(force_update=True),
        lambda: PlainVoucher(pk=str(tokens[1]), label="f").save(force_update=True),
        received,
    )
    assert table(Voucher) == table(PlainVoucher)
    if django.VERSION >= (5, 1):  # Django updates the row (ticket 35425)
        assert table(Voucher) == [(tokens[0], "t1"), (tokens[1], "f")]
        assert [(o.instance.pk, o.changed_values) for o in received.only("update").objects] == [
            (str(tokens[1]), {"label": "t2"})
        ]
    else:  # Django inserts, as for any new instance whose key has a default, and the row exists
        assert result[:2] == ("raised", IntegrityError)
        assert received.calls == []


def test_uuid_key_with_a_default_given_as_a_string_is_inserted_as_django_does(tokens, received):
    # A key with a default: Django inserts the new instance, and the row exists. Its error, no report.
    result = twins(
        lambda: Voucher(pk=str(tokens[0]), label="x").save(),
        lambda: PlainVoucher(pk=str(tokens[0]), label="x").save(),
        received,
    )
    assert result[0] == "raised"
    assert table(Voucher) == table(PlainVoucher)
    assert received.calls == []


@pytest.mark.parametrize(
    "delete",
    [lambda model, key: model(pk=str(key)).delete(), lambda model, key: model.objects.filter(pk=str(key)).delete()],
    ids=["instance", "queryset"],
)
def test_uuid_key_given_as_a_string_delete(tokens, received, delete):
    twins(lambda: delete(Voucher, tokens[0]), lambda: delete(PlainVoucher, tokens[0]), received)
    assert table(Voucher) == table(PlainVoucher) == [(tokens[1], "t2")]
    assert reported(received.only("delete")) == [((tokens[0], "t1"), {})]
