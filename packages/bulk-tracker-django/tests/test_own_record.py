"""save() of a BulkTrackerModel without a FieldTracker: old values from the values BulkTrackerModel records.

Each instance loaded, refreshed or saved keeps its values (``loading.record()``); ``save()`` reports the
old values from them with Django's own statements, exactly as a FieldTracker would, and reads the row
(locked) only for a field with no recorded value: deferred when loaded, never loaded, or saved as an
expression. Each test runs the same calls on ``PlainJotting``, plain Django, where the SQL must match.
"""

from __future__ import annotations

import copy
import datetime
import pickle
import re
from typing import Any

import django
import pytest
from django.db.models import F
from helpers import sql_of

from bulk_tracker import suspended
from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Desk, Jotting, PlainJotting, Untracked

pytestmark = pytest.mark.django_db


def same(statements: list[str]) -> list[str]:
    """The statements with the plain table named as the tracked one and each auto_now timestamp as ``<now>``."""
    return [
        re.sub(r"'\d{4}-\d\d-\d\d[ T][^']*'", "<now>", sql.replace("plainjotting", "jotting")) for sql in statements
    ]


@pytest.fixture
def ann():
    return Desk.objects.create(name="Ann's")


@pytest.fixture
def stored(ann):
    """One row in each table, written untracked; the tracked row's pk."""
    with suspended():
        pk = Jotting.objects.create(text="t", desk=ann, data={"k": 1}, count=1).pk
    PlainJotting.objects.create(pk=pk, text="t", desk=ann, data={"k": 1}, count=1)  # the same SQL, pk included
    return pk


def old_stamp(pk: Any) -> datetime.datetime:
    return Jotting.objects.values_list("updated", flat=True).get(pk=pk)


def test_save_of_a_loaded_instance_reports_old_values_with_djangos_own_statements(stored, ann, received):
    bob = Desk.objects.create(name="Bob's")
    stamp = old_stamp(stored)
    edits = []
    for model in (Jotting, PlainJotting):
        obj = model.objects.get()
        obj.text, obj.desk = "new", bob
        obj.data["k"] = 2  # changed in place: the record holds a copy
        edits.append(obj)
    with received.committing():
        tracked = sql_of(edits[0].save)
    assert same(tracked) == same(sql_of(edits[1].save))
    assert len(tracked) == 1
    assert tracked[0].startswith("UPDATE")
    (modified,) = received.only("update").objects
    assert modified.instance is edits[0]
    assert modified.changed_values == {"text": "t", "desk_id": ann.pk, "data": {"k": 1}, "updated": stamp}


def test_each_save_reports_the_values_of_the_one_before(ann, received):
    with received.committing():
        obj = Jotting.objects.create(text="a")  # never loaded: the save that inserted recorded it
        first = obj.updated
        obj.text = "b"
        obj.save()
        second = obj.updated
        obj.text, obj.count = "c", 5
        obj.save()
    assert [c.kind for c in received.calls] == ["create", "update", "update"]
    assert [c.objects[0].changed_values for c in received.calls[1:]] == [
        {"text": "a", "updated": first},
        {"text": "b", "count": 0, "updated": second},
    ]


def test_update_fields_records_only_the_fields_saved(stored, ann, received):
    stamp = old_stamp(stored)
    obj = Jotting.objects.get()
    obj.text, obj.count = "x", 7
    with received.committing():
        obj.save(update_fields=["text"])
        obj.save()
    first, second = (call.objects for call in received.of("update"))
    assert first == [ModifiedObject(obj, {"text": "t"})]
    # The partial save recorded only text: count is still as loaded; text and updated as saved.
    assert second[0].changed_values == {"count": 1, "updated": stamp}


def test_a_field_deferred_when_loaded_is_read_locked_once(stored, received):
    obj = Jotting.objects.only("id").get()
    plain = PlainJotting.objects.only("id").get()
    for each in (obj, plain):
        each.text = "x"
    with received.committing():
        tracked = sql_of(lambda: obj.save(update_fields=["text"]))
    assert len(tracked) == 2
    assert tracked[0].startswith("SELECT")
    assert same(tracked[1:]) == same(sql_of(lambda: plain.save(update_fields=["text"])))
    assert received.only("update").objects == [ModifiedObject(obj, {"text": "t"})]


@pytest.mark.parametrize("fields", [None, ["text"]], ids=["every-field", "fields"])
def test_refresh_from_db_records_the_values_it_reads(stored, received, fields):
    obj = Jotting.objects.get()
    with suspended():
        Jotting.objects.update(text="db")
    obj.refresh_from_db(fields=fields)
    obj.text = "mine"
    with received.committing():
        obj.save(update_fields=["text"])
    assert received.only("update").objects == [ModifiedObject(obj, {"text": "db"})]


def test_a_deferred_field_loaded_on_access_is_recorded(stored, received):
    obj = Jotting.objects.only("id").get()
    assert obj.text == "t"  # Django's refresh_from_db(fields=["text"])
    obj.text = "x"
    with received.committing():
        statements = sql_of(lambda: obj.save(update_fields=["text"]))
    assert len(statements) == 1
    assert received.only("update").objects == [ModifiedObject(obj, {"text": "t"})]


def test_a_field_saved_as_an_expression_is_read_at_its_next_save(stored, received):
    obj = Jotting.objects.get()
    obj.count = F("count") + 1
    with received.committing():
        obj.save(update_fields=["count"])
    assert received.only("update").objects[0].changed_values == {"count": 1}
    if django.VERSION < (6, 1):
        obj.refresh_from_db(fields=["count"])  # before 6.1 Django leaves the expression on the instance
    assert obj.count == 2
    obj.count = 10
    received.calls.clear()
    with received.committing():
        obj.save(update_fields=["count"])
    assert received.only("update").objects[0].changed_values == {"count": 2}


def test_a_copy_and_a_pickled_instance_keep_their_own_record(stored, received):
    obj = Jotting.objects.get()
    clone, thawed = copy.copy(obj), pickle.loads(pickle.dumps(obj))
    clone.text = "clone"
    with received.committing():
        clone.save(update_fields=["text"])
        thawed.text = "thawed"
        thawed.save(update_fields=["text"])
    # Each reports what it was loaded with (as a FieldTracker would); the clone's save left obj's record alone.
    assert [c.objects[0].changed_values for c in received.of("update")] == [{"text": "t"}, {"text": "t"}]
    obj.text = "obj"
    received.calls.clear()
    with received.committing():
        obj.save(update_fields=["text"])
    assert received.only("update").objects[0].changed_values == {"text": "t"}


def test_a_save_that_changes_nothing_is_not_reported(stored, received):
    obj = Jotting.objects.get()
    with received.committing():
        obj.save(update_fields=["text", "count"])
    assert received.calls == []


def test_no_receiver_records_and_costs_djangos_statements(stored):
    obj, plain = Jotting.objects.get(), PlainJotting.objects.get()
    for each in (obj, plain):
        each.text = "x"
    assert same(sql_of(obj.save)) == same(sql_of(plain.save))
    assert Untracked.objects.create(value=1).value == 1
