"""Model shapes the differential oracle drew (test_differential.py), each pinned by a test against its plain twin."""

from __future__ import annotations

import django
import pytest
from django.db import connection
from helpers import sql_of

from testapp.models import ExpressParcel, Hub, PlainExpressParcel, PlainHub

pytestmark = pytest.mark.django_db

needs_generated_fields = pytest.mark.skipif(django.VERSION < (5, 0), reason="GeneratedField is Django 5.0+")


def rows(model):
    return list(model._base_manager.order_by("pk").values_list("code", "qty", "hub__name"))


@needs_generated_fields
@pytest.mark.parametrize("receiver", [False, True], ids=["no receiver", "receiver"])
def test_a_tracked_generated_field_costs_no_read_per_created_row(request, receiver):
    """Django 6.0+ sets a generated field from RETURNING; model_utils' tracker once read it first, row by row."""
    from testapp.models import Gauge  # its FieldTracker() tracks every field, the generated one too

    if receiver:
        request.getfixturevalue("received")
    create = sql_of(lambda: Gauge.objects.create(qty=2))
    bulk = sql_of(lambda: Gauge.objects.bulk_create([Gauge(qty=i) for i in range(3)]))
    returns = connection.features.can_return_columns_from_insert
    assert [len(create), len(bulk)] == [1, 1]
    assert all(statement.startswith("INSERT") for statement in [*create, *bulk])
    assert all(("RETURNING" in statement) == returns for statement in [*create, *bulk])
    assert list(Gauge.objects.order_by("pk").values_list("qty", "doubled")) == [(2, 4), (0, 0), (1, 2), (2, 4)]


@needs_generated_fields
def test_an_mti_child_of_a_model_with_a_generated_field_is_created(received):
    """An MTI child whose parent has a generated field (its FieldTracker leaves it out, as W004 advises)."""
    home, plain_home = Hub.objects.create(name="h"), PlainHub.objects.create(name="h")
    plain = PlainExpressParcel.objects.create(code="a", hub=plain_home, qty=2, priority=1)
    with received.committing():
        express = ExpressParcel.objects.create(code="a", hub=home, qty=2, priority=1)
    call = received.only("create")
    assert call.sender is ExpressParcel
    assert [modified.instance for modified in call.objects] == [express]
    assert [modified.changed_values for modified in call.objects] == [{}]
    assert express.__dict__.get("doubled") == plain.__dict__.get("doubled")  # set from RETURNING, or deferred alike
    assert ExpressParcel.objects.values_list("code", "qty", "doubled", "priority").get() == (
        PlainExpressParcel.objects.values_list("code", "qty", "doubled", "priority").get()
    )
