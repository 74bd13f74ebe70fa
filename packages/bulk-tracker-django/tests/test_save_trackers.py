"""save() and FieldTrackers (issue 14): every field save() writes is reported with its exact old value,
whatever trackers the model carries, each against the same call on a plain untracked twin.

An MTI child without its own tracker, a model with two trackers (the narrow one first), a pk of 0
(model_utils records nothing for a falsy pk), an ``auto_now`` field save() overwrites, a value that
stores equal (``"10.00"`` into a DecimalField holding 10.00), and a tracker on an abstract base (which
model_utils ignores: the model then records its values itself).
"""

from decimal import Decimal

import pytest
from django.db import connection, models
from django.test import override_settings
from django.test.utils import isolate_apps
from helpers import sql_of
from model_utils import FieldTracker

from bulk_tracker import loading, suspended
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.models import BulkTrackerModel
from testapp.models import (
    CornerKiosk,
    Dial,
    Ledger,
    PlainCornerKiosk,
    PlainDial,
    PlainLedger,
    PlainSlot,
    PlainStamp,
    Slot,
    Stamp,
)

pytestmark = pytest.mark.django_db


def verbs(statements: list[str]) -> list[str]:
    return [sql.split()[0] for sql in statements]


def locked_read(sql: str) -> bool:
    return sql.startswith("SELECT") and ("FOR UPDATE" in sql) == connection.features.has_select_for_update


def rows(model: type[models.Model], *names: str) -> list[tuple]:
    return list(model.objects.order_by("pk").values_list(*names))


# An MTI child without its own FieldTracker: its parent's tracker knows only the parent's fields.


def test_mti_child_without_its_own_tracker_reports_its_own_fields_read_locked(received):
    with suspended():
        CornerKiosk.objects.create(name="old", stock=1)
        PlainCornerKiosk.objects.create(name="old", stock=1)
    kiosk, twin = CornerKiosk.objects.get(), PlainCornerKiosk.objects.get()
    kiosk.name = twin.name = "new"
    kiosk.stock = twin.stock = 2
    with received.committing():
        tracked = sql_of(kiosk.save)
    plain = sql_of(twin.save)
    assert rows(CornerKiosk, "name", "stock") == rows(PlainCornerKiosk, "name", "stock") == [("new", 2)]
    assert locked_read(tracked[0])
    assert verbs(tracked[1:]) == verbs(plain) == ["UPDATE", "UPDATE"]
    assert received.only("update").objects == [ModifiedObject(kiosk, {"name": "old", "stock": 1})]


def test_mti_child_without_its_own_tracker_reports_only_what_changed(received):
    with suspended():
        CornerKiosk.objects.create(name="same", stock=1)
    kiosk = CornerKiosk.objects.get()
    kiosk.stock = 5
    with received.committing():
        kiosk.save()
    assert received.only("update").objects == [ModifiedObject(kiosk, {"stock": 1})]
    kiosk.name = "renamed"
    with received.committing():
        kiosk.save()
    assert received.calls[-1].objects == [ModifiedObject(kiosk, {"name": "same"})]


# Two FieldTrackers: every field either knows is reported, with no extra statement.


def test_two_trackers_report_the_fields_of_both_without_an_extra_statement(received):
    with suspended():
        Dial.objects.create(name="old", level=1)
        PlainDial.objects.create(name="old", level=1)
    dial, twin = Dial.objects.get(), PlainDial.objects.get()
    dial.name = twin.name = "new"
    dial.level = twin.level = 2
    with received.committing():
        tracked = sql_of(dial.save)
    plain = sql_of(twin.save)
    assert rows(Dial, "name", "level") == rows(PlainDial, "name", "level") == [("new", 2)]
    assert verbs(tracked) == verbs(plain) == ["UPDATE"]
    assert received.only("update").objects == [ModifiedObject(dial, {"name": "old", "level": 1})]


def test_two_trackers_report_a_field_only_the_wide_one_tracks(received):
    with suspended():
        Dial.objects.create(name="same", level=1)
    dial = Dial.objects.get()
    dial.level = 7
    with received.committing():
        dial.save()
    assert received.only("update").objects == [ModifiedObject(dial, {"level": 1})]


# A pk of 0: model_utils records no saved values for it.


@pytest.mark.parametrize("fast_loading", [True, False], ids=["fast-loading", "django-loading"])
def test_a_row_whose_pk_is_zero_reports_its_exact_old_values(received, fast_loading):
    with suspended():
        Slot.objects.create(number=0, label="old")
        PlainSlot.objects.create(number=0, label="old")
    with override_settings(BULK_TRACKER_FAST_LOADING=fast_loading):
        slot = Slot.objects.get(pk=0)
    twin = PlainSlot.objects.get(pk=0)
    slot.label = twin.label = "new"
    with received.committing():
        tracked = sql_of(slot.save)
    plain = sql_of(twin.save)
    assert rows(Slot, "number", "label") == rows(PlainSlot, "number", "label") == [(0, "new")]
    # Loaded fast, the tracker holds the saved values; loaded by Django, model_utils has none: one locked read.
    assert verbs(tracked if fast_loading else tracked[1:]) == verbs(plain) == ["UPDATE"]
    assert fast_loading or locked_read(tracked[0])
    assert received.only("update").objects == [ModifiedObject(slot, {"label": "old"})]


