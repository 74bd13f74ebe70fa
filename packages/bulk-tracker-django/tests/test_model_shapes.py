"""Model shapes the differential oracle drew (test_differential.py), each pinned by a test against its plain twin."""

from __future__ import annotations

import django
import pytest
from helpers import sql_of

from bulk_tracker import suspended
from testapp.models import ExpressParcel, Hub, Parcel, PlainExpressParcel, PlainHub, PlainParcel

pytestmark = pytest.mark.django_db

needs_generated_fields = pytest.mark.skipif(django.VERSION < (5, 0), reason="GeneratedField is Django 5.0+")


def rows(model):
    return list(model._base_manager.order_by("pk").values_list("code", "qty", "hub__name"))


@needs_generated_fields
@pytest.mark.parametrize("receiver", [False, True], ids=["no receiver", "receiver"])
def test_a_generated_field_costs_no_read_per_created_row(request, receiver):
    """Django 6.0+ sets generated fields from RETURNING; model_utils' tracker once read each one first."""
    if receiver:
        request.getfixturevalue("received")
    statements = {}
    for hub, parcel in ((PlainHub, PlainParcel), (Hub, Parcel)):
        with suspended():
            home = hub.objects.create(name="h")
        statements[parcel] = [
            sql_of(lambda: parcel.objects.create(code="a", hub=home, qty=2)),  # noqa: B023 - run at once
            sql_of(lambda: parcel.objects.bulk_create([parcel(code=f"b{i}", hub=home) for i in range(3)])),  # noqa: B023
        ]
    plain, tracked = statements[PlainParcel], statements[Parcel]
    assert [len(run) for run in tracked] == [len(run) for run in plain] == [1, 1]
    assert [run[0].replace("plainparcel", "parcel") for run in plain] == [run[0] for run in tracked]
    assert rows(Parcel) == rows(PlainParcel)


@needs_generated_fields
def test_an_mti_child_of_a_model_with_a_generated_field_is_created(received):
    """It raised "Cannot retrieve deferred field 'doubled' from an unsaved model" on Django 6.0+."""
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
