"""Fast deletes kept while a delete receiver exists, against the plain twins ``PlainShelf``/``PlainVolume``.

Where ``DELETE ... RETURNING`` exists, Django's fast delete of the volumes (a cascade, or a queryset
filtered through a join) stays Django's DELETE and reports exactly the rows it removed; MariaDB's
multi-table ``DELETE v FROM v INNER JOIN ...`` cannot return rows, so there the rows are read under lock
first. Either way: the same rows left, the same return value as plain Django, and each deleted row
reported once, as it was stored.
"""

import pytest
from django.db import connection
from helpers import sql_of

from bulk_tracker import suspended
from bulk_tracker.backends import deletes_returning
from testapp.models import PlainShelf, PlainVolume, Shelf, Volume

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelves():
    """Shelves a and b with two volumes each and one volume on no shelf, in both worlds."""
    with suspended():
        for shelf_model, volume_model in ((Shelf, Volume), (PlainShelf, PlainVolume)):
            for name in ("a", "b"):
                shelf = shelf_model.objects.create(name=name)
                for i in range(2):
                    volume_model.objects.create(title=f"{name}{i}", shelf=shelf)
            volume_model.objects.create(title="loose")


def table(model):
    return sorted(model.objects.values_list("title", "shelf__name"))


def reported(call):
    return [(o.instance.pk, o.instance.title, o.instance.shelf_id, o.changed_values) for o in call.objects]


def stored(model, titles):
    return [
        (pk, title, shelf_id, {})
        for pk, title, shelf_id in model.objects.filter(title__in=titles)
        .order_by("pk")
        .values_list("pk", "title", "shelf_id")
    ]


def test_a_cascade_fast_delete_reports_the_rows_it_removed(shelves, received):
    expected = stored(Volume, ["a0", "a1"])
    shelf_pk = Shelf.objects.get(name="a").pk
    with received.committing():
        counts = []
        statements = sql_of(lambda: counts.append(Shelf.objects.filter(name="a").delete()))
    assert counts == [(3, {"testapp.Volume": 2, "testapp.Shelf": 1})]
    assert PlainShelf.objects.filter(name="a").delete() == (3, {"testapp.PlainVolume": 2, "testapp.PlainShelf": 1})
    assert table(Volume) == table(PlainVolume)
    assert [c.sender for c in received.calls] == [Volume, Shelf]  # in the order Django deleted them
    assert reported(received.calls[0]) == expected
    assert [o.instance.pk for o in received.calls[1].objects] == [shelf_pk]
    if deletes_returning(connection.alias):
        volume_deletes = [s for s in statements if s.startswith("DELETE") and "volume" in s.split(" WHERE")[0]]
        assert len(volume_deletes) == 1
        assert " RETURNING " in volume_deletes[0]
        assert not any(
            s.startswith("SELECT") and "FROM " + connection.ops.quote_name("testapp_volume") in s for s in statements
        )


def test_a_queryset_delete_through_a_join_reports_the_rows_it_removed(shelves, received):
    expected = stored(Volume, ["b0", "b1"])
    with received.committing():
        counts = []
        statements = sql_of(lambda: counts.append(Volume.objects.filter(shelf__name="b").delete()))
    count = counts[0]
    assert count == (2, {"testapp.Volume": 2})
    deletes = [s for s in statements if s.startswith("DELETE")]
    assert len(deletes) == 1
    if connection.vendor == "mysql":  # DELETE v FROM v INNER JOIN ...: the rows are read under lock first
        assert not deletes[0].startswith("DELETE FROM ")
        assert " RETURNING " not in deletes[0]
        assert [s for s in statements if s.startswith("SELECT") and s.endswith("FOR UPDATE")]
    elif deletes_returning(connection.alias):
        assert " RETURNING " in deletes[0]
        assert len(statements) == 1
    assert PlainVolume.objects.filter(shelf__name="b").delete() == (2, {"testapp.PlainVolume": 2})
    assert table(Volume) == table(PlainVolume)
    assert [c.sender for c in received.calls] == [Volume]
    assert reported(received.calls[0]) == expected


def test_a_fast_delete_that_matches_nothing_sends_nothing(shelves, received):
    with received.committing():
        assert Volume.objects.filter(title="none").delete() == (0, {})
    assert PlainVolume.objects.filter(title="none").delete() == (0, {})
    assert received.calls == []


@pytest.mark.parametrize(
    "narrow",
    [
        pytest.param(lambda qs: qs, id="whole"),
        pytest.param(lambda qs: qs.only("id"), id="only-id"),
        pytest.param(lambda qs: qs.defer("name"), id="deferred"),
    ],
)
def test_collected_rows_are_reported_as_deleted_whole_and_read_without_a_query(
    shelves, received, narrow, django_assert_num_queries
):
    # Django's collector loads the shelves (the volumes cascade from them) as the queryset asks, deferred
    # fields included; each is reported with its pk and every field as stored, even once Django has set
    # the pk of its own instances to None.
    expected = list(Shelf.objects.order_by("pk").values_list("pk", "name"))
    plain = narrow(PlainShelf.objects.all()).delete()
    with received.committing():
        result = narrow(Shelf.objects.all()).delete()
    assert plain == (6, {"testapp.PlainVolume": 4, "testapp.PlainShelf": 2})
    assert result == (6, {"testapp.Volume": 4, "testapp.Shelf": 2})
    assert table(Volume) == table(PlainVolume) == [("loose", None)]
    assert Shelf.objects.count() == PlainShelf.objects.count() == 0
    [call] = [c for c in received.calls if c.sender is Shelf]
    with django_assert_num_queries(0):
        assert [(o.pk, o.instance.pk, o.instance.name) for o in call.objects] == [(pk, pk, n) for pk, n in expected]
        assert all(o.instance is o.instance for o in call.objects)