def test_a_second_save_of_a_pk_of_zero_reports_the_first_saves_value(received):
    with suspended():
        Slot.objects.create(number=0, label="first")
    slot = Slot.objects.get(pk=0)
    slot.label = "second"
    slot.save()  # model_utils' save() then forgets the saved values again (a falsy pk)
    slot.label = "third"
    with received.committing():
        first, *rest = sql_of(slot.save)
    assert locked_read(first)
    assert verbs(rest) == ["UPDATE"]
    assert received.only("update").objects == [ModifiedObject(slot, {"label": "second"})]


def test_an_unchanged_save_of_a_pk_of_zero_reports_nothing(received):
    with suspended():
        Slot.objects.create(number=0, label="same")
    slot = Slot.objects.get(pk=0)
    with received.committing():
        slot.save()
    assert received.calls == []


# auto_now: the value save() writes is reported with the value it overwrote.


def test_an_auto_now_field_save_overwrites_is_reported_with_its_old_value(received):
    with suspended():
        Stamp.objects.create(title="old")
        PlainStamp.objects.create(title="old")
    stamp, twin = Stamp.objects.get(), PlainStamp.objects.get()
    before = stamp.touched
    stamp.title = twin.title = "new"
    with received.committing():
        stamp.save()
    twin.save()
    assert rows(Stamp, "title") == rows(PlainStamp, "title") == [("new",)]
    assert stamp.touched > before
    assert received.only("update").objects == [ModifiedObject(stamp, {"title": "old", "touched": before})]


def test_a_save_that_changes_nothing_else_still_reports_the_auto_now_field(received):
    with suspended():
        Stamp.objects.create(title="same")
    stamp = Stamp.objects.get()
    before = stamp.touched
    with received.committing():
        stamp.save()
    assert received.only("update").objects == [ModifiedObject(stamp, {"touched": before})]


def test_update_fields_without_the_auto_now_field_leaves_it_unreported_as_django_leaves_it_unwritten(received):
    with suspended():
        Stamp.objects.create(title="old")
        PlainStamp.objects.create(title="old")
    stamp, twin = Stamp.objects.get(), PlainStamp.objects.get()
    before, twin_before = stamp.touched, twin.touched
    stamp.title = twin.title = "new"
    with received.committing():
        stamp.save(update_fields=["title"])
    twin.save(update_fields=["title"])
    assert (Stamp.objects.get().touched, PlainStamp.objects.get().touched) == (before, twin_before)
    assert received.only("update").objects == [ModifiedObject(stamp, {"title": "old"})]


# A value that stores equal is not a change: compared as the column stores it.


def test_a_decimal_string_equal_to_the_stored_value_is_not_a_change(received):
    with suspended():
        Ledger.objects.create(label="a", amount=Decimal("10.00"))
        PlainLedger.objects.create(label="a", amount=Decimal("10.00"))
    ledger, twin = Ledger.objects.get(), PlainLedger.objects.get()
    ledger.amount = twin.amount = "10.00"
    with received.committing():
        ledger.save()
    twin.save()
    assert rows(Ledger, "label", "amount") == rows(PlainLedger, "label", "amount") == [("a", Decimal("10.00"))]
    assert received.calls == []


def test_a_decimal_string_that_stores_differently_is_reported_with_the_stored_old_value(received):
    with suspended():
        Ledger.objects.create(label="a", amount=Decimal("10.00"))
    ledger = Ledger.objects.get()
    ledger.amount = "10.50"
    with received.committing():
        ledger.save()
    assert Ledger.objects.get().amount == Decimal("10.50")
    assert received.only("update").objects == [ModifiedObject(ledger, {"amount": Decimal("10.00")})]


def test_a_new_instance_over_a_row_with_equal_stored_values_reports_nothing(received):
    with suspended():
        existing = Ledger.objects.create(label="a", amount=Decimal("10.00"), qty=3)
    again = Ledger(pk=existing.pk, label="a", amount="10.00", qty="3", data={})
    with received.committing():
        first, *rest = sql_of(again.save)
    assert locked_read(first)
    assert verbs(rest) == ["UPDATE"]
    assert received.calls == []


# A FieldTracker on an abstract base: model_utils never sets it up (nor keeps it), so the model has none
# and records its saved values itself (test_own_record.py shows what save() reports from them).


@isolate_apps("testapp")
def test_a_model_whose_tracker_is_on_an_abstract_base_records_its_own_values():
    class Base(BulkTrackerModel):
        tracker = FieldTracker()

        class Meta:
            abstract = True
            app_label = "testapp"

    class Concrete(Base):
        value = models.IntegerField(default=0)

    assert not hasattr(Concrete, "tracker")
    assert loading.field_trackers(Concrete) == []
    loaded = Concrete.from_db("default", ["id", "value"], [1, 2])
    loaded.value = 3
    assert loading.saved_values(loaded) == {"id": 1, "value": 2}
